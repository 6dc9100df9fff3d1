public import MCPXJSON

/// What the terminal commands (`mcpx list | tools | call | check`) need from the proxy, which
/// runs there without a stdio client.
extension MultiServerProxy {
    /// Waits until the first connection attempt of each named server (every server when nil) has
    /// ended, however long that takes (each attempt is bounded by the connect timeout). Starts the
    /// proxy if it has not started.
    public func waitForFirstAttempts(_ names: [String]? = nil) async {
        if !started { start(clientCapabilities: .object([:])) }
        for name in names ?? order {
            guard let e = entries[name], e.config.enabled, !e.firstAttemptDone else { continue }
            await withCheckedContinuation { c in
                if entries[name]?.firstAttemptDone == false {
                    entries[name]!.attemptWaiters.append(c)
                } else {
                    c.resume()
                }
            }
        }
    }

    /// Every server's configuration and what mcpx has learned of it, in configuration order.
    public var serverConfigs: [ServerConfig] { order.compactMap { entries[$0]?.config } }

    /// One server's answer to a ping (`latencyMs` when it answered).
    public struct PingResult: Sendable {
        public var name: String
        public var latencyMs: Double?
        public var error: String?
    }

    /// Pings every enabled, ready server once, in parallel. Servers that are not ready are not
    /// contacted again; their last error is reported.
    public func pingAll(timeoutMillis: Int = 5_000) async -> [PingResult] {
        let targets = order.compactMap { n in entries[n].map { (n, $0.connection, $0.config) } }
        var results: [String: PingResult] = [:]
        await withTaskGroup(of: PingResult.self) { g in
            for (name, conn, config) in targets where config.enabled {
                guard config.status == .ready else {
                    results[name] = PingResult(name: name, error: config.lastError ?? "not connected (\(config.status.rawValue))")
                    continue
                }
                g.addTask {
                    let start = monotonicNanos()
                    do {
                        _ = try await conn.call("ping", nil, timeoutMillis: timeoutMillis)
                        let ms = Double(monotonicNanos() - start) / 1e6
                        return PingResult(name: name, latencyMs: (ms * 100).rounded() / 100)
                    } catch {
                        return PingResult(name: name, error: (error as? BackendError)?.message ?? "\(error)")
                    }
                }
            }
            for await r in g { results[r.name] = r }
        }
        return targets.compactMap { results[$0.0] }
    }

    /// How a tool call ended: a tool result (which may have `isError`), or a JSON-RPC error object.
    public enum CallOutcome: Sendable {
        case result(JSONValue)
        case rpcError(JSONValue)
    }

    /// Calls one exposed tool the way a client's `tools/call` would: mcpx's own tools run here,
    /// others go to their backend under their original name (with one retry on an expired session).
    public func callTool(_ name: String, arguments: JSONValue?) async -> CallOutcome {
        if ManagementTools.isOwn(name) {
            return .result(await callManagementTool(name, arguments: arguments))
        }
        guard let route = router.snapshot.tools[name] else {
            // A tool of a server that never connected is unknown; say why rather than just that.
            if let r = name.firstRange(of: ToolNaming.separator), let c = entries[String(name[..<r.lowerBound])]?.config, c.status != .ready {
                let why = c.status == .disabled ? "is disabled" : "is unavailable: \(c.lastError ?? "not connected")"
                return .result(Message.toolError("Server '\(c.name)' \(why); \(name) was not called."))
            }
            return .rpcError(RPCError(.invalidParams, "Unknown tool: \(name)").json)
        }
        if router.snapshot.backends[route.server]?.status != .ready {
            entries[route.server]?.lastPoke = 0
            guard await ensureReady(route.server), let b = router.snapshot.backends[route.server], b.status == .ready else {
                let c = entries[route.server]?.config
                let why = c?.status == .disabled ? "is disabled" : "is unavailable: \(c?.lastError ?? "not connected")"
                return .result(Message.toolError("Server '\(route.server)' \(why); \(name) was not called."))
            }
        }
        guard let backend = router.snapshot.backends[route.server] else {
            return .result(Message.toolError("Server '\(route.server)' was removed; \(name) was not called."))
        }
        var params: JSONObject = ["name": .string(route.tool)]
        if let arguments { params["arguments"] = arguments }
        let conn = backend.connection
        for attempt in 0..<2 {
            let generation = conn.sessionGeneration
            do {
                let m = try await conn.request("tools/call", .object(params), timeoutMillis: backend.timeoutMillis)
                if case .errorResponse = m.kind { return .rpcError(m.raw.value("error") ?? ["code": -32603, "message": "error"]) }
                return .result(m.raw.value("result") ?? Message.toolError("Server '\(route.server)' sent a response without a result"))
            } catch {
                if error.kind == .sessionExpired, attempt == 0, await recoverSession(route.server, seenGeneration: generation) {
                    continue
                }
                let text: String
                switch error.kind {
                case .timeout:
                    text = "Server '\(route.server)' did not answer \(route.tool) within \(Double(backend.timeoutMillis) / 1000) s."
                case .unavailable: text = "Server '\(route.server)' is unavailable: \(error.message)"
                default: text = "Server '\(route.server)' failed: \(error.message)"
                }
                return .result(Message.toolError(text))
            }
        }
        return .result(Message.toolError("Server '\(route.server)' lost its session twice"))
    }
}
