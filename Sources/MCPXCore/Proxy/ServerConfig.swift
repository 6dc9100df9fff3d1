import MCPXJSON

/// One backend as the user configured it, and what mcpx knows of it.
public struct ServerConfig: Sendable {
    public enum Status: String, Sendable {
        case connecting, ready, failed, disabled
        /// A stdio server whose process keeps exiting right after it starts (still retried, slowly).
        case crashLoop = "crash-loop"
    }

    public enum Transport: String, Sendable {
        /// Try Streamable HTTP, fall back to the 2024-11-05 HTTP+SSE transport.
        case auto
        case streamableHTTP = "http"
        case sse
        /// A local process spawned by mcpx, speaking MCP on its stdin and stdout (`stdio`).
        case stdio
    }

    /// How to start a stdio server: what Claude Desktop, Cursor and VS Code configs say.
    public struct StdioSpec: Sendable, Equatable {
        public var command: String
        public var args: [String]
        /// Added to mcpx's own environment (these win).
        public var env: [(name: String, value: String)]
        public var cwd: String?
        /// Seconds without a call after which the process is stopped (its tools stay listed); the
        /// next call starts it again. nil: it runs as long as mcpx.
        public var idleTimeout: Double?

        public init(
            command: String, args: [String] = [], env: [(name: String, value: String)] = [], cwd: String? = nil,
            idleTimeout: Double? = nil
        ) {
            self.command = command
            self.args = args
            self.env = env
            self.cwd = cwd
            self.idleTimeout = idleTimeout
        }

        public static func == (a: StdioSpec, b: StdioSpec) -> Bool {
            a.command == b.command && a.args == b.args && a.cwd == b.cwd && a.idleTimeout == b.idleTimeout
                && a.env.map(\.name) == b.env.map(\.name) && a.env.map(\.value) == b.env.map(\.value)
        }

        /// The command line as people read it (what `url` holds for a stdio server).
        public var display: String {
            ([command] + args).map { $0.contains(" ") || $0.isEmpty ? JSONValue.string($0).jsonString : $0 }.joined(separator: " ")
        }
    }

    public var name: String
    /// The backend's URL; for a stdio server `stdio:` and its command line (see `stdio`).
    public var url: String
    /// Set for a stdio server: the process mcpx spawns.
    public var stdio: StdioSpec?
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

    /// A stdio server.
    public init(name: String, stdio: StdioSpec, enabled: Bool = true) {
        self.init(name: name, url: "stdio:" + stdio.display, transport: .stdio, enabled: enabled)
        self.stdio = stdio
    }
}
