import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The single writer of stdout: one message per line, whole lines only, one `write` per message.
///
/// Callers on any thread hand it finished messages; a lock keeps lines from interleaving.
public final class StdoutWriter: Sendable {
    private let fd: Int32
    private let state = Mutex<Bool>(false)  // closed

    public init(fd: Int32 = 1) { self.fd = fd }

    /// Writes `message` plus a newline. Returns false once the peer has gone (EPIPE).
    @discardableResult
    public func send(_ message: consuming [UInt8]) -> Bool {
        // Consumed, so appending the newline reuses the message's own storage (builders leave room).
        var line = message
        // Backend JSON passed through may be pretty-printed. Valid JSON has no raw newline inside a
        // string, so any newline byte is whitespace and a space keeps the message on one line.
        if line.withUnsafeBytes({ memchr($0.baseAddress!, 0x0A, $0.count) != nil || memchr($0.baseAddress!, 0x0D, $0.count) != nil }) {
            for i in line.indices where line[i] == 0x0A || line[i] == 0x0D { line[i] = 0x20 }
        }
        line.append(0x0A)
        return state.withLock { closed -> Bool in
            if closed { return false }
            let ok = line.withUnsafeBytes { b -> Bool in
                var off = 0
                while off < b.count {
                    let n = write(fd, b.baseAddress! + off, b.count - off)
                    if n < 0 {
                        if errno == EINTR || errno == EAGAIN { continue }
                        return false
                    }
                    off += n
                }
                return true
            }
            if !ok { closed = true }
            return ok
        }
    }
}
