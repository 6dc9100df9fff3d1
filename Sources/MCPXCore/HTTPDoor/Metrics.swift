import MCPXJSON
import Synchronization

/// `GET /metrics`: the Prometheus text exposition format (0.0.4).
///
/// Built straight into bytes: with 500 servers and 2,000 tools called it is about 50,000 lines,
/// rendered in a few milliseconds (mcpx-bench `metrics` phase).
final class Metrics: Sendable {
    let proxy: MultiServerProxy

    init(proxy: MultiServerProxy) { self.proxy = proxy }

    /// The per-tool part of the last rendering, and what it was made from: a scrape when no call
    /// ended since the last one reuses it.
    let toolSection = Mutex<(key: [Int], bytes: [UInt8])?>(nil)

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `le` label values of the duration histogram, in seconds, matching `ToolStats.boundsMicros`.
    static let bucketLabels: [String] = ToolStats.boundsMicros.map { Metrics.seconds($0) } + ["+Inf"]

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
        for s in servers { out.sample("mcpx_calls_in_flight", [("server", s.name)], s.inFlight) }
        let stats = servers.map { ($0.name, $0.stats) }
        out.family("mcpx_backend_reconnects_total", "counter", "Sessions with the server started again after the first.")
        for (name, s) in stats { out.sample("mcpx_backend_reconnects_total", [("server", name)], s.reconnects) }
        // Per tool: the label set `server="…",tool="…"` is written once per tool into `labels` and
        // copied into each line, with numbers written digit by digit (50,000 lines in a few ms).
        // Same servers, same versions of their tool figures: the same bytes as last time.
        let key = stats.map { $0.1.toolsVersion } + [servers.count, servers.map(\.name).hashValue]
        if let cached = toolSection.withLock({ $0 }), cached.key == key {
            out.bytes.append(contentsOf: cached.bytes)
        } else {
            let section = Self.toolSection(stats)
            toolSection.withLock { $0 = (key, section) }
            out.bytes.append(contentsOf: section)
        }
        let cached = servers.filter { $0.policy?.cache != nil }
        out.family("mcpx_cache_hits_total", "counter", "Tool calls answered from the result cache (or by an identical call in flight).")
        for s in cached { out.sample("mcpx_cache_hits_total", [("server", s.name)], s.policy!.cacheHits.load(ordering: .relaxed)) }
        out.family("mcpx_cache_misses_total", "counter", "Tool calls of cached tools that went to the server.")
        for s in cached { out.sample("mcpx_cache_misses_total", [("server", s.name)], s.policy!.cacheMisses.load(ordering: .relaxed)) }
        let limited = servers.filter { $0.policy?.rateLimit != nil }
        out.family("mcpx_rate_limited_total", "counter", "Tool calls refused by the server's rate limit.")
        for s in limited { out.sample("mcpx_rate_limited_total", [("server", s.name)], s.policy!.rateLimited.load(ordering: .relaxed)) }
        let replicated = servers.filter { $0.connections.count > 1 }
        out.family("mcpx_replica_calls_in_flight", "gauge", "Tool calls in flight per replica of a replicated server.")
        for s in replicated {
            for (i, c) in s.connections.enumerated() {
                out.sample("mcpx_replica_calls_in_flight", [("server", s.name), ("replica", String(i + 1))], max(0, c.inFlight.load(ordering: .relaxed)))
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

    /// Calls per tool by outcome, and the duration histograms of the tools called.
    static func toolSection(_ stats: [(String, BackendStats)]) -> [UInt8] {
        var out = Writer()
        let called = stats.flatMap { (name, s) in s.tools.keys.sorted().map { (name, $0, s.tools[$0]!) } }
        out.reserve(called.count * 2_600 + 1024)
        var labels: [[UInt8]] = []
        labels.reserveCapacity(called.count)
        for (name, tool, _) in called {
            var w = Writer()
            w.labelValue("server", name)
            w.bytes.append(UInt8(ascii: ","))
            w.labelValue("tool", tool)
            labels.append(w.bytes)
        }
        out.family("mcpx_tool_calls_total", "counter", "Tool calls by outcome (ok, error: the tool or the server failed, timeout, cancelled).")
        let outcomes = ToolStats.Outcome.allCases.map { ($0, Array(",outcome=\"\($0.rawValue)\"} ".utf8)) }
        let callsName = Array("mcpx_tool_calls_total{".utf8)
        for (k, (_, _, t)) in called.enumerated() {
            for (o, suffix) in outcomes {
                out.bytes.append(contentsOf: callsName)
                out.bytes.append(contentsOf: labels[k])
                out.bytes.append(contentsOf: suffix)
                out.int(t.count(o))
            }
        }
        out.family("mcpx_tool_call_duration_seconds", "histogram", "Time from sending a call to its end (answer, timeout or cancel), per tool called.")
        let les = Self.bucketLabels.map { Array(",le=\"\($0)\"} ".utf8) }
        let bucketName = Array("mcpx_tool_call_duration_seconds_bucket{".utf8)
        for (k, (_, _, t)) in called.enumerated() where t.timed > 0 {
            var cumulative = 0
            for (i, le) in les.enumerated() {
                cumulative += t.buckets[i]
                out.bytes.append(contentsOf: bucketName)
                out.bytes.append(contentsOf: labels[k])
                out.bytes.append(contentsOf: le)
                out.int(cumulative)
            }
            out.raw("mcpx_tool_call_duration_seconds_sum{", labels[k], "} ", "")
            out.bytes.append(contentsOf: String(Double(t.sumMicros) / 1e6).utf8)
            out.bytes.append(0x0A)
            out.raw("mcpx_tool_call_duration_seconds_count{", labels[k], "} ", "")
            out.int(t.timed)
        }
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

        /// `k="v"` with the value escaped.
        mutating func labelValue(_ k: String, _ v: String) {
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

        mutating func raw(_ a: String, _ labels: [UInt8], _ b: String, _ c: String) {
            bytes.append(contentsOf: a.utf8)
            bytes.append(contentsOf: labels)
            bytes.append(contentsOf: b.utf8)
            bytes.append(contentsOf: c.utf8)
        }

        /// A non-negative integer and a newline, without making a String.
        mutating func int(_ v: Int) {
            var n = max(0, v)
            if n < 10 {
                bytes.append(UInt8(48 + n))
                bytes.append(0x0A)
                return
            }
            var digits = 0
            var m = n
            while m > 0 {
                digits += 1
                m /= 10
            }
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(UInt8(48), count: digits))
            var i = start + digits - 1
            while n > 0 {
                bytes[i] = UInt8(48 + n % 10)
                n /= 10
                i -= 1
            }
            bytes.append(0x0A)
        }

        mutating func labels(_ name: String, _ labels: [(String, String)]) {
            bytes.append(contentsOf: name.utf8)
            guard !labels.isEmpty else { return }
            bytes.append(UInt8(ascii: "{"))
            for (i, (k, v)) in labels.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                labelValue(k, v)
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
