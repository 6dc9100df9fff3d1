import MCPXJSON
import Synchronization

/// A tool call of a 2026-07-28 client during which a handshake-era backend sent a request for the
/// client (sampling, elicitation, roots). That client takes no requests, so its call is answered
/// with an `InputRequiredResult` carrying them (keys are the bridge's ids, `requestState` names
/// this suspension) while the backend's call goes on; the client's retry brings the answers
/// (`inputResponses`), which go to the backend, and gets the call's result, or the next round.
final class Suspension: Sendable {
    let token: String
    let call: PendingCall
    let session: ClientSession
    let originID: RPCID

    struct State {
        /// Requests for the client not yet put in an answer.
        var pending: [(key: String, request: JSONValue)] = []
        /// Keys of the requests handed to the client: only their answers are taken from a retry.
        var asked: Set<String> = []
        /// The client request to answer next (the call, then each retry).
        var waiter: (id: RPCID, reply: Dispatcher.Reply, since: UInt64)?
        /// The call's own answer, when it came before the retry.
        var result: (@Sendable (RPCID) -> [UInt8])?
        var touched = monotonicNanos()
    }

    let state: Mutex<State>

    init(call: PendingCall, session: ClientSession, originID: RPCID) {
        var g = SystemRandomNumberGenerator()
        token = "mcpx-state-" + (0..<4).map { _ in String(UInt32.random(in: .min ... .max, using: &g), radix: 36) }.joined()
        self.call = call
        self.session = session
        self.originID = originID
        state = Mutex(State(waiter: (originID, call.reply, monotonicNanos())))
    }
}

extension Dispatcher {
    /// How long a suspended call keeps its result for a retry that does not come.
    static let suspensionIdleNanos: UInt64 = 600_000_000_000

    /// The bridge's hook: `key`/`method`/`params` asked during the call `origin`.
    func suspend(_ origin: CallOrigin, key: String, method: String, params: JSONValue?) -> Bool {
        let session = origin.session
        var request: JSONObject = ["method": .string(method)]
        if let params { request["params"] = params }
        let susp: Suspension
        if let existing = suspensions.withLock({ $0.values.first { $0.session === session && $0.originID == origin.requestID } }) {
            susp = existing
        } else {
            // The call leaves the pending table: its request is answered now, its result later.
            guard let call = session.pending.withLock({ p -> PendingCall? in
                guard let c = p[origin.requestID] else { return nil }
                p[origin.requestID] = nil
                return c
            }) else { return false }
            susp = Suspension(call: call, session: session, originID: origin.requestID)
            call.state.withLock { $0.suspension = susp }
            settleFlight(call)  // identical calls waiting on it go on their own
            suspensions.withLock { $0[susp.token] = susp }
            log.debug("call \(origin.requestID) (\(call.server)) suspended: the backend asked for \(method)")
        }
        susp.state.withLock { $0.pending.append((key, .object(request))) }
        flush(susp)
        return true
    }

    /// Answers the waiting client request with the requests gathered, if there are both.
    func flush(_ susp: Suspension) {
        guard let (w, requests) = susp.state.withLock({ s -> ((id: RPCID, reply: Reply, since: UInt64), [(key: String, request: JSONValue)])? in
            guard let w = s.waiter, !s.pending.isEmpty else { return nil }
            defer {
                for p in s.pending { s.asked.insert(p.key) }
                s.waiter = nil
                s.pending = []
                s.touched = monotonicNanos()
            }
            return (w, s.pending)
        }) else { return }
        let result: JSONValue = [
            "resultType": "input_required",
            "inputRequests": .object(JSONObject(requests.map { (key: $0.key, value: $0.request) })),
            "requestState": .string(susp.token),
        ]
        w.reply(Message.response(id: w.id, result: result))
    }

    /// The suspended call's backend answered: to the waiting retry, or kept for it.
    func deliverSuspended(_ susp: Suspension, _ answer: @escaping @Sendable (RPCID) -> [UInt8]) {
        let w = susp.state.withLock { s -> (id: RPCID, reply: Reply, since: UInt64)? in
            guard let w = s.waiter else {
                s.result = answer
                return nil
            }
            s.waiter = nil
            return w
        }
        guard let w else { return }
        suspensions.withLock { _ = $0.removeValue(forKey: susp.token) }
        w.reply(answer(w.id))
    }

    /// A 2026-07-28 client's retry of a suspended call (`requestState` is ours): its answers go
    /// to the backend; it gets the call's result, the next requests, or waits for either.
    func resumeSuspended(id: RPCID, _ params: RawObject, token: String, reply: @escaping Reply) {
        guard let susp = suspensions.withLock({ $0[token] }) else {
            reply(Message.error(id: id, RPCError(.invalidParams, "Invalid or expired requestState", data: ["reason": "invalid_request_state"])))
            return
        }
        if case .object(let responses)? = params.value("inputResponses") {
            // Only answers to what this suspension asked (another call's requests are not ours to answer).
            let mine = susp.state.withLock { s -> [(String, JSONValue)] in
                let own = responses.filter { s.asked.contains($0.key) }
                for (k, _) in own { s.asked.remove(k) }
                return own.map { ($0.key, $0.value) }
            }
            for (key, value) in mine { proxy.bridge.inputAnswered(key, result: value) }
        }
        var replaced: (id: RPCID, reply: Reply, since: UInt64)?
        let result = susp.state.withLock { s -> (@Sendable (RPCID) -> [UInt8])? in
            if let r = s.result { return r }
            replaced = s.waiter
            s.waiter = (id, reply, monotonicNanos())
            s.touched = monotonicNanos()
            return nil
        }
        if let replaced {
            replaced.reply(Message.error(id: replaced.id, RPCError(.invalidRequest, "Superseded by a later retry of the same call (request \(id))")))
        }
        if let result {
            suspensions.withLock { _ = $0.removeValue(forKey: token) }
            reply(result(id))
            return
        }
        flush(susp)
    }

    /// Retries waiting too long get the timeout; suspensions nobody came back for are dropped
    /// (their backend call abandoned).
    func expireSuspensions(now: UInt64 = monotonicNanos()) {
        let all = suspensions.withLock { Array($0.values) }
        for susp in all {
            let (late, idle) = susp.state.withLock { s -> ((id: RPCID, reply: Reply, since: UInt64)?, Bool) in
                let limit = susp.call.state.withLock { $0.idleNanos }
                if let w = s.waiter, limit > 0, now - w.since > limit {
                    s.waiter = nil
                    return (w, false)
                }
                return (nil, s.waiter == nil && now - s.touched > Self.suspensionIdleNanos)
            }
            guard late != nil || idle else { continue }
            suspensions.withLock { _ = $0.removeValue(forKey: susp.token) }
            // Stop the backend's call unless it already answered (then it is no longer in flight);
            // a completion that comes anyway is stale.
            let stillRunning = susp.state.withLock { $0.result == nil }
            if stillRunning {
                susp.call.state.withLock { $0.suspension = nil }
                abandon(susp.call, reason: late != nil ? "mcpx: timed out" : "mcpx: the client did not come back", superseded: true)
                retire(susp.call)
            }
            late?.reply(Message.response(id: late!.id, result: Message.toolError("Server '\(susp.call.server)' did not finish \(susp.call.tool) in time; the call was cancelled.")))
        }
    }
}
