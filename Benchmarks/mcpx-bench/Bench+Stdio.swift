import Foundation
import Glibc

extension Bench {
    /// A stdio backend (issue 15): mcpx spawns `mcpx-example-server --stdio` and the bench calls
    /// `s__echo` through mcpx, sequentially and with `concurrency` in flight; the direct baseline is
    /// the bench speaking to the same program over its pipes itself. Then `stdioServers` such
    /// backends at once: spawn → complete tools/list, RSS and open descriptors of mcpx.
    func stdioRun(_ r: Int) throws(BenchError) {
        let o = options
        let via = try StdioClient.launch(
            mcpx: o.mcpx, arguments: ["--stdio", "--stdio-server", "s=\(o.exampleServer) --stdio --name s"] + o.mcpxArguments,
            logPath: "\(logDir)/mcpx-stdio-run\(r).log")
        defer { via.stop() }
        _ = try via.startUp(expect: ToolExpectation(servers: ["s"], toolsPerServer: singleTools), timeout: o.startupTimeout)
        try callFigures(via, tool: "s__echo", prefix: "stdio", mcpx: via.child.pid)

        let direct = try StdioClient.launch(
            mcpx: o.exampleServer, arguments: ["--stdio", "--name", "s"], logPath: "\(logDir)/stdio-direct-run\(r).log")
        defer { direct.stop() }
        _ = try direct.startUp(expect: ToolExpectation(servers: [], toolsPerServer: 0), timeout: o.startupTimeout)
        try callFigures(direct, tool: "echo", prefix: "stdio_direct", mcpx: nil)
        Console.note(String(
            format: "stdio run %d: p50 %.0f µs (direct %.0f), %.0f calls/s (direct %.0f)", r,
            recorder.values["stdio_call_p50_us"]?.last ?? .nan, recorder.values["stdio_direct_call_p50_us"]?.last ?? .nan,
            recorder.values["stdio_throughput_cps"]?.last ?? .nan, recorder.values["stdio_direct_throughput_cps"]?.last ?? .nan))
    }

    /// `stdioServers` stdio example servers behind one mcpx.
    func stdioScaleRun(_ r: Int) throws(BenchError) {
        let o = options
        let n = o.stdioServers
        var args = ["--stdio"]
        for i in 0..<n { args += ["--stdio-server", "s\(i)=\(o.exampleServer) --stdio --name s\(i)"] }
        let client = try StdioClient.launch(mcpx: o.mcpx, arguments: args + exposeAll + o.mcpxArguments, logPath: "\(logDir)/mcpx-stdio-scale-run\(r).log")
        defer { client.stop() }
        let startup = try client.startUp(
            expect: ToolExpectation(servers: Set((0..<n).map { "s\($0)" }), toolsPerServer: singleTools), timeout: o.startupTimeout)
        recorder.add("stdio_scale_startup_ms", startup.startupMs)
        let rss = ProcStats.rssMB(client.child.pid) ?? .nan
        recorder.add("stdio_scale_rss_mb", rss)
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(client.child.pid)/fd").count) ?? -1
        recorder.add("stdio_scale_fds", Double(fds))
        Console.note(String(format: "stdio scale run %d: %d servers, start-up %.0f ms, RSS %.1f MB, %d fds", r, n, startup.startupMs, rss, fds))
    }

    /// Sequential calls (p50/p99) and calls with `concurrency` in flight (calls/s, CPU per call).
    private func callFigures(_ client: StdioClient, tool: String, prefix: String, mcpx: pid_t?) throws(BenchError) {
        let o = options
        func load(total: Int, window: Int) throws(BenchError) -> LoadRun {
            let run = LoadRun(tool: tool, base: client.reserveIDs(total), total: total, window: window)
            try client.drive(run, stallTimeout: o.timeout)
            return run
        }
        var errors = try load(total: o.warmup, window: 1).errors
        let seq = try load(total: o.calls, window: 1)
        errors += seq.errors
        recorder.add(Stats.latencySummary(seq.latencyNanos, prefix: "\(prefix)_call"))
        let before = mcpx.flatMap { ProcStats.cpuMicros($0) } ?? 0
        let par = try load(total: o.throughputCalls, window: o.concurrency)
        let after = mcpx.flatMap { ProcStats.cpuMicros($0) } ?? 0
        errors += par.errors
        recorder.add("\(prefix)_throughput_cps", Double(par.completed) / par.elapsedSeconds)
        if mcpx != nil { recorder.add("\(prefix)_mcpx_cpu_us_per_call", (after - before) / Double(par.completed)) }
        if errors > 0 { note("\(prefix): \(errors) calls answered wrongly or with an error") }
    }
}
