import Foundation
import MCPXJSON
import Synchronization

/// A client request forwarded to a backend and not yet answered.
final class PendingCall: Sendable {
    let server: String
    struct State {
        var connection: BackendConnection
        var backendID: Int64
        var transfer: HTTPTransfer?
    }
    let state: Mutex<State>

    init(server: String, connection: BackendConnection, backendID: Int64) {
        self.server = server
        state = Mutex(State(connection: connection, backendID: backendID))
    }
}

extension StdioServer {
    /// `tools/call`: mcpx's own tools go to the actor; backend tools are forwarded from this thread.
    func toolCall(id: RPCID, _ msg: IncomingMessage, reply: @escaping Reply) {
        guard let paramsRange = msg.raw.range("params"),
            let params = try? RawObject(Array(msg.raw.bytes[paramsRange])),
            case .string(let name)? = params.value("name")
        else {
            reply(Message.error(id: id, .invalidParams("Invalid params: tools/call needs params.name (a string)")))
            return
        }
        if let args = params.value("arguments"), !args.isNull, args.objectValue == nil {
            reply(Message.error(id: id, .invalidParams("Invalid params: tools/call arguments must be an object")))
            return
        }
        if ManagementTools.names.contains(name) {
            let args = params.value("arguments")
            Task { [proxy] in
                let result = await proxy.callManagementTool(name, arguments: args)
                reply(Message.response(id: id, result: result))
            }
            return
        }
        route(id: id, name: name, params: params, reply: reply, waitedForStartup: false)
    }

    func route(id: RPCID, name: String, params: RawObject, reply: @escaping Reply, waitedForStartup: Bool) {
        let snap = router.snapshot
        guard let route = snap.tools[name], let backend = snap.backends[route.server] else {
            if !snap.startupDone && !waitedForStartup {
                ensureStarted()
                Task { [proxy] in
                    await proxy.waitForStartup()
                    self.route(id: id, name: name, params: params, reply: reply, waitedForStartup: true)
                }
                return
            }
            reply(Message.error(id: id, .invalidParams("Unknown tool: \(name)")))
            return
        }
        if backend.status == .ready {
            forward(id: id, route: route, backend: backend, params: params, reply: reply)
            return
        }
        // Not ready: a disabled backend says so; a failed one gets an immediate reconnect attempt.
        Task { [proxy, router] in
            if await proxy.ensureReady(route.server), let b = router.snapshot.backends[route.server], b.status == .ready {
                self.forward(id: id, route: route, backend: b, params: params, reply: reply)
                return
            }
            let config = await proxy.config(route.server)
            let why: String
            switch config?.status {
            case .disabled?: why = "is disabled (enable it with manage)"
            case nil: why = "was removed"
            default: why = "is unavailable: \(config?.lastError ?? "not connected")"
            }
            reply(Message.response(id: id, result: Message.toolError("Server '\(route.server)' \(why); \(name) was not called.")))
        }
    }

