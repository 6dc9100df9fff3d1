public import MCPXJSON
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Log levels, in the order MCP's `logging/setLevel` uses (mcpx itself uses the first five).
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, notice, warning, error

    public init?(name: String) {
        switch name.lowercased() {
        case "debug", "trace": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warning", "warn": self = .warning
        case "error", "critical", "alert", "emergency": self = .error
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warning"
        case .error: return "error"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// mcpx's logger: stderr and an optional file, never stdout (stdout carries protocol messages only).
///
/// Callers must not pass secrets (header values, tokens); URLs are logged through `Redact.url`.
/// Every line is also cleaned of the secrets `Redact` knows (a backend may echo its token), and
/// the log file is created readable by its owner only.
public final class Logger: Sendable {
    public let level: LogLevel
    /// The log file's descriptor, opened for appending; the lock keeps lines whole.
    private let file: Mutex<Int32?>
    private let toStderr: Bool

    public init(level: LogLevel = .info, filePath: String? = nil, toStderr: Bool = true) throws {
        self.level = level
        self.toStderr = toStderr
        if let filePath {
            let fd = open(filePath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let exists = access(filePath, F_OK) == 0
                throw ConfigError("cannot \(exists ? "open" : "create") log file \(filePath)")
            }
            file = Mutex(fd)
        } else {
            file = Mutex(nil)
        }
    }

    deinit {
        file.withLock { fd in
            if let fd { close(fd) }
        }
    }

    /// A logger that drops everything (tests, and commands whose stderr is for people).
    public static let silent: Logger = try! Logger(level: .error, filePath: nil, toStderr: false)

    @inline(__always)
    public func enabled(_ l: LogLevel) -> Bool { l >= level }

    public func log(_ l: LogLevel, _ message: @autoclosure () -> String) {
        guard l >= level else { return }
        write(l, message())
    }

    /// A line printed whatever the level (where mcpx listens: scripts and tests wait for it).
    public func announce(_ message: String) { write(.info, message) }

    private func write(_ l: LogLevel, _ message: String) {
        let line = "\(Self.timestamp()) \(l.name.uppercased()) mcpx: \(Redact.known(message))\n"
        if toStderr { FileOutput.writeAll(2, line) }
        file.withLock { fd in
            if let fd { FileOutput.writeAll(fd, line) }
        }
    }

    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
    public func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    public func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }

    static func timestamp() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = tv.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        // %04d-%02d-%02dT%02d:%02d:%02d.%03dZ
        let date = "\(Int(tmv.tm_year + 1900).zeroPadded(4))-\(Int(tmv.tm_mon + 1).zeroPadded(2))-\(Int(tmv.tm_mday).zeroPadded(2))"
        let hms = "\(Int(tmv.tm_hour).zeroPadded(2)):\(Int(tmv.tm_min).zeroPadded(2)):\(Int(tmv.tm_sec).zeroPadded(2))"
        return "\(date)T\(hms).\(Int(tv.tv_usec / 1000).zeroPadded(3))Z"
    }
}

/// Keeps credentials out of logs, status and error texts.
///
/// Every backend's configured secrets (header values and their credential part, URL user info,
/// query values, fragments) are registered here when its connection is made; `known` and `value`
/// replace them wherever they appear in a text mcpx writes: log lines, its own tools' results,
/// error texts (which may quote what a backend said), terminal output.
public enum Redact {
    /// Shorter values are not secrets worth the damage of replacing them everywhere.
    static let minimumSecretLength = 4
    /// Query values and fragments are often plain settings (`?kind=deep`): shorter ones are kept.
    static let minimumURLSecretLength = 8
    static let marker = "[REDACTED]"

    /// The registered secrets with a count of the connections that registered each, and the list
    /// the cleaning walks (longest first: "Bearer abc..." before "abc...", so no half remains).
    struct Registry {
        var counts: [String: Int] = [:]
        var list: [String] = []
        var shortest = Int.max

        mutating func rebuild() {
            list = counts.keys.sorted { $0.utf8.count > $1.utf8.count }
            shortest = list.last?.utf8.count ?? .max
        }
    }

    private static let registry = Mutex(Registry())

    /// Adds secrets to the ones every text is cleaned of (a backend's connection does, for its life).
    public static func register(_ secrets: [String]) {
        let fresh = secrets.filter { $0.utf8.count >= minimumSecretLength }
        guard !fresh.isEmpty else { return }
        registry.withLock { r in
            for s in fresh { r.counts[s, default: 0] += 1 }
            r.rebuild()
        }
    }

    /// Takes back what `register` added (a secret stays while any connection still holds it).
    public static func unregister(_ secrets: [String]) {
        let fresh = secrets.filter { $0.utf8.count >= minimumSecretLength }
        guard !fresh.isEmpty else { return }
        registry.withLock { r in
            for s in fresh {
                guard let n = r.counts[s] else { continue }
                r.counts[s] = n > 1 ? n - 1 : nil
            }
            r.rebuild()
        }
    }

    static var known: (list: [String], shortest: Int) { registry.withLock { ($0.list, $0.shortest) } }

    /// `text` without any registered secret.
    public static func known(_ text: String) -> String {
        let k = known
        return k.list.isEmpty || text.utf8.count < k.shortest ? text : secrets(text, k.list)
    }

    /// Every string value in `value` without any registered secret (keys are mcpx's own names).
    public static func value(_ value: JSONValue) -> JSONValue {
        let k = known
        return k.list.isEmpty ? value : clean(value, k.list, k.shortest)
    }

