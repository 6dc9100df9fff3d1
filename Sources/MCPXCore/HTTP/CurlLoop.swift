import CCurl
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one thread that drives every HTTP transfer of mcpx through a libcurl multi handle.
///
/// This file, `CurlLoop+Linux.swift`, `HTTPTransfer.swift` and `CurlURL.swift` are the only places
/// that call libcurl. Other threads hand transfers over through a locked queue and wake the loop;
/// the multi handle's connection cache keeps connections to each backend alive across requests. On
/// Linux the loop is driven by epoll and `curl_multi_socket_action`, so each wake-up touches only the transfers whose
/// sockets are ready (see `CurlLoop+Linux.swift`); elsewhere by `curl_multi_poll`.
public final class CurlLoop: @unchecked Sendable {
    enum Command {
        case add(HTTPTransfer)
        case cancel(HTTPTransfer)
        /// Work that must run on the loop thread (pipes of child processes join the epoll set).
        case run(@Sendable () -> Void)
    }

    let multi: UnsafeMutableRawPointer
    private let queue = Mutex<(commands: [Command], stopping: Bool)>(([], false))
    private let stopped = Mutex<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    // Loop-thread state.
    private var active: [UnsafeMutableRawPointer: HTTPTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    /// Handles whose last transfer was a plain POST: reused without `curl_easy_reset`, with whether
    /// they are set up for a loopback URL (no proxy).
    private var postHandles: [(easy: UnsafeMutableRawPointer, direct: Bool)] = []
    /// A file descriptor the loop also watches (stdin), and what to do when it is readable.
    /// Reading the client on the same thread that drives the backends saves a thread hop and a
    /// wake-up per call. The handler returns false to stop watching (EOF).
    let watched = Mutex<Watch?>(nil)
    /// Told when the loop starts handling what is ready and when it is about to wait again (stdout
    /// uses it to write the answers of one pass in one `write`).
    let passObserver = Mutex<(any CurlLoopPassObserver)?>(nil)
    /// The loop thread's id (`LoopThread.currentID`), set once it runs; read from every thread.
    let loopThreadID = Atomic<UInt>(0)
    #if os(Linux)
    /// The loop's epoll instance and the eventfd other threads write to wake it.
    let epollFD: Int32 = epoll_create1(Int32(EPOLL_CLOEXEC))
    let wakeFD: Int32 = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    /// What epoll knows of each socket curl uses, indexed by descriptor (see `CurlLoop+Linux.swift`).
    var sockets: [SocketSlot] = []
    /// When curl wants `socket_action(TIMEOUT)` next.
    var timerDeadline: UInt64?
    /// mcpx's own HTTP/1.1 client for loopback backends (`CurlLoop+LoopbackHTTP.swift`); off with
    /// `MCPX_HTTP_CLIENT=curl`.
    let loopbackHTTP = ProcessEnvironment.get("MCPX_HTTP_CLIENT") != "curl"
    /// Its connections by descriptor, idle ones by endpoint, and its bookkeeping.
    var loopbackByFD: [LoopbackConnection?] = []
    var loopbackIdle: [ObjectIdentifier: [LoopbackConnection]] = [:]
    var loopbackIdleCount = 0
    /// Connections with a deadline (when 0, the loop does not look for expired ones).
    var loopbackTimed = 0
    var loopbackTags: UInt32 = 0
    /// Pipes of child processes (stdio backends) by tag; see `CurlLoop+Pipes.swift`.
    var pipes: [UInt32: FDWatch] = [:]
    var pipeTags: UInt32 = 0
    var loopbackLastSweep: UInt64 = 0
    /// Where every answer is received (64 KiB, for the life of the loop).
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    #endif

    /// Idle connections kept in all (curl's cache and the own client's pool each): a quarter of
    /// the descriptors the process may open, at most 1024, so idle sockets never starve new ones.
    let idleConnectionLimit = max(16, min(1024, ProcessResources.fileLimit.soft / 4))

    static let streamBufferSize = 4096
    static let keptPostHandles = 64
    static let keptOtherHandles = 8

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    public init() {
        _ = Self.globalInit
        multi = curl_multi_init()
        // Keep idle connections for calls in flight to each backend, within the descriptor budget.
        mcpx_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, idleConnectionLimit)
        // 8 MiB of stack: parsing nests; JSONParser.maxDepth keeps it bounded.
        LoopThread.start(name: "mcpx-curl", stackSize: 8 << 20) { [unowned self] in self.run() }
    }

