import MCPXJSON

/// The stateless revision 2026-07-28 ("modern"), as mcpx speaks it to clients and backends.
///
/// A modern request carries its protocol version, the client's capabilities and (optionally) its
/// name and log level in `params._meta`; there is no `initialize`, no session, no `ping` and no
/// `logging/setLevel`. Every result says `resultType`; list changes and resource updates travel on
/// `subscriptions/listen` streams, tagged with the listen request's id.
public enum ModernEra {
    public static let version = "2026-07-28"
    /// Modern revisions mcpx speaks (newest first).
    public static let versions = [version]
    /// Every revision mcpx speaks, both eras, newest first (`server/discover`, -32022 `data.supported`).
    public static var allVersions: [String] { versions + Dispatcher.supportedVersions }

    public static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    public static let capabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    public static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    public static let logLevelKey = "io.modelcontextprotocol/logLevel"
    public static let serverInfoKey = "io.modelcontextprotocol/serverInfo"
    public static let subscriptionIDKey = "io.modelcontextprotocol/subscriptionId"

    /// Methods the revision removed: a modern request for one is -32601.
    static let removedMethods: Set<String> = ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"]
    /// Results that carry cache hints (`ttlMs`, `cacheScope`).
    static let cacheableMethods: Set<String> = ["server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"]

    static let versionKeyBytes = Array("\"\(protocolVersionKey)\"".utf8)

    /// What a modern request's `_meta` says about its client.
    struct Envelope: Sendable {
        var version: String
        var capabilities: JSONValue
        var clientInfo: JSONValue?
        var logLevel: MCPLogLevel?
    }

    enum EnvelopeCheck {
        /// No modern envelope: a handshake-era request.
        case none
        case modern(Envelope)
        /// An envelope that is not valid: this error answers the request.
        case invalid(RPCError)
    }

    /// Reads the envelope of a request; `.none` unless its `_meta` names a protocol version.
    static func envelope(of msg: IncomingMessage) -> EnvelopeCheck {
        guard let pr = msg.raw.range("params") else { return .none }
        let hit = msg.raw.bytes[pr].withUnsafeBufferPointer { b in versionKeyBytes.withUnsafeBufferPointer { ResourceURI.memmemFind(b, $0) } }
        guard hit, case .object(let meta)? = msg.params?["_meta"], let v = meta[protocolVersionKey] else { return .none }
        guard case .string(let version) = v else {
            return .invalid(.invalidParams("params._meta[\"\(protocolVersionKey)\"] must be a string"))
        }
        guard let caps = meta[capabilitiesKey], case .object = caps else {
            return .invalid(.invalidParams("params._meta is missing the required envelope key \(capabilitiesKey) (an object)"))
        }
        var level: MCPLogLevel?
        if let l = meta[logLevelKey] {
            guard let s = l.stringValue, let parsed = MCPLogLevel(rawValue: s) else {
                return .invalid(.invalidParams("params._meta[\"\(logLevelKey)\"] must be one of \(MCPLogLevel.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            level = parsed
        }
        return .modern(Envelope(version: version, capabilities: caps, clientInfo: meta[clientInfoKey], logLevel: level))
    }

    static func unsupported(_ requested: String) -> RPCError {
        RPCError(
            .unsupportedVersion, "Unsupported protocol version \(requested); mcpx speaks \(allVersions.joined(separator: ", "))",
            data: ["supported": .array(allVersions.map { .string($0) }), "requested": .string(requested)])
    }

    /// mcpx's identity, in every modern result's `_meta`.
    static let serverInfo: JSONValue = ["name": "mcpx", "title": "mcpx MCP multiplexer", "version": .string(MCPXVersion.version)]

    /// A response for a modern client: its result says `resultType` ("complete" unless the backend
    /// said otherwise) and, for the lists, cache hints (mcpx's lists change with its backends: no
    /// caching, private); -32002 (resource not found, gone in this revision) becomes -32602.
    static func stamp(_ response: [UInt8], method: String) -> [UInt8] {
        guard !response.isEmpty, let top = try? RawObject(response) else { return response }
        if let er = top.range("error") {
            guard let e = try? RawObject(response, range: er), e.value("code")?.intValue == -32002 else { return response }
            var v = e.value("message").map { ["code": -32602, "message": $0] as JSONObject } ?? ["code": -32602, "message": "Resource not found"]
            if let d = e.value("data") { v["data"] = d }
            return Message.error(id: top.value("id").flatMap(RPCID.init), rawError: JSONValue.object(v).serialized()[...])
        }
        guard let rr = top.range("result"), let result = try? RawObject(response, range: rr) else { return response }
        var insert = ""
        if !result.has("resultType") { insert += #""resultType":"complete","# }
        if cacheableMethods.contains(method) && !result.has("ttlMs") && result.value("resultType")?.stringValue ?? "complete" == "complete" {
            insert += #""ttlMs":0,"cacheScope":"private","#
        }
        guard !insert.isEmpty else { return response }
        // After the result's `{`; a result with no members loses the comma.
        var out: [UInt8] = []
        out.reserveCapacity(response.count + insert.utf8.count)
        out.append(contentsOf: response[..<(rr.lowerBound + 1)])
        if result.members.isEmpty { insert.removeLast() }
        out.append(contentsOf: insert.utf8)
        out.append(contentsOf: response[(rr.lowerBound + 1)...])
        return out
    }
}
