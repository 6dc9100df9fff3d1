/// Why a byte sequence is not JSON, and where.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidNumber
        case invalidEscape
        case invalidUTF8
        case tooDeep
        case trailingData
        /// An object names the same member twice: parsers disagree on which one counts.
        case duplicateKey
    }

    public var reason: Reason
    public var offset: Int

    public var description: String {
        switch reason {
        case .unexpectedEnd: return "unexpected end of input at byte \(offset)"
        case .unexpectedByte(let b): return "unexpected byte 0x\(String(b, radix: 16)) at byte \(offset)"
        case .invalidNumber: return "invalid number at byte \(offset)"
        case .invalidEscape: return "invalid string escape at byte \(offset)"
        case .invalidUTF8: return "invalid UTF-8 in string at byte \(offset)"
        case .tooDeep: return "nesting deeper than \(JSONParser.maxDepth) at byte \(offset)"
        case .trailingData: return "data after the JSON value at byte \(offset)"
        case .duplicateKey: return "duplicate member name at byte \(offset)"
        }
    }
}

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Besides building `JSONValue`s it can skip a value and report its byte range, which lets mcpx
/// read a message's envelope and forward the rest of its bytes untouched.
public struct JSONParser: ~Copyable {
    /// Nesting limit: deeper input is rejected rather than risking the stack.
    public static let maxDepth = 256

    let buf: UnsafeBufferPointer<UInt8>
    public private(set) var pos: Int = 0
    var depth = 0

    public init(_ buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    /// Parses a whole document (whitespace around it allowed).
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try parse(bytes[...])
    }