    /// Whether POSTs to plain-HTTP loopback backends go through mcpx's own HTTP/1.1 client.
    public var ownsLoopbackHTTP: Bool {
        #if os(Linux)
        loopbackHTTP
        #else
        false
        #endif
    }

    /// Starts a transfer. Its callbacks run on the loop thread.
    public func start(_ t: HTTPTransfer) {
        if loopThreadID.load(ordering: .acquiring) == LoopThread.currentID {
            // Already on the loop thread (a call read from stdin here): no queue, no wake-up.
            add(t)
            return
        }
        let accepted = queue.withLock { q -> Bool in
            if q.stopping { return false }
            q.commands.append(.add(t))
            return true
        }
        if accepted {
            wake()
        } else {
            t.onDone(HTTPError(.cancelled, "mcpx is shutting down"))
        }
    }

    /// Runs `body` on the loop thread: now when called there, else at its next pass. Returns
    /// false (and `body` never runs) when the loop is stopping.
    @discardableResult
    public func onLoop(_ body: @escaping @Sendable () -> Void) -> Bool {
        if loopThreadID.load(ordering: .acquiring) == LoopThread.currentID {
            body()
            return true
        }
        let accepted = queue.withLock { q -> Bool in
            if q.stopping { return false }
            q.commands.append(.run(body))
            return true
        }
        if accepted { wake() }
        return accepted
    }

    /// Aborts a transfer; its `onDone` gets `.cancelled` (if it had not finished already).
    public func cancel(_ t: HTTPTransfer) {
        queue.withLock { $0.commands.append(.cancel(t)) }
        wake()
    }

    /// Ends the loop: unfinished transfers complete with `.cancelled`. Waits for the thread.
    public func shutdown() {
        let already = stopped.withLock { s -> Bool in
            defer { s = true }
            return s
        }
        if already { return }
        queue.withLock { $0.stopping = true }
        wake()
        done.wait()
    }

    /// Watches `fd` on the loop thread; `handler` runs there whenever it is readable.
    public func watch(fd: Int32, handler: @escaping @Sendable () -> Bool) {
        let w = Watch(fd: fd, handler: handler)
        watched.withLock { $0 = w }
        wake()
    }

    /// Brackets every pass of the loop with `passBegins` / `passEnds` calls on `observer`.
    public func observePasses(_ observer: any CurlLoopPassObserver) {
        passObserver.withLock { $0 = observer }
    }

    /// Starts a pass: the observer of the moment (it may be set after the loop started) is told.
    /// The caller ends the pass on the same observer before the loop waits again.
    func beginPass() -> (any CurlLoopPassObserver)? {
        let o = passObserver.withLock { $0 }
        o?.passBegins()
        return o
    }

    func wake() {
        #if os(Linux)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        #else
        curl_multi_wakeup(multi)
        #endif
    }

    /// Takes what other threads queued; returns true when the loop must stop.
    func drainQueue() -> Bool {
        let (cmds, stopping) = queue.withLock { q -> ([Command], Bool) in
            let c = q.commands
            q.commands.removeAll(keepingCapacity: true)
            return (c, q.stopping)
        }
        for c in cmds {
            switch c {
            case .add(let t): add(t)
            case .cancel(let t): finish(t, HTTPError(.cancelled, "cancelled"))
            case .run(let body): body()
            }
        }
        return stopping
    }

    /// Completes the transfers curl says are done.
    func collectFinished() {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle,
                let t = active[easy]
            else { continue }
            let code = msg.pointee.data.result
            var err = code == CURLE_OK ? nil : error(for: code, t)
            if code == CURLE_COULDNT_CONNECT && t.abortReason == nil {
                // curl sends a request again on a new connection when the reused one broke before
                // any answer; when that new one is refused, the request may still have reached the
                // backend on the first: lost, not refused (it must not count as never delivered).
                var sent = 0
                if mcpx_easy_getinfo_long(easy, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK, sent > 0 {
                    err = HTTPError(.connectionLost, "connection lost, then connection refused on a new one")
                }
            }
            finish(t, err)
        }
    }

    private func run() {
        loopThreadID.store(LoopThread.currentID, ordering: .releasing)
        #if os(Linux)
        runEpoll()
        #else
        runPoll()
        #endif
        for t in Array(active.values) { finish(t, HTTPError(.cancelled, "mcpx is shutting down")) }
        #if os(Linux)
        closeAllLoopback()
        receiveBuffer.deallocate()
        #endif
        for h in idleHandles + postHandles.map(\.easy) { curl_easy_cleanup(h) }
        idleHandles = []
        postHandles = []
        curl_multi_cleanup(multi)
        done.signal()
    }

