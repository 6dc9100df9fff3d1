/// Allow / deny lists of tool names, with `*` wildcards.
public enum ToolFilter {
    /// A tool is kept when it matches an allow pattern (or there are none) and no deny pattern.
    public static func allows(_ name: String, allow: [String], deny: [String]) -> Bool {
        if !allow.isEmpty && !allow.contains(where: { matches(name, pattern: $0) }) { return false }
        return !deny.contains(where: { matches(name, pattern: $0) })
    }

    /// Glob match where `*` stands for any run of characters (including none).
    public static func matches(_ name: String, pattern: String) -> Bool {
        let n = Array(name.utf8)
        let p = Array(pattern.utf8)
        var i = 0, j = 0, star = -1, mark = 0
        while i < n.count {
            if j < p.count && p[j] != UInt8(ascii: "*") && p[j] == n[i] {
                i += 1
                j += 1
            } else if j < p.count && p[j] == UInt8(ascii: "*") {
                star = j
                mark = i
                j += 1
            } else if star >= 0 {
                j = star + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while j < p.count && p[j] == UInt8(ascii: "*") { j += 1 }
        return j == p.count
    }
}
