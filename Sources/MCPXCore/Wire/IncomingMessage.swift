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
        // Byte-level checks first: this runs for every message both ways, and the common shapes
        // (`"jsonrpc":"2.0"`, params an object) need no decoding.
        guard raw.bytesEqual("jsonrpc", Self.quoted20) || raw.value("jsonrpc") == .string("2.0") else {
            throw RPCError(.invalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"")
        }
        let methodRange = raw.range("method")
        let idRange = raw.range("id")
        var id: RPCID?
        if methodRange == nil, let r = idRange, raw.bytes[r].first == UInt8(ascii: "n"), raw.has("error") {
            // A peer reporting an error it could not tie to a request: an answer, never answered.
            self.kind = .errorResponse(id: nil)
            return
        }
        if idRange != nil {
            guard let idValue = raw.value("id"), let i = RPCID(idValue) else {
                throw RPCError(.invalidRequest, "Invalid Request: \"id\" must be a string or an integer")
            }
            id = i
        }
        if methodRange != nil {
            // Both a request and a response: peers would read it differently, so it is neither.
            if raw.has("result") || raw.has("error") {
                throw RPCError(.invalidRequest, "Invalid Request: a message cannot have \"method\" and \"result\" or \"error\"", data: id.map { ["id": $0.json] })
            }
            guard case .string(let method)? = raw.value("method"), !method.isEmpty else {
                throw RPCError(.invalidRequest, "Invalid Request: \"method\" must be a non-empty string", data: id.map { ["id": $0.json] })
            }
            if let p = raw.range("params"), let first = raw.bytes[p].first,
                first != UInt8(ascii: "{") && first != UInt8(ascii: "[")
            {
                throw RPCError(.invalidRequest, "Invalid Request: \"params\" must be an object")
            }
            kind = id.map { .request(id: $0, method: method) } ?? .notification(method: method)
            return
        }
        if raw.has("result") && raw.has("error") {
            throw RPCError(.invalidRequest, "Invalid Request: a response cannot have both \"result\" and \"error\"")
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

    static let quoted20: [UInt8] = Array(#""2.0""#.utf8)

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