    private static func clean(_ v: JSONValue, _ list: [String], _ shortest: Int) -> JSONValue {
        switch v {
        case .string(let s): return s.utf8.count < shortest ? v : .string(secrets(s, list))
        case .array(let a): return .array(a.map { clean($0, list, shortest) })
        case .object(let o): return .object(JSONObject(o.members.map { (key: $0.key, value: clean($0.value, list, shortest)) }))
        default: return v
        }
    }

    /// Whether any secret is registered (else nothing needs cleaning).
    public static var hasSecrets: Bool { registry.withLock { !$0.list.isEmpty } }

    /// The values of a stdio server's `env` that look like credentials (the name says KEY, TOKEN,
    /// SECRET, PASS, AUTH, CRED or PAT).
    public static func envSecrets(_ env: [(name: String, value: String)]) -> [String] {
        let marks = ["KEY", "TOKEN", "SECRET", "PASS", "AUTH", "CRED", "PAT"]
        return env.filter { e in marks.contains { e.name.uppercased().contains($0) } }.map(\.value)
    }

    /// Headers whose values are settings, not credentials.
    static let plainHeaders: Set<String> = [
        "accept", "accept-language", "accept-encoding", "content-type", "content-language", "user-agent",
        "cache-control", "mcp-protocol-version",
    ]

    /// The parts of a header that are secret: the whole value and, for `Scheme credentials`
    /// (`Bearer abc`, `Basic ...`, `token abc`), the credentials alone; none for headers that
    /// carry settings (`Accept`, `User-Agent`, ...).
    public static func headerSecrets(name: String, _ value: String) -> [String] {
        if plainHeaders.contains(name.lowercased()) { return [] }
        var out = [value]
        let trimmed = value.trimmingWhitespace()
        if let space = trimmed.firstIndex(of: " ") {
            let rest = String(trimmed[trimmed.index(after: space)...]).trimmingWhitespace()
            if !rest.isEmpty { out.append(rest) }
        }
        return out
    }

    /// The secret parts of a URL: the password (and the user name when there is no password: then
    /// it is the token, as in `https://TOKEN@host/`), the `user:password` pair and its Basic
    /// authentication form, every query value (or item without `=`) and the fragment of at least
    /// `minimumURLSecretLength` characters; each also percent-decoded. A user name beside a
    /// password, or a short query value (`?kind=deep`), is not one: replacing it everywhere would
    /// mangle ordinary words, server names among them.
    public static func urlSecrets(_ s: String) -> [String] {
        var out: [String] = []
        var rest = Substring(s)
        if let scheme = rest.firstRange(of: "://") {
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") {
                let info = rest[..<at]
                let parts = info.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 {
                    out.append(String(parts[1]))
                    out.append(String(info))
                    let decoded = parts.map { percentDecoded(String($0)) ?? String($0) }.joined(separator: ":")
                    out.append(base64(Array(decoded.utf8)))
                } else {
                    out.append(String(info))
                }
                rest = rest[rest.index(after: at)...]
            }
        }
        var fragment: Substring = ""
        if let hash = rest.firstIndex(of: "#") {
            fragment = rest[rest.index(after: hash)...]
            rest = rest[..<hash]
        }
        var values: [String] = fragment.isEmpty ? [] : [String(fragment)]
        if let q = rest.firstIndex(of: "?") {
            for item in rest[rest.index(after: q)...].split(separator: "&") {
                if let eq = item.firstIndex(of: "=") {
                    values.append(String(item[item.index(after: eq)...]))
                } else {
                    values.append(String(item))
                }
            }
        }
        out += values.filter { $0.utf8.count >= minimumURLSecretLength }
        return out + out.compactMap { percentDecoded($0) }
    }

    /// Standard base64 with padding (what curl sends for a URL's user info as Basic authentication).
    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var v = UInt32(bytes[i]) << 16
            if n > 1 { v |= UInt32(bytes[i + 1]) << 8 }
            if n > 2 { v |= UInt32(bytes[i + 2]) }
            for k in 0..<4 {
                out.append(k <= n ? table[Int((v >> UInt32(18 - 6 * k)) & 63)] : UInt8(ascii: "="))
            }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `s` with `%XX` escapes decoded (nil when it has none, or they do not decode to UTF-8).
    static func percentDecoded(_ s: String) -> String? {
        guard s.contains("%") else { return nil }
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.popFirst() {
            if b == UInt8(ascii: "%"), u.count >= 2, let v = UInt8(String(decoding: u.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                u = u.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }


    /// The URL without user info, query string values (tokens sometimes travel there) or fragment. Works on
    /// the text, so a URL that does not parse loses its secrets too.
    public static func url(_ s: String) -> String {
        var rest = Substring(s)
        var out = ""
        if let scheme = rest.firstRange(of: "://") {
            out += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        }
        var fragment = ""
        if let hash = rest.firstIndex(of: "#") {
            if rest.index(after: hash) < rest.endIndex { fragment = "#REDACTED" }
            rest = rest[..<hash]
        }
        guard let q = rest.firstIndex(of: "?") else { return out + rest + fragment }
        out += rest[...q]
        rest = rest[rest.index(after: q)...]
        let items = rest.split(separator: "&", omittingEmptySubsequences: false).map { item in
            if item.isEmpty { return "" }
            return item.firstIndex(of: "=").map { "\(item[...$0])REDACTED" } ?? "REDACTED"
        }
        return out + items.joined(separator: "&") + fragment
    }

    /// Replaces every occurrence of any secret in `text` with `[REDACTED]`.
    public static func secrets(_ text: String, _ secrets: [String]) -> String {
        var t = text
        for s in secrets where s.count >= 4 { t = t.replacingAll(s, with: "[REDACTED]") }
        return t
    }
}
