import Foundation
import Glibc

extension Bench {
    /// What picking a replica costs: mcpx's CPU per call with `concurrency` calls in flight, in front
    /// of one server with 1 and with 3 replicas of the same kind (endpoints of one example process,
    /// so the backend side is the same), alternating within the run.
    func replicasRun(_ r: Int) throws(BenchError) {
        let o = options
        let trio = try ExampleBackend.start(binary: o.exampleServer, name: "rep", extraTools: 0, endpoints: 3, logDir: logDir)
        defer { trio.stop() }
        var per: [Int: Double] = [:]
        for count in [1, 3] {
            let spec = "main=" + (0..<count).map { trio.url($0) }.joined(separator: "|")
            let client = try StdioClient.launch(
                mcpx: o.mcpx, arguments: ["--stdio", "--servers", spec] + exposeAll + o.mcpxArguments,
                logPath: "\(logDir)/mcpx-replicas\(count)-run\(r).log")
            defer { client.stop() }
            _ = try client.startUp(expect: ToolExpectation(servers: ["main"], toolsPerServer: singleTools), timeout: o.startupTimeout)
            let pid = client.child.pid
            if o.warmup > 0 { _ = try load(client, tool: "main__echo", total: o.warmup, window: o.concurrency) }
            let before = cpuSnapshot(mcpx: pid, backend: trio.child.pid)
            let run = try load(client, tool: "main__echo", total: o.throughputCalls / 2, window: o.concurrency)
            let after = cpuSnapshot(mcpx: pid, backend: trio.child.pid)
            let calls = Double(run.completed)
            let cpu = (after.mcpx - before.mcpx) / calls
            per[count] = cpu
            recorder.add("replica\(count)_mcpx_cpu_us_per_call", cpu)
            recorder.add("replica\(count)_cps", calls / run.elapsedSeconds)
            if run.errors > 0 { note("replicas run \(r), \(count) replica(s): \(run.errors) calls answered wrongly or with an error") }
        }
        if let one = per[1], let three = per[3] {
            recorder.add("replica_pick_cpu_us", three - one)
            Console.note(String(format: "replicas run %d: mcpx CPU per call %.1f µs with 1 replica, %.1f µs with 3", r, one, three))
        }
    }

    /// Three replicas (separate processes) under `concurrency` calls in flight; one is killed
    /// (SIGKILL) a moment into the run. Records how many calls failed (those in flight on it) and how
    /// long after the kill the last failure arrived (after it, the killed replica's share had moved).
    func replicaKillRun() throws(BenchError) {
        let o = options
        var backends: [ExampleBackend] = []
        defer { for b in backends { b.stop() } }
        for i in 0..<3 {
            backends.append(try ExampleBackend.start(binary: o.exampleServer, name: "k\(i)", extraTools: 0, endpoints: nil, logDir: logDir))
        }
        let spec = "main=" + backends.map { $0.url(0) }.joined(separator: "|")
        let client = try StdioClient.launch(
            mcpx: o.mcpx, arguments: ["--stdio", "--servers", spec] + exposeAll + o.mcpxArguments,
            logPath: "\(logDir)/mcpx-replica-kill.log")
        defer { client.stop() }
        _ = try client.startUp(expect: ToolExpectation(servers: ["main"], toolsPerServer: singleTools), timeout: o.startupTimeout)
        if o.warmup > 0 { _ = try load(client, tool: "main__echo", total: o.warmup, window: o.concurrency) }
        let victim = backends[1].child.pid
        let killedAt = SharedValue<UInt64>(0)
        let killer = Thread {
            Clock.sleep(milliseconds: 300)
            killedAt.store(Clock.nanos())
            kill(victim, SIGKILL)
        }
        killer.start()
        let run = LoadRun(tool: "main__echo", base: client.reserveIDs(o.throughputCalls / 2), total: o.throughputCalls / 2, window: o.concurrency)
        try client.drive(run, stallTimeout: o.timeout)
        let at = killedAt.load()
        recorder.add("replica_kill_failed_calls", Double(run.errors))
        let moved = run.errorTimes.last.map { at > 0 && $0 > at ? Double($0 - at) / 1e6 : 0 } ?? 0
        recorder.add("replica_kill_moved_ms", moved)
        Console.note(String(format: "replica kill: %d of %d calls failed; last failure %.0f ms after the kill; %.0f calls/s",
                            run.errors, run.completed, moved, Double(run.completed) / run.elapsedSeconds))
    }
}

/// A value shared between the killer thread and the bench's own.
final class SharedValue<T: Sendable>: @unchecked Sendable {
    private var value: T
    private var lock = pthread_mutex_t()
    init(_ v: T) {
        value = v
        pthread_mutex_init(&lock, nil)
    }
    func load() -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return value
    }
    func store(_ v: T) {
        pthread_mutex_lock(&lock)
        value = v
        pthread_mutex_unlock(&lock)
    }
}
