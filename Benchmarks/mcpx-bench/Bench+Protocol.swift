import Glibc

extension Bench {
    /// What the stateless revision costs per call: one dual-era example backend (`--modern`), met by
    /// mcpx in the handshake era and in 2026-07-28 (`--backend-protocol`), alternating within the run:
    /// sequential call latency and mcpx's CPU per call with `concurrency` in flight.
    func protocolRun(_ r: Int) throws(BenchError) {
        let o = options
        let backend = try ExampleBackend.start(binary: o.exampleServer, name: "era", extraTools: 0, endpoints: nil, logDir: logDir, flags: ["--modern"])
        defer { backend.stop() }
        var cpu: [String: Double] = [:]
        for (label, era) in [("era2025", "2025-11-25"), ("era2026", "2026-07-28")] {
            let client = try StdioClient.launch(
                mcpx: o.mcpx, arguments: ["--stdio", "--servers", "main=\(backend.url(0))", "--backend-protocol", era] + exposeAll + o.mcpxArguments,
                logPath: "\(logDir)/mcpx-\(label)-run\(r).log")
            defer { client.stop() }
            _ = try client.startUp(expect: ToolExpectation(servers: ["main"], toolsPerServer: singleTools), timeout: o.startupTimeout)
            let pid = client.child.pid
            if o.warmup > 0 { _ = try load(client, tool: "main__echo", total: o.warmup, window: 1) }
            let seq = try load(client, tool: "main__echo", total: o.calls / 2, window: 1)
            recorder.add(Stats.latencySummary(seq.latencyNanos, prefix: "\(label)_call").filter { $0.0 == "\(label)_call_p50_us" })
            let before = cpuSnapshot(mcpx: pid, backend: backend.child.pid)
            let run = try load(client, tool: "main__echo", total: o.throughputCalls / 2, window: o.concurrency)
            let after = cpuSnapshot(mcpx: pid, backend: backend.child.pid)
            let perCall = (after.mcpx - before.mcpx) / Double(run.completed)
            cpu[label] = perCall
            recorder.add("\(label)_mcpx_cpu_us_per_call", perCall)
            let errors = seq.errors + run.errors
            if errors > 0 { note("protocol run \(r), \(era): \(errors) calls answered wrongly or with an error") }
        }
        if let a = cpu["era2025"], let b = cpu["era2026"] {
            recorder.add("era_cpu_delta_us", b - a)
            Console.note(String(format: "protocol run %d: mcpx CPU per call %.1f µs (2025-11-25), %.1f µs (2026-07-28)", r, a, b))
        }
    }
}
