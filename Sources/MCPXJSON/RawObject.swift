/// A JSON object read only as far as its top-level members: each key with the byte range of its value.
///
/// This is how mcpx routes without rebuilding what it forwards: it decodes the few members it needs
/// (`id`, `method`, `params.name`) and copies the other bytes through untouched.
public struct RawObject: Sendable {
    public let bytes: [UInt8]
    public private(set) var members: [(key: String, range: Range<Int>)]

    /// Scans `bytes`, which must hold one JSON object (whitespace around it allowed), validating all of it.
    public init(_ bytes: [UInt8]) throws(JSONParseError) {
        try self.init(bytes, range: 0..<bytes.count)
    }

    /// Scans the object held by `bytes[range]` (a member of a larger message) without copying:
    /// member ranges index `bytes`.
    public init(_ bytes: [UInt8], range: Range<Int>) throws(JSONParseError) {
        self.bytes = bytes
        var found: [(key: String, range: Range<Int>)] = []
        found.reserveCapacity(6)  // one allocation for the usual envelope (jsonrpc, id, method, params)
        var keys: Set<String>?  // only for objects with many members
        let base = range.lowerBound
        let r: Result<Void, JSONParseError> = bytes.withUnsafeBufferPointer { whole in
            let buf = UnsafeBufferPointer(rebasing: whole[range])
            var p = JSONParser(buf)
            do throws(JSONParseError) {
                try p.expect(UInt8(ascii: "{"))
                var more = try p.peek() != UInt8(ascii: "}")
                if !more { try p.expect(UInt8(ascii: "}")) }
                while more {
                    guard try p.peek() == UInt8(ascii: "\"") else {
                        throw JSONParseError(reason: .unexpectedByte(buf[p.pos]), offset: p.pos)
                    }
                    let keyStart = p.pos
                    let key = try p.parseString()
                    // A repeated member is refused (see `JSONParser.parseValue`). Envelopes have a
                    // handful of members: a linear check, a set only for large objects.
                    if found.count < 16 {
                        if found.contains(where: { $0.key == key }) { throw JSONParseError(reason: .duplicateKey, offset: keyStart) }
                    } else {
                        if keys == nil { keys = Set(found.map(\.key)) }
                        guard keys!.insert(key).inserted else { throw JSONParseError(reason: .duplicateKey, offset: keyStart) }
                    }
                    try p.expect(UInt8(ascii: ":"))
                    let r = try p.skipValue()
                    found.append((key: key, range: (r.lowerBound + base)..<(r.upperBound + base)))
                    let c = try p.peek()
                    if c == UInt8(ascii: ",") {
                        try p.expect(c)
                        continue
                    }
                    if c == UInt8(ascii: "}") {
                        try p.expect(c)
                        more = false
                        continue
                    }
                    throw JSONParseError(reason: .unexpectedByte(c), offset: p.pos)
                }
                try p.expectEnd()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try r.get()
        members = found
    }

    /// Whether the bytes start (after whitespace) with `{`.
    public static func looksLikeObject(_ bytes: [UInt8]) -> Bool {
        for b in bytes {
            switch b {
            case 0x20, 0x0A, 0x0D, 0x09: continue
            default: return b == UInt8(ascii: "{")
            }
        }
        return false
    }

    public func range(_ key: String) -> Range<Int>? {
        for m in members where m.key == key { return m.range }
        return nil
    }

    public func raw(_ key: String) -> ArraySlice<UInt8>? {
        range(key).map { bytes[$0] }
    }

    /// Decodes one member's value.
    public func value(_ key: String) -> JSONValue? {
        guard let r = range(key) else { return nil }
        return try? bytes[r].withUnsafeBufferPointer { b throws(JSONParseError) in
            var p = JSONParser(b)
            return try p.parseValue()
        }
    }

    public func has(_ key: String) -> Bool { range(key) != nil }

    /// Whether member `key` is exactly `bytes` as written (no decoding: `"2.0"` and `"2\u002e0"` differ).
    public func bytesEqual(_ key: String, _ expected: [UInt8]) -> Bool {
        guard let r = range(key), r.count == expected.count else { return false }
        return bytes[r].elementsEqual(expected)
    }
}
