import Glibc

/// A running `mcpx-example-server`: one endpoint at /mcp, or with `endpoints` N independent servers at
/// /mcp/0 ... /mcp/{N-1} on one port (one process, a thread per connection).
final class ExampleBackend {
    let child: Child
    let port: Int
    let name: String
    let endpoints: Int?

    private init(child: Child, port: Int, name: String, endpoints: Int?) {
        self.child = child
        self.port = port
        self.name = name
        self.endpoints = endpoints
    }

    var count: Int { endpoints ?? 1 }

    /// The server name of endpoint `i` (what mcpx is told, and what the backend calls itself).
    func serverName(_ i: Int) -> String { endpoints == nil ? name : "\(name)-\(i)" }

    func path(_ i: Int) -> String { endpoints == nil ? "/mcp" : "/mcp/\(i)" }

    func url(_ i: Int) -> String { "http://127.0.0.1:\(port)\(path(i))" }

    /// mcpx's `--servers` value for the first `count` endpoints.
    func serversArgument(count: Int) -> String {
        (0..<count).map { "\(serverName($0))=\(url($0))" }.joined(separator: ",")
    }

    static func start(
        binary: String, name: String, extraTools: Int, endpoints: Int?, logDir: String, flags: [String] = []
    ) throws(BenchError) -> ExampleBackend {
        var argv = [binary, "--port", "0", "--name", name] + flags
        if extraTools > 0 { argv += ["--extra-tools", String(extraTools)] }
        if let endpoints { argv += ["--endpoints", String(endpoints)] }
        let child = try Child.spawn(
            argv, name: "backend \(name)", logPath: "\(logDir)/backend-\(name).log", pipeStdin: false, pipeStdout: true)
        do throws(BenchError) {
            let line = try readLine(child.stdoutFD, timeout: 20)
            guard let port = parsePort(line) else { throw BenchError("unexpected first line from \(binary): \(line)") }
            return ExampleBackend(child: child, port: port, name: name, endpoints: endpoints)
        } catch {
            let tail = child.stderrTail(300)
            child.stop()
            throw BenchError("\(error.description)\(tail.isEmpty ? "" : "; stderr: " + tail)")
        }
    }

    func stop() { child.stop() }

    /// "listening on http://127.0.0.1:PORT/..." → PORT.
    private static func parsePort(_ line: String) -> Int? {
        guard line.hasPrefix("listening on http://"), let hostEnd = line.range(of: "127.0.0.1:") else { return nil }
        let digits = line[hostEnd.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }

    private static func readLine(_ fd: Int32, timeout: Double) throws(BenchError) -> String {
        let deadline = Clock.nanos() + UInt64(timeout * 1e9)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = bytes.firstIndex(of: 0x0A) { return String(decoding: bytes[..<nl], as: UTF8.self) }
            let now = Clock.nanos()
            guard now < deadline else { throw BenchError("the example server announced no port within \(timeout) s") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchError("the example server exited before announcing its port") }
            bytes += chunk[0..<n]
        }
    }
}
