import MCPXJSON

/// A JSON-RPC error a handler answers with.
struct RPCError: Error {
    var code: Int64
    var message: String
    var data: JSONValue?

    static let parseErrorCode: Int64 = -32700
    static let invalidRequestCode: Int64 = -32600
    static let methodNotFoundCode: Int64 = -32601
    static let invalidParamsCode: Int64 = -32602
    static let internalErrorCode: Int64 = -32603
    static let resourceNotFoundCode: Int64 = -32002
    /// Used in the body of a 404 for an unknown session (an implementation-defined server error).
    static let sessionNotFoundCode: Int64 = -32001

    static func invalidParams(_ message: String) -> RPCError {
        RPCError(code: invalidParamsCode, message: message)
    }

    static func invalidRequest(_ message: String) -> RPCError {
        RPCError(code: invalidRequestCode, message: message)
    }

    static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: methodNotFoundCode, message: "Method not found: \(method)")
    }

    var json: JSONValue {
        var o: JSONObject = ["code": .int(code), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }
}

/// Builders for the three JSON-RPC message shapes the server sends.
enum RPC {
    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        .object(JSONObject([(key: "jsonrpc", value: "2.0"), (key: "id", value: id), (key: "result", value: result)]))
    }

    static func error(id: JSONValue, _ error: RPCError) -> JSONValue {
        .object(JSONObject([(key: "jsonrpc", value: "2.0"), (key: "id", value: id), (key: "error", value: error.json)]))
    }

    static func notification(_ method: String, _ params: JSONValue) -> JSONValue {
        .object(JSONObject([
            (key: "jsonrpc", value: "2.0"), (key: "method", value: .string(method)), (key: "params", value: params),
        ]))
    }
}

/// What one JSON-RPC message from the client is.
enum Incoming {
    case request(id: JSONValue, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case response
    case invalid(id: JSONValue, reason: String)

    init(_ message: JSONValue) {
        guard case .object(let o) = message else {
            self = .invalid(id: .null, reason: "a JSON-RPC message must be an object")
            return
        }
        let rawID = o["id"]
        var id: JSONValue = .null
        if let rawID {
            switch rawID {
            case .string, .int: id = rawID
            case .double where rawID.intValue != nil: id = .int(rawID.intValue!)
            default:
                self = .invalid(id: .null, reason: "id must be a string or an integer")
                return
            }
        }
        guard o["jsonrpc"] == "2.0" else {
            self = .invalid(id: id, reason: "jsonrpc must be \"2.0\"")
            return
        }
        if let methodValue = o["method"] {
            guard let method = methodValue.stringValue else {
                self = .invalid(id: id, reason: "method must be a string")
                return
            }
            if case .none = rawID {
                self = .notification(method: method, params: o["params"])
            } else {
                self = .request(id: id, method: method, params: o["params"])
            }
            return
        }
        if case .some = rawID, o.keys.contains("result") || o.keys.contains("error") {
            self = .response
            return
        }
        self = .invalid(id: id, reason: "not a request, notification or response")
    }
}
