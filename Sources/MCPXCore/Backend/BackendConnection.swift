public import MCPXJSON
import Synchronization

/// mcpx as an MCP client of one backend over Streamable HTTP: session, headers, requests, streams.
///
/// Thread-safe: the hot path (`post`) is called from the stdin thread and completes on the curl
/// thread; session state sits behind a lock. Lifecycle decisions (when to connect, retry, give up)
/// belong to `MultiServerProxy`.
public final class BackendConnection: Sendable {
    public static let supportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    public static let latestVersion = "2025-11-25"

    public let name: String
    public let url: String
    /// The backend is on this machine: requests bypass any proxy (see `HTTPTransfer.isLoopback`).
    let direct: Bool
    /// `url` as libcurl parsed it, handed to each POST (see `HTTPTransfer.parsedURL`).
    let parsedURL: CurlURL?
    /// Set when mcpx's own HTTP/1.1 client can carry the POSTs (plain HTTP to this machine).
    let loopbackEndpoint: LoopbackEndpoint?
    let loop: CurlLoop
    /// Header lines the user configured for this backend (credentials): sent to it only, never logged.
    let userHeaders: [String]
    let secrets: [String]
    let maxResponseBytes: Int
    let log: Logger
    /// Messages the backend sends outside of a response: notifications and requests to the client,
    /// with the client call whose response carried them (nil on the event stream).
    let onMessage: @Sendable (IncomingMessage, CallOrigin?) -> Void
    /// `onMessage` for channels that carry no call's messages apart (the GET stream, HTTP+SSE, stdio).
    let onStreamMessage: @Sendable (IncomingMessage) -> Void

    struct Session {
        var id: String?
        var protocolVersion: String?
        var headers: HeaderList
        var serverInfo: JSONValue?
        var capabilities: JSONValue?
        var instructions: String?
        var generation = 0
        var recovery: Task<Void, any Error>?
        /// The GET stream, while one is open.
        var eventStream: HTTPTransfer?
        /// Set when the backend speaks the 2024-11-05 HTTP+SSE transport.
        var legacy: LegacySSEChannel?
        /// A stdio server's running process and its pipes.
        var stdio: StdioChannel?
        /// What the last process wrote on stderr, kept after it ended.
        var lastStderr: [String] = []
        /// The process was stopped for being idle: the next request starts it again.
        var idleStopped = false
        /// Bumped by every stdio handshake and every close: a handshake installs its process only
        /// if nothing else began since it did.
        var stdioEpoch = 0
        /// Requests that wait for an idle-stopped process to be started again.
        var waking: [(body: [UInt8], id: RPCID?, timeoutMillis: Int, completion: @Sendable (Result<IncomingMessage?, BackendError>) -> Void)] = []
        /// What the last handshake told the backend of the client (for a restart on demand).
        var clientCapabilities: JSONValue = .object([:])
        /// The backend speaks 2026-07-28: no session; `envelope` goes into every request's `_meta`
        /// and `modernHeaders` caches header lists by method and name (BackendConnection+Modern).
        var modern = false
        var envelope: [UInt8] = []
        var modernHeaders: [String: HeaderList] = [:]
        /// Backend resource URIs whose updates the listen stream asks for, and the stdio listen
        /// request open now (ended when a new one replaces it).
        var listenURIs: Set<String> = []
        /// How many subscribe requests (without their unsubscribe yet) hold each listened URI.
        var listenHolds: [String: Int] = [:]
        var stdioListenID: RPCID?
    }

    let session: Mutex<Session>
    let stats = Mutex(BackendStats())
    /// Listens (by id) whose acknowledgement someone waits for (`listenOnStdio`).
    let listenAcks: ListenAcks
    let nextID = Atomic<Int64>(1)
    /// Calls in flight to this backend (bounded by the proxy's `maxInFlight`).
    let inFlight = Atomic<Int>(0)
    let lastActivityNanos = Atomic<UInt64>(monotonicNanos())

    /// Which transport the user asked for (`auto` detects it at each handshake).
    public let transport: ServerConfig.Transport
    /// Which protocol era (`auto` probes `server/discover` at each handshake).
    public var protocolChoice: ProtocolChoice { choice.withLock { $0 } }
    let choice: Mutex<ProtocolChoice>
    /// For a stdio server: the process to start at each handshake.
    let stdioSpec: ServerConfig.StdioSpec?
    /// A stdio server with an idle timeout: calls note when they happen (a plain flag for the hot path).
    let tracksIdle: Bool
    /// Built once; see `countMalformed`.
    let malformedCounter: MalformedCounter
    /// For a stdio server: runs when its process ends on its own (not stopped by mcpx), with why
    /// and how many seconds it ran.
    let onProcessExit: (@Sendable (String, Double) -> Void)?