    /// The portable loop: `curl_multi_perform` + `curl_multi_poll`.
    func runPoll() {
        var running: Int32 = 0
        var extra = curl_waitfd()
        var observer = beginPass()
        defer { observer?.passEnds() }
        while true {
            if drainQueue() { break }
            curl_multi_perform(multi, &running)
            collectFinished()
            let w = watched.withLock { $0 }
            observer?.passEnds()
            if let w {
                extra.fd = w.fd
                extra.events = Int16(CURL_WAIT_POLLIN)
                extra.revents = 0
                curl_multi_poll(multi, &extra, 1, 1000, nil)
            } else {
                curl_multi_poll(multi, nil, 0, 1000, nil)
            }
            observer = beginPass()
            if let w, extra.revents != 0, !w.handler() {
                watched.withLock { $0 = nil }
                // What the handler queued is started by the next perform.
            }
        }
    }

    func error(for code: CURLcode, _ t: HTTPTransfer) -> HTTPError {
        if let r = t.abortReason { return r }
        let text = String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_COULDNT_CONNECT: return HTTPError(.connectionRefused, "connection refused")
        case CURLE_COULDNT_RESOLVE_HOST: return HTTPError(.connectionRefused, "could not resolve host")
        case CURLE_OPERATION_TIMEDOUT: return HTTPError(.timeout, "timed out")
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return HTTPError(.connectionLost, "connection lost: \(text)")
        default: return HTTPError(.other, text)
        }
    }

    func add(_ t: HTTPTransfer) {
        #if os(Linux)
        if loopbackHTTP, let endpoint = t.loopbackEndpoint, t.method == .post, t.extraHeaders.isEmpty {
            startLoopback(t, endpoint)
            return
        }
        #endif
        let easy: UnsafeMutableRawPointer
        if t.method == .post && t.extraHeaders.isEmpty, let (h, direct) = postHandles.popLast() {
            // A handle that last did a plain POST keeps its constant options: set only what varies.
            t.easy = h
            let me = Unmanaged.passUnretained(t).toOpaque()
            setURL(h, t)
            if direct != t.direct { setDirect(h, t.direct) }
            mcpx_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, t.connectTimeoutMillis)
            mcpx_easy_setopt_long(h, CURLOPT_TIMEOUT_MS, max(0, t.timeoutMillis))
            mcpx_easy_setopt_ptr(h, CURLOPT_HTTPHEADER, t.headers.list)
            mcpx_easy_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(t.body.count))
            _ = t.body.withUnsafeBytes { b in
                mcpx_easy_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, b.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            }
            mcpx_easy_setopt_ptr(h, CURLOPT_WRITEDATA, me)
            mcpx_easy_setopt_ptr(h, CURLOPT_HEADERDATA, me)
            active[h] = t
            curl_multi_add_handle(multi, h)
            return
        }
        if t.method != .get, let h = idleHandles.popLast() {
            curl_easy_reset(h)
            easy = h
        } else {
            guard let h = curl_easy_init() else {
                t.finished = true
                t.onDone(HTTPError(.other, "curl_easy_init failed"))
                return
            }
            easy = h
        }
        t.easy = easy
        let me = Unmanaged.passUnretained(t).toOpaque()
        setURL(easy, t)
        mcpx_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        mcpx_easy_setopt_ptr(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        mcpx_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        mcpx_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        if t.method == .get {
            // An event stream stays open for the life of its backend, with its receive buffer:
            // 4 KiB instead of curl's 16 KiB saves 6 MB with 500 backends (events are small).
            mcpx_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, Self.streamBufferSize)
        }
        if t.direct { setDirect(easy, true) }
        #if os(Linux)
        setSocketCallbacks(easy)
        #endif
        mcpx_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, t.connectTimeoutMillis)
        if t.timeoutMillis > 0 { mcpx_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, t.timeoutMillis) }
        if t.extraHeaders.isEmpty {
            mcpx_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, t.headers.list)
        } else {
            var l: UnsafeMutablePointer<curl_slist>?
            var node = t.headers.list
            while let n = node {
                l = curl_slist_append(l, n.pointee.data)
                node = n.pointee.next
            }
            for h in t.extraHeaders { l = curl_slist_append(l, h) }
            t.extraList = l
            mcpx_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, l)
        }
        switch t.method {
        case .get:
            mcpx_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case .post:
            mcpx_easy_setopt_long(easy, CURLOPT_POST, 1)
            mcpx_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(t.body.count))
            _ = t.body.withUnsafeBytes { b in
                mcpx_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, b.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            }
        case .delete:
            mcpx_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, "DELETE")
        }
        mcpx_easy_setopt_datacb(easy, CURLOPT_WRITEFUNCTION, curlWrite)
        mcpx_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        mcpx_easy_setopt_datacb(easy, CURLOPT_HEADERFUNCTION, curlHeader)
        mcpx_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        active[easy] = t
        curl_multi_add_handle(multi, easy)
    }

    /// The transfer's URL: parsed once by its backend when it has one (curl 7.88 spends ~10% of a
    /// forwarded call's instructions parsing a URL string again for every request).
    func setURL(_ easy: UnsafeMutableRawPointer, _ t: HTTPTransfer) {
        if let u = t.parsedURL {
            mcpx_easy_setopt_ptr(easy, CURLOPT_CURLU, UnsafeRawPointer(u.handle))
        } else {
            mcpx_easy_setopt_ptr(easy, CURLOPT_CURLU, nil)
            mcpx_easy_setopt_ptr(easy, CURLOPT_URL, t.url)
        }
    }

    /// A loopback URL never goes through a proxy: `NOPROXY "*"` also spares curl its per-request
    /// look-ups of the proxy environment variables. Other URLs keep curl's defaults (the environment).
    func setDirect(_ easy: UnsafeMutableRawPointer, _ direct: Bool) {
        if direct {
            mcpx_easy_setopt_ptr(easy, CURLOPT_NOPROXY, "*")
        } else {
            mcpx_easy_setopt_ptr(easy, CURLOPT_NOPROXY, nil)
        }
    }

    func finish(_ t: HTTPTransfer, _ err: HTTPError?) {
        if t.finished { return }
        t.finished = true
        #if os(Linux)
        detachLoopback(t)
        #endif
        if let easy = t.easy {
            curl_multi_remove_handle(multi, easy)
            active[easy] = nil
            t.easy = nil
            // Kept for reuse: enough plain POST handles for the calls usually in flight, a few
            // others. Each holds ~25 KB (its state and receive buffer); a stream's handle is not kept
            // (its buffer is smaller, see `add`).
            if t.method == .post && t.extraHeaders.isEmpty && postHandles.count < Self.keptPostHandles {
                // The parsed URL belongs to the backend, which may go away while the handle waits.
                if t.parsedURL != nil { mcpx_easy_setopt_ptr(easy, CURLOPT_CURLU, nil) }
                postHandles.append((easy, t.direct))
            } else if t.method != .get && idleHandles.count < Self.keptOtherHandles {
                idleHandles.append(easy)
            } else {
                curl_easy_cleanup(easy)
            }
        }
        if let l = t.extraList {
            curl_slist_free_all(l)
            t.extraList = nil
        }
        if err == nil && !t.headDelivered {
            if !t.deliverHead() {
                t.onDone(t.abortReason ?? HTTPError(.aborted, "aborted"))
                return
            }
        }
        t.onDone(err)
    }
}

