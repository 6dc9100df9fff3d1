import MCPXJSON
import Synchronization

/// Carries requests that backends send the client (sampling, elicitation, roots) and the answers back.
///
/// The client sees each under an id of mcpx's own (`mcpx-N`), so ids of different backends never
/// collide; the answer goes back to the backend that asked, under the backend's own id. A request
/// that came while the backend served a client's call goes to that client (refused when it did
/// not declare the capability); one that belongs to no call goes to the latest client that
/// declared it. Only the client that was asked can answer.
final class RequestBridge: Sendable {
    struct Waiting {
        var server: String
        var backendID: RPCID
        var connection: BackendConnection
        var session: ClientSession
        /// When it was sent to the client (monotonic ns).
        var since: UInt64 = monotonicNanos()
        /// Asked of a 2026-07-28 client as part of an `InputRequiredResult` (its answer comes in a
        /// later request, perhaps from another HTTP exchange): not tied to the session.
        var suspended = false
    }

    /// Set by the dispatcher: offers a request a backend sent during a 2026-07-28 client's call
    /// to that call, to be asked as an `InputRequiredResult` (key, method, params); false when the
    /// call cannot take it.
    let suspendHook = Mutex<(@Sendable (CallOrigin, String, String, JSONValue?) -> Bool)?>(nil)

    /// How long a client may take to answer (an elicitation waits for a person); then the backend
    /// gets an error and its slot is free again, so one silent client cannot block the others.
    static let answerTimeoutNanos: UInt64 = 600_000_000_000

    /// Answers the backend for requests its client left unanswered too long.
    func expire(now: UInt64 = monotonicNanos()) {
        let due = state.withLock { s -> [Waiting] in
            let old = s.waiting.filter { now - $0.value.since > Self.answerTimeoutNanos }
            for k in old.keys { s.waiting[k] = nil }
            return Array(old.values)
        }
        for w in due {
            let e = RPCError(.internalError, "The client did not answer within \(Self.answerTimeoutNanos / 1_000_000_000) s")
            w.connection.post(Message.error(id: w.backendID, e), expecting: nil, timeoutMillis: 5_000) { [self] _ in release(server: w.server) }
        }
    }

    let sessions: ClientSessions
    let log: Logger
    struct State {
        var next = 1
        var waiting: [String: Waiting] = [:]
        /// Requests of each backend being handled: forwarded to the client, or being answered.
        /// Pings have a budget of their own, so requests the client is slow to answer (an
        /// elicitation waiting for a person) never starve a backend's liveness checks.
        var outstanding: [String: Int] = [:]
        var pings: [String: Int] = [:]
        /// Requests mcpx itself asks a client (to bridge a 2026-07-28 `InputRequiredResult`), by id.
        var asks: [String: Ask] = [:]
    }

    struct Ask {
        var session: ClientSession
        var continuation: CheckedContinuation<IncomingMessage?, Never>
    }

    private let state = Mutex(State())
    /// Requests one backend may have outstanding; past it, more are refused (not answered).
    static let maxOutstandingPerServer = 16

    init(sessions: ClientSessions, log: Logger) {
        self.sessions = sessions
        self.log = log
    }

    /// The client capability a backend request needs.
    static func capability(for method: String) -> String? {
        switch method {
        case "sampling/createMessage": return "sampling"
        case "elicitation/create": return "elicitation"
        case "roots/list": return "roots"
        default: return nil
        }
    }

    /// Takes a slot for one request from `server`; false when it has too many outstanding (the
    /// request is then dropped, so a flood costs neither sockets nor memory). Each admitted request
    /// gives its slot back with `release` once answered or forgotten.
    func admit(server: String, method: String) -> Bool {
        state.withLock { s in
            let isPing = method == "ping"
            let n = isPing ? s.pings[server, default: 0] : s.outstanding[server, default: 0]
            guard n < Self.maxOutstandingPerServer else { return false }
            if isPing { s.pings[server] = n + 1 } else { s.outstanding[server] = n + 1 }
            return true
        }
    }

    func release(server: String, method: String = "") {
        state.withLock { s in
            if method == "ping" {
                let n = s.pings[server, default: 0]
                s.pings[server] = n > 1 ? n - 1 : nil
            } else {
                let n = s.outstanding[server, default: 0]
                s.outstanding[server] = n > 1 ? n - 1 : nil
            }
        }
    }

