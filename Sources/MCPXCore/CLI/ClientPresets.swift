/// `--max-tool-name` values for the clients people use.
///
/// - `claude`, `anthropic`, `openai`: 64 (`^[a-zA-Z0-9_-]{1,64}$`).
/// - `cursor:KEY`: Cursor drops tools whose server key plus tool name reach 60 characters, so the
///   limit is 60 minus the length of KEY (the key of mcpx's entry in Cursor's mcp.json).
/// - `claude-code:KEY`: Claude Code exposes `mcp__<KEY>__<tool>` under the 64-character rule, so
///   the limit is 64 - 7 - length of KEY.
public enum ClientPresets {
    public static let minimum = 16
    public static let maximum = 128

    public static func maxToolName(_ spec: String) throws -> Int {
        let value: Int
        if let n = Int(spec) {
            value = n
        } else {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            let key = parts.count > 1 ? parts[1] : "mcpx"
            switch parts[0].lowercased() {
            case "claude", "anthropic", "openai", "claude-desktop": value = 64
            case "cursor": value = 60 - key.count
            case "claude-code": value = 64 - "mcp__".count - "__".count - key.count
            default:
                throw ConfigError("--max-tool-name must be a number or one of claude, openai, cursor:KEY, claude-code:KEY; not \"\(spec)\"")
            }
        }
        guard value >= minimum && value <= maximum else {
            throw ConfigError("--max-tool-name \(spec) gives \(value); it must be from \(minimum) to \(maximum)")
        }
        return value
    }
}
