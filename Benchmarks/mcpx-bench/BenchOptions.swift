import Foundation

/// The bench's settings, from the command line.
struct BenchOptions {
    enum Phase: String, CaseIterable {
        case startup, calls, throughput, scale, fanout, direct, stdio, http, hops, metrics, search, replicas, `protocol`
    }

    var mcpx = ".build/release/mcpx"
    var exampleServer = ".build/release/mcpx-example-server"
    var runs = 5
    var phases = Set(Phase.allCases)
    var quick = false
    var warmup = 2000
    var calls = 20_000
    var throughputCalls = 100_000
    var concurrency = 32
    var scaleBackends = 500
    /// Stdio example servers behind one mcpx in the stdio phase's scale run.
    var stdioServers = 100
    var toolsPerBackend = 20
    var listRepeats = 20
    var fanoutBackends = 100
    var sleepMs = 50
    /// Longest wait for one answer, or between two answers of a load run (seconds).
    var timeout = 30.0
    /// Longest wait for a complete tools/list after spawn (seconds).
    var startupTimeout = 60.0
    var mcpxArguments: [String] = []
    var jsonPath: String?
    var logDir: String?

    func has(_ phase: Phase) -> Bool { phases.contains(phase) }

    static let usage = """
        usage: mcpx-bench [options]       (run from the package root after swift build -c release)
          --mcpx PATH              mcpx binary (default .build/release/mcpx)
          --example-server PATH    example backend (default .build/release/mcpx-example-server)
          --runs N                 runs per figure, the table shows medians (default 5)
          --only LIST              phases: startup,calls,throughput,scale,fanout,direct,stdio,http,hops,metrics,search,replicas,protocol
                                   (default all)
          --stdio-servers N        stdio example servers behind one mcpx in the stdio phase (default 100)
          --quick                  smoke run: 1 run, 200+2,000 calls, 10,000 at 32 in flight, 5 lists
          --warmup N               sequential warm-up calls (default 2,000)
          --calls N                sequential calls measured (default 20,000)
          --tp-calls N             calls of the throughput phase (default 100,000)
          --concurrency N          calls in flight in the throughput phase (default 32)
          --scale-backends N       backends of the scale phase (default 500)
          --tools N                tools per backend in the scale phase (default 20)
          --list-repeats N         tools/list timings once connected (default 20)
          --fanout-backends N      backends called at once in the fan-out phase (default 100)
          --sleep-ms N             the fan-out tool's sleep (default 50)
          --timeout S              longest wait for an answer (default 30)
          --startup-timeout S      longest wait for a complete tools/list (default 60)
          --mcpx-arg ARG           pass ARG to mcpx (repeatable)
          --json PATH              also write every figure, run by run, as JSON
          --log-dir DIR            keep mcpx and backend stderr here (default a new /tmp/mcpx-bench-*)
          -h, --help               this help
        """

    enum Parsed {
        case run(BenchOptions)
        case help
    }

    static func parse(_ arguments: [String]) throws(BenchError) -> Parsed {
        var o = BenchOptions()
        var explicit: [(inout BenchOptions) -> Void] = []
        var i = 0
        while i < arguments.count {
            var flag = arguments[i]
            var inline: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inline = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            i += 1
            func value() throws(BenchError) -> String {
                if let inline { return inline }
                guard i < arguments.count else { throw BenchError("\(flag) needs a value") }
                i += 1
                return arguments[i - 1]
            }
            func int(min: Int = 1) throws(BenchError) -> Int {
                let text = try value()
                guard let n = Int(text.replacingOccurrences(of: "_", with: "")), n >= min else {
                    throw BenchError("\(flag) needs an integer ≥ \(min), got '\(text)'")
                }
                return n
            }
            func seconds() throws(BenchError) -> Double {
                let text = try value()
                guard let s = Double(text), s > 0 else { throw BenchError("\(flag) needs seconds > 0, got '\(text)'") }
                return s
            }
            switch flag {
            case "--mcpx": o.mcpx = try value()
            case "--example-server": o.exampleServer = try value()
            case "--runs":
                let n = try int()
                explicit.append { $0.runs = n }
            case "--only":
                var phases = Set<Phase>()
                for name in try value().split(separator: ",") {
                    guard let phase = Phase(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                        throw BenchError("--only: unknown phase '\(name)' (\(Phase.allCases.map(\.rawValue).joined(separator: ",")))")
                    }
                    phases.insert(phase)
                }
                o.phases = phases
            case "--quick": o.quick = true
            case "--warmup":
                let n = try int(min: 0)
                explicit.append { $0.warmup = n }
            case "--calls":
                let n = try int()
                explicit.append { $0.calls = n }
            case "--tp-calls":
                let n = try int()
                explicit.append { $0.throughputCalls = n }
            case "--concurrency": o.concurrency = try int()
            case "--scale-backends": o.scaleBackends = try int()
            case "--stdio-servers": o.stdioServers = try int()
            case "--tools": o.toolsPerBackend = try int()
            case "--list-repeats":
                let n = try int()
                explicit.append { $0.listRepeats = n }
            case "--fanout-backends": o.fanoutBackends = try int()
            case "--sleep-ms": o.sleepMs = try int(min: 0)
            case "--timeout": o.timeout = try seconds()
            case "--startup-timeout": o.startupTimeout = try seconds()
            case "--mcpx-arg": o.mcpxArguments.append(try value())
            case "--json": o.jsonPath = try value()
            case "--log-dir": o.logDir = try value()
            case "-h", "--help": return .help
            default: throw BenchError("unknown argument '\(flag)'")
            }
        }
        if o.quick {
            o.runs = 1
            o.warmup = 200
            o.calls = 2000
            o.throughputCalls = 10_000
            o.listRepeats = 5
        }
        for apply in explicit { apply(&o) }
        return .run(o)
    }
}
