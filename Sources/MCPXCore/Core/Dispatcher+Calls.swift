import MCPXJSON
import Synchronization

/// A client request that waits before it can be forwarded (for start-up, or for its backend to
/// reconnect). A cancel removes it, and then it is never sent.
final class ParkedCall: Sendable {
    let reply: @Sendable ([UInt8]) -> Void
    init(reply: @escaping @Sendable ([UInt8]) -> Void) { self.reply = reply }
}

/// A client request forwarded to a backend and not yet answered.
final class PendingCall: Sendable {
    let server: String
    /// The tool's own name (for per-tool figures).
    let tool: String
    /// Where the answer goes (stdout, or the batch the request came in).
    let reply: @Sendable ([UInt8]) -> Void
    /// The progress token the backend sees (mcpx's own, standing for the client's), registered while the call is pending.
    let progressToken: JSONValue?
    /// When the call was admitted (monotonic ns).
    let created = monotonicNanos()
    /// µs since the call was admitted (for calls that end without an answer).
    var elapsedMicros: Int { Int((monotonicNanos() - created) / 1000) }
    /// The server's replicas when it has several (a call not delivered goes to another).
    let group: Router.Backend?
    let policy: CallPolicy?
    /// The cache key this call leads: identical calls made meanwhile wait for its answer.
    let cacheKey: String?
    /// The client's params (sent again when the call goes to another replica).
    let params: RawObject
    struct State {
        var connection: BackendConnection
        /// The entry key of the replica (or server) the call is on now.
        var replicaKey: String
        /// Replicas the call went to before this one, and whether it was sent again by `retry`.
        var tried: [String] = []
        var retried = false
        var backendID: Int64
        /// The transfer now carrying the call. Its callbacks hold this call, so the reference is
        /// dropped when the transfer completes (`finish`) or is abandoned. Not weak: a weak reference
        /// gives every transfer a side table, one more allocation and slow reference counting.
        var transfer: HTTPTransfer?
        /// The backend request id whose transfer completed (so a completion that beats `send`'s
        /// bookkeeping does not leave the finished transfer held here).
        var completedBackendID: Int64?
        /// When the call times out unless progress arrives (monotonic ns).
        var deadline: UInt64 = .max
        /// The hard limit, whatever progress says.
        var hardDeadline: UInt64 = .max
        var idleNanos: UInt64 = 0
        /// Set while a 2026-07-28 client is asked for input the backend needs (`Suspension`).
        var suspension: Suspension?
        /// Its identical calls waiting (`cacheKey`) were handed back or answered: not twice.
        var settled = false
    }
    let state: Mutex<State>

    /// The `_meta` the backend sees when the call is sent again: the client's, with mcpx's
    /// progress token (the same on every replica).
    var backendMeta: [UInt8]? {
        guard let token = progressToken, case .object(var m)? = params.value("_meta") else { return nil }
        m["progressToken"] = token
        return JSONValue.object(m).serialized()
    }

    init(
        server: String, tool: String, connection: BackendConnection, replicaKey: String, backendID: Int64, progressToken: JSONValue?,
        params: RawObject, group: Router.Backend? = nil, policy: CallPolicy? = nil, cacheKey: String? = nil, reply: @escaping @Sendable ([UInt8]) -> Void
    ) {
        self.server = server
        self.tool = tool
        self.reply = reply
        self.progressToken = progressToken
        self.group = group
        self.policy = policy
        self.cacheKey = cacheKey
        self.params = params
        state = Mutex(State(connection: connection, replicaKey: replicaKey, backendID: backendID))
    }
}

extension Dispatcher {
    /// `tools/call`: mcpx's own tools go to the actor; backend tools are forwarded from this thread.
    func toolCall(id: RPCID, _ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        guard let paramsRange = msg.raw.range("params"),
            let params = try? RawObject(msg.raw.bytes, range: paramsRange),
            case .string(let name)? = params.value("name")
        else {
            reply(Message.error(id: id, .invalidParams("Invalid params: tools/call needs params.name (a string)")))
            return
        }
        if let args = params.range("arguments"), let first = params.bytes[args].first,
            first != UInt8(ascii: "{") && first != UInt8(ascii: "n")
        {
            reply(Message.error(id: id, .invalidParams("Invalid params: tools/call arguments must be an object")))
            return
        }
        if ManagementTools.isOwn(name) || name == ManagementTools.searchTools || name == ManagementTools.describeTools {
            let args = params.value("arguments")
            Task { [proxy] in
                let result = await proxy.callManagementTool(name, arguments: args, actor: session.historyActor)
                reply(Message.response(id: id, result: result))
            }
            return
        }
        if name == ManagementTools.callTool {
            callThrough(id: id, params, session, reply: reply)
            return
        }
        // The retry of a call mcpx answered with an InputRequiredResult of its own.
        if session.isModern, case .string(let token)? = params.value("requestState"), token.hasPrefix("mcpx-state-") {
            resumeSuspended(id: id, params, token: token, reply: reply)
            return
        }
        route(id: id, name: name, params: params, session, reply: reply, parked: nil)
    }

