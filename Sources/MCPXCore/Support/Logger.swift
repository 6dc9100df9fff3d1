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
public final class Logger: Sendable {
    public let level: LogLevel
    /// The log file's descriptor, opened for appending; the lock keeps lines whole.
    private let file: Mutex<Int32?>
    private let toStderr: Bool

    public init(level: LogLevel = .info, filePath: String? = nil, toStderr: Bool = true) throws {
        self.level = level
        self.toStderr = toStderr
        if let filePath {
            let fd = open(filePath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o666)
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
        let line = "\(Self.timestamp()) \(l.name.uppercased()) mcpx: \(message())\n"
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
public enum Redact {
    /// The URL without user info or query string values (tokens sometimes travel there). Works on
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
        guard let q = rest.firstIndex(of: "?") else { return out + rest }
        out += rest[...q]
        rest = rest[rest.index(after: q)...]
        let fragment = rest.firstIndex(of: "#") ?? rest.endIndex
        let items = rest[..<fragment].split(separator: "&", omittingEmptySubsequences: false).map { item in
            item.firstIndex(of: "=").map { "\(item[...$0])REDACTED" } ?? String(item)
        }
        return out + items.joined(separator: "&") + rest[fragment...]
    }

    /// Replaces every occurrence of any secret in `text` with `[REDACTED]`.
    public static func secrets(_ text: String, _ secrets: [String]) -> String {
        var t = text
        for s in secrets where s.count >= 4 { t = t.replacingAll(s, with: "[REDACTED]") }
        return t
    }
}
