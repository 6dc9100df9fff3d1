import Glibc

/// Byte-buffer helpers for the hot paths (no String or JSON work per call).
enum Bytes {
    /// Appends a non-negative integer in decimal.
    @inline(__always)
    static func appendInt(_ value: Int64, to out: inout [UInt8]) {
        var x = UInt64(max(0, value))
        var digits = 1
        var t = x
        while t >= 10 {
            t /= 10
            digits += 1
        }
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var k = start + digits - 1
        repeat {
            out[k] = UInt8(ascii: "0") + UInt8(x % 10)
            x /= 10
            k -= 1
        } while x > 0
    }

    /// The offset of `needle` in `p[0..<n]`, or nil (memchr for the first byte, memcmp for the rest).
    @inline(__always)
    static func find(_ needle: [UInt8], in p: UnsafePointer<UInt8>, count n: Int) -> Int? {
        needle.withUnsafeBufferPointer { nb -> Int? in
            guard let first = nb.first else { return 0 }
            let m = nb.count
            var i = 0
            while i + m <= n {
                guard let hit = offset(of: first, in: p, from: i, to: n - m + 1) else { return nil }
                if memcmp(p + hit, nb.baseAddress!, m) == 0 { return hit }
                i = hit + 1
            }
            return nil
        }
    }

    /// The offset of the first `byte` in `p[from..<to]`, or nil.
    @inline(__always)
    static func offset(of byte: UInt8, in p: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let hit = memchr(p + from, Int32(byte), to - from) else { return nil }
        return UnsafeRawPointer(p).distance(to: UnsafeRawPointer(hit))
    }

    private static let textMarker = Array("\"text\":\"".utf8)

    /// Whether an echo answer in `p[0..<n]` carries the text `m<id>` the request sent.
    static func echoMatches(_ p: UnsafePointer<UInt8>, count n: Int, id: Int64) -> Bool {
        guard var i = find(textMarker, in: p, count: n) else { return false }
        i += textMarker.count
        guard i < n, p[i] == UInt8(ascii: "m") else { return false }
        i += 1
        let start = i
        while i < n && p[i] >= 48 && p[i] <= 57 { i += 1 }
        guard i < n, p[i] == UInt8(ascii: "\"") else { return false }
        return LineScanner.parseInt(p + start, i - start) == id
    }

    /// Whether `needle` occurs in `bytes`.
    static func contains(_ needle: [UInt8], in bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return false }
            return find(needle, in: base, count: b.count) != nil
        }
    }

    /// Makes at least `atLeast` bytes free after `end` in a read buffer holding bytes
    /// `start..<end`: moves them to the front, and doubles the buffer if that is not enough.
    static func makeRoom(
        _ buffer: inout UnsafeMutablePointer<UInt8>, capacity: inout Int, start: inout Int, end: inout Int, atLeast: Int
    ) {
        if capacity - end >= atLeast { return }
        if start > 0 {
            memmove(buffer, buffer + start, end - start)
            end -= start
            start = 0
        }
        while capacity - end < atLeast {
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
    }

    /// Writes everything to a blocking fd; false when the reader is gone.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, base + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }
}