    public init(
        name: String, url: String, headers: [(name: String, value: String)], transport: ServerConfig.Transport = .auto,
        loop: CurlLoop, log: Logger, maxResponseBytes: Int = 32 << 20, stdio: ServerConfig.StdioSpec? = nil, protocolChoice: ProtocolChoice = .auto,
        onProcessExit: (@Sendable (String, Double) -> Void)? = nil, onMessage: @escaping @Sendable (IncomingMessage, CallOrigin?) -> Void
    ) {
        self.name = name
        self.stdioSpec = stdio
        self.tracksIdle = stdio?.idleTimeout != nil
        self.malformedCounter = MalformedCounter()
        self.onProcessExit = onProcessExit
        self.transport = transport
        self.choice = Mutex(transport == .sse ? .handshake : protocolChoice)
        self.url = url
        self.direct = HTTPTransfer.isLoopback(url)
        self.parsedURL = CurlURL(url)
        self.loopbackEndpoint = direct ? parsedURL.flatMap(LoopbackEndpoint.init) : nil
        self.loop = loop
        self.log = log
        self.maxResponseBytes = maxResponseBytes
        self.onMessage = onMessage
        let acks = ListenAcks()
        self.listenAcks = acks
        self.onStreamMessage = { msg in
            // A listen's acknowledgement wakes whoever waits for that listen to be live.
            if case .notification("notifications/subscriptions/acknowledged") = msg.kind,
                let sid = msg.params?["_meta"]?[ModernEra.subscriptionIDKey]?.stringValue,
                let signal = acks.take(sid)
            {
                signal.fire()
            }
            onMessage(msg, nil)
        }
        self.userHeaders = headers.map { "\($0.name): \($0.value)" }
        self.secrets = headers.flatMap { Redact.headerSecrets(name: $0.name, $0.value) }
            + (stdio.map { Redact.envSecrets($0.env) } ?? Redact.urlSecrets(url))
        Redact.register(secrets)
        session = Mutex(Session(headers: HeaderList(Self.baseHeaders + userHeaders)))
        malformedCounter.connection = self
    }

    /// Counts a malformed message (one closure for every exchange: none is made per call).
    var countMalformed: @Sendable () -> Void { malformedCounter.counter }

    /// When a client's request last went to a stdio server (monotonic ns), for `idleTimeout`.
    var lastActivity: UInt64 { lastActivityNanos.load(ordering: .relaxed) }

    /// A client's request goes to this backend (mcpx's own pings do not count as use).
    @inline(__always)
    func noteUse() {
        if tracksIdle { lastActivityNanos.store(monotonicNanos(), ordering: .relaxed) }
    }

    /// A backend's secrets are cleaned from every text for as long as its connection exists.
    deinit { Redact.unregister(secrets) }

    static let baseHeaders = [
        "Accept: application/json, text/event-stream", "Content-Type: application/json",
        "Expect:", "User-Agent: mcpx/\(MCPXVersion.version)",
    ]

    public func makeRequestID() -> Int64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    public var protocolVersion: String? { session.withLock { $0.protocolVersion } }
    public var serverInfo: JSONValue? { session.withLock { $0.serverInfo } }
    public var serverCapabilities: JSONValue? { session.withLock { $0.capabilities } }
    /// What the backend's `initialize` answer said in `instructions`.
    public var backendInstructions: String? { session.withLock { $0.instructions } }
    public var hasSession: Bool { session.withLock { $0.id != nil } }
    public var statsSnapshot: BackendStats { stats.withLock { $0 } }

    func redact(_ s: String) -> String { Redact.secrets(s, secrets) }

    // MARK: Sending

