import Dispatch
import Foundation
import Glibc
import MCPXJSON

/// Speaks newline-delimited JSON-RPC to a spawned mcpx over its stdin/stdout.
///
/// A dedicated reader thread reads stdout in large chunks, stamps each read with the clock, splits lines
/// and scans each for its id only (`LineScanner`). Answers of an installed `LoadRun` are handled on the
/// reader thread itself, which also sends the run's next requests; every other answer is copied into a
/// table the waiting thread picks it up from. Requests from mcpx get an answer (ping: {}, else an
/// error), notifications are counted.
final class StdioClient: @unchecked Sendable {
    struct Response {
        let id: Int64
        let bytes: [UInt8]
        /// When the read that completed the line returned.
        let time: UInt64
        let isError: Bool
    }

    let child: Child
    /// Clock.nanos() just before posix_spawn.
    let spawnTime: UInt64
    private let inFD: Int32
    private let outFD: Int32
    private let gate = Gate()
    private let writeGate = Gate()
    private let readerDone = DispatchSemaphore(value: 0)

    // Guarded by `gate`.
    private var responses: [Int64: Response] = [:]
    private var load: LoadRun?
    private var eof = false
    private var notificationCount = 0
    private var serverRequestCount = 0
    private var strayLineCount = 0

    // Main thread only.
    private var nextID: Int64 = 1

    private init(child: Child, spawnTime: UInt64) {
        self.child = child
        self.spawnTime = spawnTime
        inFD = child.stdinFD
        outFD = child.takeStdout()
    }

    /// Spawns mcpx and starts the reader thread.
    static func launch(mcpx: String, arguments: [String], logPath: String) throws(BenchError) -> StdioClient {
        let t0 = Clock.nanos()
        let child = try Child.spawn(
            [mcpx] + arguments, name: "mcpx", logPath: logPath, pipeStdin: true, pipeStdout: true)
        let client = StdioClient(child: child, spawnTime: t0)
        let thread = Thread { [client] in client.readLoop() }
        thread.name = "stdio-reader"
        thread.start()
        return client
    }

    /// Stops mcpx (EOF, SIGTERM, SIGKILL) and waits for the reader thread.
    func stop() {
        child.stop()
        _ = readerDone.wait(timeout: .now() + 5)
    }

    var counters: (notifications: Int, serverRequests: Int, strayLines: Int) {
        gate.lock()
        defer { gate.unlock() }
        return (notificationCount, serverRequestCount, strayLineCount)
    }

    // MARK: Writing

    func write(_ bytes: [UInt8]) {
        writeGate.lock()
        bytes.withUnsafeBytes { _ = Bytes.writeAll(inFD, $0) }
        writeGate.unlock()
    }

    func reserveIDs(_ count: Int) -> Int64 {
        let first = nextID
        nextID += Int64(count)
        return first
    }

    /// One request line with a fresh id.
    func requestLine(_ method: String, _ params: JSONValue? = nil) -> (id: Int64, line: [UInt8]) {
        let id = reserveIDs(1)
        var object: JSONObject = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { object["params"] = params }
        var line = JSONValue.object(object).serialized()
        line.append(UInt8(ascii: "\n"))
        return (id, line)
    }

    static func notificationLine(_ method: String) -> [UInt8] {
        var line = JSONValue.object(["jsonrpc": "2.0", "method": .string(method)]).serialized()
        line.append(UInt8(ascii: "\n"))
        return line
    }

    // MARK: Waiting

    /// The answer to `id`, waiting at most `timeout` seconds.
    func wait(for id: Int64, timeout: Double) throws(BenchError) -> Response {
        try waitAll([id], timeout: timeout)[0]
    }

    /// The answers to all `ids` (in that order), waiting at most `timeout` seconds in all.
    func waitAll(_ ids: [Int64], timeout: Double) throws(BenchError) -> [Response] {
        let deadline = Clock.nanos() + UInt64(timeout * 1e9)
        var found: [Int64: Response] = [:]
        found.reserveCapacity(ids.count)
        gate.lock()
        defer { gate.unlock() }
        while true {
            for id in ids where found[id] == nil {
                if let r = responses.removeValue(forKey: id) { found[id] = r }
            }
            if found.count == ids.count { return ids.map { found[$0]! } }
            if eof { throw exitError("while waiting for answers (\(found.count)/\(ids.count))") }
            if Clock.nanos() >= deadline {
                throw BenchError("no answer from mcpx within \(timeout) s (\(found.count)/\(ids.count) answers)")
            }
            gate.wait(until: deadline)
        }
    }

