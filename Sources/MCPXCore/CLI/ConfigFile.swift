import MCPXJSON

/// A `--config` file: the `mcpServers` object that Claude Desktop, Cursor and Claude Code use, or
/// VS Code's `servers` object.
///
/// Only HTTP entries (`url`) are accepted; `command` (stdio) entries are an error unless
/// `skipStdio` is set. `${VAR}`, `${VAR:-default}` and `${env:VAR}` in string values are read from
/// the environment. Comments and trailing commas (VS Code's JSONC) are tolerated. Every error
/// names the file, the key path and the problem, e.g.
/// `servers.json: mcpServers.docs.url: must be an http or https URL, not "ftp://x"`.
public enum ConfigFile {
    /// One server of a config file.
    public struct Entry: Sendable {
        /// The key in `mcpServers` (the server name unless `prefix` replaces it).
        public var key: String
        /// Where it was defined, for messages: `mcpServers.docs`.
        public var keyPath: String
        public var config: ServerConfig
    }

    public struct Loaded: Sendable {
        public var entries: [Entry]
        /// Things that do not stop mcpx (unknown keys, skipped stdio entries), already prefixed with the file.
        public var warnings: [String]
        /// Top-level `"expose"` and `"alwaysExpose"` (tool search, see docs/configuration.md).
        public var expose: MultiServerProxy.ExposeMode? = nil
        public var alwaysExpose: [String] = []
        /// Top-level `"registries"`: MCP registry URLs.
        public var registries: [String] = []
    }

    /// The per-server keys mcpx reads (and their aliases in other clients' formats).
    static let urlKeys = ["url", "serverUrl", "httpUrl"]
    static let allowKeys = ["tools", "allowTools", "includeTools"]
    static let denyKeys = ["excludeTools", "denyTools"]
    static let ownKeys: Set<String> =
        Set(urlKeys + allowKeys + denyKeys + ["type", "headers", "enabled", "disabled", "timeout", "prefix"] + stdioKeys + replicaKeys)
    /// Replicas, balancing, retries, caching and rate limits (docs/configuration.md, "Replicas").
    static let replicaKeys = ["urls", "replicas", "loadBalancing", "retry", "cache", "rateLimit", "protocol"]
    /// What a stdio entry (Claude Desktop, Cursor, Claude Code, VS Code) has.
    static let stdioKeys = ["command", "args", "env", "cwd", "idleTimeout"]
    /// Keys other clients use that mean nothing to mcpx: ignored without a warning.
    static let foreignKeys: Set<String> = [
        "autoApprove", "alwaysAllow", "description", "note", "notes", "name", "oauth", "auth", "trust",
        "transport", "transportType", "disabledTools", "envFile", "icon", "gallery", "version",
    ]
    /// Headers mcpx sets itself; configuring them would break the protocol.
    static let reservedHeaders: Set<String> = [
        "accept", "content-type", "content-length", "transfer-encoding", "host", "connection", "expect",
        "mcp-session-id", "mcp-protocol-version", "last-event-id",
    ]

    /// Reads and parses `path`. `file` in messages is the path as the user gave it.
    public static func load(path: String, environment: [String: String], skipStdio: Bool = false) throws(ConfigError) -> Loaded {
        guard let bytes = FileInput.readAll(path) else {
            let why: String
            switch PathKind(path) {
            case .missing: why = "no such file"
            case .directory: why = "is a directory"
            case .other: why = "permission denied"
            }
            throw ConfigError("\(path): cannot read: \(why)")
        }
        return try parse(bytes, file: path, environment: environment, skipStdio: skipStdio)
    }

    /// Parses a config file's bytes.
    public static func parse(
        _ bytes: [UInt8], file: String, environment: [String: String], skipStdio: Bool = false
    ) throws(ConfigError) -> Loaded {
        let clean = JSONC.strip(bytes)
        let root: JSONValue
        do {
            root = try JSONParser.parse(clean)
        } catch {
            throw ConfigError("\(file): \(JSONC.describe(error, in: clean))")
        }
        var parser = Parser(file: file, env: environment, skipStdio: skipStdio)
        try parser.root(root)
        return Loaded(entries: parser.entries, warnings: parser.warnings, expose: parser.expose, alwaysExpose: parser.alwaysExpose, registries: parser.registries)
    }