    /// POSTs one message. `completion` runs once, on the curl thread, with the response (nil for a
    /// notification) or the failure. Returns the transfer so the caller can cancel it.
    @discardableResult
    public func post(
        _ body: [UInt8], expecting id: RPCID?, timeoutMillis: Int, origin: CallOrigin? = nil,
        onProgress: (@Sendable () -> Void)? = nil, onHeaders: (@Sendable (HTTPHeaders) -> Void)? = nil,
        headers givenHeaders: HeaderList? = nil, modernReady: Bool = false,
        completion: @escaping @Sendable (Result<IncomingMessage?, BackendError>) -> Void
    ) -> HTTPTransfer? {
        let (sessionHeaders, sentSession, legacy, stdio, envelope) = session.withLock {
            ($0.headers, $0.id != nil, $0.legacy, $0.stdio, $0.modern && !modernReady && $0.legacy == nil ? $0.envelope : nil)
        }
        var body = body
        var headers = givenHeaders ?? sessionHeaders
        if let envelope {
            // A 2026-07-28 backend: the envelope in `_meta`, the method (and name) in headers. It
            // takes no notifications over HTTP (a cancel is the closed request).
            let m = modernize(body, envelope: envelope)
            body = m.body
            if let h = m.headers {
                headers = givenHeaders ?? h
            } else if stdio == nil {
                completion(.success(nil))
                return nil
            }
        }
        if let stdio {
            stdio.send(body, expecting: id, timeoutMillis: timeoutMillis, completion: completion)
            return nil
        }
        if stdioSpec != nil {
            if !wakeUp(body, expecting: id, timeoutMillis: timeoutMillis, completion: completion) {
                completion(.failure(BackendError(.unavailable, "the process is not running")))
            }
            return nil
        }
        if let legacy {
            return legacy.send(body, expecting: id, timeoutMillis: timeoutMillis, completion: completion)
        }
        let onMessage = self.onMessage
        let exchange = PostExchange(
            expectID: id, sentSession: sentSession, maxBytes: maxResponseBytes,
            onOther: { msg in
                switch msg.kind {
                case .response, .errorResponse: self.stats.withLock { $0.unknownResponseIDs += 1 }
                case .notification("notifications/progress"):
                    onProgress?()
                    onMessage(msg, origin)
                default: onMessage(msg, origin)
                }
            },
            onMalformed: countMalformed,
            onHeaders: onHeaders,
            completion: { outcome in
                switch outcome {
                case .message(let m): completion(.success(m))
                case .failure(let e): completion(.failure(e))
                }
            })
        let t = HTTPTransfer(
            method: .post, url: url, headers: headers, body: body, timeoutMillis: timeoutMillis, direct: direct,
            parsedURL: parsedURL, loopbackEndpoint: loopbackEndpoint, onHead: { exchange.head($0, $1) }, onData: { exchange.data($0) }, onDone: { exchange.done($0) })
        loop.start(t)
        return t
    }

    /// `post`, awaited.
    func exchange(
        _ body: [UInt8], expecting id: RPCID?, timeoutMillis: Int, origin: CallOrigin? = nil, onHeaders: (@Sendable (HTTPHeaders) -> Void)? = nil,
        headers: HeaderList? = nil
    ) async -> Result<IncomingMessage?, BackendError> {
        await withCheckedContinuation { c in
            post(body, expecting: id, timeoutMillis: timeoutMillis, origin: origin, onHeaders: onHeaders, headers: headers, modernReady: headers != nil) {
                c.resume(returning: $0)
            }
        }
    }

    /// Sends a request and waits for its answer. A JSON-RPC error answer comes back as a message too.
    public func request(
        _ method: String, _ params: JSONValue?, timeoutMillis: Int, origin: CallOrigin? = nil
    ) async throws(BackendError) -> IncomingMessage {
        let id = RPCID.int(makeRequestID())
        let body = Message.request(id: id, method: method, params: params)
        let start = monotonicNanos()
        switch await exchange(body, expecting: id, timeoutMillis: timeoutMillis, origin: origin) {
        case .success(let m?):
            record(.success(Int((monotonicNanos() - start) / 1000)))
            return m
        case .success(nil):
            throw BackendError(.protocolViolation, "no response to \(method)")
        case .failure(let e):
            let e = BackendError(e.kind, redact(e.message), status: e.status)
            record(.failure(e))
            throw e
        }
    }

    /// Sends a request and returns its result, turning a JSON-RPC error into a thrown one.
    public func call(_ method: String, _ params: JSONValue?, timeoutMillis: Int) async throws(BackendError) -> JSONValue {
        let m = try await request(method, params, timeoutMillis: timeoutMillis)
        if case .errorResponse = m.kind {
            let e = m.raw.value("error")
            let text = redact(e?["message"]?.stringValue ?? "error")
            throw BackendError(.protocolViolation, "\(method) failed: \(text) (code \(e?["code"]?.intValue ?? 0))")
        }
        return m.raw.value("result") ?? .null
    }

