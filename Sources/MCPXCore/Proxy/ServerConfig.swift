/// One backend as the user configured it, and what mcpx knows of it.
public struct ServerConfig: Sendable {
    public enum Status: String, Sendable {
        case connecting, ready, failed, disabled
    }

    public enum Transport: String, Sendable {
        /// Try Streamable HTTP, fall back to the 2024-11-05 HTTP+SSE transport.
        case auto
        case streamableHTTP = "http"
        case sse
    }

    public var name: String
    public var url: String
    /// Header lines for this backend only (credentials). Never logged or reported.
    public var headers: [(name: String, value: String)]
    public var transport: Transport
    public var enabled: Bool
    /// Per-server call timeout override, in seconds.
    public var timeoutSeconds: Double?
    /// Tool allow / deny lists (names or `*` patterns), applied to the backend's original names.
    public var allowTools: [String]
    public var denyTools: [String]

    // What mcpx has learned.
    public var status: Status
    public var protocolVersion: String?
    public var serverName: String?
    public var toolCount: Int = 0
    public var lastError: String?
    public var connectAttempts: Int = 0
    public var lastConnectedAt: Double?

    public init(
        name: String, url: String, headers: [(name: String, value: String)] = [], transport: Transport = .auto,
        enabled: Bool = true, timeoutSeconds: Double? = nil, allowTools: [String] = [], denyTools: [String] = []
    ) {
        self.name = name
        self.url = url
        self.headers = headers
        self.transport = transport
        self.enabled = enabled
        self.timeoutSeconds = timeoutSeconds
        self.allowTools = allowTools
        self.denyTools = denyTools
        self.status = enabled ? .connecting : .disabled
    }
}
