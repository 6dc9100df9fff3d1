import Foundation
import Glibc

// mcpx-bench: spawns mcpx and the example backend on 127.0.0.1 and measures start-up, call latency,
// calls in flight, CPU per call, RSS, 500-backend scale and fan-out, beside a direct HTTP baseline.

SignalGuard.install()

let options: BenchOptions
do {
    switch try BenchOptions.parse(Array(CommandLine.arguments.dropFirst())) {
    case .run(let parsed): options = parsed
    case .help:
        print(BenchOptions.usage)
        exit(0)
    }
} catch {
    Console.note("mcpx-bench: \(error.description)")
    Console.note(BenchOptions.usage)
    exit(2)
}

for (flag, path) in [("--mcpx", options.mcpx), ("--example-server", options.exampleServer)] where access(path, X_OK) != 0 {
    Console.note("mcpx-bench: \(flag) \(path): not an executable file (build first: swift build -c release)")
    exit(2)
}

let logDir: String
if let dir = options.logDir {
    mkdir(dir, 0o755)
    logDir = dir
} else {
    var template = Array("/tmp/mcpx-bench-XXXXXX".utf8CString)
    logDir = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!).map { String(cString: $0) } } ?? "/tmp"
}

let machine = Machine.describe(mcpx: options.mcpx)
Console.note("\(machine.cpus) CPUs, \(machine.cpuModel), \(machine.kernel); mcpx \(options.mcpx) (\(machine.mcpxVersion))")
let bench = Bench(options: options, logDir: logDir)
var failed = false
do {
    try bench.run()
} catch {
    failed = true
    bench.note("stopped early: \(error.description)")
}
// After a signal the signal thread stops everything and exits; print nothing half-measured.
while ChildRegistry.shared.isInterrupted { pause() }
bench.stopBackends()
ChildRegistry.shared.killAll()

let report = Report(bench: bench, machine: machine)
print(report.text(), terminator: "")
if let path = options.jsonPath {
    let bytes = report.json()
    if FileManager.default.createFile(atPath: path, contents: Data(bytes)) {
        print("json: \(path)")
    } else {
        Console.note("cannot write \(path)")
        failed = true
    }
}
exit(failed ? 1 : 0)
