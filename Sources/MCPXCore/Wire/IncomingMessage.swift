public import MCPXJSON

/// One JSON-RPC message read from a peer, classified, with its bytes kept for pass-through.
public struct IncomingMessage: Sendable {
    public enum Kind: Sendable {
        case request(id: RPCID, method: String)
        case notification(method: String)
        case response(id: RPCID)
        case errorResponse(id: RPCID?)
    }

    public var kind: Kind
    public var raw: RawObject

    /// The params member, decoded (nil when absent).
    public var params: JSONValue? { raw.value("params") }

    /// Classifies a message; throws the JSON-RPC error to send back when it is not a valid one.
    public init(bytes: [UInt8]) throws(RPCError) {
        let raw: RawObject
        do {
            raw = try RawObject(bytes)
        } catch {
            // Valid JSON that is not an object is an invalid request; anything else a parse error.
            if (try? JSONParser.parse(bytes)) != nil {
                throw RPCError(.invalidRequest, "Invalid Request: a JSON-RPC message must be an object")
            }
            throw RPCError(.parseError, "Parse error: \(error)")
        }
        try self.init(raw: raw)
    }

    public init(raw: RawObject) throws(RPCError) {
        self.raw = raw
        guard raw.value("jsonrpc") == .string("2.0") else {
            throw RPCError(.invalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"")
        }
        var id: RPCID?
        if raw.value("method") == nil, raw.value("id") == .null, raw.has("error") {
            // A peer reporting an error it could not tie to a request: an answer, never answered.
            self.kind = .errorResponse(id: nil)
            return
        }
        if let idValue = raw.value("id") {
            guard let i = RPCID(idValue) else {
                throw RPCError(.invalidRequest, "Invalid Request: \"id\" must be a string or an integer")
            }
            id = i
        }
        if let m = raw.value("method") {
            guard case .string(let method) = m, !method.isEmpty else {
                throw RPCError(.invalidRequest, "Invalid Request: \"method\" must be a non-empty string", data: id.map { ["id": $0.json] })
            }
            if let p = raw.value("params") {
                switch p {
                case .object, .array: break
                default:
                    throw RPCError(.invalidRequest, "Invalid Request: \"params\" must be an object")
                }
            }
            kind = id.map { .request(id: $0, method: method) } ?? .notification(method: method)
            return
        }
        if raw.has("result"), let id {
            kind = .response(id: id)
            return
        }
        if raw.has("error") {
            kind = .errorResponse(id: id)
            return
        }
        throw RPCError(.invalidRequest, "Invalid Request: no \"method\", \"result\" or \"error\"")
    }

    public var id: RPCID? {
        switch kind {
        case .request(let id, _), .response(let id): return id
        case .errorResponse(let id): return id
        case .notification: return nil
        }
    }

    public var method: String? {
        switch kind {
        case .request(_, let m), .notification(let m): return m
        default: return nil
        }
    }
}
