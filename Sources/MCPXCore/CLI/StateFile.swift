import MCPXJSON
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `--state` file: what `manage` changed, kept across restarts.
///
/// The file holds only differences from the configuration (flags and `--config` files):
/// - servers added with `manage add` (name, URL, enabled);
/// - configured servers whose `enabled` flag (or URL, after a remove and re-add) `manage` changed;
/// - configured servers removed with `manage remove`, so they stay removed.
///
/// At start the state wins for every server it names. Header values are never written: headers
/// stay in the config file, and a server whose URL the state changed gets none.
///
/// Writes are atomic: a temporary file in the same directory, write, fsync, rename, fsync of the
/// directory. A crash leaves either the old file or the new one (and perhaps a stray temporary
/// file, which is never read). A file that cannot be read as a state file is moved aside to
/// `<path>.corrupt-<timestamp>`, reported on stderr, and mcpx starts from the configuration.
public final class StateFile: Sendable {
    public static let formatVersion = 1

    /// The contents of a state file.
    public struct Snapshot: Sendable, Equatable {
        public struct Server: Sendable, Equatable {
            public var name: String
            /// Set for servers added with `manage add` (and configured servers re-added at another URL).
            public var url: String?
            /// Set when it differs from the configuration (always for added servers).
            public var enabled: Bool?
            /// Set for stdio servers added with `manage add` (then `url` is nil).
            public var stdio: ServerConfig.StdioSpec?
            /// Set for servers added with `manage add` with several `urls` (then `url` is the first).
            public var urls: [String]?
            public var loadBalancing: String?

            public init(name: String, url: String? = nil, enabled: Bool? = nil) {
                self.name = name
                self.url = url
                self.enabled = enabled
            }
        }

        public var servers: [Server]
        /// Configured servers that `manage remove` removed.
        public var removed: [String]

        public init(servers: [Server] = [], removed: [String] = []) {
            self.servers = servers
            self.removed = removed
        }
    }

    /// A configured server as the configuration gives it, before the state is applied.
    struct Configured: Sendable {
        var name: String
        var url: String
        var enabled: Bool
    }

    struct Memory {
        var configured: [Configured]
        var removed: [String]
    }

    public let path: String
    let log: Logger
    let memory: Mutex<Memory>

    /// A state file that compares against `configured` (the servers of flags and config files,
    /// before the state was applied) and remembers `removed` from the loaded state.
    public init(path: String, log: Logger, configured: [ServerConfig], removed: [String]) {
        self.path = path
        self.log = log
        memory = Mutex(Memory(configured: configured.map { Configured(name: $0.name, url: $0.url, enabled: $0.enabled) }, removed: removed))
    }

    /// The configuration was read again (a reload): later saves compare against `configured`.
    public func updateConfigured(_ configured: [ServerConfig]) {
        memory.withLock { $0.configured = configured.map { Configured(name: $0.name, url: $0.url, enabled: $0.enabled) } }
    }

    // MARK: Saving

    /// Called by the proxy after every `manage` change. Never throws: a failure is logged and the
    /// previous file stays as it was.
    public func save(_ servers: [ServerConfig]) {
        do {
            try write(servers)
            log.debug("state: saved \(servers.count) servers to \(path)")
        } catch {
            log.error("could not save the state file: \(error)")
        }
    }

    /// Writes the state for `servers` (the proxy's whole server set), atomically.
    public func write(_ servers: [ServerConfig]) throws(ConfigError) {
        let snap = snapshot(for: servers)
        try Self.atomicWrite(Self.encode(snap), to: path)
    }

