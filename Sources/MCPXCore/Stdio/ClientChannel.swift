public import MCPXJSON
import Synchronization

/// What mcpx knows of the stdio client, and the way to send it messages.
///
/// Notifications that change lists are held back until the client has sent
/// `notifications/initialized`, as the lifecycle rules require.
public final class ClientChannel: Sendable {
    public let writer: StdoutWriter

    struct State {
        var initialized = false
        var protocolVersion: String?
        var capabilities: JSONValue = .object([:])
        var pendingListChanged: Set<String> = []
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

    /// Sends `notifications/<kind>/list_changed`, now or once the client is initialized.
    public func listChanged(_ method: String) {
        let now = state.withLock { s -> Bool in
            if !s.initialized { s.pendingListChanged.insert(method) }
            return s.initialized
        }
        if now { writer.send(Message.notification(method: method, params: nil)) }
    }

    public func send(_ message: consuming [UInt8]) { writer.send(message) }
}
