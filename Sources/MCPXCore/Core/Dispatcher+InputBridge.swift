import MCPXJSON

/// A 2026-07-28 backend that needs input answers `InputRequiredResult` (`resultType:
/// "input_required"`) with the requests it wants answered. A 2026-07-28 client gets that result
/// as it is and retries by itself; a handshake-era client cannot, so mcpx bridges: it asks the
/// client each request the classic way (`elicitation/create`, `sampling/createMessage`,
/// `roots/list`, as server-to-client requests), then repeats the backend request with the answers
/// (`inputResponses`) and the backend's `requestState`, the same name and arguments, for up to 10
/// rounds. What cannot be bridged (the client did not declare the capability, or refused) ends the
/// request with an error that names it.
extension Dispatcher {
    static let inputRequiredMarker = Array("\"input_required\"".utf8)

    /// Whether a raw result is an `InputRequiredResult` (parsed only when the bytes mention it).
    static func isInputRequired(_ r: ArraySlice<UInt8>) -> Bool {
        let hit = r.withUnsafeBufferPointer { b in inputRequiredMarker.withUnsafeBufferPointer { ResourceURI.memmemFind(b, $0) } }
        guard hit, let o = try? RawObject(Array(r)) else { return false }
        return o.value("resultType")?.stringValue == "input_required"
    }

    static let maxInputRounds = 10

    /// The capabilities an `InputRequiredResult` needs that `session`'s client did not declare
    /// (nil when it declared them all): a 2026-07-28 client gets -32021 naming them.
    static func missingCapabilities(_ r: ArraySlice<UInt8>, _ session: ClientSession) -> JSONObject? {
        guard let v = try? JSONParser.parse(r), let requests = v["inputRequests"]?.objectValue else { return nil }
        var missing: JSONObject = [:]
        for (_, request) in requests {
            guard let m = request["method"]?.stringValue, let cap = RequestBridge.capability(for: m), !session.declares(cap) else { continue }
            missing[cap] = .object([:])
        }
        return missing.isEmpty ? nil : missing
    }

    /// Runs the rounds for the handshake-era client of `session`; returns its answer to request `id`.
    /// `params` are the backend-side params of the request (original name or URI, arguments).
    func bridgeInputRequired(
        id: RPCID, _ session: ClientSession, server: String, conn: BackendConnection, method: String, params: JSONObject,
        first: JSONValue, timeoutMillis: Int
    ) async -> [UInt8] {
        let what = method == "tools/call" ? (params["name"]?.stringValue ?? "the tool") : method
        func failure(_ text: String) -> [UInt8] {
            log.info("\(server): \(what): \(text)")
            return method == "tools/call"
                ? Message.response(id: id, result: Message.toolError(text))
                : Message.error(id: id, RPCError(.internalError, text, data: ["server": .string(server)]))
        }
        var result = first
        for _ in 0..<Self.maxInputRounds {
            guard result["resultType"]?.stringValue == "input_required" else {
                if method == "tools/call", let exposed = ResourceURI.exposeInToolResult(server: server, result.serialized()[...]) {
                    return Message.response(id: id, rawResult: exposed[...])
                }
                return Message.response(id: id, result: method == "tools/call" ? result : ResourceURI.exposeInResult(server: server, result))
            }
            var responses: JSONObject = [:]
            for (key, request) in result["inputRequests"]?.objectValue ?? [:] {
                guard let m = request["method"]?.stringValue else {
                    return failure("Server '\(server)' sent an input request (\(key)) without a method; \(what) could not finish.")
                }
                guard let cap = RequestBridge.capability(for: m) else {
                    return failure("Server '\(server)' needs \(m) from the client to finish \(what); mcpx cannot bridge \(m) to a \(session.protocolVersion ?? "handshake-era") client.")
                }
                guard session.declares(cap) else {
                    return failure("Server '\(server)' needs \(m) from the client to finish \(what), but this client did not declare the \(cap) capability; it could not be bridged.")
                }
                guard let answer = await proxy.bridge.ask(session, method: m, params: request["params"], relatedTo: id) else {
                    return failure("Server '\(server)' needs \(m) from the client to finish \(what); the client did not answer.")
                }
                if let e = answer.raw.value("error") {
                    return failure("Server '\(server)' needs \(m) from the client to finish \(what); the client refused: \(e["message"]?.stringValue ?? "error").")
                }
                responses[key] = answer.raw.value("result") ?? .object([:])
            }
            var p = params
            p["inputResponses"] = .object(responses)
            p["requestState"] = result["requestState"]
            do {
                let m = try await conn.request(method, .object(p), timeoutMillis: timeoutMillis, origin: CallOrigin(session: session, requestID: id))
                if case .errorResponse = m.kind, let e = m.raw.raw("error") { return Self.backendError(id: id, e) }
                guard let r = m.raw.value("result") else { return failure("Server '\(server)' sent a response without a result.") }
                result = r
            } catch {
                return failure("Server '\(server)' failed: \(error.message)")
            }
        }
        return failure("Server '\(server)' still asked for input after \(Self.maxInputRounds) rounds; \(what) was given up.")
    }
}