    /// The differences between `servers` and the configuration; updates the remembered removals.
    public func snapshot(for servers: [ServerConfig]) -> Snapshot {
        memory.withLock { m in
            var out: [Snapshot.Server] = []
            for s in servers {
                if let c = m.configured.first(where: { $0.name == s.name }) {
                    var e = Snapshot.Server(name: s.name)
                    if s.url != c.url && s.stdio == nil { e.url = s.url }
                    if s.enabled != c.enabled || e.url != nil { e.enabled = s.enabled }
                    if e.url != nil || e.enabled != nil { out.append(e) }
                } else if let spec = s.stdio {
                    var e = Snapshot.Server(name: s.name, enabled: s.enabled)
                    e.stdio = spec
                    out.append(e)
                } else {
                    var e = Snapshot.Server(name: s.name, url: s.url, enabled: s.enabled)
                    if !s.replicas.isEmpty { e.urls = s.replicas.map(\.url) }
                    if !s.replicas.isEmpty || s.loadBalancing != .leastConnections { e.loadBalancing = s.loadBalancing.rawValue }
                    out.append(e)
                }
            }
            let current = Set(servers.map(\.name))
            var removed: [String] = []
            for n in m.removed + m.configured.map(\.name) where !current.contains(n) && !removed.contains(n) {
                removed.append(n)
            }
            m.removed = removed
            return Snapshot(servers: out, removed: removed)
        }
    }

    // MARK: Loading

    /// Reads the state file. Nil when there is none (or it is empty). A corrupt file is moved
    /// aside and reported, and nil returned; if it cannot be moved, or a newer mcpx wrote it,
    /// this throws (mcpx must not overwrite it).
    public static func load(path: String, log: Logger) throws(ConfigError) -> Snapshot? {
        guard PathKind(path) != .missing else { return nil }
        guard let bytes = FileInput.readAll(path) else {
            throw ConfigError("--state \(path): cannot read the state file")
        }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        do {
            return try decode(bytes)
        } catch {
            switch error {
            case .newer(let v):
                throw ConfigError(
                    "--state \(path): the state file has format \(v), newer than this mcpx understands (\(formatVersion)); upgrade mcpx or use another --state file")
            case .corrupt(let why):
                let aside: String
                do {
                    aside = try moveAside(path)
                } catch {
                    throw ConfigError("--state \(path): the state file is corrupt (\(why)) and could not be moved aside (\(error)); fix or delete it")
                }
                log.error("state file \(path) is corrupt (\(why)); moved it to \(aside) and starting from the configuration")
                return nil
            }
        }
    }

