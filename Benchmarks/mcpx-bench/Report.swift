import Foundation
import MCPXJSON

/// The table printed at the end (medians of the runs, the direct baseline and the issue's targets
/// beside), and the JSON document with every run's figures.
struct Report {
    let bench: Bench
    let machine: Machine

    private struct Row {
        let label: String
        let key: String
        var direct: String?
        var target = ""
        var met: ((Double) -> Bool)?
        var digits = 0
    }

    private var rows: [Row] {
        let o = bench.options
        let c = o.concurrency
        let fanout = "fan-out: \(o.fanoutBackends) backends × sleep \(o.sleepMs) ms, all at once (ms)"
        let scale = "\(o.scaleBackends)×\(bench.manyTools == 0 ? o.toolsPerBackend : bench.manyTools)"
        return [
            Row(label: "start-up to complete tools/list, 1 backend (ms)", key: "startup_ms", digits: 1),
            Row(label: "call p50 (µs)", key: "call_p50_us", direct: "direct_call_p50_us", target: "≤ 120",
                met: { $0 <= 120 }),
            Row(label: "call p99 (µs)", key: "call_p99_us", direct: "direct_call_p99_us", target: "≤ 300",
                met: { $0 <= 300 }),
            Row(label: "calls/s, \(c) in flight", key: "throughput_cps", direct: "direct_throughput_cps",
                target: "≥ 30,000", met: { $0 >= 30_000 }),
            Row(label: "call p50 with \(c) in flight (µs)", key: "loaded_p50_us", direct: "direct_loaded_p50_us"),
            Row(label: "call p99 with \(c) in flight (µs)", key: "loaded_p99_us", direct: "direct_loaded_p99_us"),
            Row(label: "mcpx CPU per call, \(c) in flight (µs)", key: "mcpx_cpu_us_per_call", target: "small",
                digits: 1),
            Row(label: "backend CPU per call (µs)", key: "backend_cpu_us_per_call",
                direct: "direct_backend_cpu_us_per_call", digits: 1),
            Row(label: "bench (driver) CPU per call (µs)", key: "bench_cpu_us_per_call",
                direct: "direct_bench_cpu_us_per_call", digits: 1),
            Row(label: "mcpx RSS, 1 backend (MB)", key: "rss_mb", target: "≤ 20", met: { $0 <= 20 }, digits: 1),
            Row(label: "\(scale): start-up to complete tools/list (ms)", key: "scale_startup_ms", target: "≤ 500",
                met: { $0 <= 500 }),
            Row(label: "\(scale): tools/list once connected (ms)", key: "scale_tools_list_ms", target: "≤ 20",
                met: { $0 <= 20 }, digits: 1),
            Row(label: "\(scale): mcpx RSS (MB)", key: "scale_rss_mb", target: "≤ 64", met: { $0 <= 64 }, digits: 1),
            Row(label: fanout, key: "fanout_ms", target: "≈ \(o.sleepMs)",
                met: { $0 <= Double(o.sleepMs) * 1.5 + 5 }, digits: 1),
            // Stdio backends: the floor of a call through mcpx is two stdio round trips (client to
            // mcpx, mcpx to the child), each about the direct one.
            Row(label: "stdio backend: call p50 (µs)", key: "stdio_call_p50_us", direct: "stdio_direct_call_p50_us",
                target: "≤ 1.35 × 2 × direct", met: { [r = bench.recorder] v in r.median("stdio_direct_call_p50_us").map { v <= 1.35 * 2 * $0 } ?? false }),
            Row(label: "stdio backend: call p99 (µs)", key: "stdio_call_p99_us", direct: "stdio_direct_call_p99_us"),
            Row(label: "stdio backend: calls/s, \(c) in flight", key: "stdio_throughput_cps", direct: "stdio_direct_throughput_cps",
                target: "≥ 0.45 × direct", met: { [r = bench.recorder] v in r.median("stdio_direct_throughput_cps").map { v >= 0.45 * $0 } ?? false }),
            Row(label: "stdio backend: mcpx CPU per call, \(c) in flight (µs)", key: "stdio_mcpx_cpu_us_per_call", digits: 1),
            Row(label: "\(o.stdioServers) stdio servers: start-up to complete tools/list (ms)", key: "stdio_scale_startup_ms",
                target: "≤ 1,000", met: { $0 <= 1_000 }),
            Row(label: "\(o.stdioServers) stdio servers: mcpx RSS (MB)", key: "stdio_scale_rss_mb", target: "≤ 40",
                met: { $0 <= 40 }, digits: 1),
            Row(label: "\(o.stdioServers) stdio servers: mcpx open fds", key: "stdio_scale_fds"),
            // The HTTP door: the floor of a call is two loopback HTTP round trips (client to mcpx,
            // mcpx to the backend), each about the direct one; two hops (mcpx behind mcpx) three.
            Row(label: "HTTP door: call p50 (µs)", key: "http_call_p50_us", direct: "direct_call_p50_us",
                target: "≤ 1.35 × 2 × direct", met: { [r = bench.recorder] v in r.median("direct_call_p50_us").map { v <= 1.35 * 2 * $0 } ?? false }),
            Row(label: "HTTP door: call p99 (µs)", key: "http_call_p99_us", direct: "direct_call_p99_us"),
            Row(label: "HTTP door: calls/s, \(c) clients", key: "http_throughput_cps", direct: "direct_throughput_cps",
                target: "≥ 0.45 × direct", met: { [r = bench.recorder] v in r.median("direct_throughput_cps").map { v >= 0.45 * $0 } ?? false }),
            Row(label: "HTTP door: mcpx CPU per call, \(c) clients (µs)", key: "http_mcpx_cpu_us_per_call", digits: 1),
            Row(label: "HTTP door: mcpx RSS, \(c) sessions (MB)", key: "http_rss_mb", digits: 1),
            Row(label: "two hops (HTTP → mcpx → mcpx → backend): call p50 (µs)", key: "hops_call_p50_us", direct: "direct_call_p50_us",
                target: "≤ 1.35 × 3 × direct", met: { [r = bench.recorder] v in r.median("direct_call_p50_us").map { v <= 1.35 * 3 * $0 } ?? false }),
            Row(label: "/metrics, \(o.scaleBackends) servers, 2,000 tools called: render (ms)", key: "metrics_render_ms", target: "≤ 20",
                met: { $0 <= 20 }, digits: 1),
            Row(label: "/metrics: RSS growth for 2,000 tools' figures (MB)", key: "metrics_rss_growth_mb", digits: 1),
            Row(label: "2025-11-25 backend: call p50 (µs)", key: "era2025_call_p50_us"),
            Row(label: "2026-07-28 backend: call p50 (µs)", key: "era2026_call_p50_us"),
            Row(label: "2025-11-25 backend: mcpx CPU per call, \(c) in flight (µs)", key: "era2025_mcpx_cpu_us_per_call", digits: 1),
            Row(label: "2026-07-28 backend: mcpx CPU per call, \(c) in flight (µs)", key: "era2026_mcpx_cpu_us_per_call", digits: 1),
            Row(label: "2026-07-28 − 2025-11-25: mcpx CPU per call (µs)", key: "era_cpu_delta_us", target: "noise", digits: 2),
            Row(label: "1 replica: mcpx CPU per call, \(c) in flight (µs)", key: "replica1_mcpx_cpu_us_per_call", digits: 1),
            Row(label: "3 replicas: mcpx CPU per call, \(c) in flight (µs)", key: "replica3_mcpx_cpu_us_per_call", digits: 1),
            Row(label: "3 replicas − 1 replica: mcpx CPU per call (µs)", key: "replica_pick_cpu_us", target: "≤ 2", met: { $0 <= 2 }, digits: 2),
            Row(label: "3 replicas: calls/s, \(c) in flight", key: "replica3_cps", direct: "replica1_cps"),
            Row(label: "one of 3 replicas killed under load: failed calls", key: "replica_kill_failed_calls", digits: 0),
            Row(label: "one of 3 replicas killed: kill to last failed call (ms)", key: "replica_kill_moved_ms", digits: 0),
            Row(label: "search over 10,000 tools: query p50, incl. pipe (ms)", key: "search_query_p50_ms", digits: 2),
            Row(label: "search over 10,000 tools: query p99, incl. pipe (ms)", key: "search_query_p99_ms", target: "≤ 2", met: { $0 <= 2 }, digits: 2),
            Row(label: "search: index of 10,000 tools built, as mcpx reports it (ms)", key: "search_index_build_ms", target: "≤ 100", met: { $0 <= 100 }, digits: 0),
            Row(label: "search: spawn to first answer (ms)", key: "search_first_answer_ms", digits: 0),
            Row(label: "search: mcpx RSS, empty catalog, table decoded (MB)", key: "search_rss_empty_mb", digits: 1),
            Row(label: "search: mcpx RSS with 10,000 tools (MB)", key: "search_rss_mb", digits: 1),
            Row(label: "search: index memory, RSS difference (MB)", key: "search_index_mb", target: "≤ 24", met: { $0 <= 24 }, digits: 1),
            Row(label: "search mode, 500 backends: tools/list (ms)", key: "search_mode_tools_list_ms", target: "≤ 5", met: { $0 <= 5 }, digits: 2),
            Row(label: "search mode, 500 backends: tools/list max (ms)", key: "search_mode_tools_list_max_ms", digits: 2),
            Row(label: "search mode, 500 backends: tools/list size (KB)", key: "search_mode_tools_list_kb", target: "< 10", met: { $0 < 10 }, digits: 1),
        ]
    }

