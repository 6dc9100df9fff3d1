import Foundation

extension Bench {
    /// mcpx in front of N backends × T tools: spawn → complete tools/list, then tools/list once
    /// connected (median of `listRepeats`), then RSS.
    func scaleRun(_ r: Int, _ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let n = o.scaleBackends
        let client = try launchMCPX(backend, count: n, log: "mcpx-scale-run\(r)")
        defer { client.stop() }
        let startup = try client.startUp(
            expect: expectation(backend, count: n, toolsEach: manyTools), timeout: o.startupTimeout)
        recorder.add("scale_startup_ms", startup.startupMs)
        recorder.add("scale_initialize_ms", startup.initializeMs)
        recorder.add("scale_list_rounds", Double(startup.listRounds))
        recorder.add("scale_tools_listed", Double(startup.toolsListed))

        var lists: [Double] = []
        for _ in 0..<o.listRepeats {
            let list = try client.listTools(timeout: o.timeout)
            lists.append(Double(list.arrivedAt - list.sentAt) / 1e6)
            if list.names.count != startup.toolsListed {
                note("scale run \(r): a later tools/list held \(list.names.count) tools, not \(startup.toolsListed)")
            }
        }
        recorder.add("scale_tools_list_ms", Stats.median(lists))
        recorder.add("scale_tools_list_max_ms", lists.max() ?? .nan)
        let rss = ProcStats.rssMB(client.child.pid) ?? .nan
        recorder.add("scale_rss_mb", rss)
        Console.note(String(
            format: "scale run %d: %d backends, %d tools listed, start-up %.0f ms (%d list rounds), tools/list %.1f ms, RSS %.1f MB",
            r, n, startup.toolsListed, startup.startupMs, startup.listRounds, Stats.median(lists), rss))
    }
}
