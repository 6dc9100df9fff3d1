/// mcpx's command line, parsed by hand (no package dependencies).
public struct Options: Sendable {
    public enum Command: String, Sendable {
        case serve, list, tools, call, check, search, history, registry
    }

    public var command: Command = .serve
    public var commandArgs: [String] = []
    public var servers: [ServerConfig] = []
    public var configPaths: [String] = []
    public var statePath: String?
    /// `--state-git`: the state file's directory is a git repository; every change is a commit.
    public var stateGit = false
    /// `--admin-token`: turns on the HTTP door's admin API behind this bearer token.
    public var adminToken: String?
    /// `--watch`: a change of a `--config` file reloads it (as SIGHUP does).
    public var watchConfig = false
    public var settings = MultiServerProxy.Settings()
    public var logLevel: LogLevel = .info
    /// Whether --log-level was given (terminal commands log only warnings and errors otherwise).
    public var logLevelGiven = false
    public var logFile: String?
    public var maxLineBytes = 16 << 20
    public var json = false
    public var showHelp = false
    public var showVersion = false
    public var toolsAllow: [String] = []
    public var toolsDeny: [String] = []
    /// Skip `command` (stdio) entries in --config files with a warning instead of failing.
    public var skipStdio = false
    /// `--stdio` was given (serve stdin/stdout; the default when `--http` is not given).
    public var stdio = false
    /// The HTTP door: `--http HOST:PORT` and its settings.
    public var http: HTTPDoor.Settings?
    var httpToken: String?
    var httpAllowOrigins: [String] = []
    var httpInsecure = false

    /// Whether `--expose` / `--expose-limit` were given (they win over config files and presets).
    var exposeGiven = false
    var exposeLimitGiven = false

    /// `mcpx search --catalog FILE`: rank the tools of a catalog file, no backends.
    public var catalogPath: String?
    /// `mcpx search QUERY --server S`: only that server's tools.
    public var searchServer: String?
    /// `mcpx search --limit N`.
    public var searchLimit = 10
    /// Whether --limit was given (mcpx history shows 50 entries otherwise).
    public var searchLimitGiven = false

    /// Whether stdin/stdout is served: with `--stdio`, or when no other door is.
    public var servesStdio: Bool { stdio || http == nil }

    public init() {}

