public import MCPXJSON
import Synchronization

/// What mcpx knows of the stdio client, and the way to send it messages.
///
/// Notifications that change lists are held back until the client has sent
/// `notifications/initialized`, as the lifecycle rules require, and a list's `list_changed` is
/// sent only once the client has fetched that list: before, there is nothing it could have
/// changed for the client (and a client library crashed on one that came before its first list).
public final class ClientChannel: Sendable {
    public let writer: StdoutWriter

    struct State {
        var initialized = false
        var protocolVersion: String?
        var capabilities: JSONValue = .object([:])
        var pendingListChanged: Set<String> = []
        /// The `list_changed` methods of lists the client has fetched.
        var listed: Set<String> = []
    }

    let state = Mutex(State())

    public init(writer: StdoutWriter) { self.writer = writer }

    public var isInitialized: Bool { state.withLock { $0.initialized } }
    public var protocolVersion: String? { state.withLock { $0.protocolVersion } }
    public var capabilities: JSONValue { state.withLock { $0.capabilities } }

    func setInitializeParams(version: String, capabilities: JSONValue) {
        state.withLock {
            $0.protocolVersion = version
            $0.capabilities = capabilities
        }
    }

    /// The client sent `notifications/initialized`: flush what was held back.
    func markInitialized() {
        let pending = state.withLock { s -> Set<String> in
            s.initialized = true
            defer { s.pendingListChanged = [] }
            return s.pendingListChanged
        }
        for m in pending.sorted() { writer.send(Message.notification(method: m, params: nil)) }
    }

    /// The client fetched the list whose change notification is `method`.
    func markListed(_ method: String) {
        state.withLock { s in
            if !s.listed.contains(method) { s.listed.insert(method) }
        }
    }

    /// Sends `notifications/<kind>/list_changed`, now or once the client is initialized; nothing
    /// when the client has not fetched that list yet.
    public func listChanged(_ method: String) {
        let now = state.withLock { s -> Bool in
            guard s.listed.contains(method) else { return false }
            if !s.initialized { s.pendingListChanged.insert(method) }
            return s.initialized
        }
        if now { writer.send(Message.notification(method: method, params: nil)) }
    }

    public func send(_ message: consuming [UInt8]) { writer.send(message) }
}
