#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole writes to a file descriptor (stderr, stdout for people, the log file), without
/// Foundation's `FileHandle`.
enum FileOutput {
    /// Writes all of `bytes`, retrying after EINTR. A non-blocking descriptor that is full (EAGAIN)
    /// is waited for when `waitWhenFull` (stdout: protocol messages must not be lost) and counts
    /// as failed otherwise (logs). Returns false if the descriptor failed (for example a closed
    /// pipe); what was not written is dropped.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, waitWhenFull: Bool = false) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var off = 0
        while off < bytes.count {
            let n = write(fd, base + off, bytes.count - off)
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN && waitWhenFull {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 100)
                continue
            }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Writes the UTF-8 of `text`.
    @discardableResult
    static func writeAll(_ fd: Int32, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
    }
}
