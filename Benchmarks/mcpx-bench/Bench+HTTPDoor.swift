import Foundation
import Glibc
import MCPXJSON

extension Bench {
    /// Spawns `mcpx --http 127.0.0.1:0 --servers SERVERS` and reads its port from the
    /// `http: listening on http://127.0.0.1:PORT` line on stderr.
    func launchHTTP(servers: String, log: String) throws(BenchError) -> (child: Child, port: Int) {
        let path = "\(logDir)/\(log).log"
        let child = try Child.spawn(
            [options.mcpx, "--http", "127.0.0.1:0", "--servers", servers] + exposeAll + options.mcpxArguments, name: log, logPath: path,
            pipeStdin: false, pipeStdout: false)
        let deadline = Clock.nanos() + UInt64(options.startupTimeout * 1e9)
        while Clock.nanos() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let r = text.range(of: "http: listening on http://127.0.0.1:") {
                let digits = text[r.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return (child, port) }
            }
            usleep(10_000)
        }
        child.stop()
        throw BenchError("\(log): mcpx did not say where it listens: \(child.stderrTail(300))")
    }

    /// A session with mcpx's HTTP door whose `tools/list` has `tool`.
    func httpSession(port: Int, tool: String) throws(BenchError) -> HTTPClientConnection {
        let conn = try HTTPClientConnection(port: port, path: "/mcp")
        try conn.handshake()
        conn.echoTool = tool
        let deadline = Clock.nanos() + UInt64(options.startupTimeout * 1e9)
        while !(try conn.toolNames()).contains(tool) {
            guard Clock.nanos() < deadline else { throw BenchError("mcpx over HTTP never listed \(tool)") }
            usleep(20_000)
        }
        return conn
    }

    /// The HTTP door (issue 13): echo calls from a client over HTTP through mcpx to the backend,
    /// one at a time, then `concurrency` clients (each its own session and connection) with one
    /// call in flight each. The floor of a call is two loopback HTTP round trips (client to mcpx,
    /// mcpx to the backend), each about the direct one.
    func httpRun(_ r: Int, _ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let (child, port) = try launchHTTP(servers: backend.serversArgument(count: 1), log: "mcpx-http-run\(r)")
        defer { child.stop() }
        let tool = "\(backend.serverName(0))__echo"
        let conn = try httpSession(port: port, tool: tool)
        var nextID: Int64 = 100
        var errors = try DirectLoad.sequential(conn, calls: o.warmup, firstID: nextID, timeout: o.timeout).errors
        nextID += Int64(o.warmup)
        let seq = try DirectLoad.sequential(conn, calls: o.calls, firstID: nextID, timeout: o.timeout)
        nextID += Int64(o.calls)
        errors += seq.errors
        recorder.add(Stats.latencySummary(seq.latencies, prefix: "http_call"))
        var clients = [conn]
        for _ in 1..<max(1, o.concurrency) { clients.append(try httpSession(port: port, tool: tool)) }
        let warm = try DirectLoad.concurrent(clients, total: min(o.throughputCalls, max(o.concurrency * 10, o.warmup)), firstID: nextID, timeout: o.timeout)
        errors += warm.errors
        nextID += Int64(warm.latencies.count)
        let before = cpuSnapshot(mcpx: child.pid, backend: backend.child.pid)
        let tp = try DirectLoad.concurrent(clients, total: o.throughputCalls, firstID: nextID, timeout: o.timeout)
        let after = cpuSnapshot(mcpx: child.pid, backend: backend.child.pid)
        errors += tp.errors
        let calls = Double(tp.latencies.count)
        recorder.add("http_throughput_cps", calls / tp.elapsedSeconds)
        recorder.add("http_mcpx_cpu_us_per_call", (after.mcpx - before.mcpx) / calls)
        recorder.add("http_rss_mb", ProcStats.rssMB(child.pid) ?? .nan)
        recorder.add("http_errors", Double(errors))
        if errors > 0 { note("http run \(r): \(errors) wrong answers") }
        Console.note(String(
            format: "http run %d: p50 %.0f µs, p99 %.0f µs, %.0f calls/s with %d clients", r,
            recorder.values["http_call_p50_us"]!.last!, recorder.values["http_call_p99_us"]!.last!, calls / tp.elapsedSeconds, clients.count))
    }

    /// Two hops: a client over HTTP → mcpx (front) → mcpx (inner) → backend. The floor is three
    /// loopback HTTP round trips.
    func hopsRun(_ r: Int, _ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let (inner, innerPort) = try launchHTTP(servers: backend.serversArgument(count: 1), log: "mcpx-inner-run\(r)")
        defer { inner.stop() }
        let (front, frontPort) = try launchHTTP(servers: "p1=http://127.0.0.1:\(innerPort)/mcp", log: "mcpx-front-run\(r)")
        defer { front.stop() }
        let conn = try httpSession(port: frontPort, tool: "p1__\(backend.serverName(0))__echo")
        var errors = try DirectLoad.sequential(conn, calls: o.warmup, firstID: 100, timeout: o.timeout).errors
        let seq = try DirectLoad.sequential(conn, calls: o.calls, firstID: 100 + Int64(o.warmup), timeout: o.timeout)
        errors += seq.errors
        recorder.add(Stats.latencySummary(seq.latencies, prefix: "hops_call"))
        if errors > 0 { note("hops run \(r): \(errors) wrong answers") }
        Console.note(String(format: "hops run %d: p50 %.0f µs", r, recorder.values["hops_call_p50_us"]!.last!))
    }

    /// `/metrics` of an mcpx in front of `backends` servers × their tools, `called` of those tools
    /// called once each: render time (median of 20 GETs) and the RSS the per-tool figures cost.
    func metricsRun(_ many: ExampleBackend, backends: Int, called: Int) throws(BenchError) {
        let (child, port) = try launchHTTP(servers: many.serversArgument(count: backends), log: "mcpx-metrics")
        defer { child.stop() }
        let ops = try HTTPClientConnection(port: port, path: "/mcp")
        let deadline = Clock.nanos() + UInt64(options.startupTimeout * 1e9)
        while true {
            let a = try ops.get("/servers/count")
            if let v = try? JSONParser.parse(a.body), v["healthy"]?.intValue == Int64(backends) { break }
            guard Clock.nanos() < deadline else { throw BenchError("metrics: not every backend became ready") }
            usleep(50_000)
        }
        let conn = try httpSession(port: port, tool: "\(many.serverName(0))__echo")
        let tools = try conn.toolNames().filter { $0.contains("__") && !$0.hasPrefix("manage") }
        usleep(300_000)
        let rssBefore = ProcStats.rssMB(child.pid) ?? .nan
        var id: Int64 = 1000
        for name in tools.prefix(called) {
            id += 1
            _ = try conn.exchange(["jsonrpc": "2.0", "id": .int(id), "method": "tools/call", "params": ["name": .string(name), "arguments": ["text": "x", "a": 1, "b": 2]]])
        }
        let rssAfter = ProcStats.rssMB(child.pid) ?? .nan
        var times: [UInt64] = []
        var size = 0
        for _ in 0..<20 {
            let t0 = Clock.nanos()
            let a = try ops.get("/metrics")
            times.append(Clock.nanos() - t0)
            size = a.body.count
            guard a.status == 200 else { throw BenchError("metrics: GET /metrics answered \(a.status)") }
        }
        let sorted = times.sorted()
        recorder.add("metrics_render_ms", Double(sorted[sorted.count / 2]) / 1e6)
        recorder.add("metrics_bytes", Double(size))
        recorder.add("metrics_tools_called", Double(min(called, tools.count)))
        recorder.add("metrics_rss_growth_mb", rssAfter - rssBefore)
        recorder.add("metrics_rss_mb", rssAfter)
        Console.note(String(format: "metrics: %d servers, %d tools called: GET /metrics %.1f ms (%d KB), RSS %.1f → %.1f MB",
            backends, min(called, tools.count), Double(sorted[sorted.count / 2]) / 1e6, size / 1024, rssBefore, rssAfter))
    }
}