    /// `call_tool {name, arguments}`: the named tool, called as if the client had called it (its
    /// result is the answer, errors too), listed or not.
    func callThrough(id: RPCID, _ params: RawObject, _ session: ClientSession, reply: @escaping Reply) {
        guard case .object(let args)? = params.value("arguments"), case .string(let inner)? = args["name"] else {
            reply(Message.error(id: id, .invalidParams("Invalid params: call_tool needs arguments.name (a string)")))
            return
        }
        if let a = args["arguments"], a.objectValue == nil, !a.isNull {
            reply(Message.error(id: id, .invalidParams("Invalid params: call_tool arguments.arguments must be an object")))
            return
        }
        guard inner != ManagementTools.callTool else {
            reply(Message.error(id: id, .invalidParams("Invalid params: call_tool cannot call call_tool")))
            return
        }
        var p: JSONObject = ["name": .string(inner)]
        if let a = args["arguments"], !a.isNull { p["arguments"] = a }
        if let meta = params.value("_meta") { p["_meta"] = meta }
        guard let rebuilt = try? RawObject(JSONValue.object(p).serialized()) else {
            reply(Message.error(id: id, .invalidParams("Invalid params: call_tool")))
            return
        }
        if ManagementTools.isOwn(inner) || ManagementTools.isSearchTool(inner) {
            let a = p["arguments"]
            Task { [proxy] in reply(Message.response(id: id, result: await proxy.callManagementTool(inner, arguments: a, actor: session.historyActor))) }
            return
        }
        route(id: id, name: inner, params: rebuilt, session, reply: reply, parked: nil)
    }

    /// Routes a call. `parked` is set when the call waited (for start-up or a reconnect): it stays
    /// in `parkedCalls` until it is answered here or moved to `pending` by `forward`, so a cancel
    /// that arrives at any point before it is sent finds it.
    func route(id: RPCID, name: String, params: RawObject, _ session: ClientSession, reply: @escaping Reply, parked: ParkedCall?) {
        let snap = router.snapshot
        guard let route = snap.tools[name], let backend = snap.backends[route.server] else {
            if !snap.startupDone && parked == nil {
                ensureStarted(session)
                guard let parked = park(id, session, reply: reply) else { return }
                Task { [proxy] in
                    await proxy.waitForStartup()
                    self.route(id: id, name: name, params: params, session, reply: reply, parked: parked)
                }
                return
            }
            // A tool of a server that is not ready (never listed its tools): say why, not just "unknown".
            if let r = name.firstRange(of: ToolNaming.separator), let b = snap.backends[String(name[..<r.lowerBound])], b.status != .ready {
                let server = String(name[..<r.lowerBound])
                Task { [proxy] in
                    let c = await proxy.config(server)
                    let why = c?.status == .disabled ? "is disabled (enable it with manage)" : "is unavailable: \(c?.lastError ?? "not connected")"
                    self.answerParked(id, session, parked, reply, Message.response(id: id, result: Message.toolError("Server '\(server)' \(why); \(name) was not called.")))
                }
                return
            }
            answerParked(id, session, parked, reply, Message.error(id: id, .invalidParams("Unknown tool: \(name)")))
            return
        }
        if backend.status == .ready {
            forward(id: id, route: route, backend: backend, params: params, session, reply: reply, parked: parked)
            return
        }
        // Not ready: a disabled backend says so; a failed one gets an immediate reconnect attempt.
        guard let parked = parked ?? park(id, session, reply: reply) else { return }
        Task { [proxy, router] in
            let ready = await proxy.ensureReady(route.server)
            if ready, let b = router.snapshot.backends[route.server], b.status == .ready {
                self.forward(id: id, route: route, backend: b, params: params, session, reply: reply, parked: parked)
                return
            }
            let config = await proxy.config(route.server)
            let why: String
            switch config?.status {
            case .disabled?: why = "is disabled (enable it with manage)"
            case nil: why = "was removed"
            default: why = "is unavailable: \(config?.lastError ?? "not connected")"
            }
            self.answerParked(id, session, parked, reply, Message.response(id: id, result: Message.toolError("Server '\(route.server)' \(why); \(name) was not called.")))
        }
    }

    /// Answers a call that was not sent; a parked one only if the client has not cancelled it.
    func answerParked(_ id: RPCID, _ session: ClientSession, _ parked: ParkedCall?, _ reply: Reply, _ answer: [UInt8]) {
        if let parked, !unpark(id, session, parked) { return }
        reply(answer)
    }

