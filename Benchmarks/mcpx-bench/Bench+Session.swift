import Glibc

extension Bench {
    /// One mcpx in front of one backend: spawn → complete tools/list, sequential echo calls, calls with
    /// `concurrency` in flight (with CPU per call of each process), then mcpx's RSS.
    func sessionRun(_ r: Int, _ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let client = try launchMCPX(backend, count: 1, log: "mcpx-single-run\(r)")
        defer { client.stop() }
        let pid = client.child.pid
        let startup = try client.startUp(
            expect: expectation(backend, count: 1, toolsEach: singleTools), timeout: o.startupTimeout)
        recorder.add("startup_ms", startup.startupMs)
        recorder.add("startup_initialize_ms", startup.initializeMs)
        recorder.add("startup_list_rounds", Double(startup.listRounds))
        recorder.add("tools_listed_1", Double(startup.toolsListed))
        var summary = String(format: "run %d: start-up %.1f ms", r, startup.startupMs)

        let tool = "\(backend.serverName(0))__echo"
        var errors = 0
        if o.warmup > 0 {
            errors += try load(client, tool: tool, total: o.warmup, window: 1).errors
        }
        if o.has(.calls) {
            let before = cpuSnapshot(mcpx: pid, backend: backend.child.pid)
            let run = try load(client, tool: tool, total: o.calls, window: 1)
            let after = cpuSnapshot(mcpx: pid, backend: backend.child.pid)
            errors += run.errors
            recorder.add(Stats.latencySummary(run.latencyNanos, prefix: "call"))
            recorder.add("call_mcpx_cpu_us_per_call", (after.mcpx - before.mcpx) / Double(run.completed))
            summary += String(format: ", p50 %.0f µs, p99 %.0f µs",
                              recorder.values["call_p50_us"]!.last!, recorder.values["call_p99_us"]!.last!)
        }
        if o.has(.throughput) {
            if !o.has(.calls) && o.warmup > 0 {
                errors += try load(client, tool: tool, total: o.warmup, window: o.concurrency).errors
            }
            let stealBefore = ProcStats.stealMicros()
            let before = cpuSnapshot(mcpx: pid, backend: backend.child.pid)
            let run = try load(client, tool: tool, total: o.throughputCalls, window: o.concurrency)
            let after = cpuSnapshot(mcpx: pid, backend: backend.child.pid)
            let steal = (ProcStats.stealMicros() - stealBefore) / 1e6 / run.elapsedSeconds
            errors += run.errors
            let calls = Double(run.completed)
            let seconds = run.elapsedSeconds
            recorder.add("throughput_cps", calls / seconds)
            let loaded = Stats.latencySummary(run.latencyNanos, prefix: "loaded")
            recorder.add(loaded.filter { $0.0 == "loaded_p50_us" || $0.0 == "loaded_p99_us" })
            recorder.add("mcpx_cpu_us_per_call", (after.mcpx - before.mcpx) / calls)
            recorder.add("backend_cpu_us_per_call", (after.backend - before.backend) / calls)
            recorder.add("bench_cpu_us_per_call", (after.bench - before.bench) / calls)
            recorder.add("mcpx_cpu_cores", (after.mcpx - before.mcpx) / 1e6 / seconds)
            recorder.add("backend_cpu_cores", (after.backend - before.backend) / 1e6 / seconds)
            recorder.add("bench_cpu_cores", (after.bench - before.bench) / 1e6 / seconds)
            recorder.add("steal_cores", steal)
            summary += String(format: ", %.0f calls/s (mcpx %.1f µs CPU/call, host steal %.2f cores)", calls / seconds,
                              (after.mcpx - before.mcpx) / calls, steal)
        }
        if let rss = ProcStats.rssMB(pid) {
            recorder.add("rss_mb", rss)
            summary += String(format: ", RSS %.1f MB", rss)
        }
        recorder.add("call_errors", Double(errors))
        if errors > 0 { note("run \(r): \(errors) calls through mcpx answered wrongly or with an error") }
        let counters = client.counters
        if counters.serverRequests > 0 || counters.strayLines > 0 {
            note("run \(r): mcpx sent \(counters.serverRequests) requests and \(counters.strayLines) unparsable lines")
        }
        Console.note(summary)
    }

    func load(_ client: StdioClient, tool: String, total: Int, window: Int) throws(BenchError) -> LoadRun {
        let run = LoadRun(tool: tool, base: client.reserveIDs(total), total: total, window: window)
        try client.drive(run, stallTimeout: options.timeout)
        return run
    }
}
