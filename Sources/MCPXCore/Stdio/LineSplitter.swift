import Foundation

/// Splits a byte stream into lines, with a size limit.
///
/// A value type so it is tested without a file descriptor; `StdinReader` feeds it.
public struct LineSplitter: Sendable {
    public enum Line: Sendable, Equatable {
        case line([UInt8])
        /// A line longer than the limit, dropped; its first bytes are kept to find its id.
        case tooLong(size: Int, head: [UInt8])
    }

    public let maxLineBytes: Int
    var buffer: [UInt8] = []
    var discarding = false
    var discardedSize = 0
    var discardedHead: [UInt8] = []

    public init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    /// Feeds bytes; returns the complete lines they finish.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [Line] {
        var lines: [Line] = []
        var start = 0
        let bytes = chunk.bindMemory(to: UInt8.self)
        while start < bytes.count {
            let slice = UnsafeBufferPointer(rebasing: bytes[start...])
            guard let rel = slice.firstIndex(of: 0x0A) else {
                append(UnsafeBufferPointer(rebasing: bytes[start...]))
                break
            }
            let nl = start + rel
            append(UnsafeBufferPointer(rebasing: bytes[start..<nl]))
            lines.append(finishLine())
            start = nl + 1
        }
        return lines
    }

    /// At end of input: the last line if it had no newline.
    public mutating func finish() -> Line? {
        if discarding || !buffer.isEmpty { return finishLine() }
        return nil
    }

    mutating func append(_ b: UnsafeBufferPointer<UInt8>) {
        if discarding {
            discardedSize += b.count
            return
        }
        if buffer.count + b.count > maxLineBytes {
            discarding = true
            discardedSize = buffer.count + b.count
            discardedHead = Array(buffer.prefix(256))
            if discardedHead.count < 256 { discardedHead += b.prefix(256 - discardedHead.count) }
            buffer = []
            return
        }
        buffer.append(contentsOf: b)
    }

    mutating func finishLine() -> Line {
        if discarding {
            discarding = false
            let l = Line.tooLong(size: discardedSize, head: discardedHead)
            discardedSize = 0
            discardedHead = []
            return l
        }
        var l = buffer
        buffer = []
        if l.last == 0x0D { l.removeLast() }
        return .line(l)
    }
}

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