    enum DecodeError: Error {
        case corrupt(String)
        case newer(Int64)
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Snapshot {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw .corrupt(JSONC.describe(error, in: bytes))
        }
        guard case .object(let o) = root else { throw .corrupt("not a JSON object") }
        guard let v = o["version"]?.intValue else { throw .corrupt("no \"version\"") }
        if v > Int64(formatVersion) { throw .newer(v) }
        if v < 1 { throw .corrupt("unknown version \(v)") }
        var snap = Snapshot()
        guard case .array(let servers)? = o["servers"] ?? .array([]) else { throw .corrupt("\"servers\" is not an array") }
        for (i, s) in servers.enumerated() {
            guard case .object(let e) = s, case .string(let name)? = e["name"] else {
                throw .corrupt("servers[\(i)] has no name")
            }
            if let problem = ToolNaming.validateServerName(name) { throw .corrupt("servers[\(i)]: \(problem)") }
            if snap.servers.contains(where: { $0.name == name }) { throw .corrupt("server \"\(name)\" appears twice") }
            var server = Snapshot.Server(name: name)
            switch e["url"] {
            case nil, .null?: break
            case .string(let url)?:
                if let problem = Options.validateURL(url) { throw .corrupt("servers[\(i)].url: \(problem)") }
                server.url = url
            default: throw .corrupt("servers[\(i)].url is not a string")
            }
            switch e["enabled"] {
            case nil, .null?: break
            case .bool(let b)?: server.enabled = b
            default: throw .corrupt("servers[\(i)].enabled is not true or false")
            }
            if let u = e["urls"] {
                guard case .array(let items) = u, !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }), server.url != nil else {
                    throw .corrupt("servers[\(i)].urls is not a list of URLs (with url its first)")
                }
                let urls = items.compactMap(\.stringValue)
                for url in urls { if let problem = Options.validateURL(url) { throw .corrupt("servers[\(i)].urls: \(problem)") } }
                server.urls = urls
            }
            if let lb = e["loadBalancing"] {
                guard let v = lb.stringValue, ServerConfig.LoadBalancing(rawValue: v) != nil else {
                    throw .corrupt("servers[\(i)].loadBalancing is not a balancing strategy")
                }
                server.loadBalancing = v
            }
            if let c = e["command"] {
                guard case .string(let command) = c, server.url == nil else { throw .corrupt("servers[\(i)].command is not a string") }
                var spec = ServerConfig.StdioSpec(command: command)
                spec.args = e["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
                for (k, v) in e["env"]?.objectValue ?? [:] { if let s = v.stringValue { spec.env.append((name: k, value: s)) } }
                spec.cwd = e["cwd"]?.stringValue
                spec.idleTimeout = e["idleTimeout"]?.doubleValue
                server.stdio = spec
            }
            snap.servers.append(server)
        }
        guard case .array(let removed)? = o["removed"] ?? .array([]) else { throw .corrupt("\"removed\" is not an array") }
        for r in removed {
            guard case .string(let name) = r, ToolNaming.validateServerName(name) == nil else {
                throw .corrupt("\"removed\" holds something that is not a server name")
            }
            if !snap.removed.contains(name) { snap.removed.append(name) }
        }
        return snap
    }

    /// The file's bytes: pretty JSON, one server per line, so people can read (and edit) it.
    static func encode(_ s: Snapshot) -> [UInt8] {
        var text = "{\n  \"version\": \(formatVersion),\n"
        text += "  \"writtenBy\": \(JSONValue.string(MCPXVersion.full).jsonString),\n"
        text += "  \"servers\": ["
        for (i, server) in s.servers.enumerated() {
            var o: JSONObject = ["name": .string(server.name)]
            if let url = server.url { o["url"] = .string(url) }
            if let urls = server.urls { o["urls"] = .array(urls.map { .string($0) }) }
            if let lb = server.loadBalancing { o["loadBalancing"] = .string(lb) }
            if let spec = server.stdio {
                o["command"] = .string(spec.command)
                if !spec.args.isEmpty { o["args"] = .array(spec.args.map { .string($0) }) }
                if !spec.env.isEmpty { o["env"] = .object(JSONObject(spec.env.map { (key: $0.name, value: .string($0.value)) })) }
                if let cwd = spec.cwd { o["cwd"] = .string(cwd) }
                if let idle = spec.idleTimeout { o["idleTimeout"] = .double(idle) }
            }
            if let e = server.enabled { o["enabled"] = .bool(e) }
            text += (i == 0 ? "\n    " : ",\n    ") + JSONValue.object(o).jsonString
        }
        text += s.servers.isEmpty ? "],\n" : "\n  ],\n"
        text += "  \"removed\": \(JSONValue.array(s.removed.map { .string($0) }).jsonString)\n}\n"
        return Array(text.utf8)
    }

    /// Applies a loaded state to the configured servers (the state wins for servers it names).
    public static func apply(_ state: Snapshot, to configured: [ServerConfig], file: String, log: Logger) -> [ServerConfig] {
        var result = configured
        for name in state.removed where result.contains(where: { $0.name == name }) {
            result.removeAll { $0.name == name }
            log.info("\(name): removed with manage earlier (state file \(file)); not started")
        }
        for s in state.servers {
            if let i = result.firstIndex(where: { $0.name == s.name }) {
                if let url = s.url, url != result[i].url {
                    result[i].url = url
                    if !result[i].headers.isEmpty {
                        result[i].headers = []
                        log.warning("\(s.name): the state file \(file) gives another URL than the configuration; connecting to it without the configured headers")
                    }
                }
                if let enabled = s.enabled {
                    result[i].enabled = enabled
                    result[i].status = enabled ? .connecting : .disabled
                }
            } else if let spec = s.stdio {
                if state.removed.contains(s.name) { continue }
                result.append(ServerConfig(name: s.name, stdio: spec, enabled: s.enabled ?? true))
            } else if let url = s.url {
                if state.removed.contains(s.name) { continue }
                var c = ServerConfig(name: s.name, url: url, enabled: s.enabled ?? true)
                if let urls = s.urls { c.setReplicas(urls.map { ServerConfig.Replica(url: $0) }) }
                if let lb = s.loadBalancing.flatMap(ServerConfig.LoadBalancing.init(rawValue:)) { c.loadBalancing = lb }
                result.append(c)
            } else {
                log.info("\(s.name): named in the state file \(file) but no longer configured; ignored")
            }
        }
        return result
    }

    // MARK: Files

    static func split(_ path: String) -> (dir: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    static func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

    /// Writes `bytes` to `path` through a temporary file and a rename, fsyncing file and directory.
    static func atomicWrite(_ bytes: [UInt8], to path: String) throws(ConfigError) {
        let temp = try writeTemp(bytes, besides: path)
        try commit(temp, to: path)
    }

    /// The first half of an atomic write: a synced temporary file next to `path`. Returns its path.
    static func writeTemp(_ bytes: [UInt8], besides path: String) throws(ConfigError) -> String {
        let (dir, base) = split(path)
        let temp = "\(dir)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot create \(temp): \(errnoText())") }
        // FileOutput: the one write loop (EINTR, short writes), on Linux and macOS alike.
        if !bytes.withUnsafeBytes({ FileOutput.writeAll(fd, $0) }) {
            let e = errnoText()
            close(fd)
            unlink(temp)
            throw ConfigError("cannot write \(temp): \(e)")
        }
        if fsync(fd) != 0 {
            let e = errnoText()
            close(fd)
            unlink(temp)
            throw ConfigError("cannot sync \(temp): \(e)")
        }
        if close(fd) != 0 {
            let e = errnoText()
            unlink(temp)
            throw ConfigError("cannot close \(temp): \(e)")
        }
        return temp
    }

    /// The second half: rename the temporary file over `path`, then fsync the directory so the
    /// rename itself survives a power cut.
    static func commit(_ temp: String, to path: String) throws(ConfigError) {
        if rename(temp, path) != 0 {
            let e = errnoText()
            unlink(temp)
            throw ConfigError("cannot replace \(path): \(e)")
        }
        let dfd = open(split(path).dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Renames a corrupt file to `<path>.corrupt-<UTC timestamp>` (never over an existing file).
    static func moveAside(_ path: String) throws(ConfigError) -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        // %04d%02d%02dT%02d%02d%02dZ
        let date = "\(Int(tmv.tm_year + 1900).zeroPadded(4))\(Int(tmv.tm_mon + 1).zeroPadded(2))\(Int(tmv.tm_mday).zeroPadded(2))"
        let stamp = "\(date)T\(Int(tmv.tm_hour).zeroPadded(2))\(Int(tmv.tm_min).zeroPadded(2))\(Int(tmv.tm_sec).zeroPadded(2))Z"
        var aside = "\(path).corrupt-\(stamp)"
        var n = 1
        while PathKind(aside) != .missing {
            n += 1
            aside = "\(path).corrupt-\(stamp)-\(n)"
        }
        // link + unlink never replaces an existing file (rename would); some file systems have no
        // hard links, and there rename after the existence check has to do.
        if link(path, aside) == 0 {
            if unlink(path) != 0 { throw ConfigError(errnoText()) }
        } else if rename(path, aside) != 0 {
            throw ConfigError(errnoText())
        }
        return aside
    }
}
