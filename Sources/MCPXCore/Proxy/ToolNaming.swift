/// How mcpx names what it re-exposes: `<server>__<name>`, made safe for the clients people use.
///
/// Exposed names match `^[A-Za-z0-9_-]{1,max}$` (Anthropic's and OpenAI's rule). When the plain
/// `<server>__<tool>` would break that (a character outside the set, or too long), the name is
/// sanitized (other characters become `_`), cut to `max - 13` characters and given `_` plus 12 hex
/// digits (48 bits) of the SHA-256 of the server and the original name: stable across runs and
/// restarts, and not something a crafted server can cheaply match (a 32-bit FNV-1a hash could be).
/// Whatever the hash, exposed names are unique across the whole set: `MultiServerProxy` resolves a
/// clash deterministically (the earlier server keeps the name, the later one is salted) and logs it.
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

    /// Hex digits of the hash in a shortened name.
    public static let hashDigits = 12

    /// The exposed name of `tool` on `server`; `salt` > 0 only to resolve a collision.
    public static func exposedName(server: String, tool: String, max: Int, salt: Int = 0) -> String {
        let plain = server + separator + tool
        if salt == 0 && isValidExposedName(plain, max: max) { return plain }
        var sanitized = String(decoding: plain.utf8.map { isAllowed($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
        let keep = Swift.max(0, max - hashDigits - 1)
        if sanitized.utf8.count > keep { sanitized = String(decoding: sanitized.utf8.prefix(keep), as: UTF8.self) }
        var input = Array(server.utf8) + [0] + Array(tool.utf8)
        if salt > 0 { input = Array("\(salt)".utf8) + [0] + input }
        return sanitized + "_" + String(SHA256.hex(input).prefix(hashDigits))
    }
}
