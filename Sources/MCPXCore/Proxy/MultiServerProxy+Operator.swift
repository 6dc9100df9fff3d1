public import MCPXJSON

/// What the operator's endpoints (`/health`, `/servers/count`, `/metrics`, the dashboard) read.
extension MultiServerProxy {
    /// One server's state for the operator: read on the actor, its counters read after.
    public struct ServerFigures: Sendable {
        public var name: String
        public var enabled: Bool
        public var ready: Bool
        public var toolCount: Int
        /// Its connections: its replicas', or its own.
        public var connections: [BackendConnection]
        public var policy: CallPolicy?

        /// Calls in flight over all its connections.
        public var inFlight: Int { connections.reduce(0) { $0 + max(0, $1.inFlight.load(ordering: .relaxed)) } }
        /// Its figures (summed over its replicas).
        public var stats: BackendStats {
            connections.count == 1 ? connections[0].statsSnapshot : BackendStats.merged(connections.map(\.statsSnapshot))
        }
    }

    public func serverFigures() -> [ServerFigures] {
        order.compactMap { name in
            entries[name].map {
                ServerFigures(
                    name: name, enabled: $0.config.enabled, ready: $0.config.status == .ready, toolCount: $0.config.toolCount,
                    connections: connectionKeys(name).compactMap { entries[$0]?.connection }, policy: $0.policy)
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
