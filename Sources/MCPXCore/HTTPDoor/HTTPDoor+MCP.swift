import MCPXJSON

/// One MCP client of the HTTP door (an `Mcp-Session-Id`): its `ClientSession`, the POST
/// exchanges waiting for answers, and its GET stream. Loop thread only, except `deliver`.
final class HTTPSession: ClientOutlet, @unchecked Sendable {
    let id: String
    unowned let door: HTTPDoor
    /// Set right after init (the session is the client's outlet).
    var client: ClientSession!
    /// Requests of this client being answered, by their JSON-RPC id.
    var exchanges: [RPCID: HTTPExchange] = [:]
    var getStream: HTTPExchange?
    /// Messages that belong to no request, waiting for a GET stream.
    var backlog: [[UInt8]] = []
    var lastActivity = monotonicNanos()
    var ended = false

    static let maxBacklog = 256
    static let maxBacklogBytes = 1 << 20
    var backlogBytes = 0

    static let logPrefix = Array(#"{"jsonrpc":"2.0","method":"notifications/message""#.utf8)
    static func isLogMessage(_ m: [UInt8]) -> Bool { m.count >= logPrefix.count && m[..<logPrefix.count].elementsEqual(logPrefix) }

    init(id: String, door: HTTPDoor) {
        self.id = id
        self.door = door
    }

    var shortID: String { String(id.prefix(8)) }

    /// From any thread: a message for this client, on the stream of the request it belongs to,
    /// else on the GET stream, else kept until one opens.
    func deliver(_ message: [UInt8], relatedTo: RPCID?) {
        door.loop.onLoop { [self] in
            guard !ended else { return }
            if let r = relatedTo, let ex = exchanges[r], ex.isOpen {
                ex.event(message)
                return
            }
            if let g = getStream, g.isOpen {
                g.event(message)
                return
            }
            // Kept for a GET stream to come: list changes and requests, not log lines; bounded.
            if Self.isLogMessage(message) { return }
            backlogBytes += message.count
            backlog.append(message)
            while backlog.count > Self.maxBacklog || backlogBytes > Self.maxBacklogBytes, !backlog.isEmpty {
                backlogBytes -= backlog.removeFirst().count
            }
        }
    }

    func isIdle(now: UInt64, limit: UInt64) -> Bool {
        exchanges.isEmpty && !(getStream?.isOpen ?? false) && now - lastActivity > limit
    }

    func keepAlive() { getStream?.keepAlive() }
}

/// `/mcp`: the Streamable HTTP transport (2025-11-25), server side.
extension HTTPDoor {
    static let sessionHeader = "Mcp-Session-Id"

    /// Whether `Accept` takes `type` (exactly, `major/*` or `*/*`, any case).
    static func accepts(_ r: HTTPRequest, _ type: String) -> Bool {
        let f = acceptFlags(r)
        switch type {
        case "application/json": return f.json
        case "text/event-stream": return f.sse
        default: return false
        }
    }

