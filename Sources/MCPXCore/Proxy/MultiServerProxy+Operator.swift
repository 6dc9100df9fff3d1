public import MCPXJSON

/// What the operator's endpoints (`/health`, `/servers/count`, `/metrics`, the dashboard) read.
extension MultiServerProxy {
    /// One server's state for the operator: read on the actor, its counters read after.
    public struct ServerFigures: Sendable {
        public var name: String
        public var enabled: Bool
        public var ready: Bool
        public var toolCount: Int
        public var connection: BackendConnection
    }

    public func serverFigures() -> [ServerFigures] {
        order.compactMap { name in
            entries[name].map {
                ServerFigures(name: name, enabled: $0.config.enabled, ready: $0.config.status == .ready, toolCount: $0.config.toolCount, connection: $0.connection)
            }
        }
    }

    /// `GET /health`: "degraded" when an enabled server is not ready.
    public func healthJSON() -> JSONValue {
        let figures = serverFigures()
        let healthy = figures.filter(\.ready).count
        let degraded = figures.contains { $0.enabled && !$0.ready }
        return [
            "status": .string(degraded ? "degraded" : "ok"),
            "servers": ["healthy": .int(Int64(healthy)), "total": .int(Int64(figures.count))],
            "tools": .int(Int64(router.snapshot.listedCount)),
        ]
    }

    /// `GET /servers/count`.
    public func serverCountJSON() -> JSONValue {
        let figures = serverFigures()
        return ["total": .int(Int64(figures.count)), "healthy": .int(Int64(figures.filter(\.ready).count))]
    }

    /// Wall-clock seconds when this proxy started.
    public nonisolated var startTimeSeconds: Double {
        wallClockSeconds() - Double(monotonicNanos() - startNanos) / 1e9
    }
}
