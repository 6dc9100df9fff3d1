#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// printf-style number formatting for the texts mcpx writes (what `String(format:)` did, without
/// classic Foundation). The output is byte for byte what the `%` conversions named below give.
extension Double {
    /// `%.<digits>f`: fixed-point with `digits` decimals, rounded by the C library (so `0.125`
    /// gives `0.12`, like printf).
    func fixed(_ digits: Int) -> String {
        var out = [UInt8](repeating: 0, count: 32)
        while true {
            let capacity = out.count
            let n = out.withUnsafeMutableBytes { b in
                withVaList([Int32(digits), self]) { vsnprintf(b.baseAddress!.assumingMemoryBound(to: CChar.self), capacity, "%.*f", $0) }
            }
            if n < 0 { return String(self) }  // does not happen for %f
            if Int(n) < capacity { return String(decoding: out[..<Int(n)], as: UTF8.self) }
            out = [UInt8](repeating: 0, count: Int(n) + 1)
        }
    }
}

extension Int {
    /// `%0<width>d` (or `%0<width>X` with `radix: 16, uppercase: true`): at least `width`
    /// characters, zeros after the sign.
    func zeroPadded(_ width: Int, radix: Int = 10, uppercase: Bool = false) -> String {
        let digits = String(magnitude, radix: radix, uppercase: uppercase)
        let sign = self < 0 ? "-" : ""
        let zeros = width - sign.count - digits.count
        return zeros > 0 ? sign + String(repeating: "0", count: zeros) + digits : sign + digits
    }
}
