/// Command-line settings of the example server.
struct Options: Sendable {
    var host = "127.0.0.1"
    /// 0 asks the kernel for a free port; the chosen one is announced on stdout.
    var port: UInt16 = 0
    var path = "/mcp"
    var name = "example"
    var extraTools = 0
    /// Serve this many independent servers at PATH/0 ... PATH/{N-1}, named NAME-0 ...; nil serves one.
    var endpoints: Int?
    /// Tools per `tools/list` page; nil lists everything at once.
    var pageSize: Int?
    /// Answer every request with an SSE stream instead of a JSON body.
    var sse = false
    /// Serve MCP on stdin/stdout (newline-delimited JSON) instead of HTTP.
    var stdio = false
    var weirdNames = false
    /// Offer the GET stream for server-initiated messages (405 otherwise).
    var getStream = true
    var logRequests = false
    /// Larger request bodies are refused with 413.
    var maxBodyBytes = 8 << 20
    /// Every tools/call waits this long before it runs (a slow replica, in tests).
    var delayMillis = 0
    /// Every tools/call is answered with a JSON-RPC error (a broken replica, in tests).
    var failCalls = false
    /// Also serve 2026-07-28 (stateless) requests over HTTP: a dual-era server.
    var modern = false

    static let usage = """
        usage: mcpx-example-server [options]
          --host HOST        address to listen on (default 127.0.0.1)
          --port N           port to listen on; 0 picks a free one (default 0)
          --path PATH        MCP endpoint path (default /mcp)
          --name NAME        server name in serverInfo, whoami and logs (default example)
          --extra-tools N    add tools tool_0 ... tool_{N-1} that echo their arguments
          --endpoints N      serve N independent servers (own name, tools, sessions) at PATH/0 ...
                             PATH/{N-1}, named NAME-0 ... NAME-{N-1} (one port, for benchmarks)
          --page-size N      tools per tools/list page (default: no pagination)
          --sse              answer every request with an SSE stream
          --stdio            serve MCP on stdin/stdout (newline-delimited JSON) instead of HTTP;
                             logs go to stderr, and it exits at the end of stdin
          --weird-names      add tools with a dotted and an over-long name
          --no-get-stream    answer GET with 405 (no server-initiated stream)
          --log-requests     log every HTTP request to stderr
          --delay-ms N       every tools/call waits N ms before it runs (a slow replica)
          --fail-calls       every tools/call is answered with a JSON-RPC error (a broken replica)
          --modern           also serve the stateless 2026-07-28 revision over HTTP (dual-era):
                             server/discover, requests with the _meta envelope, resultType
          -h, --help         show this help
        On start, prints one line: listening on http://HOST:PORT/PATH (with --endpoints: PATH/{0..N-1})
        """

    enum Parsed {
        case run(Options)
        case help
    }

    struct UsageError: Error {
        let message: String
    }

    static func parse(_ arguments: [String]) throws(UsageError) -> Parsed {
        var options = Options()
        var index = 0
        while index < arguments.count {
            var flag = arguments[index]
            var inlineValue: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inlineValue = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            index += 1

            func value() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                guard index < arguments.count else { throw UsageError(message: "\(flag) needs a value") }
                index += 1
                return arguments[index - 1]
            }
            func number(max: Int) throws(UsageError) -> Int {
                let text = try value()
                guard let n = Int(text), n >= 0, n <= max else {
                    throw UsageError(message: "\(flag) needs an integer between 0 and \(max), got '\(text)'")
                }
                return n
            }
            func noValue() throws(UsageError) {
                if inlineValue != nil { throw UsageError(message: "\(flag) takes no value") }
            }

            switch flag {
            case "--host":
                options.host = try value()
            case "--port":
                options.port = UInt16(try number(max: 65535))
            case "--path":
                let path = try value()
                guard path.hasPrefix("/"), !path.contains("?"), !path.contains(" ") else {
                    throw UsageError(message: "--path must start with / and hold no query, got '\(path)'")
                }
                options.path = path
            case "--name":
                let name = try value()
                guard !name.isEmpty else { throw UsageError(message: "--name must not be empty") }
                options.name = name
            case "--extra-tools":
                options.extraTools = try number(max: 1_000_000)
            case "--endpoints":
                let count = try number(max: 100_000)
                guard count > 0 else { throw UsageError(message: "--endpoints must be at least 1") }
                options.endpoints = count
            case "--page-size":
                let size = try number(max: 1_000_000)
                guard size > 0 else { throw UsageError(message: "--page-size must be at least 1") }
                options.pageSize = size
            case "--sse":
                try noValue()
                options.sse = true
            case "--stdio":
                try noValue()
                options.stdio = true
            case "--weird-names":
                try noValue()
                options.weirdNames = true
            case "--no-get-stream":
                try noValue()
                options.getStream = false
            case "--log-requests":
                try noValue()
                options.logRequests = true
            case "--delay-ms":
                options.delayMillis = try number(max: 600_000)
            case "--fail-calls":
                try noValue()
                options.failCalls = true
            case "--modern":
                try noValue()
                options.modern = true
            case "-h", "--help":
                return .help
            default:
                throw UsageError(message: "unknown argument '\(flag)'")
            }
        }
        return .run(options)
    }
}