    /// Runs a load run to its end: sends the first window, lets the reader drive the rest. Fails when
    /// no answer arrives for `stallTimeout` seconds or mcpx exits.
    func drive(_ run: LoadRun, stallTimeout: Double) throws(BenchError) {
        let first = run.initialBatch()
        gate.lock()
        load = run
        gate.unlock()
        write(first)
        gate.lock()
        defer {
            load = nil
            gate.unlock()
        }
        while run.publishedCompleted < run.total {
            if eof { throw exitError("during calls (\(run.publishedCompleted)/\(run.total) answered)") }
            let deadline = run.lastProgress + UInt64(stallTimeout * 1e9)
            if Clock.nanos() >= deadline {
                throw BenchError("calls stalled: \(run.publishedCompleted)/\(run.total) answered, none for \(stallTimeout) s")
            }
            gate.wait(until: deadline)
        }
    }

    private func exitError(_ context: String) -> BenchError {
        BenchError("mcpx closed its stdout \(context); stderr: \(child.stderrTail(400))")
    }

    // MARK: Reader thread

    private func readLoop() {
        var capacity = 1 << 20
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        var start = 0
        var end = 0
        defer {
            buffer.deallocate()
            close(outFD)
            gate.lock()
            eof = true
            gate.broadcast()
            gate.unlock()
            readerDone.signal()
        }
        while true {
            Bytes.makeRoom(&buffer, capacity: &capacity, start: &start, end: &end, atLeast: 256 * 1024)
            let n = read(outFD, buffer + end, capacity - end)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            let time = Clock.nanos()
            let searchFrom = end
            end += n

            gate.lock()
            let run = load
            gate.unlock()

            var lineStart = start
            var p = searchFrom
            while p < end, let hit = memchr(buffer + p, 0x0A, end - p) {
                let newline = UnsafeMutableRawPointer(buffer).distance(to: hit)
                var length = newline - lineStart
                if length > 0 && buffer[lineStart + length - 1] == 0x0D { length -= 1 }
                if length > 0 { handleLine(buffer + lineStart, length, time, run) }
                lineStart = newline + 1
                p = lineStart
            }
            start = lineStart
            if start == end {
                start = 0
                end = 0
            }

            if let run {
                run.takeBatch { write($0) }
                gate.lock()
                if run.completed != run.publishedCompleted {
                    run.publishedCompleted = run.completed
                    run.lastProgress = time
                    if run.isFinished { gate.broadcast() }
                }
                gate.unlock()
            }
        }
    }

    @inline(__always)
    private func handleLine(_ line: UnsafeMutablePointer<UInt8>, _ length: Int, _ time: UInt64, _ run: LoadRun?) {
        let info = LineScanner.scan(line, count: length)
        if info.hasMethod {
            if info.hasID {
                answerServerRequest(line, length, info)
            } else {
                gate.lock()
                notificationCount += 1
                gate.unlock()
            }
            return
        }
        guard let id = info.id else {
            gate.lock()
            strayLineCount += 1
            gate.unlock()
            return
        }
        if let run, run.owns(id) {
            run.complete(id: id, line: line, count: length, at: time, hasError: info.hasError)
            return
        }
        let response = Response(
            id: id, bytes: Array(UnsafeBufferPointer(start: line, count: length)), time: time, isError: info.hasError)
        gate.lock()
        responses[id] = response
        gate.broadcast()
        gate.unlock()
    }

    /// mcpx asked us something (ping, roots/list, ...): answer from another thread, so the reader never
    /// waits for the write side.
    private func answerServerRequest(_ line: UnsafeMutablePointer<UInt8>, _ length: Int, _ info: LineInfo) {
        gate.lock()
        serverRequestCount += 1
        gate.unlock()
        let rawID = Array(UnsafeBufferPointer(start: line + info.idStart, count: info.idEnd - info.idStart))
        let isPing = Bytes.find(Array(#""method":"ping""#.utf8), in: line, count: length) != nil
        var reply = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
        reply.append(contentsOf: rawID)
        reply.append(contentsOf: (isPing
            ? #","result":{}}"#
            : #","error":{"code":-32601,"message":"the benchmark client supports no requests but ping"}}"#).utf8)
        reply.append(UInt8(ascii: "\n"))
        let bytes = reply
        DispatchQueue.global().async { [self] in write(bytes) }
    }
}
