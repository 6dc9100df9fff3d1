import Dispatch
import MCPXJSON
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// MCP over a child process's pipes: newline-delimited JSON-RPC on its stdin and stdout, its
/// stderr kept as the last lines it wrote. All three pipes are in the loop's epoll set.
///
/// Like `LegacySSEChannel`, answers arrive apart from the requests, so requests wait in a table
/// by id; everything else the child writes goes to `onMessage`. stderr is never read as protocol
/// and never blocks the child: it is read as it comes, and only its last lines are kept.
final class StdioChannel: @unchecked Sendable {
    typealias Completion = StreamRequests.Completion

    let name: String
    let process: ChildProcess
    let loop: CurlLoop
    let log: Logger
    let onMessage: @Sendable (IncomingMessage) -> Void
    let onMalformed: @Sendable () -> Void
    /// Runs once when the child's stdout ends (it exited, or closed it): with why, and how many
    /// seconds it ran.
    let onExit: @Sendable (String, Double) -> Void

    static let stderrLines = 64
    static let stderrLineBytes = 1_000

    /// Requests waiting for their answer on stdout.
    let requests = StreamRequests()

    struct State {
        /// Bytes for the child's stdin that it has not taken yet (loop thread).
        var outbox: [UInt8] = []
        var closed = false
        var stderrTail: [String] = []
        var stderrPartial: [UInt8] = []
    }

    let state = Mutex(State())
    /// Loop thread only.
    private var lines: LineSplitter
    private var stdinWatch: FDWatch?
    private var stdoutWatch: FDWatch?
    private var stderrWatch: FDWatch?
    private var stdinOpen = true

    init(
        name: String, process: ChildProcess, loop: CurlLoop, log: Logger, maxLineBytes: Int,
        onMessage: @escaping @Sendable (IncomingMessage) -> Void, onMalformed: @escaping @Sendable () -> Void,
        onExit: @escaping @Sendable (String, Double) -> Void
    ) {
        self.name = name
        self.process = process
        self.loop = loop
        self.log = log
        self.lines = LineSplitter(maxLineBytes: maxLineBytes)
        self.onMessage = onMessage
        self.onMalformed = onMalformed
        self.onExit = onExit
    }

    /// Puts the pipes in the loop.
    func start() {
        let out = FDWatch(fd: process.stdoutFD, onReadable: { [self] in readStdout() })
        let err = FDWatch(fd: process.stderrFD, onReadable: { [self] in readStderr() })
        let inp = FDWatch(fd: process.stdinFD, onWritable: { [self] in flush() })
        stdoutWatch = out
        stderrWatch = err
        stdinWatch = inp
        loop.addWatch(out)
        loop.addWatch(err)
        loop.addWatch(inp)
    }

    var pendingCount: Int { requests.count }
    var stderrTail: [String] { state.withLock { $0.stderrTail } }
    var isOpen: Bool { state.withLock { !$0.closed } }

    // MARK: Writing

    /// Writes one message; a request's answer comes to `completion` when the child writes it.
    func send(_ body: [UInt8], expecting id: RPCID?, timeoutMillis: Int, completion: @escaping Completion) {
        let open = !state.withLock { $0.closed }
        guard open, id.map({ requests.add($0, timeoutMillis: timeoutMillis, completion) }) ?? true else {
            completion(.failure(BackendError(.unavailable, "the process is not running")))
            return
        }
        let line = body + [0x0A]
        let scheduled = loop.onLoop { [self] in
            state.withLock { $0.outbox.append(contentsOf: line) }
            flush()
            if id == nil { completion(.success(nil)) }
        }
        if !scheduled {
            // The loop is stopping: the message cannot go out; it is answered here, once.
            // The loop is stopping: the message cannot go out; it is answered here, once.
            if let id { requests.take(id)?(.failure(BackendError(.cancelled, "mcpx is shutting down"))) } else {
                completion(.failure(BackendError(.cancelled, "mcpx is shutting down")))
            }
        }
    }

