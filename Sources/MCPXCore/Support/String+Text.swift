/// The few text operations mcpx took from classic Foundation's `NSString` bridging, on the
/// standard library alone. Each says which Foundation call it replaces and how it compares.
extension String {
    /// `trimmingCharacters(in: .whitespaces)`: without leading and trailing spaces and tabs.
    /// Foundation's set, scalar by scalar: tab, the Unicode space separators (Zs) and U+200B.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isFoundationWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isFoundationWhitespace })!
        if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return self }
        return String(scalars[first...last])
    }

    /// `replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)`: without
    /// trailing Unicode White_Space (spaces, tabs, line breaks), which is what ICU's `\s` matches.
    func trimmingTrailingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.index(after: last)
        return end == scalars.endIndex ? self : String(scalars[..<end])
    }

    /// `replacingOccurrences(of:with:)` for a literal `target`: every occurrence, compared as UTF-8
    /// bytes (so a newline inside `\r\n` is replaced too, as Foundation does; unlike Foundation, no
    /// Unicode canonical equivalence, which neither newlines nor secrets need).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let t = Array(target.utf8)
        guard let head = t.first else { return self }
        var text = self
        return text.withUTF8 { b -> String in
            var out: [UInt8] = []
            var copied = 0
            var i = 0
            while i + t.count <= b.count {
                if b[i] == head && t.indices.allSatisfy({ b[i + $0] == t[$0] }) {
                    out.append(contentsOf: b[copied..<i])
                    out.append(contentsOf: replacement.utf8)
                    i += t.count
                    copied = i
                } else {
                    i += 1
                }
            }
            if copied == 0 { return self }
            out.append(contentsOf: b[copied...])
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension Unicode.Scalar {
    /// Foundation's `CharacterSet.whitespaces` (CoreFoundation's list, which keeps U+200B).
    var isFoundationWhitespace: Bool {
        switch value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }
}