    /// "an array", "a string", "null", for messages.
    static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .array, .object: return "an \(v.typeName)"
        default: return "a \(v.typeName)"
        }
    }

    /// `servers.docs`, or `servers["my server"]` for keys that are not plain words.
    static func path(_ base: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.utf8.allSatisfy { ToolNaming.isAllowed($0) }
        let quoted = JSONValue.string(key).jsonString
        return base.isEmpty ? (plain ? key : quoted) : (plain ? "\(base).\(key)" : "\(base)[\(quoted)]")
    }

    struct Parser {
        let file: String
        let env: [String: String]
        let skipStdio: Bool
        var entries: [Entry] = []
        var warnings: [String] = []
        var expose: MultiServerProxy.ExposeMode?
        var alwaysExpose: [String] = []
        var registries: [String] = []

        init(file: String, env: [String: String], skipStdio: Bool) {
            self.file = file
            self.env = env
            self.skipStdio = skipStdio
        }

        func fail(_ keyPath: String, _ problem: String) -> ConfigError {
            ConfigError(keyPath.isEmpty ? "\(file): \(problem)" : "\(file): \(keyPath): \(problem)")
        }

        mutating func root(_ root: JSONValue) throws(ConfigError) {
            guard case .object(let top) = root else {
                throw fail("", "must be a JSON object with \"mcpServers\" (or VS Code's \"servers\"), not \(ConfigFile.kind(root))")
            }
            if let v = top["expose"] {
                guard let s = v.stringValue, let mode = MultiServerProxy.ExposeMode(rawValue: s) else {
                    throw fail("expose", "must be \"all\", \"search\" or \"auto\"")
                }
                expose = mode
            }
            if let v = top["alwaysExpose"] {
                guard let list = v.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail("alwaysExpose", "must be an array of tool name patterns")
                }
                alwaysExpose = list.compactMap(\.stringValue)
            }
            if let v = top["registries"] {
                guard let list = v.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail("registries", "must be an array of registry URLs")
                }
                for (i, item) in list.enumerated() {
                    let url = try expand(item.stringValue!, at: "registries[\(i)]")
                    if Options.validateURL(url) != nil { throw fail("registries[\(i)]", "must be an http or https URL") }
                    registries.append(url)
                }
            }
            let groups = ["mcpServers", "servers"].filter { top[$0] != nil }
            guard !groups.isEmpty else {
                throw fail("", "has no \"mcpServers\" object (Claude Desktop, Cursor, Claude Code) or \"servers\" object (VS Code)")
            }
            for group in groups {
                guard case .object(let servers)? = top[group] else {
                    throw fail(group, "must be an object of server names to server entries")
                }
                for (key, value) in servers {
                    try server(key: key, value, at: ConfigFile.path(group, key))
                }
            }
        }

        mutating func server(key: String, _ value: JSONValue, at p: String) throws(ConfigError) {
            guard case .object(let o) = value else {
                throw fail(p, "must be an object with \"url\", not \(ConfigFile.kind(value))")
            }
            let type = try string(o, "type", at: p)
            let hasReplicas = o["urls"] != nil || o["replicas"] != nil
            let isStdio = !hasReplicas && (o["command"] != nil || type?.lowercased() == "stdio")
            if isStdio && skipStdio {
                warnings.append("\(file): \(p): stdio server skipped (--skip-stdio)")
                return
            }
            for k in o.keys where !ConfigFile.ownKeys.contains(k) && !ConfigFile.foreignKeys.contains(k) {
                warnings.append("\(file): \(ConfigFile.path(p, k)): unknown key, ignored")
            }

            // Name: the key, or the prefix that replaces it.
            let name: String
            if let prefix = try string(o, "prefix", at: p) {
                if let problem = ToolNaming.validateServerName(prefix) { throw fail(ConfigFile.path(p, "prefix"), problem) }
                name = prefix
            } else {
                if let problem = ToolNaming.validateServerName(key) {
                    throw fail(p, "\(problem); rename the key or set \"prefix\" to a valid name")
                }
                name = key
            }
            if let other = entries.first(where: { $0.config.name == name }) {
                throw fail(p, "server name \"\(name)\" is already used by \(other.keyPath)")
            }

            var config: ServerConfig
            if hasReplicas {
                config = try replicatedServer(name: name, o, type: type, at: p)
            } else if isStdio {
                config = ServerConfig(name: name, stdio: try stdioSpec(o, at: p))
            } else {
                config = try httpServer(name: name, o, type: type, at: p)
            }
            try policies(&config, o, at: p)
            let enabled = try bool(o, "enabled", at: p)
            let disabled = try bool(o, "disabled", at: p)
            if let enabled, let disabled, enabled == disabled {
                throw fail(p, "\"enabled\" and \"disabled\" contradict each other")
            }
            config.enabled = enabled ?? !(disabled ?? false)
            config.status = config.enabled ? .connecting : .disabled
            if let t = o["timeout"] {
                guard let d = t.doubleValue, d.isFinite, d >= 0.01, d <= 86_400 else {
                    throw fail(ConfigFile.path(p, "timeout"), "must be a number of seconds from 0.01 to 86400, not \(t.jsonString.prefix(40))")
                }
                config.timeoutSeconds = d
            }
            for k in ConfigFile.allowKeys { config.allowTools += try patterns(o, k, at: p) }
            for k in ConfigFile.denyKeys { config.denyTools += try patterns(o, k, at: p) }
            entries.append(Entry(key: key, keyPath: p, config: config))
        }

        /// A stdio entry: `command`, `args`, `env`, `cwd`, each with `${VAR}` expanded.
        func stdioSpec(_ o: JSONObject, at p: String) throws(ConfigError) -> ServerConfig.StdioSpec {
            guard let command = try string(o, "command", at: p), !command.trimmingWhitespace().isEmpty else {
                throw fail(p, "a stdio server needs \"command\" (the program to start)")
            }
            if ConfigFile.urlKeys.contains(where: { o[$0] != nil }) {
                throw fail(p, "has both \"command\" and a URL; give one")
            }
            var spec = ServerConfig.StdioSpec(command: command)
            if let v = o["args"] {
                let kp = ConfigFile.path(p, "args")
                guard case .array(let items) = v else { throw fail(kp, "must be an array of strings, not \(ConfigFile.kind(v))") }
                for (i, item) in items.enumerated() {
                    guard case .string(let s) = item else { throw fail("\(kp)[\(i)]", "must be a string, not \(ConfigFile.kind(item))") }
                    spec.args.append(try expand(s, at: "\(kp)[\(i)]"))
                }
            }
            if let v = o["env"] {
                let kp = ConfigFile.path(p, "env")
                guard case .object(let vars) = v else { throw fail(kp, "must be an object of names to strings, not \(ConfigFile.kind(v))") }
                for (k, value) in vars {
                    guard !k.isEmpty, !k.contains("="), !k.utf8.contains(0) else { throw fail(ConfigFile.path(kp, k), "is not a valid variable name") }
                    guard case .string(let s) = value else { throw fail(ConfigFile.path(kp, k), "must be a string, not \(ConfigFile.kind(value))") }
                    spec.env.append((name: k, value: try expand(s, at: ConfigFile.path(kp, k))))
                }
            }
            spec.cwd = try string(o, "cwd", at: p)
            if let t = o["idleTimeout"] {
                guard let d = t.doubleValue, d.isFinite, d >= 1, d <= 604_800 else {
                    throw fail(ConfigFile.path(p, "idleTimeout"), "must be a number of seconds from 1 to 604800, not \(t.jsonString.prefix(40))")
                }
                spec.idleTimeout = d
            }
            return spec
        }

        /// A server with several instances: `"urls": [...]` or `"replicas": [{"url"|"command", "weight"}]`.
        func replicatedServer(name: String, _ o: JSONObject, type: String?, at p: String) throws(ConfigError) -> ServerConfig {
            if o["urls"] != nil && o["replicas"] != nil { throw fail(p, "has both \"urls\" and \"replicas\"; give one") }
            if ConfigFile.urlKeys.contains(where: { o[$0] != nil }) || o["command"] != nil {
                throw fail(p, "has \"urls\"/\"replicas\" and also \"url\" or \"command\"; give the instances in one place")
            }
            var list: [ServerConfig.Replica] = []
            if let v = o["urls"] {
                let kp = ConfigFile.path(p, "urls")
                guard case .array(let items) = v, !items.isEmpty else { throw fail(kp, "must be a non-empty array of URLs") }
                for (i, item) in items.enumerated() {
                    guard case .string(let raw) = item else { throw fail("\(kp)[\(i)]", "must be a string, not \(ConfigFile.kind(item))") }
                    list.append(.init(url: try replicaURL(raw, at: "\(kp)[\(i)]")))
                }
            } else if let v = o["replicas"] {
                let kp = ConfigFile.path(p, "replicas")
                guard case .array(let items) = v, !items.isEmpty else { throw fail(kp, "must be a non-empty array of replicas") }
                for (i, item) in items.enumerated() {
                    let ip = "\(kp)[\(i)]"
                    guard case .object(let r) = item else { throw fail(ip, "must be an object with \"url\" or \"command\", not \(ConfigFile.kind(item))") }
                    for k in r.keys where !(["url", "weight"] + ConfigFile.stdioKeys).contains(k) {
                        throw fail(ConfigFile.path(ip, k), "unknown key (a replica has \"url\" or \"command\"/\"args\"/\"env\"/\"cwd\", and \"weight\")")
                    }
                    var weight = 1
                    if let w = r["weight"] {
                        guard let n = w.intValue, n >= 1, n <= 1_000 else { throw fail(ConfigFile.path(ip, "weight"), "must be a whole number from 1 to 1000") }
                        weight = Int(n)
                    }
                    if r["command"] != nil {
                        if skipStdio { throw fail(ip, "is a stdio replica and --skip-stdio is given") }
                        let spec = try stdioSpec(r, at: ip)
                        list.append(.init(url: "stdio:" + spec.display, stdio: spec, weight: weight))
                    } else if let raw = try string(r, "url", at: ip) {
                        list.append(.init(url: try replicaURL(raw, at: ConfigFile.path(ip, "url"), expanded: true), weight: weight))
                    } else {
                        throw fail(ip, "needs \"url\" or \"command\"")
                    }
                }
            }
            var seen = Set<String>()
            for (i, r) in list.enumerated() where !seen.insert(r.url).inserted {
                throw fail(ConfigFile.path(p, o["urls"] != nil ? "urls" : "replicas") + "[\(i)]", "is the same instance as an earlier replica")
            }
            var config = ServerConfig(name: name, url: list[0].url)
            config.setReplicas(list)
            if config.stdio == nil { config.transport = try transport(type, default: .auto, at: p) }
            config.headers = try headers(o, at: p)
            return config
        }

        func replicaURL(_ raw: String, at kp: String, expanded: Bool = false) throws(ConfigError) -> String {
            let url = expanded ? raw : try expand(raw, at: kp)
            if Options.validateURL(url) != nil {
                let shown = url.contains("?") || url.contains("@") ? Redact.url(url) : url
                throw fail(kp, "must be an http or https URL, not \(JSONValue.string(shown).jsonString)")
            }
            return url
        }

        /// `loadBalancing`, `retry`, `cache` and `rateLimit`.
        func policies(_ config: inout ServerConfig, _ o: JSONObject, at p: String) throws(ConfigError) {
            if let v = o["protocol"] {
                guard let s = v.stringValue, let choice = BackendConnection.ProtocolChoice(rawValue: s) else {
                    throw fail(ConfigFile.path(p, "protocol"), "must be \"auto\", \"2025-11-25\" or \"2026-07-28\"")
                }
                if choice == .modern && config.transport == .sse {
                    throw fail(ConfigFile.path(p, "protocol"), "\"2026-07-28\" does not go with \"type\": \"sse\" (the HTTP+SSE transport is handshake-era)")
                }
                config.protocolChoice = choice
            }
            if let v = o["loadBalancing"] {
                guard let s = v.stringValue, let lb = ServerConfig.LoadBalancing(rawValue: s) else {
                    throw fail(ConfigFile.path(p, "loadBalancing"), "must be one of \(ServerConfig.LoadBalancing.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
                }
                config.loadBalancing = lb
            }
            if let v = o["retry"] {
                let kp = ConfigFile.path(p, "retry")
                guard case .object(let r) = v else { throw fail(kp, "must be an object like {\"tools\": [\"get_*\"]}") }
                config.retryTools = try patterns(r, "tools", at: kp)
            }
            if let v = o["cache"] {
                let kp = ConfigFile.path(p, "cache")
                guard case .object(let c) = v else { throw fail(kp, "must be an object like {\"tools\": [\"get_*\"], \"ttl\": 30}") }
                let tools = try patterns(c, "tools", at: kp)
                if tools.isEmpty { throw fail(ConfigFile.path(kp, "tools"), "must name at least one tool (or pattern)") }
                var ttl = 60.0
                if let t = c["ttl"] {
                    guard let d = t.doubleValue, d.isFinite, d > 0, d <= 86_400 else {
                        throw fail(ConfigFile.path(kp, "ttl"), "must be a number of seconds above 0 and at most 86400")
                    }
                    ttl = d
                }
                config.cache = .init(tools: tools, ttl: ttl)
            }
            if let v = o["rateLimit"] {
                let kp = ConfigFile.path(p, "rateLimit")
                guard case .object(let r) = v, let cps = r["callsPerSecond"]?.doubleValue, cps.isFinite, cps > 0, cps <= 1_000_000 else {
                    throw fail(kp, "must be an object like {\"callsPerSecond\": 10, \"burst\": 20} (callsPerSecond above 0)")
                }
                var burst = max(1, Int(cps.rounded(.up)))
                if let b = r["burst"] {
                    guard let n = b.intValue, n >= 1, n <= 1_000_000 else { throw fail(ConfigFile.path(kp, "burst"), "must be a whole number from 1 to 1000000") }
                    burst = Int(n)
                }
                config.rateLimit = .init(callsPerSecond: cps, burst: burst)
            }
        }

        /// An HTTP entry: its URL, transport and headers.
        func httpServer(name: String, _ o: JSONObject, type: String?, at p: String) throws(ConfigError) -> ServerConfig {
            // URL.
            let urlKeys = ConfigFile.urlKeys.filter { o[$0] != nil }
            if urlKeys.count > 1 { throw fail(p, "has both \"\(urlKeys[0])\" and \"\(urlKeys[1])\"; give one URL") }
            guard let urlKey = urlKeys.first, let url = try string(o, urlKey, at: p) else {
                throw fail(p, "needs \"url\" (an http or https URL)")
            }
            if Options.validateURL(url) != nil {
                // Credentials may sit in the user info or the query: those parts are redacted.
                let shown = url.contains("?") || url.contains("@") ? Redact.url(url) : url
                throw fail(ConfigFile.path(p, urlKey), "must be an http or https URL, not \(JSONValue.string(shown).jsonString)")
            }

            var config = ServerConfig(name: name, url: url)
            config.transport = try transport(type, default: urlKey == "httpUrl" ? .streamableHTTP : .auto, at: p)
            config.headers = try headers(o, at: p)
            return config
        }

        /// The transport `"type"` names (`default` when it is absent).
        func transport(_ type: String?, default d: ServerConfig.Transport, at p: String) throws(ConfigError) -> ServerConfig.Transport {
            switch type {
            case nil: return d
            case "http"?, "streamable-http"?, "streamableHttp"?, "streamable_http"?: return .streamableHTTP
            case "sse"?: return .sse
            case let t?:
                throw fail(ConfigFile.path(p, "type"), "must be \"http\", \"streamable-http\", \"streamableHttp\" or \"sse\", not \(JSONValue.string(t).jsonString)")
            }
        }

        /// A string value with `${VAR}` expanded; nil when the key is absent.
        func string(_ o: JSONObject, _ key: String, at p: String) throws(ConfigError) -> String? {
            guard let v = o[key] else { return nil }
            let kp = ConfigFile.path(p, key)
            guard case .string(let s) = v else { throw fail(kp, "must be a string, not \(ConfigFile.kind(v))") }
            return try expand(s, at: kp)
        }

        func expand(_ s: String, at kp: String) throws(ConfigError) -> String {
            do {
                return try EnvExpansion.expand(s, env)
            } catch {
                throw fail(kp, error.description)
            }
        }

        func bool(_ o: JSONObject, _ key: String, at p: String) throws(ConfigError) -> Bool? {
            guard let v = o[key] else { return nil }
            guard case .bool(let b) = v else { throw fail(ConfigFile.path(p, key), "must be true or false, not \(v.jsonString.prefix(40))") }
            return b
        }

        func patterns(_ o: JSONObject, _ key: String, at p: String) throws(ConfigError) -> [String] {
            guard let v = o[key] else { return [] }
            let kp = ConfigFile.path(p, key)
            guard case .array(let items) = v else {
                throw fail(kp, "must be an array of tool names or \"*\" patterns, not \(ConfigFile.kind(v))")
            }
            var out: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else { throw fail("\(kp)[\(i)]", "must be a string, not \(ConfigFile.kind(item))") }
                let x = try expand(s, at: "\(kp)[\(i)]")
                if x.isEmpty { throw fail("\(kp)[\(i)]", "must not be empty") }
                out.append(x)
            }
            return out
        }

        func headers(_ o: JSONObject, at p: String) throws(ConfigError) -> [(name: String, value: String)] {
            guard let v = o["headers"] else { return [] }
            let hp = ConfigFile.path(p, "headers")
            guard case .object(let h) = v else { throw fail(hp, "must be an object of header names to strings, not \(ConfigFile.kind(v))") }
            var out: [(name: String, value: String)] = []
            var seen = Set<String>()
            for (name, value) in h {
                let kp = ConfigFile.path(hp, name)
                guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else { throw fail(kp, "is not a valid header name") }
                if ConfigFile.reservedHeaders.contains(name.lowercased()) {
                    throw fail(kp, "is set by mcpx itself and cannot be configured")
                }
                if !seen.insert(name.lowercased()).inserted { throw fail(kp, "header \"\(name)\" is given twice") }
                guard case .string(let raw) = value else { throw fail(kp, "must be a string, not \(ConfigFile.kind(value))") }
                let x = try expand(raw, at: kp)
                if x.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                    throw fail(kp, "must not contain line breaks")
                }
                out.append((name: name, value: x.trimmingWhitespace()))
            }
            return out
        }

        /// RFC 9110 token characters.
        static func isTokenByte(_ c: UInt8) -> Bool {
            ToolNaming.isAllowed(c) || "!#$%&'*+.^`|~".utf8.contains(c)
        }
    }
}

