import MCPXJSON

/// `GET /metrics`: the Prometheus text exposition format (0.0.4).
///
/// Built straight into bytes: with 500 servers and 2,000 tools called it is about 50,000 lines,
/// rendered in a few milliseconds (mcpx-bench `metrics` phase).
struct Metrics: Sendable {
    let proxy: MultiServerProxy

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `le` label values of the duration histogram, in seconds, matching `ToolStats.boundsMicros`.
    static let bucketLabels: [String] = ToolStats.boundsMicros.map { Self.seconds($0) } + ["+Inf"]

    static func seconds(_ micros: Int) -> String {
        let whole = micros / 1_000_000
        var frac = String(micros % 1_000_000)
        frac = String(repeating: "0", count: 6 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return frac.isEmpty ? "\(whole)" : "\(whole).\(frac)"
    }

    func render(clients: [ClientSession.Door: Int]) async -> [UInt8] {
        let servers = await proxy.serverFigures()
        let start = proxy.startTimeSeconds
        var out = Writer()
        out.reserve(4096 + servers.count * 256)
        out.family("mcpx_up", "gauge", "1 while mcpx is serving.")
        out.line("mcpx_up 1")
        out.family("mcpx_server_up", "gauge", "1 when the server is connected and ready, else 0.")
        for s in servers { out.sample("mcpx_server_up", [("server", s.name)], s.ready ? 1 : 0) }
        out.family("mcpx_server_tools", "gauge", "Tools the server offers (before filters).")
        for s in servers { out.sample("mcpx_server_tools", [("server", s.name)], s.toolCount) }
        out.family("mcpx_calls_in_flight", "gauge", "Tool calls sent to the server and not yet answered.")
        for s in servers { out.sample("mcpx_calls_in_flight", [("server", s.name)], max(0, s.connection.inFlight.load(ordering: .relaxed))) }
        let stats = servers.map { ($0.name, $0.connection.statsSnapshot) }
        out.family("mcpx_backend_reconnects_total", "counter", "Sessions with the server started again after the first.")
        for (name, s) in stats { out.sample("mcpx_backend_reconnects_total", [("server", name)], s.reconnects) }
        out.family("mcpx_tool_calls_total", "counter", "Tool calls by outcome (ok, error: the tool or the server failed, timeout, cancelled).")
        for (name, s) in stats {
            for tool in s.tools.keys.sorted() {
                let t = s.tools[tool]!
                for o in ToolStats.Outcome.allCases {
                    out.sample("mcpx_tool_calls_total", [("server", name), ("tool", tool), ("outcome", o.rawValue)], t.count(o))
                }
            }
        }
        out.family("mcpx_tool_call_duration_seconds", "histogram", "Time from sending a call to its end (answer, timeout or cancel), per tool called.")
        for (name, s) in stats {
            for tool in s.tools.keys.sorted() {
                let t = s.tools[tool]!
                guard t.timed > 0 else { continue }
                var cumulative = 0
                for (i, le) in Self.bucketLabels.enumerated() {
                    cumulative += t.buckets[i]
                    out.sample("mcpx_tool_call_duration_seconds_bucket", [("server", name), ("tool", tool), ("le", le)], cumulative)
                }
                out.sample("mcpx_tool_call_duration_seconds_sum", [("server", name), ("tool", tool)], Double(t.sumMicros) / 1e6)
                out.sample("mcpx_tool_call_duration_seconds_count", [("server", name), ("tool", tool)], t.timed)
            }
        }
        out.family("mcpx_clients", "gauge", "Clients connected, by door.")
        for door in [ClientSession.Door.stdio, .http] { out.sample("mcpx_clients", [("door", door.rawValue)], clients[door] ?? 0) }
        out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        out.sample("process_resident_memory_bytes", [], ProcessResources.residentBytes())
        out.family("process_open_fds", "gauge", "Number of open file descriptors.")
        out.sample("process_open_fds", [], ProcessResources.openFileCount())
        out.family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.")
        out.sample("process_start_time_seconds", [], (start * 1000).rounded() / 1000)
        return out.bytes
    }

    struct Writer {
        var bytes: [UInt8] = []

        mutating func reserve(_ n: Int) { bytes.reserveCapacity(n) }

        mutating func line(_ s: String) {
            bytes.append(contentsOf: s.utf8)
            bytes.append(0x0A)
        }

        mutating func family(_ name: String, _ type: String, _ help: String) {
            line("# HELP \(name) \(help)")
            line("# TYPE \(name) \(type)")
        }

        mutating func labels(_ name: String, _ labels: [(String, String)]) {
            bytes.append(contentsOf: name.utf8)
            guard !labels.isEmpty else { return }
            bytes.append(UInt8(ascii: "{"))
            for (i, (k, v)) in labels.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: k.utf8)
                bytes.append(contentsOf: "=\"".utf8)
                for b in v.utf8 {
                    switch b {
                    case UInt8(ascii: "\\"): bytes.append(contentsOf: "\\\\".utf8)
                    case UInt8(ascii: "\""): bytes.append(contentsOf: "\\\"".utf8)
                    case 0x0A: bytes.append(contentsOf: "\\n".utf8)
                    default: bytes.append(b)
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "}"))
        }

        mutating func sample(_ name: String, _ l: [(String, String)], _ value: Int) {
            labels(name, l)
            bytes.append(0x20)
            bytes.append(contentsOf: String(value).utf8)
            bytes.append(0x0A)
        }

        mutating func sample(_ name: String, _ l: [(String, String)], _ value: Double) {
            labels(name, l)
            bytes.append(0x20)
            bytes.append(contentsOf: (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)).utf8)
            bytes.append(0x0A)
        }
    }
}
