import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The single writer of stdout: one message per line, whole lines only.
///
/// Callers on any thread hand it finished messages; a lock keeps lines from interleaving. Messages
/// sent by the curl loop's thread during one pass of its loop (the answers to the calls whose
/// responses that pass read) are collected and written together when the pass ends
/// (`CurlLoopPassObserver`): one `write`, and one wake-up of the client, for all of them. A message
/// from any other thread writes what was collected first, so the order of lines is the order of
/// `send` calls.
public final class StdoutWriter: CurlLoopPassObserver {
    private let fd: Int32
    private struct State {
        var closed = false
        /// The thread whose sends are being collected, between `passBegins` and `passEnds`.
        var collecting: pthread_t?
        var collected: [UInt8] = []
    }
    private let state = Mutex(State())

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
        return state.withLock { s -> Bool in
            if s.closed { return false }
            if let owner = s.collecting, pthread_equal(owner, pthread_self()) != 0 {
                if s.collected.isEmpty {
                    s.collected = line
                } else {
                    s.collected.append(contentsOf: line)
                }
                return true
            }
            if !s.collected.isEmpty {
                s.collected.append(contentsOf: line)
                return flush(&s)
            }
            if !writeAll(line) { s.closed = true }
            return !s.closed
        }
    }

    public func passBegins() {
        state.withLock { $0.collecting = pthread_self() }
    }

    public func passEnds() {
        state.withLock { s in
            s.collecting = nil
            if !s.collected.isEmpty { _ = flush(&s) }
        }
    }

    /// Writes what was collected; keeps a small buffer for the next pass, drops a large one.
    private func flush(_ s: inout State) -> Bool {
        let ok = !s.closed && writeAll(s.collected)
        if !ok { s.closed = true }
        if s.collected.capacity > 1 << 20 {
            s.collected = []
        } else {
            s.collected.removeAll(keepingCapacity: true)
        }
        return ok
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { FileOutput.writeAll(fd, $0, waitWhenFull: true) }
    }
}
