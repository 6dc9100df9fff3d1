import Foundation

extension Bench {
    /// The baseline without mcpx: the same echo calls straight to the backend over keep-alive HTTP,
    /// one at a time on one connection, then `concurrency` connections with one call in flight each.
    func directRun(_ r: Int, _ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let conn = try HTTPClientConnection(port: backend.port, path: backend.path(0))
        try conn.handshake()
        var errors = 0
        var nextID: Int64 = 100
        if o.warmup > 0 {
            errors += try DirectLoad.sequential(conn, calls: o.warmup, firstID: nextID, timeout: o.timeout).errors
            nextID += Int64(o.warmup)
        }
        let seq = try DirectLoad.sequential(conn, calls: o.calls, firstID: nextID, timeout: o.timeout)
        nextID += Int64(o.calls)
        errors += seq.errors
        recorder.add(Stats.latencySummary(seq.latencies, prefix: "direct_call"))

        // The connections share the first one's session, as mcpx's connections to a backend do.
        var connections = [conn]
        for _ in 1..<max(1, o.concurrency) {
            let c = try HTTPClientConnection(port: backend.port, path: backend.path(0))
            c.sessionID = conn.sessionID
            connections.append(c)
        }
        let warm = try DirectLoad.concurrent(
            connections, total: min(o.throughputCalls, max(o.concurrency * 10, o.warmup)), firstID: nextID,
            timeout: o.timeout)
        errors += warm.errors
        nextID += Int64(warm.latencies.count)
        let before = cpuSnapshot(mcpx: nil, backend: backend.child.pid)
        let tp = try DirectLoad.concurrent(connections, total: o.throughputCalls, firstID: nextID, timeout: o.timeout)
        let after = cpuSnapshot(mcpx: nil, backend: backend.child.pid)
        errors += tp.errors
        let calls = Double(tp.latencies.count)
        recorder.add("direct_throughput_cps", calls / tp.elapsedSeconds)
        let loaded = Stats.latencySummary(tp.latencies, prefix: "direct_loaded")
        recorder.add(loaded.filter { $0.0 == "direct_loaded_p50_us" || $0.0 == "direct_loaded_p99_us" })
        recorder.add("direct_backend_cpu_us_per_call", (after.backend - before.backend) / calls)
        recorder.add("direct_bench_cpu_us_per_call", (after.bench - before.bench) / calls)
        recorder.add("direct_errors", Double(errors))
        if errors > 0 { note("direct run \(r): \(errors) wrong answers") }
        Console.note(String(
            format: "run %d direct: p50 %.0f µs, p99 %.0f µs, %.0f calls/s", r,
            recorder.values["direct_call_p50_us"]!.last!, recorder.values["direct_call_p99_us"]!.last!,
            calls / tp.elapsedSeconds))
    }
}