    /// Writes what the child will take now; the rest when its stdin has room (loop thread).
    private func flush() {
        guard stdinOpen else { return }
        var pending = state.withLock { s -> [UInt8] in
            defer { s.outbox = [] }
            return s.outbox
        }
        var off = 0
        while off < pending.count {
            let n = pending.withUnsafeBytes { write(process.stdinFD, $0.baseAddress! + off, pending.count - off) }
            if n > 0 {
                off += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {
                if let w = stdinWatch { loop.wantWritable(w, true) }
                break
            }
            // EPIPE: the child closed its stdin or exited; stdout's end tells the rest.
            stdinOpen = false
            pending = []
            off = 0
            break
        }
        if off < pending.count {
            let rest = Array(pending[off...])
            state.withLock { $0.outbox.insert(contentsOf: rest, at: 0) }
        }
    }

    /// Forgets a request (cancelled or timed out).
    func forget(_ id: RPCID) { _ = requests.take(id) }

    // MARK: Reading

    private func readStdout() {
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buf.withUnsafeMutableBytes { read(process.stdoutFD, $0.baseAddress, $0.count) }
            if n > 0 {
                let got = buf.withUnsafeBytes { lines.feed(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                for l in got { handle(l) }
                if n < buf.count { return }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return }
            if let last = lines.finish() { handle(last) }
            ended()
            return
        }
    }

    private func handle(_ line: LineSplitter.Line) {
        switch line {
        case .tooLong(let size, let head):
            onMalformed()
            log.warning("\(name): dropped a \(size)-byte line from the process (over the limit)")
            // Most likely an answer: the request it answers fails now, as an oversized HTTP
            // response fails its exchange, instead of waiting for its timeout.
            if let id = Dispatcher.sniffID(head), let c = requests.take(id) {
                c(.failure(BackendError(.tooLarge, "answer larger than \(lines.maxLineBytes) bytes (\(size) bytes)")))
            }
        case .line(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            guard let msg = try? IncomingMessage(bytes: bytes) else {
                onMalformed()
                return
            }
            requests.deliver(msg, other: onMessage)
        }
    }

    private func readStderr() {
        var buf = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buf.withUnsafeMutableBytes { read(process.stderrFD, $0.baseAddress, $0.count) }
            if n > 0 {
                keepStderr(buf[..<n])
                if n < buf.count { return }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return }
            if let w = stderrWatch { loop.removeWatch(w) { [fd = process.stderrFD] in closeDescriptor(fd) } }
            stderrWatch = nil
            return
        }
    }

    /// Keeps the last lines (each cut to a length) of what the child wrote on stderr.
    private func keepStderr(_ chunk: ArraySlice<UInt8>) {
        var finished: [String] = []
        state.withLock { s in
            for b in chunk {
                if b == 0x0A {
                    finished.append(String(decoding: s.stderrPartial, as: UTF8.self))
                    s.stderrPartial.removeAll(keepingCapacity: true)
                } else if s.stderrPartial.count < Self.stderrLineBytes {
                    s.stderrPartial.append(b)
                }
            }
            s.stderrTail.append(contentsOf: finished.suffix(Self.stderrLines))
            if s.stderrTail.count > Self.stderrLines { s.stderrTail.removeFirst(s.stderrTail.count - Self.stderrLines) }
        }
        if log.enabled(.debug) {
            for l in finished.suffix(Self.stderrLines) { log.debug("\(name) stderr: \(l)") }
        }
    }

    /// stdout ended: the child exited (or closed it). Every waiting request fails.
    private func ended() {
        if let w = stdoutWatch { loop.removeWatch(w) { [fd = process.stdoutFD] in closeDescriptor(fd) } }
        stdoutWatch = nil
        closeStdin()
        let (tail, deliberate) = state.withLock { s -> ([String], Bool) in
            defer { s.closed = true }
            return (s.stderrTail, s.closed)  // closed already: `close` ended it, and answers what waits
        }
        if deliberate { return }
        let pending = requests.close()
        Task { [process, onExit] in
            // It exits, or (having only closed its stdout) is stopped: either way it is reaped.
            let exited = await process.waitExit(seconds: 0.2)
            if !exited { await process.stop(grace: 0.2) }
            var why = exited ? (process.reap().map { "the process \(ChildProcess.describe($0))" } ?? "the process ended")
                : "the process closed its stdout (stopped)"
            if let last = tail.last { why += "; last stderr: \(last.prefix(300))" }
            for c in pending { c(.failure(BackendError(.unavailable, why))) }
            onExit(why, Double(monotonicNanos() - process.started) / 1e9)
        }
    }

    /// Closes the child's stdin (loop thread): the first step of stopping it.
    private func closeStdin() {
        guard stdinOpen || stdinWatch != nil else { return }
        stdinOpen = false
        if let w = stdinWatch { loop.removeWatch(w) { [fd = process.stdinFD] in closeDescriptor(fd) } }
        stdinWatch = nil
    }

    /// Stops the child: stdin closed, then the grace / SIGTERM / SIGKILL sequence; pipes closed.
    func close() async {
        state.withLock { $0.closed = true }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let scheduled = loop.onLoop { [self] in
                closeStdin()
                c.resume()
            }
            if !scheduled { c.resume() }  // the loop is gone: the signals below stop the child
        }
        await process.stop()
        requests.failAll(BackendError(.cancelled, "mcpx stopped the process"))
    }
}

/// `close(2)`, by a name that the channel's own `close()` does not hide.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