/// `${VAR}`, `${VAR:-default}` and VS Code's `${env:VAR}` in config strings.
public enum EnvExpansion {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Expands every reference in `s`. An unset `${VAR}` without a default is an error; so are
    /// malformed references and VS Code's `${input:...}` prompts.
    public static func expand(_ s: String, _ env: [String: String]) throws(Failure) -> String {
        guard s.contains("${") else { return s }
        var out = ""
        var rest = Substring(s)
        while let start = rest.firstRange(of: "${") {
            out += rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            guard let close = after.firstIndex(of: "}") else {
                throw Failure(description: "unterminated \"${\" (write ${NAME} or ${NAME:-default})")
            }
            let inner = after[..<close]
            out += try resolve(inner, env)
            rest = after[after.index(after: close)...]
        }
        out += rest
        return out
    }

    static func resolve(_ inner: Substring, _ env: [String: String]) throws(Failure) -> String {
        var ref = inner
        if ref.hasPrefix("input:") {
            throw Failure(description: "\"${\(inner)}\" (a VS Code input prompt) is not supported; use an environment variable: ${NAME}")
        }
        if ref.hasPrefix("env:") { ref = ref.dropFirst(4) }
        var name = ref
        var fallback: Substring?
        if let r = ref.firstRange(of: ":-") {
            name = ref[..<r.lowerBound]
            fallback = ref[r.upperBound...]
        }
        guard isName(name) else {
            throw Failure(description: "\"${\(inner)}\" is not a valid variable reference (write ${NAME} or ${NAME:-default})")
        }
        let value = env[String(name)]
        if let fallback {
            if let value, !value.isEmpty { return value }
            return String(fallback)
        }
        guard let value else {
            throw Failure(description: "environment variable \(name) is not set (write ${\(name):-} to allow an empty value)")
        }
        return value
    }