    // MARK: Text

    func text() -> String {
        let o = bench.options
        let r = bench.recorder
        var out = "\nmcpx-bench, \(machine.date)\n"
        out += String(format: "machine: %d CPUs (nproc), %@, %@, %.1f GB RAM, host %@\n",
                      machine.cpus, machine.cpuModel as NSString, machine.kernel as NSString, machine.memoryGB,
                      machine.host as NSString)
        out += "mcpx: \(o.mcpx) — \(machine.mcpxVersion), \(machine.swiftVersion)\n"
        out += "settings: \(settingsLine)\n\n"

        let showSpread = o.runs > 1
        var header = ["figure", "mcpx", "direct", "target", ""]
        if showSpread { header.insert("runs min–max", at: 2) }
        var table = [header]
        for row in rows {
            guard r.median(row.key) != nil || (row.direct.flatMap { r.median($0) } != nil) else { continue }
            let value = r.median(row.key)
            var cells = [
                row.label,
                value.map { Self.format($0, row.digits) } ?? "–",
                row.direct.flatMap { r.median($0) }.map { Self.format($0, row.digits) } ?? "–",
                row.target,
                value.flatMap { v in row.met.map { $0(v) ? "ok" : "MISS" } } ?? "",
            ]
            if showSpread {
                cells.insert(r.range(row.key).map { "\(Self.format($0.min, row.digits))–\(Self.format($0.max, row.digits))" } ?? "", at: 2)
            }
            table.append(cells)
        }
        out += Self.markdown(table, rightAligned: Set(1..<(showSpread ? 4 : 3)))
        if let cold = r.median("fanout_cold_ms") {
            out += String(format: "\nfan-out, first round right after start-up: %.1f ms", cold)
        }
        if let cores = r.median("mcpx_cpu_cores"), let b = r.median("backend_cpu_cores"), let d = r.median("bench_cpu_cores") {
            out += String(format: "\nCPU busy during the %d-in-flight phase (cores): mcpx %.2f, backend %.2f, bench %.2f",
                          o.concurrency, cores, b, d)
            if let steal = r.median("steal_cores") {
                out += String(format: "; host steal %.2f (CPU time the hypervisor gave to other guests)", steal)
            }
        }
        if let lists = r.median("scale_tools_listed") {
            out += String(format: "\nscale: %.0f tools listed (mcpx's own included)", lists)
        }
        out += "\n"
        for note in bench.notes { out += "note: \(note)\n" }
        out += "logs: \(bench.logDir)\n"
        return out
    }

