/// MCP (syslog) log levels, in increasing severity.
enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case debug, info, notice, warning, error, critical, alert, emergency

    init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warning"
        case .error: return "error"
        case .critical: return "critical"
        case .alert: return "alert"
        case .emergency: return "emergency"
        }
    }

    static var names: [String] { allCases.map(\.name) }

    static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}
