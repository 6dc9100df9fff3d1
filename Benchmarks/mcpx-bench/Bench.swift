import Foundation
import Glibc

/// Runs the selected phases: per run the single-backend session (start-up, sequential calls, calls in
/// flight, RSS) and the direct baseline, alternating; then the scale runs (N backends × T tools) and the
/// fan-out. Everything it starts it stops again, by pid.
final class Bench {
    let options: BenchOptions
    let logDir: String
    let recorder = Recorder()
    private(set) var notes: [String] = []
    /// The single-backend example server ("s", 1 endpoint) and the many-endpoint one ("b").
    private var single: ExampleBackend?
    private var many: ExampleBackend?
    /// Tools of one single-backend endpoint and of one many-backend endpoint.
    private(set) var singleTools = 0
    private(set) var manyTools = 0

    init(options: BenchOptions, logDir: String) {
        self.options = options
        self.logDir = logDir
    }

    func note(_ text: String) {
        notes.append(text)
        if !ChildRegistry.shared.isInterrupted { Console.note("note: " + text) }
    }

    func run() throws(BenchError) {
        defer { stopBackends() }
        let o = options
        let single = try ExampleBackend.start(
            binary: o.exampleServer, name: "s", extraTools: 0, endpoints: nil, logDir: logDir)
        self.single = single
        singleTools = try probeTools(single, endpoint: 0)
        Console.note("backend s on port \(single.port): \(singleTools) tools")

        let sessions = o.has(.startup) || o.has(.calls) || o.has(.throughput)
        if sessions || o.has(.direct) {
            for r in 1...o.runs {
                if sessions { try sessionRun(r, single) }
                if o.has(.direct) { try directRun(r, single) }
            }
        }

        if o.has(.http) || o.has(.hops) {
            for r in 1...o.runs {
                if o.has(.http) { try httpRun(r, single) }
                if o.has(.hops) { try hopsRun(r, single) }
            }
        }

        if o.has(.`protocol`) {
            for r in 1...o.runs { try protocolRun(r) }
        }

        if o.has(.replicas) {
            for r in 1...o.runs { try replicasRun(r) }
            try replicaKillRun()
        }

        if o.has(.search) {
            try searchRun(catalogs: ["../shared/data/tool-catalog-a.json", "../shared/data/tool-catalog-b.json"], queriesFile: "Tests/search/devset-a.jsonl")
        }

        if o.has(.stdio) {
            for r in 1...o.runs { try stdioRun(r) }
            for r in 1...o.runs { try stdioScaleRun(r) }
        }

        let endpoints = max(o.has(.scale) || o.has(.metrics) ? o.scaleBackends : 0, o.has(.fanout) ? o.fanoutBackends : 0)
        guard endpoints > 0 else { return }
        let extra = max(0, o.toolsPerBackend - singleTools)
        let many = try ExampleBackend.start(
            binary: o.exampleServer, name: "b", extraTools: extra, endpoints: endpoints, logDir: logDir)
        self.many = many
        manyTools = try probeTools(many, endpoint: 0)
        Console.note("backend b on port \(many.port): \(endpoints) endpoints × \(manyTools) tools")
        if manyTools != o.toolsPerBackend {
            note("each scale backend has \(manyTools) tools (the example server's base set is \(singleTools))")
        }
        if o.has(.scale) {
            for r in 1...o.runs { try scaleRun(r, many) }
            if (Machine.capture([o.mcpx, "--expose", "search", "--version"]) ?? "").hasPrefix("mcpx") { try searchModeRun(many) }
        }
        if o.has(.fanout) { try fanout(many) }
        if o.has(.metrics) { try metricsRun(many, backends: o.scaleBackends, called: 2_000) }
    }

    func stopBackends() {
        single?.stop()
        many?.stop()
        single = nil
        many = nil
    }

    /// The number of tools one endpoint lists, asked directly over HTTP.
    private func probeTools(_ backend: ExampleBackend, endpoint: Int) throws(BenchError) -> Int {
        let conn = try HTTPClientConnection(port: backend.port, path: backend.path(endpoint))
        try conn.handshake()
        return try conn.toolNames().count
    }

    /// `--expose all` when this mcpx has tool search (its `auto` would list only the search tools
    /// past 128 tools; the bench measures complete lists). Older builds list everything anyway.
    lazy var exposeAll: [String] = (Machine.capture([options.mcpx, "--expose", "all", "--version"]) ?? "").hasPrefix("mcpx") ? ["--expose", "all"] : []

    /// Spawns mcpx in front of the first `count` endpoints of `backend`.
    func launchMCPX(_ backend: ExampleBackend, count: Int, log: String) throws(BenchError) -> StdioClient {
        try StdioClient.launch(
            mcpx: options.mcpx,
            arguments: ["--stdio", "--servers", backend.serversArgument(count: count)] + exposeAll + options.mcpxArguments,
            logPath: "\(logDir)/\(log).log")
    }

    func expectation(_ backend: ExampleBackend, count: Int, toolsEach: Int) -> ToolExpectation {
        ToolExpectation(servers: Set((0..<count).map { backend.serverName($0) }), toolsPerServer: toolsEach)
    }

    /// CPU microseconds of mcpx, the backend and the bench itself, to take deltas of.
    func cpuSnapshot(mcpx: pid_t?, backend: pid_t) -> (mcpx: Double, backend: Double, bench: Double) {
        (mcpx.flatMap { ProcStats.cpuMicros($0) } ?? 0, ProcStats.cpuMicros(backend) ?? 0, ProcStats.selfCPUMicros())
    }
}
