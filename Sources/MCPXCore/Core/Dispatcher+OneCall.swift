public import MCPXJSON

/// A client outlet that drops what it is given: a one-call client (REST, terminal) has nowhere
/// to receive notifications or requests, and declares no capability that would bring them.
final class DiscardingOutlet: ClientOutlet {
    func deliver(_ message: [UInt8], relatedTo: RPCID?) {}
}

extension Dispatcher {
    /// How one call ended: a tool result (which may have `isError`), or a JSON-RPC error object.
    public enum CallOutcome: Sendable {
        case result(JSONValue)
        case rpcError(JSONValue)
    }

    /// Calls one exposed tool for a door without an MCP session (`POST /call`, `mcpx call`): the
    /// same path as a client's `tools/call` (routing, limits, deadlines, retry, rewriting), under
    /// a short-lived session of its own.
    public func callTool(_ name: String, arguments: JSONValue?, door: ClientSession.Door) async -> CallOutcome {
        let session = ClientSession(door: door, outlet: DiscardingOutlet())
        session.setInitializeParams(version: Self.latestVersion, capabilities: .object([:]))
        sessions.add(session)
        defer { sessions.remove(session) }
        var params: JSONObject = ["name": .string(name)]
        if let arguments { params["arguments"] = arguments }
        let request = Message.request(id: .int(1), method: "tools/call", params: .object(params))
        let answer: [UInt8] = await withCheckedContinuation { c in
            handle(request, from: session) { c.resume(returning: $0) }
        }
        guard let msg = try? IncomingMessage(bytes: answer) else {
            return .rpcError(RPCError(.internalError, "mcpx produced no answer").json)
        }
        if let e = msg.raw.value("error") { return .rpcError(e) }
        return .result(msg.raw.value("result") ?? .null)
    }
}
