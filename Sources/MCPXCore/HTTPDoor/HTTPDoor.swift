import MCPXJSON
import Synchronization

/// The HTTP door: MCP over Streamable HTTP at `/mcp` for any number of clients, and the operator's
/// endpoints (`/health`, `/status`, `/servers`, `/servers/count`, `/tools`, `/call`, `/metrics`,
/// and the dashboard at `/`), on one port.
///
/// Everything runs on the event loop's thread: the listening socket and every client connection
/// are in its epoll set beside the backends' sockets, so a call read from a client connection is
/// forwarded to its backend and its answer written back without a thread hop. State here is
/// confined to that thread (`@unchecked Sendable`); other threads reach it through `loop.onLoop`.
public final class HTTPDoor: @unchecked Sendable {
    public struct Settings: Sendable {
        public var address: ServerSocket.Address
        /// Every request but `GET /health` needs `Authorization: Bearer <token>`.
        public var token: String?
        /// Origins (lower-cased) browsers may call from, besides loopback ones.
        public var allowedOrigins: Set<String> = []
        public var maxBodyBytes = 16 << 20
        public var maxHeadBytes = 64 << 10
        public var maxConnections = 1024
        /// A connection with nothing in progress is closed after this long.
        public var idleSeconds: Double = 120
        /// A request must arrive whole within this long of its first byte.
        public var requestSeconds: Double = 30
        public var maxSessions = 4096
        /// A session with no request and no open stream for this long ends.
        public var sessionIdleSeconds: Double = 3600
        /// Bytes a client may leave unread before it is disconnected.
        public var maxUnsentBytes = 16 << 20
        /// How often open SSE streams get a keep-alive comment.
        public var keepAliveSeconds: Double = 15
        /// `--admin-token`: the admin API (`/admin/servers`) is on, behind this bearer token.
        public var adminToken: String?

        public init(address: ServerSocket.Address) { self.address = address }
    }

    public let settings: Settings
    let dispatcher: Dispatcher
    let proxy: MultiServerProxy
    let loop: CurlLoop
    let log: Logger
    let metrics: Metrics
    private let listenFD: Int32
    /// The port it listens on (the one the system picked for port 0).
    public let port: Int

    // Loop thread only.
    var listenWatch: FDWatch?
    var connections: [Int: HTTPServerConnection] = [:]
    var nextConnectionID = 1
    var sessions: [String: HTTPSession] = [:]
    /// 2026-07-28 `subscriptions/listen` streams (kept alive with the sessions' GET streams).
    var modernStreams: [HTTPExchange] = []
    var slowClientsDropped = 0
    var refusedOrigins = 0
    var acceptPausedAt: UInt64?
    var lastKeepAlive = monotonicNanos()
    var stopped = false

    public init(settings: Settings, dispatcher: Dispatcher, loop: CurlLoop, log: Logger) throws(ConfigError) {
        self.settings = settings
        self.dispatcher = dispatcher
        self.proxy = dispatcher.proxy
        self.loop = loop
        self.log = log
        self.metrics = Metrics(proxy: dispatcher.proxy)
        if let t = settings.token { Redact.register([t]) }
        do {
            (listenFD, port) = try ServerSocket.listenOn(settings.address)
        } catch {
            throw ConfigError("--http: \(error.message)")
        }
    }

    /// The URL clients connect to.
    public var baseURL: String { "http://\(settings.address.urlHost):\(port)" }

    /// Starts accepting connections (from any thread).
    public func start() {
        let w = FDWatch(fd: listenFD, onReadable: { [self] in acceptAll() })
        loop.onLoop { [self] in listenWatch = w }
        loop.addWatch(w)
        log.announce("http: listening on \(baseURL)")
    }