    private var settingsLine: String {
        let o = bench.options
        var parts = ["runs=\(o.runs) (medians)"]
        if o.has(.calls) { parts.append("sequential \(Self.format(Double(o.calls), 0)) calls after \(Self.format(Double(o.warmup), 0)) warm-up") }
        if o.has(.throughput) || o.has(.direct) {
            parts.append("\(Self.format(Double(o.throughputCalls), 0)) calls with \(o.concurrency) in flight")
        }
        if o.has(.scale) { parts.append("scale \(o.scaleBackends) backends × \(o.toolsPerBackend) tools, tools/list ×\(o.listRepeats)") }
        if o.has(.fanout) { parts.append("fan-out \(o.fanoutBackends) × sleep \(o.sleepMs) ms") }
        parts.append("phases \(BenchOptions.Phase.allCases.filter { o.has($0) }.map(\.rawValue).joined(separator: ","))")
        if !o.mcpxArguments.isEmpty { parts.append("mcpx args \(o.mcpxArguments.joined(separator: " "))") }
        return parts.joined(separator: "; ") + "; all on 127.0.0.1"
    }

    static func format(_ v: Double, _ digits: Int) -> String {
        if digits == 0 || abs(v) >= 10_000 {
            let n = Int(v.rounded())
            let s = String(abs(n))
            var grouped = ""
            for (i, ch) in s.enumerated() {
                if i > 0 && (s.count - i) % 3 == 0 { grouped.append(",") }
                grouped.append(ch)
            }
            return (n < 0 ? "-" : "") + grouped
        }
        return String(format: "%.\(digits)f", v)
    }

