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
        public var connection: BackendConnection
        public var status: ServerConfig.Status
        public var timeoutMillis: Int
    }

    public struct Snapshot: Sendable {
        public var tools: [String: Route] = [:]
        public var backends: [String: Backend] = [:]
        /// The serialized result of `tools/list` (`{"tools":[...]}`).
        public var toolsListResult: [UInt8] = Array(#"{"tools":[]}"#.utf8)
        /// Exposed names in the list (for tests and status).
        public var listedCount = 0
        public var startupDone = false
    }

    private let box = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { box.withLock { $0 } }

    func update(_ f: (inout Snapshot) -> Void) { box.withLock { f(&$0) } }
}
