import Foundation
import MCPXJSON

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

extension Bench {
    /// Tool search's exposure (issue 17): mcpx in front of the same N backends in search mode
    /// (`--expose search`): tools/list holds mcpx's own tools and the three search tools only.
    /// Its answer time (median and max of `listRepeats`, after every backend is in) and size.
    func searchModeRun(_ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let n = o.scaleBackends
        let client = try StdioClient.launch(
            mcpx: o.mcpx, arguments: ["--stdio", "--servers", backend.serversArgument(count: n), "--expose", "search"] + o.mcpxArguments,
            logPath: "\(logDir)/mcpx-search-mode.log")
        defer { client.stop() }
        let initialize = client.requestLine("initialize", [
            "protocolVersion": .string(StdioClient.protocolVersion), "capabilities": [:],
            "clientInfo": ["name": "mcpx-bench", "version": "1.0"],
        ])
        client.write(initialize.line + StdioClient.notificationLine("notifications/initialized"))
        _ = try client.wait(for: initialize.id, timeout: o.startupTimeout)
        // Every backend in: search_tools counts the tools of the index, which holds them all.
        let want = n * manyTools
        let deadline = Clock.nanos() + UInt64(o.startupTimeout * 1e9)
        while true {
            let call = client.requestLine("tools/call", ["name": "search_tools", "arguments": ["query": "echo", "limit": 1]])
            client.write(call.line)
            let answer = try client.wait(for: call.id, timeout: o.timeout)
            let indexed = (try? JSONParser.parse(answer.bytes))?["result"]?["structuredContent"]?["total"]?.intValue ?? 0
            if indexed >= n { break }  // "echo" is in every backend's tools
            guard Clock.nanos() < deadline else { throw BenchError("search mode: \(indexed) of \(n) backends indexed after \(o.startupTimeout) s") }
            Clock.sleep(milliseconds: 20)
        }
        var times: [Double] = []
        var bytes = 0
        for _ in 0..<max(5, o.listRepeats) {
            let list = client.requestLine("tools/list")
            let sent = Clock.nanos()
            client.write(list.line)
            let answer = try client.wait(for: list.id, timeout: o.timeout)
            times.append(Double(answer.time - sent) / 1e6)
            bytes = answer.bytes.count
        }
        recorder.add("search_mode_tools_list_ms", Stats.median(times))
        recorder.add("search_mode_tools_list_max_ms", times.max() ?? .nan)
        recorder.add("search_mode_tools_list_kb", Double(bytes) / 1024)
        Console.note(String(format: "search mode: %d backends (%d tools), tools/list %.2f ms (max %.2f), %d bytes",
            n, want, Stats.median(times), times.max() ?? .nan, bytes))
    }
}
