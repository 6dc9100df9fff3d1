import MCPXJSON
import Synchronization

/// Every client connected now, through any door: whom list changes, unrelated log messages and
/// resource updates go to, and which client a backend's request goes to when it belongs to no call.
public final class ClientSessions: Sendable {
    /// In the order they connected (a few, or a few thousand: a list is enough).
    private let sessions = Mutex<[ClientSession]>([])

    public init() {}

    public func add(_ s: ClientSession) {
        sessions.withLock { $0.append(s) }
    }

    public func remove(_ s: ClientSession) {
        sessions.withLock { $0.removeAll { $0 === s } }
    }

    /// In the order they connected.
    public var all: [ClientSession] { sessions.withLock { $0 } }

    public var count: Int { sessions.withLock { $0.count } }

    /// Clients per door.
    public var countsByDoor: [ClientSession.Door: Int] {
        var c: [ClientSession.Door: Int] = [:]
        for s in all { c[s.door, default: 0] += 1 }
        return c
    }

    func listChanged(_ method: String) {
        for s in all { s.listChanged(method) }
    }

    /// A log message of a backend that belongs to no call: every client whose level lets it through.
    func broadcastLog(_ message: [UInt8], level: String?) {
        for s in all where s.door == .stdio || s.door == .http {
            if s.wantsLog(level) { s.send(message) }
        }
    }

    /// Every client subscribed to the exposed resource `uri`.
    func subscribers(of uri: String) -> [ClientSession] { all.filter { $0.isSubscribed(uri) } }

    /// Whether any client other than `except` is subscribed to `uri`.
    func othersSubscribed(to uri: String, except: ClientSession) -> Bool {
        all.contains { $0 !== except && $0.isSubscribed(uri) }
    }

    /// Clients with calls in flight to `server`.
    func withCalls(to server: String) -> [ClientSession] {
        all.filter { s in s.pending.withLock { $0.values.contains { $0.server == server } } }
    }

    /// The client for a backend request that came on no call's response (a stdio or HTTP+SSE
    /// backend, or the GET stream): the one client with calls in flight to that backend; with
    /// none, the latest client that declared the capability; with several, nobody (it could be
    /// any of theirs: refused rather than shown to the wrong one).
    func target(declaring capability: String, server: String) -> ClientSession? {
        let busy = withCalls(to: server).filter { $0.door == .stdio || $0.door == .http }
        if busy.count > 1 { return nil }
        if let only = busy.first { return only }
        return all.last { ($0.door == .stdio || $0.door == .http) && !$0.isEnded && $0.declares(capability) }
    }

    /// The most verbose log level any client asked for (what backends are told to send).
    var mostVerboseLogLevel: MCPLogLevel? { all.compactMap(\.logLevel).min() }

    /// The stdio client's protocol version (or the first client's), for `proxy_status`.
    var primaryProtocolVersion: String? {
        let a = all
        return (a.first { $0.door == .stdio } ?? a.first)?.protocolVersion
    }
}