    /// The backend is gone or has a new session: its requests waiting for the client are void
    /// (a late answer from the client is dropped) and its slots are free again.
    func forget(server: String) {
        state.withLock { s in
            s.waiting = s.waiting.filter { $0.value.server != server }
            s.outstanding[server] = nil
            s.pings[server] = nil
        }
    }

    /// Answers a request of `server` itself (ping, refusals), then gives its slot back.
    private func answer(server: String, method: String, connection: BackendConnection, _ body: [UInt8]) {
        connection.post(body, expecting: nil, timeoutMillis: 5_000) { [self] _ in release(server: server, method: method) }
    }

    /// The client is gone: requests waiting for its answer are void.
    func forget(session: ClientSession) {
        endAsks(of: session)
        let gone = state.withLock { s -> [Waiting] in
            let mine = s.waiting.filter { $0.value.session === session && !$0.value.suspended }
            for k in mine.keys { s.waiting[k] = nil }
            return Array(mine.values)
        }
        for w in gone {
            let e = RPCError(.internalError, "The client went away before answering")
            w.connection.post(Message.error(id: w.backendID, e), expecting: nil, timeoutMillis: 5_000) { [self] _ in release(server: w.server) }
        }
    }

    /// Handles a request `admit`ted for `server`; `origin` is the client call it came with, if any.
    func forward(server: String, connection: BackendConnection, backendID: RPCID, method: String, _ msg: IncomingMessage, origin: CallOrigin?) {
        if method == "ping" {
            answer(server: server, method: method, connection: connection, Message.response(id: backendID, result: .object([:])))
            return
        }
        let cap = Self.capability(for: method)
        let target = cap.flatMap { cap in origin.map(\.session) ?? sessions.target(declaring: cap, server: server) }
        // A 2026-07-28 client's call may be suspended already, its HTTP exchange over: that is fine.
        guard let cap, let client = target, !client.isEnded || client.isModern, client.declares(cap) else {
            log.info("\(server): \(method) not forwarded: the client did not declare that capability")
            let e = RPCError(.methodNotFound, "Method not supported by the client: \(method)")
            answer(server: server, method: method, connection: connection, Message.error(id: backendID, e))
            return
        }
        if client.isModern {
            // A 2026-07-28 client takes no requests: the call it is waiting for answers it with
            // an InputRequiredResult carrying this one, and its retry carries the answer.
            // On a channel shared by all calls (stdio, HTTP+SSE) the call is the client's one call there.
            guard let origin = origin ?? soleCall(of: client, to: server), let hook = suspendHook.withLock({ $0 }) else {
                log.info("\(server): \(method) not forwarded: a \(ModernEra.version) client takes requests only as part of one call's answer, and no single call of it is waiting on \(server)")
                answer(server: server, method: method, connection: connection, Message.error(id: backendID, RPCError(.methodNotFound, "mcpx cannot bridge \(method) to a \(ModernEra.version) client: it is not waiting on exactly one call to this server")))
                return
            }
            let key = state.withLock { s -> String in
                let id = "mcpx-\(s.next)"
                s.next += 1
                s.waiting[id] = Waiting(server: server, backendID: backendID, connection: connection, session: client, suspended: true)
                return id
            }
            if !hook(origin, key, method, msg.params) {
                state.withLock { _ = $0.waiting.removeValue(forKey: key) }
                answer(server: server, method: method, connection: connection, Message.error(id: backendID, RPCError(.methodNotFound, "mcpx cannot bridge \(method) to a \(ModernEra.version) client during this request")))
            }
            return
        }
        let id = state.withLock { s -> String in
            let id = "mcpx-\(s.next)"
            s.next += 1
            s.waiting[id] = Waiting(server: server, backendID: backendID, connection: connection, session: client)
            return id
        }
        var out = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
        JSONValue.writeString(id, to: &out)
        out.append(contentsOf: #","method":"#.utf8)
        JSONValue.writeString(method, to: &out)
        if let p = msg.raw.raw("params") {
            out.append(contentsOf: #","params":"#.utf8)
            out.append(contentsOf: p)
        }
        out.append(UInt8(ascii: "}"))
        client.send(out, relatedTo: origin?.requestID)
    }

    /// Asks `session`'s client `method` (a request mcpx sends on its own behalf) and waits for its
    /// answer; nil when the client did not answer in time or went away.
    func ask(_ session: ClientSession, method: String, params: JSONValue?, relatedTo: RPCID?, timeoutNanos: UInt64 = answerTimeoutNanos) async -> IncomingMessage? {
        let id = state.withLock { s -> String in
            defer { s.next += 1 }
            return "mcpx-\(s.next)"
        }
        return await withCheckedContinuation { c in
            state.withLock { $0.asks[id] = Ask(session: session, continuation: c) }
            session.send(Message.request(id: .string(id), method: method, params: params), relatedTo: relatedTo)
            Task {
                try? await Task.sleep(nanoseconds: timeoutNanos)
                self.state.withLock { $0.asks.removeValue(forKey: id) }?.continuation.resume(returning: nil)
            }
        }
    }

    /// Ends the waits of `session`'s unanswered asks (it went away).
    func endAsks(of session: ClientSession) {
        let gone = state.withLock { s -> [Ask] in
            let mine = s.asks.filter { $0.value.session === session }
            for k in mine.keys { s.asks[k] = nil }
            return Array(mine.values)
        }
        for a in gone { a.continuation.resume(returning: nil) }
    }

    /// The one call `client` has in flight to `server` (a replica key counts as its server).
    func soleCall(of client: ClientSession, to server: String) -> CallOrigin? {
        let name = MultiServerProxy.serverName(ofKey: server)
        let ids = client.pending.withLock { p in p.filter { $0.value.server == name }.map(\.key) }
        return ids.count == 1 ? CallOrigin(session: client, requestID: ids[0]) : nil
    }

    /// The answer to a request asked in an `InputRequiredResult` (`key`), from a 2026-07-28 client's
    /// retry: goes to the backend that asked. False when `key` is not waiting.
    @discardableResult
    func inputAnswered(_ key: String, result: JSONValue) -> Bool {
        guard let w = state.withLock({ s -> Waiting? in
            guard let w = s.waiting[key], w.suspended else { return nil }
            return s.waiting.removeValue(forKey: key)
        }) else { return false }
        w.connection.post(Message.response(id: w.backendID, result: result), expecting: nil, timeoutMillis: 10_000) { [self] r in
            release(server: w.server)
            if case .failure(let e) = r { log.warning("\(w.server): could not deliver the client's answer: \(e.message)") }
        }
        return true
    }

    /// The client answered a request of ours; returns false when the id is not one we sent.
    @discardableResult
    func clientAnswered(_ msg: IncomingMessage, from session: ClientSession) -> Bool {
        if case .string(let id)? = msg.id,
            let a = state.withLock({ s -> Ask? in
                guard let a = s.asks[id], a.session === session else { return nil }
                return s.asks.removeValue(forKey: id)
            })
        {
            a.continuation.resume(returning: msg)
            return true
        }
        guard case .string(let id)? = msg.id,
            let w = state.withLock({ s -> Waiting? in
                guard let w = s.waiting[id], w.session === session else { return nil }
                return s.waiting.removeValue(forKey: id)
            })
        else { return false }
        let body: [UInt8]
        if let r = msg.raw.raw("result") {
            body = Message.response(id: w.backendID, rawResult: r)
        } else if let e = msg.raw.raw("error") {
            body = Message.error(id: w.backendID, rawError: e)
        } else {
            release(server: w.server)
            return true
        }
        w.connection.post(body, expecting: nil, timeoutMillis: 10_000) { [self] r in
            release(server: w.server)
            if case .failure(let e) = r { log.warning("\(w.server): could not deliver the client's answer: \(e.message)") }
        }
        return true
    }

    /// The backend cancelled a request it had sent: tell the client, forget the request.
    func cancelFromBackend(server: String, backendID: RPCID, reason: String?) {
        let found = state.withLock { s -> (String, ClientSession)? in
            guard let (k, w) = s.waiting.first(where: { $0.value.server == server && $0.value.backendID == backendID }) else { return nil }
            s.waiting[k] = nil
            return (k, w.session)
        }
        guard let (id, client) = found else { return }
        release(server: server)
        var params: JSONObject = ["requestId": .string(id)]
        if let reason { params["reason"] = .string(reason) }
        client.send(Message.notification(method: "notifications/cancelled", params: .object(params)))
    }
}
