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

    /// One instance of a server that has several (see `replicas`).
    public struct Replica: Sendable, Equatable {
        /// Its URL; for a stdio replica `stdio:` and its command line.
        public var url: String
        public var stdio: StdioSpec?
        /// Its share under `weighted` balancing (1 to 1,000).
        public var weight: Int

        public init(url: String, stdio: StdioSpec? = nil, weight: Int = 1) {
            self.url = url
            self.stdio = stdio
            self.weight = weight
        }
    }

    /// How a call picks one of a server's replicas.
    public enum LoadBalancing: String, Sendable, CaseIterable {
        case roundRobin = "round-robin"
        case leastConnections = "least-connections"
        /// Smooth weighted round-robin over the replicas' weights.
        case weighted
        /// Prefers the replica with the best recent latency and error rate (EWMA).
        case health
        case random
    }

    /// `"cache"`: results of matching tools served from memory for `ttl` seconds.
    public struct CachePolicy: Sendable, Equatable {
        /// Globs on the backend's own tool names.
        public var tools: [String]
        public var ttl: Double
        public init(tools: [String], ttl: Double) {
            self.tools = tools
            self.ttl = ttl
        }
    }

    /// `"rateLimit"`: a token bucket over all of the server's replicas.
    public struct RateLimit: Sendable, Equatable {
        public var callsPerSecond: Double
        public var burst: Int
        public init(callsPerSecond: Double, burst: Int) {
            self.callsPerSecond = callsPerSecond
            self.burst = burst
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
    /// Its instances when it has more than one (the first is also `url`/`stdio`); empty for one.
    public var replicas: [Replica] = []
    public var loadBalancing: LoadBalancing = .leastConnections
    /// `"retry": {"tools": [...]}`: tools that may be sent again (once, to another replica) after
    /// a failure that may have reached the backend.
    public var retryTools: [String] = []
    public var cache: CachePolicy?
    public var rateLimit: RateLimit?
    /// `"protocol"`: probe 2026-07-28 and fall back (auto), or speak one era only.
    public var protocolChoice: BackendConnection.ProtocolChoice = .auto
    /// Set on the configuration of one replica's own connection: the server it belongs to.
    public var replicaOf: String?

    /// Every instance: the replicas, or the one the server is.
    public var instances: [Replica] {
        replicas.isEmpty ? [Replica(url: url, stdio: stdio)] : replicas
    }

    /// Sets the instances; the first is also the server's `url`/`stdio`.
    public mutating func setReplicas(_ list: [Replica]) {
        guard let first = list.first else { return }
        url = first.url
        stdio = first.stdio
        transport = first.stdio != nil ? .stdio : (transport == .stdio ? .auto : transport)
        replicas = list.count > 1 ? list : []
    }

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
