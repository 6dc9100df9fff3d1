public import MCPXJSON

/// A JSON-RPC error as mcpx sends it: a code, a message and optional data.
public struct RPCError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        public static let parseError = Code(rawValue: -32700)
        public static let invalidRequest = Code(rawValue: -32600)
        public static let methodNotFound = Code(rawValue: -32601)
        public static let invalidParams = Code(rawValue: -32602)
        public static let internalError = Code(rawValue: -32603)
        public static let resourceNotFound = Code(rawValue: -32002)
        /// 2026-07-28: HTTP headers disagree with the body; a client capability is missing; the
        /// protocol version is not spoken (`data.supported`).
        public static let headerMismatch = Code(rawValue: -32020)
        public static let missingCapability = Code(rawValue: -32021)
        public static let unsupportedVersion = Code(rawValue: -32022)
    }

    public var code: Code
    public var message: String
    public var data: JSONValue?

    public init(_ code: Code, _ message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var json: JSONValue {
        var o: JSONObject = ["code": .int(Int64(code.rawValue)), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    public var description: String { "\(code.rawValue) \(message)" }

    public static func invalidParams(_ m: String) -> RPCError { RPCError(.invalidParams, m) }
    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(.methodNotFound, "Method not found: \(method)")
    }
}