    /// Stops accepting, ends every session and closes every connection; waits until done.
    public func stop() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ran = loop.onLoop { [self] in
                stopped = true
                for s in sessions.values { endSession(s) }
                for c in connections.values { c.close() }
                if let w = listenWatch {
                    loop.removeWatch(w) { [fd = listenFD] in ServerSocket.closeFD(fd) }
                }
                c.resume()
            }
            if !ran { c.resume() }
        }
    }

    // MARK: Connections

    func acceptAll() {
        while !stopped {
            let fd: Int32
            switch ServerSocket.acceptNext(listenFD) {
            case .connection(let c): fd = c
            case .none: return
            case .outOfDescriptors:
                // The listener stays readable: stop asking for a second (sweep resumes), or the
                // loop would spin.
                if let w = listenWatch, !w.readPaused {
                    log.warning("http: out of file descriptors; not accepting connections for a second")
                    loop.pauseReading(w, true)
                    acceptPausedAt = monotonicNanos()
                }
                return
            }
            if connections.count >= settings.maxConnections {
                // Over the limit: say so and close, rather than leave it waiting.
                let body = Array(#"{"error":"too many connections"}"#.utf8)
                let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
                _ = (Array(head.utf8) + body).withUnsafeBytes { ServerSocket.writeSome(fd, $0) }
                ServerSocket.closeFD(fd)
                log.warning("http: refused a connection: \(settings.maxConnections) already open")
                continue
            }
            let id = nextConnectionID
            nextConnectionID += 1
            let c = HTTPServerConnection(
                id: id, fd: fd, door: self, parser: HTTPRequestParser(maxHeadBytes: settings.maxHeadBytes, maxBodyBytes: settings.maxBodyBytes))
            connections[id] = c
            let w = FDWatch(fd: fd, onReadable: { [self, c] in readable(c) }, onWritable: { [c] in c.writable() })
            c.watch = w
            loop.addWatch(w)
        }
    }

    func wantWritable(_ c: HTTPServerConnection) {
        if let w = c.watch { loop.wantWritable(w, true) }
    }

    func connectionClosed(_ c: HTTPServerConnection) {
        connections[c.id] = nil
        if let w = c.watch {
            loop.removeWatch(w) { [fd = c.fd] in ServerSocket.closeFD(fd) }
        } else {
            ServerSocket.closeFD(c.fd)
        }
    }

    nonisolated(unsafe) static var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    func readable(_ c: HTTPServerConnection) {
        guard !c.closed else { return }
        // Read what is there (bounded per pass so one client cannot hold the loop). A short read
        // took everything: the next recv would only say EAGAIN (epoll says when there is more).
        var stop = false
        for _ in 0..<16 where !stop {
            switch ServerSocket.readSome(c.fd, into: Self.readBuffer) {
            case .wouldBlock:
                return
            case .closed:
                // The client closed its side: answer what it sent, then close ours (unless what
                // it sent is a 2026-07-28 request, whose client cancels by closing).
                if c.exchange?.cancelOnPeerClose == true {
                    c.close()
                } else if c.exchange != nil || !c.queued.isEmpty {
                    c.peerClosed = true
                    if let w = c.watch { loop.pauseReading(w, true) }
                } else {
                    c.close()
                }
                return
            case .bytes(let n):
                defer { if n < Self.readBuffer.count { stop = true } }
                c.lastActivity = monotonicNanos()
                if c.requestStarted == nil { c.requestStarted = c.lastActivity }
                let events = c.parser.feed(UnsafeRawBufferPointer(rebasing: Self.readBuffer[0..<n]))
                if c.parser.isIdle { c.requestStarted = nil }
                for e in events {
                    switch e {
                    case .head(let r):
                        // Refused before its body is read: an unauthenticated client cannot make
                        // mcpx buffer megabytes.
                        if let (status, reason, headers) = refusal(r) {
                            fail(c, status, reason, headers: headers)
                            return
                        }
                    case .request(let r):
                        if c.exchange == nil && c.queued.isEmpty {
                            begin(r, on: c)
                        } else if c.queued.count < 32 {
                            c.queued.append(r)
                        } else {
                            c.close()
                            return
                        }
                    case .failure(let f):
                        fail(c, f.status, f.reason)
                        return
                    }
                    if c.closed { return }
                }
            }
        }
    }

    /// Malformed input, or a request refused before its body was read: answer with its status and close.
    func fail(_ c: HTTPServerConnection, _ status: Int, _ reason: String, headers: [(String, String)] = []) {
        log.debug("http: connection \(c.id): \(status) \(reason)")
        c.queued = []
        if c.closeWhenFlushed {
            c.close()
            return
        }
        if c.exchange != nil {
            // An answer is still being written: an error response cannot go before it. Close.
            c.close()
            return
        }
        let body = JSONValue.object(["error": .string(reason)]).serialized()
        var extra = ""
        for (k, v) in headers { extra += "\(k): \(v)\r\n" }
        let head = "HTTP/1.1 \(status) \(HTTPExchange.reason(status))\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\(extra)Connection: close\r\n\r\n"
        c.exchange = nil
        c.closeWhenFlushed = true
        c.write(Array(head.utf8) + body)
        if c.unsentBytes == 0 { c.close() }
    }

    // MARK: Requests

    func begin(_ r: HTTPRequest, on c: HTTPServerConnection) {
        let ex = HTTPExchange(connection: c, request: r)
        c.exchange = ex
        if let (status, reason, headers) = refusal(r) {
            ex.respondJSON(status, JSONValueBytes(.object(["error": .string(reason)])), headers: headers)
            return
        }
        route(r, ex)
    }

    /// Why a request is refused before anything else, if it is: its `Origin` (a browser page of
    /// another site), its `Host` (DNS rebinding, when no token protects the door), its token.
    func refusal(_ r: HTTPRequest) -> (Int, String, [(String, String)])? {
        if let origin = r.header("origin"), !originAllowed(origin) {
            refusedOrigins += 1
            if refusedOrigins <= 10 || refusedOrigins % 1000 == 0 {
                log.warning("http: refused a request from origin \(Self.printable(origin)) (\(refusedOrigins) so far)")
            }
            return (403, "origin not allowed", [])
        }
        if settings.token == nil, settings.address.isLoopback, let host = r.header("host"), !Self.isLoopbackHost(host) {
            return (403, "host not allowed: mcpx serves this machine only (give a token to serve others)", [])
        }
        let health = (r.method == "GET" || r.method == "HEAD") && r.path == "/health"
        // The admin API has a token of its own (checked when the request is routed).
        let admin = r.path == "/admin/servers" || r.path.hasPrefix("/admin/servers/")
        if let token = settings.token, !health, !admin {
            if !Self.bearerMatches(r, token: token, allowQuery: r.method == "GET" && (r.path == "/" || r.path == "/dashboard")) {
                return (401, "missing or wrong bearer token", [("WWW-Authenticate", "Bearer")])
            }
        }
        return nil
    }

    /// `host[:port]` names this machine: localhost, an IPv4 loopback literal, or [::1].
    static func isLoopbackHost(_ hostHeader: String) -> Bool {
        var h = Substring(hostHeader.lowercased())
        if h.hasPrefix("[") {
            guard let close = h.firstIndex(of: "]") else { return false }
            return h[h.index(after: h.startIndex)..<close] == "::1"
        }
        if let colon = h.lastIndex(of: ":") { h = h[..<colon] }
        return h == "localhost" || isIPv4Loopback(h)
    }

    /// Four decimal numbers 0–255, the first 127 (not a name that starts with "127.").
    static func isIPv4Loopback(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }) else { return false }
        return parts[0] == "127"
    }

    /// A client-supplied text for the log: printable ASCII only, at most 200 characters.
    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(200).map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }

    func route(_ r: HTTPRequest, _ ex: HTTPExchange) {
        switch r.path {
        case "/mcp":
            switch r.method {
            case "POST": mcpPost(r, ex)
            case "GET": mcpGet(r, ex)
            case "DELETE": mcpDelete(r, ex)
            default: methodNotAllowed(ex, "GET, POST, DELETE")
            }
        case "/call":
            if r.method == "POST" { restCall(r, ex) } else { methodNotAllowed(ex, "POST") }
        case _ where r.path == "/admin/servers" || r.path.hasPrefix("/admin/servers/"):
            admin(r, ex)
        case "/health", "/status", "/servers", "/servers/count", "/tools", "/metrics", "/", "/dashboard":
            if r.method == "GET" || r.method == "HEAD" { operatorGet(r, ex) } else { methodNotAllowed(ex, "GET") }
        default:
            ex.respondJSON(404, JSONValueBytes(.object(["error": .string("no such endpoint: \(r.path)")])))
        }
    }

    func methodNotAllowed(_ ex: HTTPExchange, _ allow: String) {
        ex.respondJSON(405, JSONValueBytes(.object(["error": "method not allowed"])), headers: [("Allow", allow)])
    }

    /// Loopback origins are always allowed (any scheme and port); others only when listed.
    func originAllowed(_ origin: String) -> Bool {
        let o = origin.lowercased()
        if settings.allowedOrigins.contains(o) { return true }
        guard let schemeEnd = o.firstRange(of: "://") else { return false }
        let scheme = o[..<schemeEnd.lowerBound]
        guard scheme == "http" || scheme == "https" else { return false }
        var host = o[schemeEnd.upperBound...]
        if host.contains("/") { return false }
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = host[host.index(after: host.startIndex)..<close]
            return host == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        return host == "localhost" || Self.isIPv4Loopback(host)
    }

    /// Compares the bearer token in constant time (no early exit on the first differing byte).
    static func bearerMatches(_ r: HTTPRequest, token: String, allowQuery: Bool) -> Bool {
        var given: String?
        if let auth = r.header("authorization"), auth.count > 7, auth.prefix(7).lowercased() == "bearer " {
            given = String(auth.dropFirst(7)).trimmingWhitespace()
        } else if allowQuery {
            given = r.queryValue("token")
        }
        guard let given else { return false }
        let a = Array(given.utf8)
        let b = Array(token.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { diff |= (i < a.count ? a[i] : 0) ^ b[i] }
        return diff == 0
    }

    // MARK: Housekeeping

    /// Runs every second on the loop: idle and slow connections, idle sessions, keep-alives.
    func sweep() {
        let now = monotonicNanos()
        if let paused = acceptPausedAt, now - paused > 1_000_000_000, let w = listenWatch {
            acceptPausedAt = nil
            loop.pauseReading(w, false)
        }
        let idle = UInt64(settings.idleSeconds * 1e9)
        let slow = UInt64(settings.requestSeconds * 1e9)
        for c in Array(connections.values) {
            if c.exchange == nil && c.queued.isEmpty {
                if let started = c.requestStarted, now - started > slow {
                    fail(c, 408, "request not received in time")
                } else if now - c.lastActivity > idle {
                    c.close()
                }
            }
        }
        let sessionIdle = UInt64(settings.sessionIdleSeconds * 1e9)
        for s in Array(sessions.values) where s.isIdle(now: now, limit: sessionIdle) {
            log.info("http: session \(s.shortID) ended after \(Int(settings.sessionIdleSeconds)) s without activity")
            endSession(s)
        }
        if now - lastKeepAlive > UInt64(settings.keepAliveSeconds * 1e9) {
            lastKeepAlive = now
            for s in sessions.values { s.keepAlive() }
            modernStreams.removeAll { !$0.isOpen }
            for ex in modernStreams { ex.keepAlive() }
        }
    }

    /// Sweeps until cancelled.
    public func runHousekeeping() async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            loop.onLoop { [self] in sweep() }
        }
    }
}
