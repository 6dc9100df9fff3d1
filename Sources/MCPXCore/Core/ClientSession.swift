public import MCPXJSON
import Synchronization

/// Where mcpx sends what it tells one client on its own: notifications, and its requests.
///
/// A door implements it (stdout for the stdio door; the request's SSE stream or the GET stream for
/// the HTTP door). The core never sees the door's type.
public protocol ClientOutlet: AnyObject, Sendable {
    /// Delivers one message. `relatedTo` is the client request it belongs to (progress, a log of a
    /// call, a request a backend sends while serving that call), nil when it belongs to none.
    func deliver(_ message: [UInt8], relatedTo: RPCID?)
}

/// What mcpx knows of one client, and the way to reach it: its declared capabilities, protocol
/// version, log level, which lists it has fetched, its resource subscriptions, and its requests
/// in flight (ids are the client's own, so the tables are per client).
///
/// Notifications that change lists are held back until the client has sent
/// `notifications/initialized`, as the lifecycle rules require, and a list's `list_changed` is
/// sent only once the client has fetched that list: before, there is nothing it could have
/// changed for the client (and a client library crashed on one that came before its first list).
public final class ClientSession: Sendable {
    /// Which door the client came through (a label for status and metrics).
    public enum Door: String, Sendable, CaseIterable {
        case stdio, http, rest, cli
    }

    public let id: Int
    public let door: Door
    let outlet: any ClientOutlet
    /// Answers through the outlet (one closure for every request of a door that has no per-request channel).
    let replyToOutlet: @Sendable ([UInt8]) -> Void

    struct State {
        var initialized = false
        var protocolVersion: String?
        var capabilities: JSONValue = .object([:])
        var logLevel: MCPLogLevel?
        var pendingListChanged: Set<String> = []
        /// The `list_changed` methods of lists the client has fetched.
        var listed: Set<String> = []
        /// Exposed resource URIs the client subscribed to.
        var subscriptions: Set<String> = []
        var ended = false
        /// A 2026-07-28 client (stateless requests): list changes and resource updates go only to
        /// its `subscriptions/listen` streams; logs only for requests that asked (`requestLogLevels`).
        var modern = false
        /// The client's own name (`clientInfo.name`), for the history of changes it makes.
        var clientName: String?
        var listens: [Listen] = []
        var requestLogLevels: [RPCID: MCPLogLevel] = [:]
    }

    /// A 2026-07-28 `subscriptions/listen` stream: what it asked for, tagged with its request id.
    struct Listen {
        var id: RPCID
        var tools = false
        var prompts = false
        var resources = false
        /// Exposed resource URIs whose updates it wants.
        var uris: Set<String> = []

        /// Whether it wants `notifications/<list>/list_changed` (`method`).
        func wants(_ method: String) -> Bool {
            switch method {
            case "notifications/tools/list_changed": return tools
            case "notifications/prompts/list_changed": return prompts
            case "notifications/resources/list_changed": return resources
            default: return false
            }
        }

        /// `_meta: {subscriptionId}` (and `rest`) as notification params.
        func params(_ rest: JSONObject = [:]) -> JSONValue {
            var o: JSONObject = ["_meta": [ModernEra.subscriptionIDKey: id.json]]
            for (k, v) in rest where k != "_meta" { o[k] = v }
            return .object(o)
        }
    }

    let state = Mutex(State())
    /// The client's requests forwarded to a backend and not yet answered.
    let pending = Mutex<[RPCID: PendingCall]>([:])
    /// The client's calls waiting to be sent (for start-up or a reconnect), so a cancel can stop them.
    let parkedCalls = Mutex<[RPCID: ParkedCall]>([:])

    private static let counter = Atomic<Int>(1)

    public init(door: Door, outlet: any ClientOutlet) {
        self.id = Self.counter.wrappingAdd(1, ordering: .relaxed).oldValue
        self.door = door
        self.outlet = outlet
        self.replyToOutlet = { [outlet] in if !$0.isEmpty { outlet.deliver($0, relatedTo: nil) } }
    }

    public var isInitialized: Bool { state.withLock { $0.initialized } }
    public var protocolVersion: String? { state.withLock { $0.protocolVersion } }
    public var capabilities: JSONValue { state.withLock { $0.capabilities } }
    var logLevel: MCPLogLevel? { state.withLock { $0.logLevel } }
    public var isEnded: Bool { state.withLock { $0.ended } }

    public var isModern: Bool { state.withLock { $0.modern } }

    /// A 2026-07-28 request came: the session is modern, with that request's capabilities. True
    /// the first time.
    func markModern(capabilities: JSONValue) -> Bool {
        state.withLock { s -> Bool in
            defer {
                s.modern = true
                s.initialized = true
                s.protocolVersion = ModernEra.version
                s.capabilities = capabilities
            }
            return !s.modern
        }
    }

    func addListen(_ l: Listen) { state.withLock { $0.listens.append(l) } }

    /// Ends a listen stream; nil when `id` is none.
    func removeListen(_ id: RPCID) -> Listen? {
        state.withLock { s -> Listen? in
            guard let i = s.listens.firstIndex(where: { $0.id == id }) else { return nil }
            return s.listens.remove(at: i)
        }
    }

    /// The log level a 2026-07-28 backend is asked for, for this client's request `id`: the
    /// request's own (a modern client), or the level the client set (a handshake-era one).
    func backendLogLevel(for id: RPCID) -> MCPLogLevel? {
        // A handshake-era client gets every log line until it sets a level (as handshake-era
        // backends send them), so a modern backend is asked for all of them.
        state.withLock { s in s.modern ? s.requestLogLevels[id] : (s.logLevel ?? .debug) }
    }