    /// Stops a transfer mcpx no longer waits for (on the loop thread; its completion does not run).
    func cancel(_ t: HTTPTransfer) { loop.cancel(t) }

    /// Forgets a request mcpx no longer waits for (the HTTP+SSE transport keeps a table of them;
    /// over Streamable HTTP the answer would come on the request's own POST, already cancelled).
    func forget(_ id: RPCID) {
        let (legacy, stdio) = session.withLock { ($0.legacy, $0.stdio) }
        legacy?.forget(id)
        stdio?.forget(id)
    }

    /// Over HTTP+SSE: requests awaiting their answer on the stream (nil for Streamable HTTP).
    var legacyPendingCount: Int? {
        let (legacy, stdio) = session.withLock { ($0.legacy, $0.stdio) }
        return legacy?.pendingCount ?? stdio?.pendingCount
    }

    public func notify(_ method: String, _ params: JSONValue?, timeoutMillis: Int = 5_000) {
        post(Message.notification(method: method, params: params), expecting: nil, timeoutMillis: timeoutMillis) { _ in }
    }

    func record(_ r: Result<Int, BackendError>) {
        stats.withLock { s in
            switch r {
            case .success(let micros): s.recordSuccess(micros: micros)
            case .failure(let e): s.recordFailure(e)
            }
        }
    }

    // MARK: Lifecycle

    /// Runs the initialize handshake and starts a session. Throws when the backend is not usable.
    public func handshake(clientCapabilities: JSONValue, timeoutMillis: Int) async throws(BackendError) {
        // A fresh session: no session id, no version header, no old stream.
        let (old, oldProcess) = session.withLock { s -> (LegacySSEChannel?, StdioChannel?) in
            // The session's id, version and headers stay until the new session replaces them
            // (`adopt`, `adoptModern`): calls sent meanwhile meet the old session (and, if it is
            // gone, join the recovery) rather than going out with no session at all.
            s.clientCapabilities = clientCapabilities
            defer {
                s.legacy = nil
                s.stdio = nil
            }
            return (s.legacy, s.stdio)
        }
        old?.close()
        await oldProcess?.close()
        let params: JSONValue = [
            "protocolVersion": .string(Self.latestVersion),
            "capabilities": clientCapabilities,
            "clientInfo": ["name": "mcpx", "version": .string(MCPXVersion.version)],
        ]
        switch transport {
        case .stdio:
            try await stdioHandshake(params, timeoutMillis: timeoutMillis)
        case .sse:
            try await legacyHandshake(params, timeoutMillis: timeoutMillis)
        case .streamableHTTP, .auto:
            // 2026-07-28 first, as the spec's dual-era rules say (unless the configuration chose).
            if protocolChoice != .handshake {
                if try await probeModern(clientCapabilities: clientCapabilities, timeoutMillis: timeoutMillis) { return }
                if protocolChoice == .modern { throw BackendError(.protocolViolation, "the backend does not answer server/discover at \(ModernEra.version) (\"protocol\": \"\(ModernEra.version)\" is configured)") }
            }
            guard transport == .auto else {
                try await streamableHandshake(params, timeoutMillis: timeoutMillis)
                return
            }
            do {
                try await streamableHandshake(params, timeoutMillis: timeoutMillis)
            } catch where [400, 404, 405].contains(error.status ?? 0) || (error.kind == .protocolViolation && error.message.hasPrefix("unexpected content type")) {
                // The spec's detection: a 2024-11-05 server refuses the POST; GET the URL and look for `endpoint`.
                log.debug("\(name): POST initialize refused (\(error.message)); trying the HTTP+SSE transport")
                do {
                    try await legacyHandshake(params, timeoutMillis: timeoutMillis)
                } catch let legacyError {
                    throw BackendError(error.kind, "\(error.message); HTTP+SSE fallback: \(legacyError.message)", status: error.status)
                }
            }
        }
    }

    /// The handshake over the 2024-11-05 HTTP+SSE transport.
    func legacyHandshake(_ params: JSONValue, timeoutMillis: Int) async throws(BackendError) {
        let channel = LegacySSEChannel(
            sseURL: url, loop: loop, headers: HeaderList(Self.baseHeaders + userHeaders), maxBytes: maxResponseBytes,
            onMessage: onStreamMessage, onMalformed: { [weak self] in self?.stats.withLock { $0.malformedMessages += 1 } })
        try await channel.connect(timeoutMillis: timeoutMillis)
        session.withLock { $0.legacy = channel }
        let result = try await call("initialize", params, timeoutMillis: timeoutMillis)
        guard case .string(let version)? = result["protocolVersion"], Self.supportedVersions.contains(version) else {
            channel.close()
            throw BackendError(.protocolViolation, "initialize result has no supported protocolVersion")
        }
        adopt(result, version: version, sessionID: nil)
        await sendInitialized(timeoutMillis: timeoutMillis)
    }