    public static let usage = """
        mcpx: one MCP server (stdio and/or HTTP) in front of many MCP servers.

        USAGE
          mcpx [--stdio] --servers NAME=URL[,NAME=URL...] [options]   serve MCP on stdin/stdout
          mcpx --http HOST:PORT [--stdio] --servers ...   serve MCP over HTTP at /mcp (and stdio too
                                                        with --stdio), plus operator endpoints
          mcpx list   [--servers ...|--config FILE]     servers and their status (a table)
          mcpx tools  [SERVER] [...]                    namespaced tools with a short description
          mcpx call   TOOL 'JSON-ARGUMENTS' [...]        call one tool, print the result
          mcpx check  [...]                             connect to every server, print health
          mcpx search QUERY [--server S] [--limit N]    the tools that best match a task, best first
          mcpx history [SERVER] --state FILE [--limit N] changes of the server set: who, what, when
          mcpx registry search QUERY | show NAME        servers in the --registry URLs
          mcpx search --catalog FILE                    rank a catalog's tools for {"query"} lines on stdin

        SERVERS
          --servers NAME=URL,...     backends (Streamable HTTP or HTTP+SSE); repeatable
          --server NAME=URL          one backend; repeatable
          --config FILE              an mcpServers JSON file (Claude Desktop / Cursor / Claude Code format,
                                     or VS Code's "servers"); repeatable, combinable with --servers;
                                     SIGHUP reads it again and applies the difference
          --watch                    also reload when a --config file changes
          --stdio-server NAME='CMD ARGS'  a stdio server: mcpx starts CMD (words split as a shell would,
                                     no shell run) and speaks MCP on its stdin/stdout; repeatable
          --allow-command PATTERN    `manage add` may start commands matching PATTERN (`*` wildcards,
                                     on the command as given); without it, it starts none; repeatable
          --skip-stdio               skip "command" (stdio) entries in --config files
          --state FILE               keep `manage` changes in FILE across restarts, and their history
                                     in FILE.history.jsonl (manage history / rollback, mcpx history)
          --state-git                make FILE's directory a git repository: every change is a commit
          --registry URL             an MCP registry (v0.1 API) for manage search_registry / install and
                                     mcpx registry; repeatable (config: "registries")

        TOOLS
          --expose MODE              all (list every tool), search (list mcpx's own tools and search_tools,
                                     describe_tools, call_tool), auto (search once more than --expose-limit
                                     tools would be listed; the default)
          --expose-limit N           the auto threshold (default 128; 40 with --max-tool-name cursor:KEY)
          --always-expose PATTERN    tools listed in search mode too (`*` wildcards on server__tool); repeatable
          --max-tool-name N          longest exposed tool name (16-128, default 64), or a client preset:
                                     claude, openai, cursor:KEY, claude-code:KEY (see docs/configuration.md)
          --tools PATTERN,...        keep only tools whose original name matches (`*` wildcards)
          --exclude-tools PATTERN,.. drop tools whose original name matches
          --max-tools N              warn in proxy_status when more than N tools are listed

        TIMING
          --startup-timeout S        how long the first tools/list waits for backends (default 5)
          --call-timeout S           a call fails after S seconds without an answer or progress (default 60)
          --max-call-time S          hard limit per call, whatever progress says (default 600)
          --max-in-flight N          calls in flight to one backend at most (default 512)
          --backend-protocol P       protocol era for servers whose entry has no "protocol": auto (probe
                                     server/discover, fall back to initialize; default), 2025-11-25, 2026-07-28
          --cache-max-bytes N        memory for cached tool results ("cache" in a config entry),
                                     all servers together, least recently used dropped (default 64 MiB)
          --connect-timeout S        initialize / list timeout per backend (default 10)
          --health-interval S        background ping interval (default 30)
          --backoff-cap S            longest wait between reconnect attempts (default 10)
          --failure-threshold N      consecutive failures before a backend is marked failed (default 3)

        HTTP DOOR
          --http HOST:PORT           serve Streamable HTTP at http://HOST:PORT/mcp, plus /health, /status,
                                     /servers, /servers/count, /tools, /call, /metrics and the dashboard
                                     at /; port 0 picks one. Runs until SIGTERM/SIGINT (stdin EOF with --stdio)
          --http-token TOKEN         every request but GET /health needs "Authorization: Bearer TOKEN"
                                     (env MCPX_HTTP_TOKEN); the dashboard also takes ?token=TOKEN
          --http-allow-origin ORIGIN browsers from ORIGIN may call (loopback origins always may); repeatable
          --http-insecure            allow a non-loopback --http address without a token
          --admin-token TOKEN        turn on the admin API (POST/GET /admin/servers, PUT/DELETE
                                     /admin/servers/NAME) behind Authorization: Bearer TOKEN

        SAFETY
          --read-only                `manage` can only list and check, not change servers
          --allow-url PATTERN        `manage add` accepts only URLs matching SCHEME://HOST[:PORT][/PATH]
                                     (`*` wildcards, matched part by part); repeatable
          --max-message-bytes N      largest stdin line accepted (default 16777216)

        OUTPUT
          --log-level LEVEL          debug, info, warning, error (default info); logs go to stderr
          --log-file FILE            also append logs to FILE
          --json                     machine-readable output for list/tools/call/check
          -h, --help                 this text
          --version                  version and git commit
        """

