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
