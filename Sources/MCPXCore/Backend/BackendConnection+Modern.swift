import MCPXJSON
import Synchronization

/// mcpx as a client of a 2026-07-28 backend: `server/discover` instead of the handshake, the
/// `_meta` envelope on every request, the `Mcp-Method` / `Mcp-Name` headers, `subscriptions/listen`
/// instead of the GET stream, `server/discover` as the health check.
///
/// The envelope (built once per connection, at discovery) is spliced into each request's `_meta`;
/// header lists are built once per method and name and reused.
extension BackendConnection {
    /// Which protocol era to speak with a backend (`"protocol"` in its configuration).
    public enum ProtocolChoice: String, Sendable, CaseIterable {
        /// Probe `server/discover`, fall back to `initialize` (the spec's dual-era rules).
        case auto
        case handshake = "2025-11-25"
        case modern = "2026-07-28"
    }

    /// The backend speaks 2026-07-28 on this connection.
    public var isModern: Bool { session.withLock { $0.modern } }

    /// The cheap request that checks the backend is there: `ping`, or `server/discover` at
    /// 2026-07-28 (which has no `ping`).
    public var healthMethod: String { isModern ? "server/discover" : "ping" }

    /// The envelope members (`"key":value,...`, no braces) and the header cache, for the hot path.
    var modernEnvelope: [UInt8]? { session.withLock { $0.modern ? $0.envelope : nil } }