    /// For a log line a backend sent outside any call's channel (stdio, HTTP+SSE): the one call of
    /// this 2026-07-28 client to `server` that asked for logs, if there is exactly one.
    func soleLoggingCall(to server: String) -> RPCID? {
        let levels = state.withLock { $0.requestLogLevels }
        guard !levels.isEmpty else { return nil }
        let ids = pending.withLock { p in p.filter { $0.value.server == server && levels[$0.key] != nil }.map(\.key) }
        return ids.count == 1 ? ids[0] : nil
    }

    func setRequestLogLevel(_ id: RPCID, _ level: MCPLogLevel?) {
        state.withLock { $0.requestLogLevels[id] = level }
    }

    /// Whether the client declared `capability` (sampling, elicitation, roots).
    func declares(_ capability: String) -> Bool { capabilities[capability] != nil }

    func setInitializeParams(version: String, capabilities: JSONValue) {
        state.withLock {
            $0.protocolVersion = version
            $0.capabilities = capabilities
        }
        legacy.store(true, ordering: .relaxed)
    }

    /// The client did the `initialize` handshake: its requests are handshake-era (read per request,
    /// without the lock).
    let legacy = Atomic<Bool>(false)
    var isLegacy: Bool { legacy.load(ordering: .relaxed) }

    func setLogLevel(_ level: MCPLogLevel) { state.withLock { $0.logLevel = level } }

    func setClientName(_ name: String?) {
        guard let name else { return }
        state.withLock { $0.clientName = String(name.prefix(100)) }
    }

    /// Who this client is in the history of server-set changes.
    var historyActor: History.Actor {
        switch door {
        case .stdio, .http: History.Actor("model", client: state.withLock { $0.clientName })
        case .rest: .admin
        case .cli: .terminal
        }
    }

    /// The client sent `notifications/initialized`: flush what was held back.
    func markInitialized() {
        let pending = state.withLock { s -> Set<String> in
            s.initialized = true
            defer { s.pendingListChanged = [] }
            return s.pendingListChanged
        }
        for m in pending.sorted() { outlet.deliver(Message.notification(method: m, params: nil), relatedTo: nil) }
    }

    /// The client fetched the list whose change notification is `method`.
    func markListed(_ method: String) {
        state.withLock { s in
            if !s.listed.contains(method) { s.listed.insert(method) }
        }
    }

    /// Sends `notifications/<kind>/list_changed`, now or once the client is initialized; nothing
    /// when the client has not fetched that list yet.
    func listChanged(_ method: String) {
        if let listens = state.withLock({ $0.modern ? $0.listens : nil }) {
            for l in listens where l.wants(method) { outlet.deliver(Message.notification(method: method, params: l.params()), relatedTo: nil) }
            return
        }
        let now = state.withLock { s -> Bool in
            guard s.listed.contains(method), !s.ended else { return false }
            if !s.initialized { s.pendingListChanged.insert(method) }
            return s.initialized
        }
        if now { outlet.deliver(Message.notification(method: method, params: nil), relatedTo: nil) }
    }

    func subscribe(_ uri: String) { state.withLock { _ = $0.subscriptions.insert(uri) } }
    func unsubscribe(_ uri: String) { state.withLock { _ = $0.subscriptions.remove(uri) } }
    func isSubscribed(_ uri: String) -> Bool {
        state.withLock { s in s.subscriptions.contains(uri) || s.listens.contains { $0.uris.contains(uri) } }
    }

    /// `notifications/resources/updated` for the exposed `uri`: as it is, or on each listen stream
    /// that asked for it.
    func resourceUpdated(_ uri: String, params: JSONObject) {
        let method = "notifications/resources/updated"
        if let listens = state.withLock({ $0.modern ? $0.listens : nil }) {
            for l in listens where l.uris.contains(uri) { send(Message.notification(method: method, params: l.params(params))) }
        } else {
            send(Message.notification(method: method, params: .object(params)))
        }
    }

    /// Whether a backend log message at `level` about client request `request` (nil: about none)
    /// reaches this client: all of them until it sets a level; for a 2026-07-28 client only those
    /// of a request that asked for logs, at its level.
    func wantsLog(_ level: String?, request: RPCID? = nil) -> Bool {
        let (modern, perRequest) = state.withLock { s in (s.modern, request.flatMap { s.requestLogLevels[$0] }) }
        if modern {
            guard let perRequest else { return false }
            guard let level, let l = MCPLogLevel(rawValue: level) else { return true }
            return l >= perRequest
        }
        guard let mine = logLevel else { return true }
        guard let level, let l = MCPLogLevel(rawValue: level) else { return true }
        return l >= mine
    }

    /// Sends the client a message of mcpx's own (notification or request).
    public func send(_ message: [UInt8], relatedTo: RPCID? = nil) {
        if state.withLock({ $0.ended }) { return }
        outlet.deliver(message, relatedTo: relatedTo)
    }

    /// Marks the session ended; returns false if it already was.
    func end() -> Bool {
        state.withLock { s -> Bool in
            defer { s.ended = true }
            return !s.ended
        }
    }

    var hasCallsInFlight: Bool { !pending.withLock { $0.isEmpty } || !parkedCalls.withLock { $0.isEmpty } }
}

/// The call a backend message belongs to: which client, and which of its requests.
public struct CallOrigin: Sendable {
    let session: ClientSession
    let requestID: RPCID
}

/// MCP log levels, in order of severity (RFC 5424).
enum MCPLogLevel: String, Comparable, CaseIterable, Sendable {
    case debug, info, notice, warning, error, critical, alert, emergency

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    static func < (a: MCPLogLevel, b: MCPLogLevel) -> Bool { a.rank < b.rank }
}