    /// Takes over what initialize answered: version, server info, capabilities, a new generation,
    /// and the header lines every later request carries.
    func adopt(_ result: JSONValue, version: String, sessionID: String?) {
        session.withLock { s in
            s.id = sessionID
            s.modern = false
            s.protocolVersion = version
            s.serverInfo = result["serverInfo"]
            s.capabilities = result["capabilities"]
            s.instructions = result["instructions"]?.stringValue
            s.generation += 1
            var lines = Self.baseHeaders + userHeaders
            if let sessionID { lines.append("Mcp-Session-Id: \(sessionID)") }
            lines.append("MCP-Protocol-Version: \(version)")
            s.headers = HeaderList(lines)
        }
    }

    /// notifications/initialized, awaited so the next request finds the session ready.
    func sendInitialized(timeoutMillis: Int) async {
        let ack = await exchange(Message.notification(method: "notifications/initialized", params: nil), expecting: nil, timeoutMillis: timeoutMillis)
        if case .failure(let e) = ack, e.kind != .timeout {
            log.debug("\(name): notifications/initialized not accepted: \(redact(e.message))")
        }
    }

    /// Whether everything the backend sends comes on one stream of its own (HTTP+SSE, or a stdio
    /// process's stdout): then there is no GET stream to open.
    public var isLegacySSE: Bool { session.withLock { $0.legacy != nil || $0.stdio != nil } }

    /// The handshake over Streamable HTTP.
    func streamableHandshake(_ params: JSONValue, timeoutMillis: Int) async throws(BackendError) {
        let id = RPCID.int(makeRequestID())
        let body = Message.request(id: id, method: "initialize", params: params)
        let sessionBox = Mutex<String?>(nil)
        let r = await exchange(body, expecting: id, timeoutMillis: timeoutMillis, onHeaders: { h in
            sessionBox.withLock { $0 = h["mcp-session-id"] }
        }, headers: HeaderList(Self.baseHeaders + userHeaders))
        let msg: IncomingMessage
        switch r {
        case .success(let m?): msg = m
        case .success(nil): throw BackendError(.protocolViolation, "no answer to initialize")
        case .failure(let e): throw BackendError(e.kind, redact(e.message), status: e.status)
        }
        if case .errorResponse = msg.kind {
            let text = msg.raw.value("error")?["message"]?.stringValue ?? "error"
            throw BackendError(.protocolViolation, "initialize failed: \(redact(text))")
        }
        guard let result = msg.raw.value("result"), case .string(let version)? = result["protocolVersion"] else {
            throw BackendError(.protocolViolation, "initialize result has no protocolVersion")
        }
        guard Self.supportedVersions.contains(version) else {
            throw BackendError(.protocolViolation, "backend speaks unsupported protocol version \(version.prefix(40))")
        }
        let sid = sessionBox.withLock { $0 }
        if let sid, !Self.isValidSessionID(sid) {
            throw BackendError(.protocolViolation, "backend sent an invalid session id")
        }
        adopt(result, version: version, sessionID: sid)
        await sendInitialized(timeoutMillis: timeoutMillis)
    }

