public import MCPXJSON

/// Why a request to a backend did not produce an answer.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Connection refused, host unknown, connection dropped: the backend is not there.
        case unavailable
        case timeout
        /// 404 on a request that carried a session id: the backend forgot the session.
        case sessionExpired
        /// 401 / 403.
        case unauthorized
        /// Any other unexpected HTTP status.
        case httpStatus
        /// The backend answered something that is not MCP (bad JSON, wrong content type, no response).
        case protocolViolation
        /// The answer was larger than mcpx accepts.
        case tooLarge
        /// The call was cancelled (by the client or by shutdown).
        case cancelled
        /// mcpx refused to send (backend disabled, in-flight limit reached, not connected).
        case refused
    }

    public var kind: Kind
    public var message: String
    public var status: Int?

    public init(_ kind: Kind, _ message: String, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    public var description: String { message }

    /// Whether this says something about the backend's health (as opposed to one request's fate).
    public var isTransportFailure: Bool {
        switch kind {
        case .unavailable, .httpStatus, .protocolViolation: return true
        case .timeout, .sessionExpired, .unauthorized, .tooLarge, .cancelled, .refused: return false
        }
    }

    /// Nothing listened at the address (ECONNREFUSED): the backend is not up (yet). Other
    /// failures (DNS, TLS, a dropped connection) say nothing about it starting soon.
    public var isConnectionRefused: Bool { kind == .unavailable && message == "connection refused" }

    /// The request cannot have reached the backend's handler: nothing listened, mcpx did not send
    /// it, or an HTTP gateway or the server refused it before MCP (502, 503, 429 with no MCP
    /// answer). Safe to send to another replica.
    public var wasNotDelivered: Bool {
        switch kind {
        case .unavailable: return isConnectionRefused
        case .refused: return true
        case .httpStatus: return status == 502 || status == 503 || status == 429
        default: return false
        }
    }

    /// The request was sent and its fate is unknown (the connection dropped, no answer in time).
    public var mayHaveRun: Bool {
        switch kind {
        case .unavailable: return !isConnectionRefused
        case .timeout, .protocolViolation: return true
        default: return false
        }
    }

    init(_ e: HTTPError) {
        switch e.kind {
        case .connectionRefused, .connectionLost: self.init(.unavailable, e.detail)
        case .timeout: self.init(.timeout, "timed out")
        case .cancelled, .aborted: self.init(.cancelled, e.detail)
        case .tooLarge: self.init(.tooLarge, e.detail)
        case .other: self.init(.unavailable, e.detail)
        }
    }
}

/// A JSON-RPC error a backend answered with; passed to the client unchanged.
public struct BackendRPCError: Error, Sendable {
    public var raw: ArraySlice<UInt8>
    public var value: JSONValue? { try? JSONParser.parse(raw) }
    public var message: String { value?["message"]?.stringValue ?? "error" }
    public var code: Int64? { value?["code"]?.intValue }
}