private func curlWrite(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ud else { return 0 }
    let t = Unmanaged<HTTPTransfer>.fromOpaque(ud).takeUnretainedValue()
    let count = size * n
    if !t.headDelivered {
        if !t.deliverHead() {
            if t.abortReason == nil { t.abortReason = HTTPError(.aborted, "aborted") }
            return 0
        }
    }
    guard t.onData(UnsafeRawBufferPointer(start: ptr, count: count)) else {
        if t.abortReason == nil { t.abortReason = HTTPError(.aborted, "aborted") }
        return 0
    }
    return count
}

private func curlHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ud else { return 0 }
    let t = Unmanaged<HTTPTransfer>.fromOpaque(ud).takeUnretainedValue()
    let count = size * n
    guard t.headerLine(UnsafeRawBufferPointer(start: ptr, count: count)) else {
        if t.abortReason == nil { t.abortReason = HTTPError(.aborted, "aborted") }
        return 0
    }
    return count
}

/// Told by the loop when a pass over what is ready begins and when it ends (before the loop waits).
/// Both run on the loop thread.
public protocol CurlLoopPassObserver: AnyObject, Sendable {
    func passBegins()
    func passEnds()
}

/// A descriptor the loop watches and its handler. A class, so reading it under the lock copies a
/// reference: copying a closure out of a `Mutex` tuple made Swift wrap it in one more
/// reabstraction thunk on every read, and calls got slower the longer mcpx ran.
final class Watch: Sendable {
    let fd: Int32
    let handler: @Sendable () -> Bool

    init(fd: Int32, handler: @escaping @Sendable () -> Bool) {
        self.fd = fd
        self.handler = handler
    }
}
