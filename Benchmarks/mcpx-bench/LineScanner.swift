import Glibc

/// What the driver needs from one JSON-RPC line, found in one pass over its top-level members without
/// building any JSON value: the id (its raw bytes and, when it is an integer, its value) and whether
/// the line holds a method (a request or notification from mcpx) or an error.
struct LineInfo {
    /// The raw id value, `idStart..<idEnd` in the line; idStart < 0 when there is none.
    var idStart = -1
    var idEnd = -1
    var id: Int64?
    var hasMethod = false
    var hasError = false

    var hasID: Bool { idStart >= 0 }
}

enum LineScanner {
    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    /// Scans a line. Stops early once it has the id and reaches `result` (nothing else can follow that
    /// matters), so a 2 MB tools/list answer costs a few bytes when mcpx writes `id` first.
    static func scan(_ p: UnsafePointer<UInt8>, count n: Int) -> LineInfo {
        var info = LineInfo()
        var i = 0
        while i < n && isSpace(p[i]) { i += 1 }
        guard i < n, p[i] == UInt8(ascii: "{") else { return info }
        i += 1
        var depth = 1
        var expectKey = true
        while i < n {
            let c = p[i]
            if c == quote {
                let keyStart = i + 1
                i = skipString(p, n, from: keyStart)
                guard depth == 1 && expectKey else { continue }
                expectKey = false
                let keyLength = i - 1 - keyStart
                var j = i
                while j < n && (isSpace(p[j]) || p[j] == UInt8(ascii: ":")) { j += 1 }
                let key = p + keyStart
                if equals(key, keyLength, "id") {
                    let valueStart = j
                    if j < n && p[j] == quote {
                        j = skipString(p, n, from: j + 1)
                    } else {
                        while j < n && !isDelimiter(p[j]) { j += 1 }
                        info.id = parseInt(p + valueStart, j - valueStart)
                    }
                    info.idStart = valueStart
                    info.idEnd = j
                } else if equals(key, keyLength, "result") {
                    if info.hasID { return info }
                } else if equals(key, keyLength, "method") {
                    info.hasMethod = true
                } else if equals(key, keyLength, "error") {
                    info.hasError = true
                }
                i = j
                continue
            }
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return info }
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true }
            default:
                break
            }
            i += 1
        }
        return info
    }

    /// The index after the closing quote of a string whose contents start at `from`.
    @inline(__always)
    private static func skipString(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int {
        var i = from
        while i < n {
            let c = p[i]
            if c == backslash {
                i += 2
            } else if c == quote {
                return i + 1
            } else {
                i += 1
            }
        }
        return n
    }

    @inline(__always)
    private static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    @inline(__always)
    private static func isDelimiter(_ c: UInt8) -> Bool {
        c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || isSpace(c)
    }

    @inline(__always)
    private static func equals(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: StaticString) -> Bool {
        guard n == s.utf8CodeUnitCount else { return false }
        return memcmp(p, s.utf8Start, n) == 0
    }

    /// A decimal integer, nil for anything else (fractions, exponents, out of range).
    static func parseInt(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if p[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
        }
        guard i < n, n - i <= 18 else { return nil }
        var value: Int64 = 0
        while i < n {
            let d = p[i] &- 48
            guard d < 10 else { return nil }
            value = value * 10 + Int64(d)
            i += 1
        }
        return negative ? -value : value
    }
}
