#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads stdin when the loop says it is readable: one `read` per wake-up, lines to `onLine`.
public final class StdinSource: @unchecked Sendable {
    let fd: Int32
    var splitter: LineSplitter
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
    let onLine: @Sendable (LineSplitter.Line) -> Void
    let onEOF: @Sendable () -> Void

    public init(fd: Int32 = 0, maxLineBytes: Int, onLine: @escaping @Sendable (LineSplitter.Line) -> Void, onEOF: @escaping @Sendable () -> Void) {
        self.fd = fd
        self.splitter = LineSplitter(maxLineBytes: maxLineBytes)
        self.onLine = onLine
        self.onEOF = onEOF
    }

    deinit { buf.deallocate() }

    /// Reads what is there; returns false at EOF (after handing over a last unterminated line).
    public func readable() -> Bool {
        var n: Int
        repeat { n = read(fd, buf.baseAddress, buf.count) } while n < 0 && errno == EINTR
        if n < 0 && errno == EAGAIN { return true }
        if n <= 0 {
            if let last = splitter.finish() { onLine(last) }
            onEOF()
            return false
        }
        for line in splitter.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { onLine(line) }
        return true
    }
}
