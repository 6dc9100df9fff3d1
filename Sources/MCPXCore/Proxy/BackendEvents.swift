import MCPXJSON
import Synchronization

/// Handles what backends send on their own: notifications and requests to the client.
///
/// Runs on the curl thread. Nothing a backend sends here can cost mcpx more than a bounded amount:
/// list changes are coalesced per list (`RefreshGate`), requests to the client are bounded per
/// backend (`RequestBridge`), and progress reaches the client only for that backend's own calls
/// (`ProgressTokens`). What is forwarded is re-serialized from what mcpx parsed, so it means to the
/// client what it meant to mcpx.
final class BackendEvents: Sendable {
    let sessions: ClientSessions
    let log: Logger
    let router: Router
    let tokens: ProgressTokens
    let gate = RefreshGate()
    private let proxy = Mutex<WeakProxy>(WeakProxy())

    struct WeakProxy { weak var value: MultiServerProxy? }

    init(sessions: ClientSessions, log: Logger, router: Router, tokens: ProgressTokens) {
        self.sessions = sessions
        self.log = log
        self.router = router
        self.tokens = tokens
    }

    func attach(_ p: MultiServerProxy) { proxy.withLock { $0.value = p } }

    var owner: MultiServerProxy? { proxy.withLock { $0.value } }

    /// Counts something on the server's connection (when it still has one).
    func count(_ server: String, _ counter: WritableKeyPath<BackendStats, Int>) {
        router.snapshot.backends[server]?.connection.stats.withLock { $0[keyPath: counter] += 1 }
    }

    /// A message `server` sent on its own; `origin` is the client call whose response carried it.
    func handle(server: String, _ msg: IncomingMessage, origin: CallOrigin?) {
        switch msg.kind {
        case .notification(let method):
            notification(server: server, method: method, msg, origin: origin)
        case .request(let id, let method):
            log.debug("\(server): request \(method) from backend")
            guard let bridge = owner?.bridge, bridge.admit(server: server, method: method) else {
                count(server, \.refusedRequests)
                return
            }
            Task { await self.owner?.answerBackendRequest(server: server, id: id, method: method, msg, origin: origin) }
        case .response, .errorResponse:
            break
        }
    }

    func notification(server key: String, method: String, _ msg: IncomingMessage, origin: CallOrigin?) {
        // A replica (`name#N`) speaks for its server, except about its own tools and requests.
        let server = MultiServerProxy.serverName(ofKey: key)
        switch method {
        case "notifications/progress":
            guard let params = msg.params?.objectValue, let token = params["progressToken"] else {
                count(key, \.malformedMessages)
                return
            }
            guard let (clientToken, call) = tokens.route(token, server: server) else {
                count(key, \.foreignProgress)
                return
            }
            var p = params
            p["progressToken"] = clientToken
            call.session.send(Message.notification(method: method, params: .object(p)), relatedTo: call.requestID)
        case "notifications/message":
            guard var params = msg.params?.objectValue else {
                count(key, \.malformedMessages)
                return
            }
            if case .string(let l)? = params["logger"] {
                params["logger"] = .string("\(server)/\(l)")
            } else {
                params["logger"] = .string(server)
            }
            let out = Message.notification(method: method, params: .object(params))
            let level = params["level"]?.stringValue
            if let origin {
                // Logged while serving a client's call: that client's alone.
                if origin.session.wantsLog(level, request: origin.requestID) { origin.session.send(out, relatedTo: origin.requestID) }
            } else {
                // On no call's response: the one client with calls in flight there, else every
                // client; with several such clients it could be any one's, so nobody's.
                let busy = sessions.withCalls(to: server)
                if busy.count == 1, busy[0].isModern {
                    // A 2026-07-28 client takes logs only for a request that asked: its one such call there.
                    if let rid = busy[0].soleLoggingCall(to: server), busy[0].wantsLog(level, request: rid) { busy[0].send(out, relatedTo: rid) }
                } else if busy.count == 1 {
                    if busy[0].wantsLog(level) { busy[0].send(out) }
                } else if busy.isEmpty {
                    sessions.broadcastLog(out, level: level)
                } else {
                    count(key, \.ambiguousMessages)
                }
            }
        case "notifications/tools/list_changed":
            refresh(key, .tools) { await $0.refreshTools(key) }
        case "notifications/prompts/list_changed":
            refresh(server, .prompts) { await $0.backendListChanged(server: server, .prompts) }
        case "notifications/resources/list_changed":
            refresh(server, .resources) { await $0.backendListChanged(server: server, .resources) }
        case "notifications/cancelled":
            Task { await self.owner?.backendNotification(server: key, method: method, msg) }
        default:
            Task { await self.owner?.backendNotification(server: server, method: method, msg) }
        }
    }

    /// A stdio server's process ended on its own.
    func processExited(server: String, _ why: String, lived: Double) {
        Task { await self.owner?.processExited(server, why, lived: lived) }
    }

    /// One refresh in flight and one queued per list of a backend; further changes are counted.
    func refresh(_ server: String, _ list: RefreshGate.List, _ body: @escaping @Sendable (MultiServerProxy) async -> Void) {
        let scheduled = gate.schedule(RefreshGate.Key(server: server, list: list)) { [weak self] in
            guard let p = self?.owner else { return }
            await body(p)
        }
        if !scheduled { count(server, \.coalescedRefreshes) }
    }
}