    public static func parse(_ bytes: ArraySlice<UInt8>) throws(JSONParseError) -> JSONValue {
        let r: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buf in
            var p = JSONParser(buf)
            do throws(JSONParseError) {
                let v = try p.parseValue()
                try p.expectEnd()
                return .success(v)
            } catch {
                return .failure(error)
            }
        }
        return try r.get()
    }

    public static func parse(_ string: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(string.utf8))
    }

    func fail(_ r: JSONParseError.Reason) -> JSONParseError { JSONParseError(reason: r, offset: pos) }

    public mutating func skipWhitespace() {
        while pos < buf.count {
            switch buf[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    public mutating func expectEnd() throws(JSONParseError) {
        skipWhitespace()
        if pos != buf.count { throw fail(.trailingData) }
    }

    public mutating func peek() throws(JSONParseError) -> UInt8 {
        skipWhitespace()
        guard pos < buf.count else { throw fail(.unexpectedEnd) }
        return buf[pos]
    }

    public mutating func expect(_ byte: UInt8) throws(JSONParseError) {
        let b = try peek()
        guard b == byte else { throw fail(.unexpectedByte(b)) }
        pos += 1
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard pos + n <= buf.count else { throw fail(.unexpectedEnd) }
        let p = word.utf8Start
        for i in 0..<n where buf[pos + i] != p[i] { throw fail(.unexpectedByte(buf[pos + i])) }
        pos += n
    }

    public mutating func parseValue() throws(JSONParseError) -> JSONValue {
        let b = try peek()
        switch b {
        case UInt8(ascii: "{"):
            depth += 1
            guard depth <= Self.maxDepth else { throw fail(.tooDeep) }
            defer { depth -= 1 }
            pos += 1
            var obj = JSONObject()
            if try peek() == UInt8(ascii: "}") {
                pos += 1
                return .object(obj)
            }
            // Duplicate names are refused: one parser keeps the first, another the last, so what
            // mcpx forwards could mean one thing to mcpx and another to the client.
            var keys: Set<String>?
            while true {
                guard try peek() == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(buf[pos])) }
                let keyStart = pos
                let key = try parseString()
                if obj.members.count >= 16 {
                    if keys == nil { keys = Set(obj.members.map(\.key)) }
                    guard keys!.insert(key).inserted else { throw JSONParseError(reason: .duplicateKey, offset: keyStart) }
                } else if obj.members.contains(where: { $0.key == key }) {
                    throw JSONParseError(reason: .duplicateKey, offset: keyStart)
                }
                try expect(UInt8(ascii: ":"))
                let v = try parseValue()
                obj.members.append((key: key, value: v))
                let c = try peek()
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { return .object(obj) }
                pos -= 1
                throw fail(.unexpectedByte(c))
            }
        case UInt8(ascii: "["):
            depth += 1
            guard depth <= Self.maxDepth else { throw fail(.tooDeep) }
            defer { depth -= 1 }
            pos += 1
            var arr: [JSONValue] = []
            if try peek() == UInt8(ascii: "]") {
                pos += 1
                return .array(arr)
            }
            while true {
                arr.append(try parseValue())
                let c = try peek()
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { return .array(arr) }
                pos -= 1
                throw fail(.unexpectedByte(c))
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw fail(.unexpectedByte(b))
        }
    }

    /// Skips one value and returns the byte range it occupied, validating it on the way.
    public mutating func skipValue() throws(JSONParseError) -> Range<Int> {
        let b = try peek()
        let start = pos
        switch b {
        case UInt8(ascii: "{"):
            depth += 1
            guard depth <= Self.maxDepth else { throw fail(.tooDeep) }
            defer { depth -= 1 }
            pos += 1
            if try peek() == UInt8(ascii: "}") {
                pos += 1
                return start..<pos
            }
            while true {
                guard try peek() == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(buf[pos])) }
                try skipString()
                try expect(UInt8(ascii: ":"))
                _ = try skipValue()
                let c = try peek()
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { return start..<pos }
                pos -= 1
                throw fail(.unexpectedByte(c))
            }
        case UInt8(ascii: "["):
            depth += 1
            guard depth <= Self.maxDepth else { throw fail(.tooDeep) }
            defer { depth -= 1 }
            pos += 1
            if try peek() == UInt8(ascii: "]") {
                pos += 1
                return start..<pos
            }
            while true {
                _ = try skipValue()
                let c = try peek()
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { return start..<pos }
                pos -= 1
                throw fail(.unexpectedByte(c))
            }
        case UInt8(ascii: "\""):
            try skipString()
        default:
            _ = try parseValue()
        }
        return start..<pos
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = pos
        var isInteger = true
        if buf[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < buf.count else { throw fail(.invalidNumber) }
        if buf[pos] == UInt8(ascii: "0") {
            pos += 1
        } else if buf[pos] >= UInt8(ascii: "1") && buf[pos] <= UInt8(ascii: "9") {
            while pos < buf.count && buf[pos] >= UInt8(ascii: "0") && buf[pos] <= UInt8(ascii: "9") { pos += 1 }
        } else {
            throw fail(.invalidNumber)
        }
        if pos < buf.count && buf[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            let digits = pos
            while pos < buf.count && buf[pos] >= UInt8(ascii: "0") && buf[pos] <= UInt8(ascii: "9") { pos += 1 }
            if pos == digits { throw fail(.invalidNumber) }
        }
        if pos < buf.count && (buf[pos] == UInt8(ascii: "e") || buf[pos] == UInt8(ascii: "E")) {
            isInteger = false
            pos += 1
            if pos < buf.count && (buf[pos] == UInt8(ascii: "+") || buf[pos] == UInt8(ascii: "-")) { pos += 1 }
            let digits = pos
            while pos < buf.count && buf[pos] >= UInt8(ascii: "0") && buf[pos] <= UInt8(ascii: "9") { pos += 1 }
            if pos == digits { throw fail(.invalidNumber) }
        }
        if isInteger && pos - start <= 18 {
            // Up to 18 digits always fit: no string, no generic integer parsing (ids, counts).
            var i = start
            let negative = buf[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            var v: Int64 = 0
            while i < pos {
                v = v &* 10 &+ Int64(buf[i] &- 0x30)
                i += 1
            }
            return .int(negative ? -v : v)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self)
        if isInteger, let i = Int64(text) { return .int(i) }
        guard let d = Double(text) else { throw fail(.invalidNumber) }
        return .double(d)
    }

    /// Skips a string, validating it as fully as `parseString` does (escapes, surrogate pairs,
    /// UTF-8) without building it: bytes that pass through mcpx untouched must be valid JSON.
    mutating func skipString() throws(JSONParseError) {
        pos += 1  // opening quote
        while pos < buf.count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                return
            }
            if c == UInt8(ascii: "\\") {
                pos += 1
                guard pos < buf.count else { throw fail(.unexpectedEnd) }
                switch buf[pos] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    pos += 1
                case UInt8(ascii: "u"):
                    pos += 1
                    _ = try unicodeEscape()
                default:
                    throw fail(.invalidEscape)
                }
                continue
            }
            if c < 0x20 { throw fail(.unexpectedByte(c)) }
            if c < 0x80 {
                pos += 1
                continue
            }
            try skipUTF8Sequence()
        }
        throw fail(.unexpectedEnd)
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` (no overlongs, no surrogates, ≤ U+10FFFF).
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let c = buf[pos]
        let need: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: throw fail(.invalidUTF8)
        }
        guard pos + need < buf.count else { throw fail(.unexpectedEnd) }
        let first = buf[pos + 1]
        guard first >= lo && first <= hi else { throw fail(.invalidUTF8) }
        for k in 2...max(2, need) where k <= need {
            let b = buf[pos + k]
            guard b >= 0x80 && b <= 0xBF else { throw fail(.invalidUTF8) }
        }
        pos += need + 1
    }

    public mutating func parseString() throws(JSONParseError) -> String {
        pos += 1  // opening quote
        let start = pos
        // Fast path: no escapes. ASCII (keys, methods, tool names) needs no UTF-8 validation, and
        // `String(decoding:)` of a buffer is specialized; `String(validating:)` instantiates generic
        // metadata on every call, a measurable part of a forwarded call's cost.
        var ascii = true
        while pos < buf.count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buf[start..<pos])
                if !ascii {
                    guard let s = String(validating: slice, as: UTF8.self) else { throw fail(.invalidUTF8) }
                    pos += 1
                    return s
                }
                pos += 1
                return String(decoding: slice, as: UTF8.self)
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail(.unexpectedByte(c)) }
            if c >= 0x80 { ascii = false }
            pos += 1
        }
        guard pos < buf.count else { throw fail(.unexpectedEnd) }
        var bytes = Array(buf[start..<pos])
        while pos < buf.count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                guard let s = String(validating: bytes, as: UTF8.self) else { throw fail(.invalidUTF8) }
                return s
            }
            if c < 0x20 { throw fail(.unexpectedByte(c)) }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                pos += 1
                continue
            }
            pos += 1
            guard pos < buf.count else { throw fail(.unexpectedEnd) }
            let e = buf[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                guard let u = Unicode.Scalar(try unicodeEscape()) else { throw fail(.invalidEscape) }
                bytes.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw fail(.invalidEscape)
            }
        }
        throw fail(.unexpectedEnd)
    }

    /// The scalar of a `\\u` escape whose 4 hex digits start at `pos`, with the low half of a
    /// surrogate pair when one is needed; a lone or reversed surrogate is invalid.
    mutating func unicodeEscape() throws(JSONParseError) -> UInt32 {
        let scalar = try hex4()
        if scalar >= 0xDC00 && scalar < 0xE000 { throw fail(.invalidEscape) }
        guard scalar >= 0xD800 && scalar < 0xDC00 else { return scalar }
        // High surrogate: a low one must follow.
        guard pos + 1 < buf.count, buf[pos] == UInt8(ascii: "\\"), buf[pos + 1] == UInt8(ascii: "u")
        else { throw fail(.invalidEscape) }
        pos += 2
        let low = try hex4()
        guard low >= 0xDC00 && low < 0xE000 else { throw fail(.invalidEscape) }
        return 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= buf.count else { throw fail(.unexpectedEnd) }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail(.invalidEscape)
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }
}