    /// Whether `Accept` takes JSON and SSE, in one pass over its bytes.
    static func acceptFlags(_ r: HTTPRequest) -> (json: Bool, sse: Bool) {
        guard let accept = r.header("accept") else { return (false, false) }
        var json = false
        var sse = false
        var utf8 = Array(accept.utf8)
        for i in utf8.indices where utf8[i] >= 0x41 && utf8[i] <= 0x5A { utf8[i] += 0x20 }
        var start = 0
        while start <= utf8.count {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: ",")) ?? utf8.count
            var item = utf8[start..<end]
            if let semi = item.firstIndex(of: UInt8(ascii: ";")) { item = item[..<semi] }
            while let f = item.first, f == 0x20 || f == 0x09 { item = item.dropFirst() }
            while let l = item.last, l == 0x20 || l == 0x09 { item = item.dropLast() }
            if item.elementsEqual("application/json".utf8) || item.elementsEqual("application/*".utf8) { json = true }
            if item.elementsEqual("text/event-stream".utf8) || item.elementsEqual("text/*".utf8) { sse = true }
            if item.elementsEqual("*/*".utf8) { return (true, true) }
            start = end + 1
        }
        return (json, sse)
    }

    /// Checks the headers every /mcp request shares; answers and returns nil when they fail. A
    /// request that names a session must name a live one (404 otherwise).
    func checkMCPHeaders(_ r: HTTPRequest, _ ex: HTTPExchange) -> (ok: Bool, session: HTTPSession?) {
        if let v = r.header("mcp-protocol-version"), !Dispatcher.supportedVersions.contains(v) {
            ex.respondJSON(400, JSONValueBytes(Self.rpcError("Bad Request: unsupported MCP-Protocol-Version \(v) (supported: \(Dispatcher.supportedVersions.joined(separator: ", ")))")))
            return (false, nil)
        }
        guard let sid = r.header("mcp-session-id") else { return (true, nil) }
        guard let s = sessions[sid], !s.ended else {
            ex.respondJSON(404, JSONValueBytes(Self.rpcError("Session not found", code: -32001)))
            return (false, nil)
        }
        s.lastActivity = monotonicNanos()
        return (true, s)
    }

    static func rpcError(_ message: String, code: Int = -32600) -> JSONValue {
        ["jsonrpc": "2.0", "id": .null, "error": ["code": .int(Int64(code)), "message": .string(message)]]
    }

    func mcpPost(_ r: HTTPRequest, _ ex: HTTPExchange) {
        if Self.isModern(r) {
            modernPost(r, ex)
            return
        }
        let accept = Self.acceptFlags(r)
        guard accept.json && accept.sse else {
            ex.respondJSON(406, JSONValueBytes(Self.rpcError("Not Acceptable: the client must accept both application/json and text/event-stream")))
            return
        }
        if let ct = r.header("content-type")?.lowercased(), ct != "application/json" && !ct.hasPrefix("application/json;") {
            ex.respondJSON(415, JSONValueBytes(Self.rpcError("Unsupported Media Type: the body must be application/json")))
            return
        }
        let (ok, existing) = checkMCPHeaders(r, ex)
        guard ok else { return }
        let body = r.body
        if body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "[") {
            guard let s = existing else {
                ex.respondJSON(400, JSONValueBytes(Self.rpcError("Bad Request: Mcp-Session-Id header is required")))
                return
            }
            postBatch(body, s, ex)
            return
        }
        guard let msg = Self.message(body, ex) else { return }
        let session: HTTPSession
        if let existing {
            session = existing
        } else {
            guard case .request(_, "initialize") = msg.kind else {
                ex.respondJSON(400, JSONValueBytes(Self.rpcError("Bad Request: Mcp-Session-Id header is required")))
                return
            }
            guard sessions.count < settings.maxSessions || evictIdleSession() else {
                ex.respondJSON(503, JSONValueBytes(Self.rpcError("Service Unavailable: \(settings.maxSessions) sessions open", code: -32603)))
                return
            }
            session = newSession()
        }
        ex.headers.append((Self.sessionHeader, session.id))
        switch msg.kind {
        case .request(let id, _):
            if let old = session.exchanges[id], old.isOpen {
                ex.respond(200, contentType: "application/json", Message.error(id: id, RPCError(.invalidRequest, "Invalid Request: id \(id) is already in use by a request in progress")))
                return
            }
            session.exchanges[id] = ex
            let loop = self.loop
            let isNew = existing == nil
            dispatcher.handle(msg, session.client) { [session, unowned self] answer in
                loop.onLoop {
                    if session.exchanges[id] === ex { session.exchanges[id] = nil }
                    // An initialize that failed starts no session.
                    if isNew, Self.isError(answer) {
                        ex.headers.removeAll { $0.0 == Self.sessionHeader }
                        self.endSession(session, quietly: true)
                    }
                    ex.finish(last: answer.isEmpty ? nil : answer)
                }
            }
        case .notification, .response, .errorResponse:
            dispatcher.handle(msg, session.client) { _ in }
            ex.respond(202)
        }
    }

    /// The POSTed message; nil (and answered 400 with its JSON-RPC error) when it is not one.
    static func message(_ body: [UInt8], _ ex: HTTPExchange) -> IncomingMessage? {
        do {
            return try IncomingMessage(bytes: body)
        } catch {
            var id: RPCID?
            if error.code != .parseError, let raw = try? RawObject(body), let v = raw.value("id") { id = RPCID(v) }
            ex.respond(400, contentType: "application/json", Message.error(id: id, error))
            return nil
        }
    }

    func postBatch(_ body: [UInt8], _ s: HTTPSession, _ ex: HTTPExchange) {
        ex.headers.append((Self.sessionHeader, s.id))
        // Requests in it are answered together, as one JSON array; notifications and responses alone get 202.
        let hasRequest: Bool
        if case .array(let items)? = try? JSONParser.parse(body) {
            hasRequest = items.contains { $0["method"] != nil && $0["id"] != nil }
        } else {
            hasRequest = true  // not valid JSON: the dispatcher answers with a parse error
        }
        guard hasRequest else {
            dispatcher.handle(body, from: s.client) { _ in }
            ex.respond(202)
            return
        }
        let loop = self.loop
        dispatcher.handle(body, from: s.client) { answer in
            loop.onLoop { ex.finish(last: answer.isEmpty ? nil : answer) }
        }
    }

    /// Whether a JSON-RPC answer is an error.
    static func isError(_ answer: [UInt8]) -> Bool {
        guard !answer.isEmpty, let o = try? RawObject(answer) else { return false }
        return o.range("error") != nil
    }

    /// Ends the session idle longest (no request in progress, no stream); false when none is idle.
    func evictIdleSession() -> Bool {
        guard let s = sessions.values.filter({ $0.exchanges.isEmpty && !($0.getStream?.isOpen ?? false) }).min(by: { $0.lastActivity < $1.lastActivity }) else {
            return false
        }
        log.info("http: session \(s.shortID) ended to make room (\(settings.maxSessions) sessions open)")
        endSession(s)
        return true
    }

    func newSession() -> HTTPSession {
        let id = Self.makeSessionID()
        let s = HTTPSession(id: id, door: self)
        s.client = ClientSession(door: .http, outlet: s)
        sessions[id] = s
        dispatcher.sessions.add(s.client)
        log.info("http: session \(s.shortID) started (\(sessions.count) open)")
        return s
    }

    /// 128 random bits, hex (visible ASCII, as the spec asks).
    static func makeSessionID() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let v = UInt32.random(in: .min ... .max, using: &g)
            let h = String(v, radix: 16)
            return String(repeating: "0", count: 8 - h.count) + h
        }.joined()
    }

    func mcpGet(_ r: HTTPRequest, _ ex: HTTPExchange) {
        if Self.isModern(r) {
            ex.respond(405, headers: [("Allow", "POST")])
            return
        }
        guard Self.accepts(r, "text/event-stream") else {
            ex.respondJSON(406, JSONValueBytes(Self.rpcError("Not Acceptable: the GET stream needs Accept: text/event-stream")))
            return
        }
        let (ok, existing) = checkMCPHeaders(r, ex)
        guard ok else { return }
        guard let s = existing else {
            ex.respondJSON(400, JSONValueBytes(Self.rpcError("Bad Request: Mcp-Session-Id header is required")))
            return
        }
        // One GET stream per session: a new one replaces the old (a client that reconnects).
        if let old = s.getStream, old.isOpen { old.finish(last: nil) }
        ex.headers.append((Self.sessionHeader, s.id))
        s.getStream = ex
        ex.onClose = { [weak s, weak ex] in if let s, s.getStream === ex { s.getStream = nil } }
        // The stream starts now (headers out), and what waited for it follows.
        ex.startStream()
        let waiting = s.backlog
        s.backlog = []
        s.backlogBytes = 0
        for m in waiting { ex.event(m) }
    }

    func mcpDelete(_ r: HTTPRequest, _ ex: HTTPExchange) {
        if Self.isModern(r) {
            ex.respond(405, headers: [("Allow", "POST")])
            return
        }
        let (ok, existing) = checkMCPHeaders(r, ex)
        guard ok else { return }
        guard let s = existing else {
            ex.respondJSON(400, JSONValueBytes(Self.rpcError("Bad Request: Mcp-Session-Id header is required")))
            return
        }
        endSession(s)
        ex.respond(200)
    }

    /// Ends a session: its calls are cancelled, its streams end, its id is unknown from now on.
    func endSession(_ s: HTTPSession, quietly: Bool = false) {
        guard !s.ended else { return }
        s.ended = true
        sessions[s.id] = nil
        dispatcher.endSession(s.client)
        let open = Array(s.exchanges.values)
        s.exchanges = [:]
        for ex in open where ex.isOpen { ex.finish(last: nil) }
        s.getStream?.finish(last: nil)
        s.getStream = nil
        if !quietly { log.info("http: session \(s.shortID) ended (\(sessions.count) open)") }
    }
}