    private static func markdown(_ rows: [[String]], rightAligned: Set<Int>) -> String {
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: " | ") + " |\n"
        }
        var out = line(rows[0])
        out += "|" + widths.enumerated().map { i, w in
            rightAligned.contains(i) ? String(repeating: "-", count: w + 1) + ":" : String(repeating: "-", count: w + 2)
        }.joined(separator: "|") + "|\n"
        for row in rows.dropFirst() { out += line(row) }
        return out
    }

    // MARK: JSON

    func json() -> [UInt8] {
        let o = bench.options
        let r = bench.recorder
        func number(_ v: Double) -> JSONValue { .double((v * 1000).rounded() / 1000) }
        var medians = JSONObject()
        var runs = JSONObject()
        for key in r.keys {
            if let m = r.median(key) { medians[key] = number(m) }
            runs[key] = .array((r.values[key] ?? []).map(number))
        }
        var targets: [JSONValue] = []
        for row in rows where !row.target.isEmpty {
            var t: JSONObject = ["figure": .string(row.label), "key": .string(row.key), "target": .string(row.target)]
            if let v = r.median(row.key) {
                t["value"] = number(v)
                if let met = row.met { t["met"] = .bool(met(v)) }
            }
            targets.append(.object(t))
        }
        let settings: JSONValue = [
            "runs": .int(Int64(o.runs)), "quick": .bool(o.quick),
            "phases": .array(BenchOptions.Phase.allCases.filter { o.has($0) }.map { .string($0.rawValue) }),
            "warmup": .int(Int64(o.warmup)), "calls": .int(Int64(o.calls)),
            "throughput_calls": .int(Int64(o.throughputCalls)), "concurrency": .int(Int64(o.concurrency)),
            "scale_backends": .int(Int64(o.scaleBackends)), "tools_per_backend": .int(Int64(bench.manyTools)),
            "list_repeats": .int(Int64(o.listRepeats)), "fanout_backends": .int(Int64(o.fanoutBackends)),
            "sleep_ms": .int(Int64(o.sleepMs)), "mcpx": .string(o.mcpx), "example_server": .string(o.exampleServer),
            "mcpx_args": .array(o.mcpxArguments.map { .string($0) }),
        ]
        let doc: JSONValue = [
            "date": .string(machine.date),
            "machine": [
                "cpus": .int(Int64(machine.cpus)), "cpu_model": .string(machine.cpuModel),
                "kernel": .string(machine.kernel), "memory_gb": number(machine.memoryGB), "host": .string(machine.host),
                "mcpx_version": .string(machine.mcpxVersion), "swift_version": .string(machine.swiftVersion),
            ],
            "settings": settings,
            "figures": .object(medians),
            "runs": .object(runs),
            "targets": .array(targets),
            "notes": .array(bench.notes.map { .string($0) }),
            "logs": .string(bench.logDir),
        ]
        var out: [UInt8] = []
        Self.pretty(doc, indent: 0, to: &out)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// Indented JSON: objects and arrays of containers one member per line, flat arrays on one line.
    private static func pretty(_ value: JSONValue, indent: Int, to out: inout [UInt8]) {
        let pad = Array(repeating: UInt8(ascii: " "), count: indent + 2)
        switch value {
        case .object(let o) where !o.isEmpty:
            out.append(contentsOf: "{\n".utf8)
            for (i, m) in o.members.enumerated() {
                out.append(contentsOf: pad)
                JSONValue.writeString(m.key, to: &out)
                out.append(contentsOf: ": ".utf8)
                pretty(m.value, indent: indent + 2, to: &out)
                out.append(contentsOf: (i + 1 < o.count ? ",\n" : "\n").utf8)
            }
            out.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: indent))
            out.append(UInt8(ascii: "}"))
        case .array(let a) where a.contains(where: { $0.objectValue != nil || $0.arrayValue != nil }):
            out.append(contentsOf: "[\n".utf8)
            for (i, element) in a.enumerated() {
                out.append(contentsOf: pad)
                pretty(element, indent: indent + 2, to: &out)
                out.append(contentsOf: (i + 1 < a.count ? ",\n" : "\n").utf8)
            }
            out.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: indent))
            out.append(UInt8(ascii: "]"))
        default:
            value.write(to: &out)
        }
    }
}