    /// The request to the backend: the client's params with the original tool name, bytes copied.
    static func callBody(backendID: Int64, tool: String, params: RawObject) -> [UInt8] {
        var out = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
        out.reserveCapacity(params.bytes.count + 80)
        out.append(contentsOf: String(backendID).utf8)
        out.append(contentsOf: #","method":"tools/call","params":{"name":"#.utf8)
        JSONValue.writeString(tool, to: &out)
        for m in params.members where m.key != "name" {
            out.append(UInt8(ascii: ","))
            JSONValue.writeString(m.key, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: params.bytes[m.range])
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    func forward(id: RPCID, route: Router.Route, backend: Router.Backend, params: RawObject, reply: @escaping Reply) {
        let conn = backend.connection
        let call = PendingCall(server: route.server, connection: conn, backendID: 0)
        let inserted = pending.withLock { p -> Bool in
            if p[id] != nil { return false }
            p[id] = call
            return true
        }
        guard inserted else {
            reply(Message.error(id: id, RPCError(.invalidRequest, "Invalid Request: id \(id) is already in use by a request in progress")))
            return
        }
        send(id: id, call: call, conn: conn, route: route, timeoutMillis: backend.timeoutMillis, params: params, reply: reply, retried: false)
    }

    func send(
        id: RPCID, call: PendingCall, conn: BackendConnection, route: Router.Route, timeoutMillis: Int, params: RawObject,
        reply: @escaping Reply, retried: Bool
    ) {
        let bid = conn.makeRequestID()
        let generation = conn.sessionGeneration
        let body = Self.callBody(backendID: bid, tool: route.tool, params: params)
        let start = monotonicNanos()
        call.state.withLock {
            $0.connection = conn
            $0.backendID = bid
        }
        let t = conn.post(body, expecting: .int(bid), timeoutMillis: timeoutMillis) { [self] result in
            if case .failure(let e) = result, e.kind == .sessionExpired, !retried {
                // The backend restarted or dropped the session: start a new one and send again, once.
                Task { [proxy] in
                    let ok = await proxy.recoverSession(route.server, seenGeneration: generation)
                    guard self.isPending(id, call) else { return }
                    if ok {
                        self.send(id: id, call: call, conn: conn, route: route, timeoutMillis: timeoutMillis, params: params, reply: reply, retried: true)
                    } else {
                        self.finish(id: id, call: call, conn: conn, route: route, bid: bid, start: start, timeoutMillis: timeoutMillis, .failure(e), reply: reply)
                    }
                }
                return
            }
            self.finish(id: id, call: call, conn: conn, route: route, bid: bid, start: start, timeoutMillis: timeoutMillis, result, reply: reply)
        }
        call.state.withLock { $0.transfer = t }
    }

    func isPending(_ id: RPCID, _ call: PendingCall) -> Bool {
        pending.withLock { $0[id] === call }
    }

    /// Removes the pending call if it is still this one; false when it was cancelled meanwhile.
    func take(_ id: RPCID, _ call: PendingCall) -> Bool {
        pending.withLock { p -> Bool in
            guard p[id] === call else { return false }
            p[id] = nil
            return true
        }
    }

    func finish(
        id: RPCID, call: PendingCall, conn: BackendConnection, route: Router.Route, bid: Int64, start: UInt64,
        timeoutMillis: Int, _ result: Result<IncomingMessage?, BackendError>, reply: @escaping Reply
    ) {
        guard take(id, call) else { return }  // cancelled: the client gets no late answer
        switch result {
        case .success(let msg?):
            let micros = Int((monotonicNanos() - start) / 1000)
            conn.stats.withLock {
                $0.calls += 1
                $0.recordSuccess(micros: micros)
            }
            if case .errorResponse = msg.kind, let e = msg.raw.raw("error") {
                reply(Message.error(id: id, rawError: e))
            } else if let r = msg.raw.raw("result") {
                reply(Message.response(id: id, rawResult: r))
            } else {
                reply(Message.response(id: id, result: Message.toolError("Server '\(route.server)' sent a response without a result")))
            }
        case .success(nil):
            reply(Message.response(id: id, result: Message.toolError("Server '\(route.server)' sent no response")))
        case .failure(let e):
            let e = BackendError(e.kind, conn.redact(e.message), status: e.status)
            conn.stats.withLock {
                $0.calls += 1
                $0.recordFailure(e)
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
            let answer = Message.response(id: id, result: Message.toolError(text))
            if e.isTransportFailure {
                // The proxy learns of the failure before the client does, so what the client asks
                // next (proxy_health, a retry) already sees it.
                Task { [proxy] in
                    await proxy.reportFailure(route.server, e)
                    reply(answer)
                }
            } else {
                reply(answer)
            }
        }
    }

    static func seconds(_ millis: Int) -> String {
        millis % 1000 == 0 ? "\(millis / 1000) s" : String(format: "%.1f s", Double(millis) / 1000)
    }

    /// `notifications/cancelled` from the client: stop the backend's work, send no answer.
    func cancel(clientID: RPCID, reason: String?) {
        guard let call = pending.withLock({ $0.removeValue(forKey: clientID) }) else { return }
        let (conn, bid, transfer) = call.state.withLock { ($0.connection, $0.backendID, $0.transfer) }
        if let transfer { conn.loop.cancel(transfer) }
        var params: JSONObject = ["requestId": .int(bid)]
        if let reason { params["reason"] = .string(reason) }
        conn.notify("notifications/cancelled", .object(params))
        log.debug("cancelled request \(clientID) (\(call.server) id \(bid))")
    }

    /// Waits (bounded) for calls in flight to finish, for a clean shutdown.
    public func drain(graceSeconds: Double) async {
        shuttingDown.store(true, ordering: .relaxed)
        let deadline = monotonicNanos() + UInt64(graceSeconds * 1e9)
        while monotonicNanos() < deadline {
            if pending.withLock({ $0.isEmpty }) { return }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}
