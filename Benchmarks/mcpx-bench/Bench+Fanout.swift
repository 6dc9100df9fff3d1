import Foundation
import MCPXJSON

extension Bench {
    /// One mcpx in front of `fanoutBackends` backends: a `sleep {ms}` call to each, all in one write;
    /// the wall time until the last answer. The first round (connections possibly cold) is reported on
    /// its own, the median of `runs` further rounds is the figure.
    func fanout(_ backend: ExampleBackend) throws(BenchError) {
        let o = options
        let n = o.fanoutBackends
        let client = try launchMCPX(backend, count: n, log: "mcpx-fanout")
        defer { client.stop() }
        _ = try client.startUp(expect: expectation(backend, count: n, toolsEach: manyTools), timeout: o.startupTimeout)
        for round in 0...o.runs {
            var batch: [UInt8] = []
            var ids: [Int64] = []
            for i in 0..<n {
                let request = client.requestLine("tools/call", [
                    "name": .string("\(backend.serverName(i))__sleep"), "arguments": ["ms": .int(Int64(o.sleepMs))],
                ])
                ids.append(request.id)
                batch += request.line
            }
            let t0 = Clock.nanos()
            client.write(batch)
            let answers = try client.waitAll(ids, timeout: Double(o.sleepMs) / 1000 + o.timeout)
            let last = answers.map(\.time).max() ?? t0
            let ms = Double(last - t0) / 1e6
            let failed = answers.filter { $0.isError || Bytes.contains(Self.isErrorTrue, in: $0.bytes) }.count
            if failed > 0 { note("fan-out round \(round): \(failed) of \(n) calls failed") }
            if round == 0 {
                recorder.add("fanout_cold_ms", ms)
            } else {
                recorder.add("fanout_ms", ms)
            }
            let label = round == 0 ? "fan-out round 0 (cold)" : "fan-out round \(round)"
            Console.note(label + String(format: ": %d × sleep %d ms → %.1f ms", n, o.sleepMs, ms))
        }
    }

    private static let isErrorTrue = Array(#""isError":true"#.utf8)
}