    static func envelopeMembers(capabilities: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        let members: [(String, JSONValue)] = [
            (ModernEra.protocolVersionKey, .string(ModernEra.version)),
            (ModernEra.capabilitiesKey, capabilities),
            (ModernEra.clientInfoKey, ["name": "mcpx", "version": .string(MCPXVersion.version)]),
        ]
        for (i, (k, v)) in members.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(k, to: &out)
            out.append(UInt8(ascii: ":"))
            v.write(to: &out)
        }
        return out
    }

    /// `server/discover` at 2026-07-28. Returns true when the backend was adopted as a modern
    /// one; false when it should get the `initialize` handshake instead (any error but a -32022
    /// naming only modern versions mcpx does not speak, which throws, as does a dead backend).
    func probeModern(clientCapabilities: JSONValue, timeoutMillis: Int, via channel: StdioChannel? = nil) async throws(BackendError) -> Bool {
        let envelope = Self.envelopeMembers(capabilities: clientCapabilities)
        let id = RPCID.int(makeRequestID())
        var body = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
        body += Array(id.json.jsonString.utf8)
        body += Array(#","method":"server/discover","params":{"_meta":{"#.utf8)
        body += envelope
        body += Array("}}}".utf8)
        let wait = min(timeoutMillis, Self.probeMillis)
        let answer: Result<IncomingMessage?, BackendError>
        if let channel {
            answer = await withCheckedContinuation { c in channel.send(body, expecting: id, timeoutMillis: wait) { c.resume(returning: $0) } }
        } else {
            let headers = HeaderList(Self.baseHeaders + userHeaders + ["MCP-Protocol-Version: \(ModernEra.version)", "Mcp-Method: server/discover"])
            answer = await exchange(body, expecting: id, timeoutMillis: wait, headers: headers)
        }
        let msg: IncomingMessage
        switch answer {
        case .success(let m?): msg = m
        case .success(nil): return false
        case .failure(let e):
            // Nothing there at all is not an era verdict; anything else (a status, a timeout) is "not modern".
            if e.kind == .unavailable && (e.isConnectionRefused || channel == nil && e.status == nil && e.kind != .timeout) { throw e }
            log.debug("\(name): server/discover: \(redact(e.message)); using the initialize handshake")
            return false
        }
        if case .errorResponse = msg.kind {
            let err = msg.raw.value("error")
            if err?["code"]?.intValue == -32022, let supported = err?["data"]?["supported"]?.arrayValue?.compactMap(\.stringValue),
                !supported.isEmpty, supported.allSatisfy({ !Self.supportedVersions.contains($0) && !ModernEra.versions.contains($0) })
            {
                throw BackendError(.protocolViolation, "backend speaks only \(supported.joined(separator: ", ")); mcpx speaks \(ModernEra.allVersions.joined(separator: ", "))")
            }
            log.debug("\(name): server/discover answered \(err?["code"]?.intValue ?? 0); using the initialize handshake")
            return false
        }
        guard let result = msg.raw.value("result"),
            let versions = result["supportedVersions"]?.arrayValue?.compactMap(\.stringValue), versions.contains(ModernEra.version)
        else { return false }
        adoptModern(result, envelope: envelope)
        return true
    }

    /// Whether an answer says the backend tried a server-to-client request, which 2026-07-28 does
    /// not allow (the official SDK's words: "no back-channel for server-initiated requests").
    static func needsBackChannel(_ r: Result<IncomingMessage?, BackendError>) -> Bool {
        switch r {
        case .failure(let e): return e.message.contains("back-channel")
        case .success(let m?):
            guard case .errorResponse = m.kind, let e = m.raw.raw("error") else { return false }
            return String(decoding: e, as: UTF8.self).contains("back-channel")
        case .success(nil): return false
        }
    }

    /// From now on this connection speaks the handshake era (its next handshake initializes).
    func preferHandshake() { choice.withLock { $0 = .handshake } }

    /// How long the probe waits before the backend counts as handshake-era.
    static let probeMillis = 5_000

    func adoptModern(_ result: JSONValue, envelope: [UInt8]) {
        session.withLock { s in
            s.id = nil
            s.modern = true
            s.envelope = envelope
            s.modernHeaders = [:]
            s.protocolVersion = ModernEra.version
            s.serverInfo = result["_meta"]?[ModernEra.serverInfoKey] ?? result["serverInfo"]
            s.capabilities = result["capabilities"]
            s.instructions = result["instructions"]?.stringValue
            s.generation += 1
            s.headers = HeaderList(Self.baseHeaders + userHeaders + ["MCP-Protocol-Version: \(ModernEra.version)"])
        }
    }

    /// The headers of a modern request: the connection's, `Mcp-Method`, and `Mcp-Name` for the
    /// three methods that name something. Built once per method and name.
    func modernHeaders(method: String, name: String?) -> HeaderList {
        let key = name.map { method + "\u{0}" + $0 } ?? method
        if let h = session.withLock({ $0.modernHeaders[key] }) { return h }
        var lines = Self.baseHeaders + userHeaders + ["MCP-Protocol-Version: \(ModernEra.version)", "Mcp-Method: \(Self.headerValue(method))"]
        if let name { lines.append("Mcp-Name: \(Self.headerValue(name))") }
        let h = HeaderList(lines)
        session.withLock { s in
            if s.modernHeaders.count >= 4_096 { s.modernHeaders = [:] }
            s.modernHeaders[key] = h
        }
        return h
    }

    /// A header value as the revision wants it: as is when it is plain visible ASCII, else
    /// `=?base64?...?=`.
    static func headerValue(_ s: String) -> String {
        let plain = !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && s.first != " " && s.last != " "
            && !(s.hasPrefix("=?base64?") && s.hasSuffix("?="))
        return plain ? s : "=?base64?" + Base64.encode(Array(s.utf8)) + "?="
    }

    /// A request for a modern backend: the envelope added to `params._meta` (unless there), and
    /// its headers. Notifications go as they are.
    func modernize(_ body: [UInt8], envelope: [UInt8]) -> (body: [UInt8], headers: HeaderList?) {
        guard case .object(var top)? = try? JSONParser.parse(body), case .string(let method)? = top["method"] else { return (body, nil) }
        guard top["id"] != nil else { return (body, nil) }
        var params = top["params"]?.objectValue ?? [:]
        var meta = params["_meta"]?.objectValue ?? [:]
        if meta[ModernEra.protocolVersionKey] == nil, case .object(let env)? = try? JSONParser.parse([UInt8(ascii: "{")] + envelope + [UInt8(ascii: "}")]) {
            for (k, v) in env { meta[k] = v }
        }
        params["_meta"] = .object(meta)
        top["params"] = .object(params)
        let name: String?
        switch method {
        case "tools/call", "prompts/get": name = params["name"]?.stringValue
        case "resources/read": name = params["uri"]?.stringValue
        default: name = nil
        }
        return (JSONValue.object(top).serialized(), modernHeaders(method: method, name: name))
    }
}

extension Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 (RFC 4648), for header values.
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
