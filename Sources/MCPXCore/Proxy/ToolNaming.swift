/// How mcpx names what it re-exposes: `<server>__<name>`, made safe for the clients people use.
///
/// Exposed names match `^[A-Za-z0-9_-]{1,max}$` (Anthropic's and OpenAI's rule). When the plain
/// `<server>__<tool>` would break that (a character outside the set, or too long), the name is
/// sanitized (other characters become `_`), cut to `max - 9` characters and given `_` plus an
/// 8-hex-digit FNV-1a hash of the server and the original name: stable across runs and restarts,
/// and collision-free in practice; a collision that does happen is resolved by salting the hash.
public enum ToolNaming {
    public static let separator = "__"

    /// Server names: 1–32 characters of `[A-Za-z0-9_-]`, without the separator.
    public static func validateServerName(_ name: String) -> String? {
        if name.isEmpty || name.utf8.count > 32 {
            return "server name \"\(name.prefix(40))\" must be 1 to 32 characters long"
        }
        if !name.utf8.allSatisfy(isAllowed) {
            return "server name \"\(name)\" may contain only letters, digits, \"_\" and \"-\""
        }
        if name.contains(separator) {
            return "server name \"\(name)\" must not contain \"\(separator)\" (the namespace separator)"
        }
        if name.hasSuffix("_") {
            return "server name \"\(name)\" must not end with \"_\" (it would run into the separator)"
        }
        return nil
    }

    @inline(__always)
    static func isAllowed(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    public static func isValidExposedName(_ s: String, max: Int) -> Bool {
        let u = s.utf8
        return !u.isEmpty && u.count <= max && u.allSatisfy(isAllowed)
    }

    /// The exposed name of `tool` on `server`; `salt` > 0 only to resolve a collision.
    public static func exposedName(server: String, tool: String, max: Int, salt: Int = 0) -> String {
        let plain = server + separator + tool
        if salt == 0 && isValidExposedName(plain, max: max) { return plain }
        var sanitized = String(decoding: plain.utf8.map { isAllowed($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
        let keep = max - 9
        if sanitized.utf8.count > keep { sanitized = String(decoding: sanitized.utf8.prefix(keep), as: UTF8.self) }
        var hash = fnv1a(server + "\u{0}" + tool)
        if salt > 0 { hash = fnv1a("\(salt)\u{0}" + String(hash, radix: 16)) }
        let hex = String(hash & 0xFFFF_FFFF, radix: 16)
        return sanitized + "_" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }
}
