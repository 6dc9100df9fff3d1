extension JSONValue {
    /// The value with object keys sorted (by their UTF-8 bytes) and no whitespace: two values that
    /// mean the same write the same bytes, whatever order or spacing they came in. An integral
    /// double is written as an integer (`1.0` and `1` are one number).
    public func writeCanonical(to out: inout [UInt8]) {
        switch self {
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            let sorted = o.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, m) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15:
            out.append(contentsOf: String(Int64(d)).utf8)
        default:
            write(to: &out)
        }
    }

    /// `writeCanonical` into a new buffer.
    public var canonical: [UInt8] {
        var out: [UInt8] = []
        writeCanonical(to: &out)
        return out
    }
}