    /// The request to the backend: the client's params with the original tool name, bytes copied;
    /// `meta`, when set, replaces `_meta` (it carries mcpx's progress token instead of the client's).
    /// `envelope`, for a 2026-07-28 backend, goes first into `_meta` (the connection's, built once).
    static func callBody(backendID: Int64, tool: String, params: RawObject, meta: [UInt8]? = nil, envelope: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(params.bytes.count + tool.utf8.count + 96 + (envelope?.count ?? 0))
        out.append(contentsOf: #"{"jsonrpc":"2.0","id":"#.utf8)
        out.append(contentsOf: String(backendID).utf8)
        out.append(contentsOf: #","method":"tools/call","params":{"name":"#.utf8)
        JSONValue.writeString(tool, to: &out)
        var wroteMeta = false
        for m in params.members where m.key != "name" {
            out.append(UInt8(ascii: ","))
            JSONValue.writeString(m.key, to: &out)
            out.append(UInt8(ascii: ":"))
            let value = m.key == "_meta" ? (meta.map { $0[...] } ?? params.bytes[m.range]) : params.bytes[m.range]
            if m.key == "_meta", let envelope, value.first == UInt8(ascii: "{") {
                wroteMeta = true
                out.append(UInt8(ascii: "{"))
                out.append(contentsOf: envelope)
                let rest = value.dropFirst().drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
                if rest.first != UInt8(ascii: "}") { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: rest)
            } else {
                out.append(contentsOf: value)
            }
        }
        if let envelope, !wroteMeta {
            out.append(contentsOf: #","_meta":{"#.utf8)
            out.append(contentsOf: envelope)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    /// Parks a call that must wait before it is sent; nil (and answered) when its id is in use.
    func park(_ id: RPCID, _ session: ClientSession, reply: @escaping Reply) -> ParkedCall? {
        let parked = ParkedCall(reply: reply)
        let inUse = session.pending.withLock { $0[id] != nil } || session.parkedCalls.withLock { p -> Bool in
            if p[id] != nil { return true }
            p[id] = parked
            return false
        }
        if inUse {
            reply(Message.error(id: id, RPCError(.invalidRequest, "Invalid Request: id \(id) is already in use by a request in progress")))
            return nil
        }
        return parked
    }

    /// Takes a parked call back; false when the client cancelled it meanwhile.
    func unpark(_ id: RPCID, _ session: ClientSession, _ parked: ParkedCall) -> Bool {
        session.parkedCalls.withLock { p -> Bool in
            guard p[id] === parked else { return false }
            p[id] = nil
            return true
        }
    }

    /// The client's `_meta.progressToken` of a tools/call, if it sent one.
    static func progressToken(_ params: RawObject) -> (JSONValue, JSONObject)? {
        guard params.range("_meta") != nil, case .object(let meta)? = params.value("_meta"), let token = meta["progressToken"] else { return nil }
        return (token, meta)
    }

    /// Whether a raw tool result says `isError: true` (scanned only when the bytes mention it).
    static let isErrorKey = Array("\"isError\"".utf8)

    static func resultIsError(_ r: ArraySlice<UInt8>) -> Bool {
        // libc's memmem first (the same search ResourceURI uses); parsed only when it is there.
        let hit = r.withUnsafeBufferPointer { b in isErrorKey.withUnsafeBufferPointer { ResourceURI.memmemFind(b, $0) } }
        guard hit, let o = try? RawObject(Array(r)) else { return false }
        return o.value("isError")?.boolValue == true
    }

    enum Admission { case admitted, inUse, cancelled }

    func forward(id: RPCID, route: Router.Route, backend: Router.Backend, params: RawObject, _ session: ClientSession, reply: @escaping Reply, parked: ParkedCall? = nil) {
        // The server's policy first: a cached answer, an identical call in flight, the rate limit.
        var cacheKey: String?
        if let policy = backend.policy {
            // A retry that answers an InputRequiredResult is never served from (or put in) the cache.
            if policy.caches(route.tool), !params.has("inputResponses"), !params.has("requestState"),
                let key = ResultCache.key(server: route.server, tool: route.tool, arguments: params.raw("arguments"))
            {
                switch proxy.cache.begin(key, waiter: .init(id: id, session: session, route: route, params: params, reply: reply)) {
                case .hit(let result):
                    policy.cacheHits.wrappingAdd(1, ordering: .relaxed)
                    answerParked(id, session, parked, reply, Message.response(id: id, rawResult: result[...]))
                    return
                case .joined:
                    // Answered with the call in flight (`ResultCache.complete`); a wait, not a park.
                    policy.cacheHits.wrappingAdd(1, ordering: .relaxed)
                    if let parked { _ = unpark(id, session, parked) }
                    return
                case .lead:
                    policy.cacheMisses.wrappingAdd(1, ordering: .relaxed)
                    cacheKey = key
                }
            }
            if let wait = policy.admit() {
                policy.rateLimited.wrappingAdd(1, ordering: .relaxed)
                let result = policy.overLimitResult(tool: route.tool, retryAfter: wait)
                if let cacheKey { proxy.cache.complete(cacheKey, server: route.server, result: nil, ttl: nil, answer: { Message.response(id: $0, result: result) }) }
                answerParked(id, session, parked, reply, Message.response(id: id, result: result))
                return
            }
        }
        // A replicated server: one of its usable replicas, by its balancing strategy.
        var conn = backend.connection
        var replicaKey = route.server
        if !backend.replicas.isEmpty {
            // A retry answering an InputRequiredResult goes to the replica that asked.
            var sticky: Int?
            if params.has("requestState"), case .string(let st)? = params.value("requestState"),
                let key = stateReplicas.withLock({ $0[st] })
            {
                sticky = backend.replicas.firstIndex { $0.key == key }
            }
            if let i = sticky ?? backend.balancer?.pick(backend.replicas) {
                conn = backend.replicas[i].connection
                replicaKey = backend.replicas[i].key
            }
        }
        // Bound what one backend can hold: past the limit, fail fast instead of queueing without end.
        let limit = settings.maxInFlight
        if conn.inFlight.wrappingAdd(1, ordering: .relaxed).newValue > limit {
            conn.inFlight.wrappingSubtract(1, ordering: .relaxed)
            let text = "Server '\(route.server)' already has \(limit) calls in flight (the --max-in-flight limit); \(route.tool) was not called. Try again shortly."
            if let cacheKey { proxy.cache.complete(cacheKey, server: route.server, result: nil, ttl: nil, answer: { Message.response(id: $0, result: Message.toolError(text)) }) }
            answerParked(id, session, parked, reply, Message.response(id: id, result: Message.toolError(text)))
            return
        }
        // The backend sees a progress token of mcpx's own, unique across clients; its progress is
        // mapped back to this client's token and request.
        var meta: [UInt8]?
        var backendToken: JSONValue?
        if let (token, metaObject) = Self.progressToken(params) {
            let mine = proxy.progressTokens.register(token, server: route.server, origin: CallOrigin(session: session, requestID: id))
            var m = metaObject
            m["progressToken"] = mine
            meta = JSONValue.object(m).serialized()
            backendToken = mine
        }
        let call = PendingCall(
            server: route.server, tool: route.tool, connection: conn, replicaKey: replicaKey, backendID: 0, progressToken: backendToken,
            params: params, group: backend.replicas.isEmpty ? nil : backend, policy: backend.policy, cacheKey: cacheKey, reply: reply)
        let now = monotonicNanos()
        call.state.withLock {
            $0.idleNanos = UInt64(backend.timeoutMillis) * 1_000_000
            $0.deadline = now + $0.idleNanos
            $0.hardDeadline = now + UInt64(max(settings.maxCallTime * 1000, Double(backend.timeoutMillis))) * 1_000_000
        }
        // The token is registered from before the call can be seen in `pending` (from then on
        // whoever removes the call releases it) to the call's end.
        // A parked call moves to `pending` in one step: a cancel finds it in one table or the other.
        let admission = session.pending.withLock { p -> Admission in
            if p[id] != nil { return .inUse }
            if let parked, !unpark(id, session, parked) { return .cancelled }
            p[id] = call
            return .admitted
        }
        guard admission == .admitted else {
            conn.inFlight.wrappingSubtract(1, ordering: .relaxed)
            retire(call)
            settleFlight(call)
            if admission == .inUse {
                answerParked(id, session, parked, reply, Message.error(id: id, RPCError(.invalidRequest, "Invalid Request: id \(id) is already in use by a request in progress")))
            }
            return
        }
        // A call that waited runs on another thread than the client's messages: a cancel may have
        // come since it was admitted, and then it is never sent. (Straight from stdin, nothing can
        // come between: the cancel is read on this same thread, later.)
        if parked != nil, !isPending(id, session, call) {
            settleFlight(call)
            return
        }
        send(id: id, session, call: call, conn: conn, route: route, timeoutMillis: backend.timeoutMillis, params: params, meta: meta, reply: reply, retried: false)
    }

    func send(
        id: RPCID, _ session: ClientSession, call: PendingCall, conn: BackendConnection, route: Router.Route, timeoutMillis: Int,
        params: RawObject, meta: [UInt8]?, reply: @escaping Reply, retried: Bool
    ) {
        let bid = conn.makeRequestID()
        conn.noteUse()
        let generation = conn.sessionGeneration
        var envelope = conn.modernEnvelope
        if envelope != nil, let level = session.backendLogLevel(for: id) {
            // Log messages of this call, at the level its client wants (2026-07-28 has no setLevel).
            envelope! += Array(",\"\(ModernEra.logLevelKey)\":\"\(level.rawValue)\"".utf8)
        }
        let body = Self.callBody(backendID: bid, tool: route.tool, params: params, meta: meta, envelope: envelope)
        let start = monotonicNanos()
        call.state.withLock {
            $0.connection = conn
            $0.backendID = bid
        }
        // No curl timeout: the call's own deadlines (`expireCalls`, idle and hard) cancel the
        // transfer, and a timer per request in curl costs about 3% of mcpx's instructions per call.
        let wasModern = envelope != nil
        let t = conn.post(
            body, expecting: .int(bid), timeoutMillis: 0, origin: CallOrigin(session: session, requestID: id),
            onProgress: {
                // Progress shows the backend is working: push the idle deadline out (never past the hard one).
                call.state.withLock { s in s.deadline = min(s.hardDeadline, monotonicNanos() + s.idleNanos) }
            },
            headers: envelope != nil ? conn.modernHeaders(method: "tools/call", name: route.tool) : nil, modernReady: envelope != nil
        ) { [self] result in
            // Once per call, a new session and the call sent again: after a 404 on the session (the
            // backend restarted or dropped it), or when a dual-era backend's tool needs the
            // handshake era (it sends requests to the client, which 2026-07-28 has no way for).
            var renew: (@Sendable (MultiServerProxy, String) async -> Bool)?
            if !retried, wasModern, BackendConnection.needsBackChannel(result) {
                renew = { await $0.downgradeToHandshake($1, seenGeneration: generation) }
            } else if !retried, case .failure(let e) = result, e.kind == .sessionExpired {
                conn.stats.withLock { $0.sessionExpiries += 1 }
                renew = { await $0.recoverSession($1, seenGeneration: generation) }
            }
            if let renew {
                Task { [proxy] in
                    let key = call.state.withLock { $0.replicaKey }
                    let ok = await renew(proxy, key)
                    // Still this request (not cancelled, not moved to another replica meanwhile).
                    guard self.isPending(id, session, call), call.state.withLock({ $0.backendID == bid && $0.connection === conn }) else { return }
                    if ok {
                        self.send(id: id, session, call: call, conn: conn, route: route, timeoutMillis: timeoutMillis, params: params, meta: meta, reply: reply, retried: true)
                    } else {
                        self.finish(id: id, session, call: call, conn: conn, route: route, bid: bid, start: start, timeoutMillis: timeoutMillis, result, reply: reply)
                    }
                }
                return
            }
            self.finish(id: id, session, call: call, conn: conn, route: route, bid: bid, start: start, timeoutMillis: timeoutMillis, result, reply: reply)
        }
        call.state.withLock { if $0.completedBackendID != bid { $0.transfer = t } }
    }

    /// A call left the pending table: its backend may no longer report progress on its token.
    func retire(_ call: PendingCall) {
        if let token = call.progressToken { proxy.progressTokens.release(token) }
    }

    func isPending(_ id: RPCID, _ session: ClientSession, _ call: PendingCall) -> Bool {
        session.pending.withLock { $0[id] === call }
    }

    /// Removes the pending call if it is still this one; false when it was cancelled meanwhile.
    func take(_ id: RPCID, _ session: ClientSession, _ call: PendingCall) -> Bool {
        session.pending.withLock { p -> Bool in
            guard p[id] === call else { return false }
            p[id] = nil
            return true
        }
    }

    func finish(
        id: RPCID, _ session: ClientSession, call: PendingCall, conn: BackendConnection, route: Router.Route, bid: Int64, start: UInt64,
        timeoutMillis: Int, _ result: Result<IncomingMessage?, BackendError>, reply: @escaping Reply
    ) {
        // A request the call has left behind (it timed out and was sent to another replica): stale.
        // (Request ids are per connection: the id and the connection together name the request.)
        let current = call.state.withLock { s -> Bool in
            guard s.backendID == bid, s.connection === conn else { return false }
            s.transfer = nil
            s.completedBackendID = bid
            return true
        }
        guard current else { return }
        if let susp = call.state.withLock({ $0.suspension }) {
            conn.inFlight.wrappingSubtract(1, ordering: .relaxed)
            retire(call)
            deliverSuspended(susp, Self.plainAnswer(result, server: route.server))
            return
        }
        if case .failure(let e) = result, call.group != nil,
            failover(id: id, session, call: call, conn: conn, route: route, bid: bid, start: start, timeoutMillis: timeoutMillis, e, reply: reply)
        {
            return
        }
        guard take(id, session, call) else {  // cancelled or timed out: the client gets no late answer
            settleFlight(call)
            return
        }
        conn.inFlight.wrappingSubtract(1, ordering: .relaxed)
        retire(call)
        // The answer, for this call's id and for those of identical calls waiting on it (`cacheKey`).
        let answer: (RPCID) -> [UInt8]
        var cacheable: [UInt8]?
        switch result {
        case .success(let msg?):
            let micros = Int((monotonicNanos() - start) / 1000)
            if call.group != nil, let r = msg.raw.raw("result"), Self.isInputRequired(r),
                case .string(let st)? = (try? RawObject(Array(r)))?.value("requestState")
            {
                let key = call.state.withLock { $0.replicaKey }
                stateReplicas.withLock { m in
                    if m.count >= 4_096 { m.removeAll() }
                    m[st] = key
                }
            }
            let isError: Bool
            if case .errorResponse = msg.kind { isError = true } else { isError = msg.raw.raw("result").map(Self.resultIsError) ?? true }
            conn.stats.withLock {
                $0.calls += 1
                $0.recordSuccess(micros: micros)
                $0.recordTool(route.tool, isError ? .error : .ok, micros: micros)
            }
            if case .errorResponse = msg.kind, let e = msg.raw.raw("error") {
                answer = { Self.backendError(id: $0, e) }
            } else if let r = msg.raw.raw("result"), session.isModern, Self.isInputRequired(r), let missing = Self.missingCapabilities(r, session) {
                // The backend needs input of a kind this 2026-07-28 client did not declare.
                let text = "Server '\(route.server)' needs input (\(missing.keys.sorted().joined(separator: ", "))) the client did not declare for \(route.tool)"
                answer = { Message.error(id: $0, RPCError(.missingCapability, text, data: ["requiredCapabilities": .object(missing)])) }
            } else if let r = msg.raw.raw("result"), !session.isModern, Self.isInputRequired(r), let first = try? JSONParser.parse(r) {
                // A 2026-07-28 backend needs input this handshake-era client must give: bridged.
                var p: JSONObject = ["name": .string(route.tool)]
                if let a = call.params.value("arguments") { p["arguments"] = a }
                Task {
                    let answer = await self.bridgeInputRequired(
                        id: id, session, server: route.server, conn: conn, method: "tools/call", params: p, first: first, timeoutMillis: timeoutMillis)
                    self.settleFlight(call)  // identical calls waiting go on their own
                    reply(answer)
                }
                return
            } else if let r = msg.raw.raw("result") {
                // Resource links and embedded resources name the backend's URIs: expose them as
                // `<server>+<uri>`, so they read back through mcpx, and only from this backend.
                if let exposed = ResourceURI.exposeInToolResult(server: route.server, r) {
                    answer = { Message.response(id: $0, rawResult: exposed[...]) }
                    if !isError && call.cacheKey != nil && !Self.isInputRequired(r) { cacheable = exposed }
                } else {
                    answer = { Message.response(id: $0, rawResult: r) }
                    if !isError && call.cacheKey != nil && !Self.isInputRequired(r) { cacheable = Array(r) }
                }
                if call.cacheKey != nil && Self.isInputRequired(r) {
                    // Input for this client's call: identical calls waiting go on their own.
                    settleFlight(call)
                    reply(answer(id))
                    return
                }
            } else {
                answer = { Message.response(id: $0, result: Message.toolError("Server '\(route.server)' sent a response without a result")) }
            }
        case .success(nil):
            conn.stats.withLock { $0.recordTool(route.tool, .error, micros: Int((monotonicNanos() - start) / 1000)) }
            answer = { Message.response(id: $0, result: Message.toolError("Server '\(route.server)' sent no response")) }
        case .failure(let e):
            let e = BackendError(e.kind, conn.redact(e.message), status: e.status)
            conn.stats.withLock {
                $0.calls += 1
                $0.recordFailure(e)
                $0.recordTool(route.tool, e.kind == .timeout ? .timeout : .error, micros: Int((monotonicNanos() - start) / 1000), lastError: e.message)
            }
            let text: String
            switch e.kind {
            case .timeout:
                text = "Server '\(route.server)' did not answer \(route.tool) within \(Self.seconds(timeoutMillis)); the call was cancelled."
                conn.notify("notifications/cancelled", ["requestId": .int(bid), "reason": "mcpx: timed out"])
            case .unavailable:
                text = "Server '\(route.server)' is unavailable: \(e.message)"
            default:
                text = "Server '\(route.server)' failed: \(e.message)"
            }
            log.warning("call \(route.server)/\(route.tool) failed: \(e.message)")
            if e.isTransportFailure {
                // The proxy learns of the failure before the client does, so what the client asks
                // next (proxy_health, a retry) already sees it.
                let key = call.state.withLock { $0.replicaKey }
                Task { [proxy] in
                    await proxy.reportFailure(key, e)
                    self.answer(id, call, route: route, cacheable: nil, { Message.response(id: $0, result: Message.toolError(text)) }, reply: reply)
                }
                return
            }
            answer = { Message.response(id: $0, result: Message.toolError(text)) }
        }
        self.answer(id, call, route: route, cacheable: cacheable, answer, reply: reply)
    }

    /// A backend's answer for any request id: its result (resource URIs exposed) or error, or a
    /// tool error saying what went wrong.
    static func plainAnswer(_ result: Result<IncomingMessage?, BackendError>, server: String) -> @Sendable (RPCID) -> [UInt8] {
        switch result {
        case .success(let msg?):
            if case .errorResponse = msg.kind, let e = msg.raw.raw("error") { return { Self.backendError(id: $0, e) } }
            guard let r = msg.raw.raw("result") else {
                return { Message.response(id: $0, result: Message.toolError("Server '\(server)' sent a response without a result")) }
            }
            let bytes = ResourceURI.exposeInToolResult(server: server, r).map { $0[...] } ?? r
            return { Message.response(id: $0, rawResult: bytes) }
        case .success(nil):
            return { Message.response(id: $0, result: Message.toolError("Server '\(server)' sent no response")) }
        case .failure(let e):
            return { Message.response(id: $0, result: Message.toolError("Server '\(server)' failed: \(e.message)")) }
        }
    }

    /// Replies to a call, and to the identical calls waiting on it (keeping a plain result for the
    /// cache's `ttl`).
    func answer(_ id: RPCID, _ call: PendingCall, route: Router.Route, cacheable: [UInt8]?, _ answer: (RPCID) -> [UInt8], reply: Reply) {
        if let key = call.cacheKey, call.state.withLock({ s -> Bool in
            defer { s.settled = true }
            return !s.settled
        }) {
            proxy.cache.complete(key, server: route.server, result: cacheable, ttl: call.policy?.cache?.ttl, answer: answer)
        }
        reply(answer(id))
    }

    /// A call that ended without its own answer (cancelled, timed out, its client gone) hands the
    /// identical calls waiting on it back: they are sent on their own.
    func settleFlight(_ call: PendingCall) {
        guard let key = call.cacheKey, call.state.withLock({ s -> Bool in
            defer { s.settled = true }
            return !s.settled
        }) else { return }
        for w in proxy.cache.abandon(key) {
            guard let backend = router.snapshot.backends[w.route.server] else {
                w.reply(Message.response(id: w.id, result: Message.toolError("Server '\(w.route.server)' was removed; \(w.route.tool) was not called.")))
                continue
            }
            forward(id: w.id, route: w.route, backend: backend, params: w.params, w.session, reply: w.reply)
        }
    }

    /// A replicated server's call failed on one replica: when it was not delivered there (or its
    /// tool may be retried, once), it goes to another usable replica and this returns true.
    func failover(
        id: RPCID, _ session: ClientSession, call: PendingCall, conn: BackendConnection, route: Router.Route, bid: Int64, start: UInt64,
        timeoutMillis: Int, _ e: BackendError, reply: @escaping Reply
    ) -> Bool {
        let undelivered = e.wasNotDelivered
        let retry = !undelivered && e.mayHaveRun && call.policy?.mayRetry(route.tool) == true
        guard undelivered || retry else { return false }
        let (key, tried) = call.state.withLock { ($0.replicaKey, $0.tried) }
        if retry && call.state.withLock({ $0.retried }) { return false }
        // The current replica set (the failed one may already be out of it), minus those tried.
        let group = router.snapshot.backends[route.server] ?? call.group!
        let excluded = tried + [key]
        guard let balancer = group.balancer, let i = balancer.pick(group.replicas, excluding: excluded) else { return false }
        let next = group.replicas[i]
        guard isPending(id, session, call) else { return false }
        conn.inFlight.wrappingSubtract(1, ordering: .relaxed)
        next.connection.inFlight.wrappingAdd(1, ordering: .relaxed)
        call.state.withLock {
            $0.tried.append(key)
            $0.replicaKey = next.key
            if retry { $0.retried = true }
        }
        let redacted = BackendError(e.kind, conn.redact(e.message), status: e.status)
        conn.stats.withLock {
            $0.calls += 1
            $0.recordFailure(redacted)
            $0.recordTool(route.tool, .error, micros: Int((monotonicNanos() - start) / 1000), lastError: redacted.message)
        }
        if retry { call.policy?.retries.wrappingAdd(1, ordering: .relaxed) } else { call.policy?.failovers.wrappingAdd(1, ordering: .relaxed) }
        log.info("call \(route.server)/\(route.tool) \(retry ? "retried" : "not delivered") on \(key) (\(redacted.message)): sent to \(next.key)")
        if redacted.isTransportFailure { Task { [proxy] in await proxy.reportFailure(key, redacted) } }
        let meta = call.backendMeta
        send(id: id, session, call: call, conn: next.connection, route: route, timeoutMillis: timeoutMillis, params: call.params, meta: meta, reply: reply, retried: false)
        return true
    }

    /// A backend's JSON-RPC error for the client. Its text is the backend's, yet mcpx writes it:
    /// no configured secret may be in it.
    static func backendError(id: RPCID, _ e: ArraySlice<UInt8>) -> [UInt8] {
        if Redact.hasSecrets, let v = try? JSONParser.parse(e) {
            return Message.error(id: id, rawError: Redact.value(v).serialized()[...])
        }
        return Message.error(id: id, rawError: e)
    }

    static func seconds(_ millis: Int) -> String {
        millis % 1000 == 0 ? "\(millis / 1000) s" : "\((Double(millis) / 1000).fixed(1)) s"
    }

    /// `notifications/cancelled` from the client: stop the backend's work, send no answer. A call
    /// still parked (waiting for start-up or a reconnect) is dropped and never sent.
    func cancel(clientID: RPCID, _ session: ClientSession, reason: String?) {
        if session.isModern, endListen(clientID, session) { return }
        if let parked = session.parkedCalls.withLock({ $0.removeValue(forKey: clientID) }) {
            parked.reply(Self.noAnswer)
            log.debug("cancelled request \(clientID) before it was sent")
            return
        }
        guard let call = session.pending.withLock({ $0.removeValue(forKey: clientID) }) else {
            // A call waiting for an identical one (single flight): it just stops waiting.
            proxy.cache.dropWaiter(session, clientID)?(Self.noAnswer)
            return
        }
        abandon(call, reason: reason)
        retire(call)
        settleFlight(call)
        call.state.withLock { $0.connection }.stats.withLock { $0.recordTool(call.tool, .cancelled, micros: call.elapsedMicros) }
        call.reply(Self.noAnswer)
        log.debug("cancelled request \(clientID) (\(call.server))")
    }

    /// Stops a call mcpx no longer waits for: abort the transfer, tell the backend.
    /// `superseded`: the call goes on elsewhere, so a completion of this request that comes
    /// anyway (the transfer's cancel) is stale (`finish` ignores request ids not the call's).
    func abandon(_ call: PendingCall, reason: String?, superseded: Bool = false) {
        let (conn, bid, transfer) = call.state.withLock { s in
            defer {
                s.transfer = nil
                if superseded { s.backendID = -1 }
            }
            return (s.connection, s.backendID, s.transfer)
        }
        conn.inFlight.wrappingSubtract(1, ordering: .relaxed)
        if let transfer { conn.cancel(transfer) }
        guard bid != 0 else { return }  // never sent: nothing for the backend to stop
        conn.forget(.int(bid))
        var params: JSONObject = ["requestId": .int(bid)]
        if let reason { params["reason"] = .string(reason) }
        conn.notify("notifications/cancelled", .object(params))
    }

    /// Answers calls whose deadline has passed; runs every few milliseconds while serving.
    func expireCalls(now: UInt64 = monotonicNanos()) {
        for session in sessions.all where !session.pending.withLock({ $0.isEmpty }) { expireCalls(session, now: now) }
    }

    func expireCalls(_ session: ClientSession, now: UInt64) {
        let expired = session.pending.withLock { p -> [(RPCID, PendingCall)] in
            let due = p.filter { $0.value.state.withLock { $0.deadline <= now } }
            for (id, _) in due { p[id] = nil }
            return due.map { ($0.key, $0.value) }
        }
        for (id, call) in expired {
            if retryAfterTimeout(id, session, call, now: now) { continue }
            let (conn, idle, hard) = call.state.withLock { ($0.connection, $0.idleNanos, $0.hardDeadline) }
            abandon(call, reason: "mcpx: timed out")
            retire(call)
            settleFlight(call)
            conn.stats.withLock {
                $0.calls += 1
                $0.recordFailure(BackendError(.timeout, "call timed out"))
                $0.recordTool(call.tool, .timeout, micros: call.elapsedMicros, lastError: "call timed out")
            }
            let what = now >= hard
                ? "reached the hard limit of \(Self.seconds(Int(settings.maxCallTime * 1000))) per call"
                : "timed out after \(Self.seconds(Int(idle / 1_000_000))) without an answer or progress"
            log.warning("call \(id) to \(call.server) \(what)")
            call.reply(Message.response(id: id, result: Message.toolError("Server '\(call.server)' \(what); the call was cancelled.")))
        }
    }

    /// A call of a replicated server whose tool its `retry` rule names, timed out on one replica
    /// for the first time: cancelled there and sent to another, with a new deadline. False when
    /// that does not apply (the caller answers the timeout).
    func retryAfterTimeout(_ id: RPCID, _ session: ClientSession, _ call: PendingCall, now: UInt64) -> Bool {
        guard call.group != nil, call.policy?.mayRetry(call.tool) == true else { return false }
        let (key, tried, retried, hard) = call.state.withLock { ($0.replicaKey, $0.tried, $0.retried, $0.hardDeadline) }
        guard !retried, now < hard, let group = router.snapshot.backends[call.server], let balancer = group.balancer,
            let i = balancer.pick(group.replicas, excluding: tried + [key])
        else { return false }
        let next = group.replicas[i]
        // Back in the table before the old request is abandoned: its late completion is stale.
        let back = session.pending.withLock { p -> Bool in
            guard p[id] == nil else { return false }
            p[id] = call
            return true
        }
        guard back else { return false }
        abandon(call, reason: "mcpx: timed out; retried on another replica", superseded: true)
        next.connection.inFlight.wrappingAdd(1, ordering: .relaxed)
        call.state.withLock {
            $0.tried.append(key)
            $0.replicaKey = next.key
            $0.retried = true
            $0.deadline = min($0.hardDeadline, now + $0.idleNanos)
            $0.connection.stats.withLock { st in
                st.recordTool(call.tool, .timeout, micros: call.elapsedMicros, lastError: "call timed out")
            }
        }
        call.policy?.retries.wrappingAdd(1, ordering: .relaxed)
        log.info("call \(call.server)/\(call.tool) timed out on \(key): retried on \(next.key) (its retry rule allows it once)")
        let meta = call.backendMeta
        send(
            id: id, session, call: call, conn: next.connection, route: Router.Route(server: call.server, tool: call.tool),
            timeoutMillis: group.timeoutMillis, params: call.params, meta: meta, reply: call.reply, retried: false)
        return true
    }

    /// Checks deadlines until the server stops.
    public func runDeadlines() async {
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 20_000_000)
            expireCalls()
            ticks += 1
            if ticks % 50 == 0 {
                proxy.bridge.expire()
                expireSuspensions()
            }
        }
    }

    /// Waits (bounded) for calls in flight to finish, for a clean shutdown.
    public func drain(graceSeconds: Double) async {
        let deadline = monotonicNanos() + UInt64(graceSeconds * 1e9)
        while monotonicNanos() < deadline {
            if !sessions.all.contains(where: \.hasCallsInFlight) { return }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}

extension Dispatcher {
    /// The client is gone (its HTTP session ended or was dropped): its calls are cancelled at their
    /// backends, nothing more is sent to it, and requests backends sent it are void.
    public func endSession(_ session: ClientSession) {
        guard session.end() else { return }
        sessions.remove(session)
        let parked = session.parkedCalls.withLock { p -> [ParkedCall] in
            defer { p = [:] }
            return Array(p.values)
        }
        for p in parked { p.reply(Self.noAnswer) }
        let calls = session.pending.withLock { p -> [PendingCall] in
            defer { p = [:] }
            return Array(p.values)
        }
        for call in calls {
            abandon(call, reason: "mcpx: the client went away")
            retire(call)
            settleFlight(call)
            call.state.withLock { $0.connection }.stats.withLock { $0.recordTool(call.tool, .cancelled, micros: call.elapsedMicros) }
            call.reply(Self.noAnswer)
        }
        proxy.bridge.forget(session: session)
        // Subscriptions only it held end at their backends; backends' log level follows the
        // clients that remain.
        let subscriptions = session.state.withLock { s in s.subscriptions.union(s.listens.flatMap(\.uris)) }
        let orphaned = subscriptions.filter { !sessions.othersSubscribed(to: $0, except: session) }
        let level = sessions.mostVerboseLogLevel
        let hadLevel = session.logLevel != nil
        Task { [proxy] in
            for uri in orphaned {
                guard let (server, original) = ResourceURI.split(uri), let conn = await proxy.readyConnection(server) else { continue }
                if conn.isModern {
                    await proxy.listenForResource(server, original, false)
                    continue
                }
                _ = try? await conn.call("resources/unsubscribe", ["uri": .string(original)], timeoutMillis: 5_000)
            }
            if hadLevel, let level { await proxy.setLogLevel(level.rawValue) }
        }
    }
}