    /// Parses `args` (without the program name). Throws a `ConfigError` that names the bad flag.
    public static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value(_ flag: String) throws -> String {
            i += 1
            guard i < args.count else { throw ConfigError("\(flag) needs a value") }
            return args[i]
        }
        func number(_ flag: String, _ v: String, min: Double, max: Double) throws -> Double {
            guard let d = Double(v), d.isFinite, d >= min, d <= max else {
                throw ConfigError("\(flag) must be a number from \(min.cleanString) to \(max.cleanString), not \"\(v)\"")
            }
            return d
        }
        var positional: [String] = []
        var maxToolNameSpec: String?
        while i < args.count {
            var a = args[i]
            var inline: String?
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                inline = String(a[a.index(after: eq)...])
                a = String(a[..<eq])
            }
            func val() throws -> String {
                if let inline { return inline }
                return try value(a)
            }
            switch a {
            case "--stdio": o.stdio = true
            case "--http": o.http = HTTPDoor.Settings(address: try ServerSocket.Address.parse(try val()))
            case "--http-token": o.httpToken = try val()
            case "--http-allow-origin": o.httpAllowOrigins.append(try val())
            case "--http-insecure": o.httpInsecure = true
            case "-h", "--help": o.showHelp = true
            case "--version", "-V": o.showVersion = true
            case "--json": o.json = true
            case "--servers", "--server":
                let v = try val()
                // `mcpx search QUERY --server S` names a server to search in (no `=URL`).
                if a == "--server" && !v.contains("=") && !v.isEmpty && o.searchServer == nil {
                    o.searchServer = v
                } else {
                    o.servers += try parseServers(v)
                }
            case "--catalog": o.catalogPath = try val()
            case "--expose":
                let v = try val()
                guard let m = MultiServerProxy.ExposeMode(rawValue: v) else { throw ConfigError("--expose must be all, search or auto, not \"\(v)\"") }
                o.settings.expose = m
                o.exposeGiven = true
            case "--expose-limit":
                o.settings.exposeLimit = Int(try number(a, try val(), min: 1, max: 1_000_000))
                o.exposeLimitGiven = true
            case "--always-expose": o.settings.alwaysExpose += try val().split(separator: ",").map(String.init)
            case "--limit":
                o.searchLimit = Int(try number(a, try val(), min: 1, max: 100_000))
                o.searchLimitGiven = true
            case "--config": o.configPaths.append(try val())
            case "--skip-stdio": o.skipStdio = true
            case "--stdio-server": o.servers.append(try parseStdioServer(try val()))
            case "--allow-command": o.settings.allowCommands.append(try val())
            case "--state": o.statePath = try val()
            case "--state-git": o.stateGit = true
            case "--admin-token": o.adminToken = try val()
            case "--registry":
                let v = try val()
                if let problem = validateURL(v) { throw ConfigError("--registry: \(problem)") }
                o.settings.registries.append(v)
            case "--watch": o.watchConfig = true
            case "--max-tool-name": maxToolNameSpec = try val()
            case "--tools": o.toolsAllow += try val().split(separator: ",").map { String($0) }
            case "--exclude-tools": o.toolsDeny += try val().split(separator: ",").map { String($0) }
            case "--max-tools": o.settings.maxTools = Int(try number(a, try val(), min: 1, max: 1_000_000))
            case "--startup-timeout": o.settings.startupTimeout = try number(a, try val(), min: 0, max: 600)
            case "--call-timeout": o.settings.callTimeout = try number(a, try val(), min: 0.01, max: 86_400)
            case "--max-call-time": o.settings.maxCallTime = try number(a, try val(), min: 0.01, max: 86_400)
            case "--max-in-flight": o.settings.maxInFlight = Int(try number(a, try val(), min: 1, max: 1_000_000))
            case "--backend-protocol":
                let v = try val()
                guard let c = BackendConnection.ProtocolChoice(rawValue: v) else {
                    throw ConfigError("--backend-protocol must be auto, 2025-11-25 or 2026-07-28, not \"\(v)\"")
                }
                o.settings.backendProtocol = c
            case "--cache-max-bytes": o.settings.cacheMaxBytes = Int(try number(a, try val(), min: 0, max: 1_099_511_627_776))
            case "--connect-timeout": o.settings.connectTimeout = try number(a, try val(), min: 0.1, max: 600)
            case "--health-interval": o.settings.healthInterval = try number(a, try val(), min: 0.1, max: 86_400)
            case "--backoff-cap": o.settings.backoffCap = try number(a, try val(), min: 0.1, max: 3_600)
            case "--failure-threshold": o.settings.failureThreshold = Int(try number(a, try val(), min: 1, max: 1_000))
            case "--read-only": o.settings.readOnly = true
            case "--allow-url":
                let v = try val()
                guard URLPattern(v) != nil else {
                    throw ConfigError("--allow-url must look like SCHEME://HOST[:PORT][/PATH] (with * wildcards), not \"\(v)\"")
                }
                o.settings.allowURLs.append(v)
            case "--max-message-bytes": o.maxLineBytes = Int(try number(a, try val(), min: 1024, max: 1_073_741_824))
            case "--log-level":
                let v = try val()
                guard let l = LogLevel(name: v) else { throw ConfigError("--log-level must be debug, info, warning or error, not \"\(v)\"") }
                o.logLevel = l
                o.logLevelGiven = true
            case "--log-file": o.logFile = try val()
            default:
                // After `call TOOL`, the arguments JSON may start with "-" (a number, say).
                if a.hasPrefix("-") && a.count > 1 && !(positional.first == Command.call.rawValue && positional.count >= 2) {
                    throw ConfigError("unknown option \(a) (see mcpx --help)")
                }
                positional.append(args[i])
            }
            i += 1
        }
        if let first = positional.first {
            guard let c = Command(rawValue: first), c != .serve else {
                throw ConfigError("unknown command \"\(first)\" (commands: list, tools, call, check, search, history, registry; see mcpx --help)")
            }
            o.command = c
            o.commandArgs = Array(positional.dropFirst())
            try checkArguments(c, o.commandArgs)
        }
        if let spec = maxToolNameSpec {
            o.settings.maxToolName = try ClientPresets.maxToolName(spec)
            // Cursor stops at about 40 tools: its preset lowers the search-mode threshold.
            if spec.lowercased().hasPrefix("cursor"), !o.exposeLimitGiven { o.settings.exposeLimit = 40 }
        }
        if let s = o.searchServer, o.command != .search {
            _ = try parseServers(s)  // not NAME=URL: the usual error
        }
        if o.catalogPath != nil && o.command != .search { throw ConfigError("--catalog goes with mcpx search") }
        if o.watchConfig && o.configPaths.isEmpty { throw ConfigError("--watch needs --config FILE (the files it watches)") }
        if o.stateGit && o.statePath == nil { throw ConfigError("--state-git needs --state FILE (its directory becomes the git repository)") }
        try o.finishHTTP()
        o.settings.globalAllowTools = o.toolsAllow
        o.settings.globalDenyTools = o.toolsDeny
        return o
    }

    /// How many arguments each terminal command takes.
    static func checkArguments(_ c: Command, _ args: [String]) throws(ConfigError) {
        let extra: [String]
        switch c {
        case .serve: extra = []
        case .list, .check: extra = args
        case .search: extra = []
        case .tools, .history: extra = Array(args.dropFirst())
        case .registry:
            guard let sub = args.first, ["search", "show"].contains(sub), args.count >= 2 else {
                throw ConfigError("mcpx registry needs: search QUERY, or show NAME (with --registry URL)")
            }
            extra = sub == "show" ? Array(args.dropFirst(2)) : []
        case .call:
            guard !args.isEmpty else { throw ConfigError("mcpx call needs a tool name: mcpx call TOOL '{\"arg\": ...}'") }
            extra = Array(args.dropFirst(2))
        }
        if let first = extra.first {
            throw ConfigError("mcpx \(c.rawValue): unexpected argument \"\(first)\" (see mcpx --help)")
        }
    }

    /// `a=http://x/mcp,b=https://y/mcp`. A comma starts a new entry only when `NAME=` follows it,
    /// so URLs with commas in them survive.
    /// `--stdio-server NAME='command arg ...'`.
    public static func parseStdioServer(_ spec: String) throws -> ServerConfig {
        guard let eq = spec.firstIndex(of: "=") else {
            throw ConfigError("--stdio-server \"\(spec)\" must look like NAME='command arg ...'")
        }
        let name = String(spec[..<eq]).trimmingWhitespace()
        if let problem = ToolNaming.validateServerName(name) { throw ConfigError("--stdio-server: \(problem)") }
        let words: [String]
        do {
            words = try ShellWords.split(String(spec[spec.index(after: eq)...]))
        } catch {
            throw ConfigError("--stdio-server \(name): \(error.description)")
        }
        guard let command = words.first else { throw ConfigError("--stdio-server \(name): no command") }
        return ServerConfig(name: name, stdio: .init(command: command, args: Array(words.dropFirst())))
    }

    public static func parseServers(_ spec: String) throws -> [ServerConfig] {
        var parts: [String] = []
        for piece in spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            if let eq = piece.firstIndex(of: "="), !piece[..<eq].isEmpty,
                piece[..<eq].utf8.allSatisfy({ ToolNaming.isAllowed($0) }) || parts.isEmpty
            {
                parts.append(piece)
            } else if !parts.isEmpty {
                parts[parts.count - 1] += "," + piece
            } else {
                parts.append(piece)
            }
        }
        var out: [ServerConfig] = []
        for p in parts where !p.trimmingWhitespace().isEmpty {
            guard let eq = p.firstIndex(of: "=") else {
                throw ConfigError("--servers entry \"\(p)\" must look like NAME=URL")
            }
            let name = String(p[..<eq]).trimmingWhitespace()
            let value = String(p[p.index(after: eq)...]).trimmingWhitespace()
            if let problem = ToolNaming.validateServerName(name) { throw ConfigError("--servers: \(problem)") }
            // `|` separates replicas: NAME=URL1|URL2.
            let urls = value.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
            for url in urls {
                if let problem = validateURL(url) { throw ConfigError("--servers: server \"\(name)\": \(problem)") }
            }
            if Set(urls).count != urls.count { throw ConfigError("--servers: server \"\(name)\" names the same replica URL twice") }
            var config = ServerConfig(name: name, url: urls[0])
            config.setReplicas(urls.map { ServerConfig.Replica(url: $0) })
            out.append(config)
        }
        return out
    }

    public static func validateURL(_ url: String) -> String? {
        CurlURL.backendProblem(
            url, notValid: { "\"\(Redact.url(url))\" is not a valid URL" },
            scheme: { "URL scheme must be http or https, not \($0)" })
    }
}