    /// Session ids are visible ASCII (0x21–0x7E) per the spec; anything else could inject headers.
    static func isValidSessionID(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 512 && s.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// Re-initializes after a 404 on session `generation`, once for all the requests that saw it.
    public func recoverSession(seenGeneration: Int, clientCapabilities: JSONValue, timeoutMillis: Int) async throws {
        let task: Task<Void, any Error> = session.withLock { s in
            if s.generation != seenGeneration, s.recovery == nil {
                return Task {}
            }
            if let t = s.recovery { return t }
            let t = Task { [self] in
                defer { session.withLock { $0.recovery = nil } }
                log.info("\(name): session expired, initializing a new one")
                try await handshake(clientCapabilities: clientCapabilities, timeoutMillis: timeoutMillis)
            }
            s.recovery = t
            return t
        }
        try await task.value
    }

    public var sessionGeneration: Int { session.withLock { $0.generation } }

    /// The whole of one list (all its pages) is bounded: at most this many bytes of answers.
    public static let maxListBytes = 20 << 20

    /// Lists every item, following `nextCursor`, within bounds a backend cannot stretch: reading
    /// stops after `maxItems` items (the rest are not fetched), and the list fails when its pages
    /// add up to more than `maxBytes` or take longer than `timeoutMillis` in all.
    public func listAll(
        _ method: String, key: String, timeoutMillis: Int, maxItems: Int = 20_000, maxBytes: Int = maxListBytes
    ) async throws(BackendError) -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String?
        var seen = Set<String>()
        var bytes = 0
        let start = monotonicNanos()
        let deadline = start + UInt64(max(1, timeoutMillis)) * 1_000_000
        for pages in 0..<10_000 {
            let now = monotonicNanos()
            guard now < deadline else {
                throw BackendError(.timeout, "\(method) did not complete within \(Double(timeoutMillis) / 1000) s (\(pages) pages read)")
            }
            var params: JSONObject = [:]
            if let cursor { params["cursor"] = .string(cursor) }
            let remaining = Int((deadline - now) / 1_000_000) + 1
            let m = try await request(method, params.isEmpty ? nil : .object(params), timeoutMillis: remaining)
            bytes += m.raw.bytes.count
            if bytes > maxBytes {
                throw BackendError(.tooLarge, "\(method) is larger than \(maxBytes >> 20) MiB in all (\(pages + 1) pages read); not loaded")
            }
            if case .errorResponse = m.kind {
                let e = m.raw.value("error")
                let text = redact(e?["message"]?.stringValue ?? "error")
                throw BackendError(.protocolViolation, "\(method) failed: \(text) (code \(e?["code"]?.intValue ?? 0))")
            }
            let result = m.raw.value("result") ?? .null
            guard case .array(let page)? = result[key] else {
                throw BackendError(.protocolViolation, "\(method) result has no \(key) array")
            }
            let taken = min(page.count, maxItems - items.count)
            items.append(contentsOf: page.prefix(taken))
            if items.count >= maxItems {
                if result["nextCursor"] != nil || taken < page.count {
                    log.warning("\(name): \(method) has more than \(maxItems) items; the rest are not loaded")
                }
                return items
            }
            guard case .string(let next)? = result["nextCursor"], !next.isEmpty else { return items }
            if seen.contains(next) { throw BackendError(.protocolViolation, "\(method) returned a cursor twice") }
            seen.insert(next)
            cursor = next
        }
        throw BackendError(.protocolViolation, "\(method) has more than 10000 pages")
    }

    /// Ends the session with DELETE (best effort; 405 is fine).
    public func close(timeoutMillis: Int = 1_000) async {
        closeEventStream()
        if let stdio = session.withLock({ s -> StdioChannel? in
            s.stdioEpoch += 1  // a handshake still under way stops its process instead of installing it
            defer { s.stdio = nil }
            return s.stdio
        }) {
            await stdio.close()
            return
        }
        if let legacy = session.withLock({ s -> LegacySSEChannel? in
            defer { s.legacy = nil }
            return s.legacy
        }) {
            legacy.close()
            return
        }
        let (headers, sid) = session.withLock { ($0.headers, $0.id) }
        guard sid != nil else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.start(
                HTTPTransfer(
                    method: .delete, url: url, headers: headers, timeoutMillis: timeoutMillis, direct: direct,
                    onHead: { _, _ in true }, onData: { _ in true }, onDone: { _ in c.resume() }))
        }
        session.withLock { $0.id = nil }
    }
}

/// The one closure that counts malformed messages of a connection, made when the connection is.
/// Written only while the connection is being made (`connection`, once), read after.
final class MalformedCounter: @unchecked Sendable {
    /// Weak: the connection owns this.
    weak var connection: BackendConnection?
    private(set) var counter: @Sendable () -> Void = {}

    init() {
        counter = { [weak self] in self?.connection?.stats.withLock { $0.malformedMessages += 1 } }
    }
}

/// Listens whose acknowledgement someone waits for, by id.
final class ListenAcks: Sendable {
    private let waiting = Mutex<[String: OneShotSignal]>([:])
    func add(_ id: String, _ s: OneShotSignal) { waiting.withLock { $0[id] = s } }
    func take(_ id: String) -> OneShotSignal? { waiting.withLock { $0.removeValue(forKey: id) } }
}