    static func isName(_ s: Substring) -> Bool {
        guard let first = s.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }
}

/// JSON with comments and trailing commas (VS Code's `mcp.json`), and readable parse errors.
enum JSONC {
    /// Blanks out comments and trailing commas with spaces (so offsets, lines and columns stay put)
    /// and drops a UTF-8 byte order mark.
    static func strip(_ input: [UInt8]) -> [UInt8] {
        var b = input
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { b.removeFirst(3) }
        var i = 0
        var inString = false
        var lastSignificant: Int?  // index of the last byte outside strings and comments that is not whitespace
        while i < b.count {
            let c = b[i]
            if inString {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == UInt8(ascii: "\"") { inString = false; lastSignificant = i }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "/") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "/"):
                while i < b.count && b[i] != 0x0A { b[i] = 0x20; i += 1 }
                continue
            case UInt8(ascii: "/") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "*"):
                var j = i + 2
                while j + 1 < b.count && !(b[j] == UInt8(ascii: "*") && b[j + 1] == UInt8(ascii: "/")) { j += 1 }
                let end = min(b.count, j + 2)
                for k in i..<end where b[k] != 0x0A { b[k] = 0x20 }
                i = end
                continue
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if let l = lastSignificant, b[l] == UInt8(ascii: ",") { b[l] = 0x20 }
                lastSignificant = i
            case 0x20, 0x09, 0x0A, 0x0D:
                break
            default:
                lastSignificant = i
            }
            i += 1
        }
        return b
    }

    /// "invalid JSON at line 3, column 7: expected ...".
    static func describe(_ e: JSONParseError, in bytes: [UInt8]) -> String {
        let offset = min(e.offset, bytes.count)
        var line = 1
        var lineStart = 0
        for i in 0..<offset where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1
        let what: String
        switch e.reason {
        case .unexpectedEnd: what = "unexpected end of file"
        case .unexpectedByte(let c):
            if c >= 0x21 && c < 0x7F {
                what = "unexpected '\(Character(UnicodeScalar(c)))'"
            } else if c == 0x0A || c == 0x0D {
                what = "unexpected line break"
            } else {
                what = "unexpected byte 0x\(Int(c).zeroPadded(2, radix: 16, uppercase: true))"
            }
        case .invalidNumber: what = "invalid number"
        case .invalidEscape: what = "invalid escape in a string"
        case .invalidUTF8: what = "invalid UTF-8 (or a control character) in a string"
        case .tooDeep: what = "nested too deeply"
        case .trailingData: what = "unexpected text after the JSON value"
        case .duplicateKey:
            // The offset is the key's opening quote.
            let key = bytes[offset...].withUnsafeBufferPointer { b -> String? in
                var p = JSONParser(b)
                return try? p.parseString()
            }
            what = "key \(JSONValue.string(key ?? "?").jsonString) appears twice"
        }
        return "invalid JSON at line \(line), column \(column): \(what)"
    }
}