extension Double {
    var cleanString: String { self == rounded() ? String(Int(self)) : String(self) }
}

extension Options {
    /// Checks and completes the HTTP door's settings: a token from the environment, origins, and
    /// no non-loopback address without a token (unless --http-insecure).
    mutating func finishHTTP(environment: [String: String]? = nil) throws(ConfigError) {
        guard var h = http else {
            if httpToken != nil || !httpAllowOrigins.isEmpty || httpInsecure || adminToken != nil {
                throw ConfigError("--http-token, --http-allow-origin, --http-insecure and --admin-token need --http HOST:PORT")
            }
            return
        }
        if command != .serve { throw ConfigError("--http serves MCP; it does not go with mcpx \(command.rawValue)") }
        let token = httpToken ?? (environment?["MCPX_HTTP_TOKEN"] ?? ProcessEnvironment.get("MCPX_HTTP_TOKEN")).flatMap { $0.isEmpty ? nil : $0 }
        if let token, token.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw ConfigError("--http-token must be printable ASCII without spaces")
        }
        h.token = token
        if let a = adminToken {
            guard !a.isEmpty, !a.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else {
                throw ConfigError("--admin-token must be printable ASCII without spaces")
            }
            h.adminToken = a
        }
        for o in httpAllowOrigins {
            guard o.hasPrefix("http://") || o.hasPrefix("https://"), !o.hasSuffix("/") else {
                throw ConfigError("--http-allow-origin wants an origin like https://app.example.com (scheme, host, optional port; no path), not \"\(o)\"")
            }
        }
        h.allowedOrigins = Set(httpAllowOrigins.map { $0.lowercased() })
        h.maxBodyBytes = maxLineBytes
        if !h.address.isLoopback && token == nil && !httpInsecure {
            throw ConfigError("--http \(h.address.urlHost):\(h.address.port) is reachable from other machines: give a token (--http-token or MCPX_HTTP_TOKEN), or --http-insecure to serve it without one")
        }
        http = h
    }
}
