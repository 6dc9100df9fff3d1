public import MCPXJSON
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every change of the server set: who made it (`model` with the client's name, `admin`,
/// `config`, `terminal`), what (`add`, `remove`, `enable`, `disable`, `rollback`), to which server,
/// and the server's entry before and after (secrets redacted).
///
/// With `--state FILE` it lives beside it in `FILE.history.jsonl`: append-only JSON lines, each
/// fsynced; at start a torn last line (a crash mid-write) is ignored, never fatal. Without a
/// state file it is kept in memory for the session.
public final class History: Sendable {
    public struct Entry: Sendable {
        public var id: Int
        public var time: String
        public var actor: String
        public var client: String?
        public var action: String
        public var server: String
        public var before: JSONValue?
        public var after: JSONValue?
        /// For a rollback: the entry it went back to.
        public var to: Int?

        var json: JSONValue {
            var o: JSONObject = [
                "id": .int(Int64(id)), "time": .string(time), "actor": .string(actor), "action": .string(action), "server": .string(server),
                "before": before ?? .null, "after": after ?? .null,
            ]
            if let client { o["client"] = .string(client) }
            if let to { o["to"] = .int(Int64(to)) }
            return .object(o)
        }

        init?(_ v: JSONValue) {
            guard let id = v["id"]?.intValue, let action = v["action"]?.stringValue, let server = v["server"]?.stringValue else { return nil }
            self.id = Int(id)
            time = v["time"]?.stringValue ?? ""
            actor = v["actor"]?.stringValue ?? "?"
            client = v["client"]?.stringValue
            self.action = action
            self.server = server
            before = v["before"].flatMap { $0.isNull ? nil : $0 }
            after = v["after"].flatMap { $0.isNull ? nil : $0 }
            to = v["to"]?.intValue.map(Int.init)
        }

        init(id: Int, time: String, actor: String, client: String?, action: String, server: String, before: JSONValue?, after: JSONValue?, to: Int?) {
            self.id = id
            self.time = time
            self.actor = actor
            self.client = client
            self.action = action
            self.server = server
            self.before = before
            self.after = after
            self.to = to
        }

        /// One line for people: `12 2026-12-02T16:00:00Z model (claude) add docs`.
        public var line: String {
            "\(id) \(time) \(actor)\(client.map { " (\($0))" } ?? "") \(action) \(server)\(to.map { " (back to \($0))" } ?? "")"
        }
    }

    /// Who changes the server set.
    public struct Actor: Sendable {
        public var kind: String
        public var client: String?
        public init(_ kind: String, client: String? = nil) {
            self.kind = kind
            self.client = client
        }
        public static let terminal = Actor("terminal")
        public static let config = Actor("config")
        public static let admin = Actor("admin")
    }

    public let path: String?
    let log: Logger
    let entries = Mutex<[Entry]>([])
    /// Runs after each entry is written (the git memory commits then).
    let afterRecord = Mutex<(@Sendable (Entry) -> Void)?>(nil)

    /// The history beside the state file `statePath` (nil: in memory only), loaded.
    public init(statePath: String?, log: Logger) {
        self.path = statePath.map { $0 + ".history.jsonl" }
        self.log = log
        if let path, let loaded = Self.load(path, log: log) { entries.withLock { $0 = loaded } }
    }

    public func onRecord(_ f: @escaping @Sendable (Entry) -> Void) { afterRecord.withLock { $0 = f } }

    /// Reads the lines; a torn or malformed line is skipped (with a warning unless it is the last).
    static func load(_ path: String, log: Logger) -> [Entry]? {
        guard let bytes = FileInput.readAll(path) else { return nil }
        // A torn last line (no newline at its end) is cut off, so the next entry starts a line.
        if let last = bytes.last, last != 0x0A {
            let keep = (bytes.lastIndex(of: 0x0A) ?? -1) + 1
            if truncate(path, off_t(keep)) != 0 { log.warning("history \(path): cannot cut its torn last line: \(String(cString: strerror(errno)))") }
        }
        var out: [Entry] = []
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() where !line.isEmpty {
            guard let v = try? JSONParser.parse(line), let e = Entry(v) else {
                if i < lines.count - 1 && !(i == lines.count - 2 && lines.last?.isEmpty == true) {
                    log.warning("history \(path): line \(i + 1) is not a history entry; skipped")
                } else {
                    log.warning("history \(path): the last line is incomplete (a write cut short); ignored")
                }
                continue
            }
            out.append(e)
        }
        return out
    }

    public var all: [Entry] { entries.withLock { $0 } }

    /// Records one change; returns the entry.
    @discardableResult
    public func record(_ actor: Actor, action: String, server: String, before: JSONValue?, after: JSONValue?, to: Int? = nil) -> Entry {
        let e = entries.withLock { list -> Entry in
            let e = Entry(
                id: (list.last?.id ?? 0) + 1, time: Self.now(), actor: actor.kind, client: actor.client, action: action, server: server,
                before: before, after: after, to: to)
            list.append(e)
            return e
        }
        if let path { append(e, to: path) }
        afterRecord.withLock { $0 }?(e)
        return e
    }

    func append(_ e: Entry, to path: String) {
        var line = e.json.serialized()
        line.append(0x0A)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            log.error("history \(path): cannot open: \(String(cString: strerror(errno)))")
            return
        }
        defer { close(fd) }
        if !line.withUnsafeBytes({ FileOutput.writeAll(fd, $0) }) { log.error("history \(path): cannot write: \(String(cString: strerror(errno)))") }
        _ = fsync(fd)
    }

    static func now() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }

    /// A server's entry as history keeps it: what re-creates it, secrets redacted.
    public static func describe(_ c: ServerConfig?) -> JSONValue? {
        guard let c else { return nil }
        var o: JSONObject = ["name": .string(c.name), "enabled": .bool(c.enabled)]
        if let spec = c.stdio, c.replicas.isEmpty {
            o["command"] = .string(spec.command)
            if !spec.args.isEmpty { o["args"] = .array(spec.args.map { .string(Redact.known($0)) }) }
            if !spec.env.isEmpty { o["env"] = .object(JSONObject(spec.env.map { (key: $0.name, value: .string("[redacted]")) })) }
            if let cwd = spec.cwd { o["cwd"] = .string(cwd) }
        } else if !c.replicas.isEmpty {
            o["urls"] = .array(c.replicas.map { .string(Redact.url($0.url)) })
            o["loadBalancing"] = .string(c.loadBalancing.rawValue)
        } else {
            o["url"] = .string(Redact.url(c.url))
        }
        if !c.headers.isEmpty { o["headers"] = .object(JSONObject(c.headers.map { (key: $0.name, value: .string("[redacted]")) })) }
        return .object(o)
    }
}
