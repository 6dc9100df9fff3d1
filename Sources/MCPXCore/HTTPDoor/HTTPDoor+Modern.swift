import MCPXJSON

/// One 2026-07-28 request on the HTTP door: no session; what mcpx tells the client about it
/// (progress, logs, listen events) goes on its own response, as SSE. Loop thread only, except
/// `deliver`.
final class ModernExchange: ClientOutlet, @unchecked Sendable {
    unowned let door: HTTPDoor
    let exchange: HTTPExchange
    var client: ClientSession!

    init(door: HTTPDoor, exchange: HTTPExchange) {
        self.door = door
        self.exchange = exchange
    }

    func deliver(_ message: [UInt8], relatedTo: RPCID?) {
        door.loop.onLoop { [self] in if exchange.isOpen { exchange.event(message) } }
    }
}

/// `/mcp` for 2026-07-28 clients (chosen by `MCP-Protocol-Version`): stateless POSTs whose headers
/// must agree with their bodies (-32020 otherwise), no sessions, no GET or DELETE (405), and a
/// `subscriptions/listen` answered with an SSE stream that lasts as long as the client keeps it.
extension HTTPDoor {
    /// Whether a request's `MCP-Protocol-Version` names the stateless revision (or one not of the
    /// handshake era, which the dispatcher then refuses with -32022).
    static func isModern(_ r: HTTPRequest) -> Bool {
        guard let v = r.header("mcp-protocol-version") else { return false }
        return !Dispatcher.supportedVersions.contains(v)
    }

    /// The HTTP status of a modern answer (the revision's table): 404 for an unknown method, 400
    /// for what the client got wrong, 200 for the rest.
    static func modernStatus(_ answer: [UInt8]) -> Int {
        guard let o = try? RawObject(answer), let er = o.range("error"), let e = try? RawObject(answer, range: er),
            let code = e.value("code")?.intValue
        else { return 200 }
        switch code {
        case -32601: return 404
        case -32700, -32600, -32602, -32020, -32021, -32022: return 400
        default: return 200
        }
    }

    func modernPost(_ r: HTTPRequest, _ ex: HTTPExchange) {
        let accept = Self.acceptFlags(r)
        guard accept.json else {
            ex.respondJSON(406, JSONValueBytes(Self.rpcError("Not Acceptable: the client must accept application/json")))
            return
        }
        if let ct = r.header("content-type")?.lowercased(), ct != "application/json" && !ct.hasPrefix("application/json;") {
            ex.respondJSON(415, JSONValueBytes(Self.rpcError("Unsupported Media Type: the body must be application/json")))
            return
        }
        let body = r.body
        if body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "[") {
            ex.respond(400, contentType: "application/json", Message.error(id: nil, RPCError(.invalidRequest, "Invalid Request: no batches at \(ModernEra.version)")))
            return
        }
        guard let msg = Self.message(body, ex) else { return }
        guard case .request(let id, let method) = msg.kind else {
            // At 2026-07-28 a client sends no notifications over HTTP (a cancel is a closed stream).
            ex.respond(202)
            return
        }
        if msg.params?["_meta"]?[ModernEra.protocolVersionKey] == nil {
            ex.respond(400, contentType: "application/json", Message.error(id: id, .invalidParams("params._meta must carry \(ModernEra.protocolVersionKey) and \(ModernEra.capabilitiesKey) (MCP-Protocol-Version says \(r.header("mcp-protocol-version") ?? "?"))")))
            return
        }
        if let problem = Self.headerMismatch(r, msg, method: method) {
            ex.respond(400, contentType: "application/json", Message.error(id: id, RPCError(.headerMismatch, problem)))
            return
        }
        if method == "subscriptions/listen" && !accept.sse {
            ex.respond(406, contentType: "application/json", Message.error(id: id, RPCError(.invalidRequest, "Not Acceptable: subscriptions/listen answers with text/event-stream")))
            return
        }
        let outlet = ModernExchange(door: self, exchange: ex)
        let client = ClientSession(door: .http, outlet: outlet)
        outlet.client = client
        dispatcher.sessions.add(client)
        let dispatcher = self.dispatcher
        // The client closing the stream is its cancel; the request's client goes away with it.
        ex.onClose = { [dispatcher] in dispatcher.endSession(client) }
        ex.cancelOnPeerClose = true
        if method == "subscriptions/listen" {
            ex.startStream()
            modernStreams.append(ex)
        }
        let loop = self.loop
        dispatcher.handle(msg, client) { answer in
            loop.onLoop {
                defer { dispatcher.endSession(client) }
                guard ex.isOpen else { return }
                if answer.isEmpty {
                    ex.finish(last: nil)
                } else if ex.state == .open {
                    ex.respond(Self.modernStatus(answer), contentType: "application/json", answer)
                } else {
                    ex.finish(last: answer)
                }
            }
        }
    }

    /// Why the routing headers disagree with the body (nil when they agree): `Mcp-Method`, the
    /// version, and `Mcp-Name` for the requests that name something.
    static func headerMismatch(_ r: HTTPRequest, _ msg: IncomingMessage, method: String) -> String? {
        guard let m = r.header("mcp-method") else { return "the Mcp-Method header is required" }
        if decodeHeader(m) != method { return "the Mcp-Method header does not match the request body's method" }
        if let v = msg.params?["_meta"]?[ModernEra.protocolVersionKey]?.stringValue, v != r.header("mcp-protocol-version") {
            return "the MCP-Protocol-Version header does not match the request envelope's protocol version"
        }
        let key: String?
        switch method {
        case "tools/call", "prompts/get": key = "name"
        case "resources/read": key = "uri"
        default: key = nil
        }
        if let key {
            guard let n = r.header("mcp-name") else { return "the Mcp-Name header is required for \(method)" }
            if decodeHeader(n) != msg.params?[key]?.stringValue { return "the Mcp-Name header does not match the request body's '\(key)' parameter" }
        }
        return nil
    }

    /// A header value, with the revision's `=?base64?...?=` form decoded.
    static func decodeHeader(_ v: String) -> String {
        guard v.hasPrefix("=?base64?"), v.hasSuffix("?="), v.count > 11 else { return v }
        let inner = String(v.dropFirst(9).dropLast(2))
        return Base64.decode(inner).map { String(decoding: $0, as: UTF8.self) } ?? v
    }
}
