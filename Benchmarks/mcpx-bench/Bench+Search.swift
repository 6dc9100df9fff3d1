import Foundation
import Glibc
import MCPXJSON

extension Bench {
    /// Tool search (issue 17): `mcpx search --catalog` over 10,000 tools (the two catalogs of
    /// shared/data, repeated under new server names up to 500 servers × 20 tools' worth), queries
    /// from Tests/search sent one at a time: per-query latency (p50/p99, including the pipe round
    /// trip), time to the first answer (the index is built before it), and RSS.
    func searchRun(catalogs: [String], queriesFile: String, tools target: Int = 10_000) throws(BenchError) {
        var servers: [JSONValue] = []
        var count = 0
        var round = 0
        let loaded = catalogs.compactMap { FileManager.default.contents(atPath: $0).flatMap { try? JSONParser.parse(Array($0)) } }
        guard !loaded.isEmpty else { throw BenchError("search: no catalog at \(catalogs.joined(separator: ", "))") }
        outer: while count < target {
            for c in loaded {
                for s in c["servers"]?.arrayValue ?? [] {
                    guard case .object(var o) = s, let name = o["name"]?.stringValue else { continue }
                    o["name"] = .string(round == 0 ? name : "\(name)-\(round)")
                    let tools = o["tools"]?.arrayValue ?? []
                    servers.append(.object(o))
                    count += tools.count
                    if count >= target { break outer }
                }
            }
            round += 1
        }
        let path = "\(logDir)/catalog-\(count).json"
        guard FileManager.default.createFile(atPath: path, contents: Data(JSONValue.object(["servers": .array(servers)]).serialized())) else {
            throw BenchError("search: cannot write \(path)")
        }
        let queries = (try? String(contentsOfFile: queriesFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        guard !queries.isEmpty else { throw BenchError("search: no queries in \(queriesFile)") }
        // The same process over an empty catalog: what the table alone holds.
        let emptyPath = "\(logDir)/catalog-empty.json"
        _ = FileManager.default.createFile(atPath: emptyPath, contents: Data(#"{"servers": []}"#.utf8))
        let empty = try Child.spawn([options.mcpx, "search", "--catalog", emptyPath], name: "mcpx search", logPath: "\(logDir)/mcpx-search-empty.log", pipeStdin: true, pipeStdout: true)
        var buffer: [UInt8] = []
        try ask(empty, queries[0])
        recorder.add("search_rss_empty_mb", ProcStats.rssMB(empty.pid) ?? .nan)
        empty.stop()
        buffer = []
        let t0 = Clock.nanos()
        let child = try Child.spawn([options.mcpx, "search", "--catalog", path], name: "mcpx search", logPath: "\(logDir)/mcpx-search.log", pipeStdin: true, pipeStdout: true)
        defer { child.stop() }
        func ask(_ q: String) throws(BenchError) { try ask(child, q) }
        func ask(_ child: Child, _ q: String) throws(BenchError) {
            let line = Array((q + "\n").utf8)
            guard line.withUnsafeBytes({ Bytes.writeAll(child.stdinFD, $0) }) else { throw BenchError("search: write failed") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while !buffer.contains(0x0A) {
                let n = chunk.withUnsafeMutableBytes { read(child.stdoutFD, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw BenchError("search: mcpx search ended early: \(child.stderrTail(300))") }
                buffer += chunk[0..<n]
            }
            buffer.removeSubrange(...buffer.firstIndex(of: 0x0A)!)
        }
        try ask(queries[0])
        recorder.add("search_first_answer_ms", Double(Clock.nanos() - t0) / 1e6)
        recorder.add("search_rss_mb", ProcStats.rssMB(child.pid) ?? .nan)
        recorder.add("search_index_mb", recorder.values["search_rss_mb"]!.last! - recorder.values["search_rss_empty_mb"]!.last!)
        // "mcpx search: N tools of S servers indexed in X ms (...)" on its stderr
        let log = (try? String(contentsOfFile: "\(logDir)/mcpx-search.log", encoding: .utf8)) ?? ""
        if let r = log.range(of: "indexed in "), let ms = Double(log[r.upperBound...].prefix(while: { $0.isNumber || $0 == "." })) {
            recorder.add("search_index_build_ms", ms)
        }
        var times: [UInt64] = []
        for q in queries.dropFirst() {
            let s = Clock.nanos()
            try ask(q)
            times.append(Clock.nanos() - s)
        }
        let sorted = times.sorted()
        recorder.add("search_query_p50_ms", Double(sorted[sorted.count / 2]) / 1e6)
        recorder.add("search_query_p99_ms", Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1e6)
        recorder.add("search_tools", Double(count))
        Console.note(String(format: "search: %d tools, index built in %.0f ms, first answer after %.0f ms, query p50 %.2f ms, p99 %.2f ms, RSS %.1f MB (empty catalog %.1f MB)", count,
            recorder.values["search_index_build_ms"]?.last ?? .nan,
            recorder.values["search_first_answer_ms"]!.last!, recorder.values["search_query_p50_ms"]!.last!,
            recorder.values["search_query_p99_ms"]!.last!, recorder.values["search_rss_mb"]!.last!, recorder.values["search_rss_empty_mb"]!.last!))
    }
}
