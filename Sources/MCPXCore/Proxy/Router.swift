import Synchronization

/// The routing table the hot path reads: exposed tool name to backend, and each backend's state.
///
/// `MultiServerProxy` builds a new snapshot whenever something changes and swaps it in under a lock;
/// a call takes one short lock and two dictionary lookups, and never waits for the actor.
public final class Router: Sendable {
    public struct Route: Sendable {
        public var server: String
        public var tool: String
    }

    public struct Backend: Sendable {
        /// The connection calls use; for a server with replicas, its first ready one (calls pick
        /// one of `replicas` instead).
        public var connection: BackendConnection
        public var status: ServerConfig.Status
        public var timeoutMillis: Int
        /// The replicas a call may go to (ready, and listing the server's tool set); empty for a
        /// server with one instance.
        public var replicas: [Replica] = []
        public var balancer: ReplicaBalancer?
        /// Cache, rate limit and retry settings; nil when the server has none.
        public var policy: CallPolicy?
    }

    /// One instance of a replicated server, as calls see it.
    public struct Replica: Sendable {
        /// Its key among the proxy's connections (`name`, `name#2`, ...).
        public var key: String
        public var connection: BackendConnection
        public var weight: Int
    }

    public struct Snapshot: Sendable {
        public var tools: [String: Route] = [:]
        public var backends: [String: Backend] = [:]
        /// The `tools/list` result in parts: mcpx's own tool definitions, then each listed backend's
        /// (comma-separated definitions). The parts share storage with the proxy's per-backend caches:
        /// with 10,000 tools a joined copy would be 3 MB more, kept for as long as the list is.
        public var toolsListParts: [[UInt8]] = []
        /// The parts' total size.
        public var toolsListBytes = 0
        /// Exposed names in the list (for tests and status).
        public var listedCount = 0
        /// tools/list has mcpx's own tools and the search tools only (see `--expose`).
        public var searchMode = false
        /// Tools of ready servers, listed or not.
        public var routableCount = 0
        public var startupDone = false

        /// Writes `{"tools":[...]}`.
        public func writeToolsListResult(to out: inout [UInt8]) {
            out.append(contentsOf: #"{"tools":["#.utf8)
            var first = true
            for part in toolsListParts where !part.isEmpty {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: part)
            }
            out.append(contentsOf: "]}".utf8)
        }

        /// The `tools/list` result as one buffer.
        public var toolsListResult: [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(toolsListBytes + toolsListParts.count + 16)
            writeToolsListResult(to: &out)
            return out
        }
    }

    private let box = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { box.withLock { $0 } }

    func update(_ f: (inout Snapshot) -> Void) { box.withLock { f(&$0) } }
}
