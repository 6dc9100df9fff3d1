import MCPXJSON

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
                        _ = try await conn.call(conn.healthMethod, nil, timeoutMillis: timeoutMillis)
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
}
