import Foundation
import Glibc
import MCPXJSON

/// SSE framing: `event: message` / `data: <json>` / blank line, wrapped in one HTTP chunk when the
/// response uses chunked transfer coding (so the connection can be kept alive afterwards).
enum SSE {
    private static let prefix = Array("event: message\ndata: ".utf8)
    static let lastChunk = Array("0\r\n\r\n".utf8)

    static func appendEvent(_ message: JSONValue, chunked: Bool, to out: inout [UInt8]) {
        let json = message.serialized()
        if chunked {
            let length = prefix.count + json.count + 2
            out.append(contentsOf: String(length, radix: 16).utf8)
            out.append(13)
            out.append(10)
        }
        out.append(contentsOf: prefix)
        out.append(contentsOf: json)
        out.append(10)
        out.append(10)
        if chunked {
            out.append(13)
            out.append(10)
        }
    }

    /// Response headers that open an event stream.
    static func headers(chunked: Bool) -> [(String, String)] {
        var headers: [(String, String)] = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
        if chunked { headers.append(("Transfer-Encoding", "chunked")) }
        return headers
    }
}

/// The long-lived GET stream of a session, written to by whichever thread has a server-initiated
/// message, while the connection's own thread waits for the peer to go away.
final class EventStream: @unchecked Sendable {
    private let fd: Int32
    private let chunked: Bool
    /// `--stdio`: newline-delimited JSON on stdout instead of SSE events on a socket.
    private let lines: Bool
    private let lock = NSLock()
    private var open = true

    init(fd: Int32, chunked: Bool, lines: Bool = false) {
        self.fd = fd
        self.chunked = chunked
        self.lines = lines
    }

    var isOpen: Bool {
        lock.withLock { open }
    }

    /// Sends one message; false if the stream is closed or the peer is gone.
    func send(_ message: JSONValue) -> Bool {
        var out: [UInt8] = []
        if lines {
            out = message.serialized()
            out.append(10)
        } else {
            SSE.appendEvent(message, chunked: chunked, to: &out)
        }
        lock.lock()
        defer { lock.unlock() }
        guard open else { return false }
        if lines { return StdioServe.writeAll(fd, out) }
        if Socket.send(fd, out) { return true }
        open = false
        shutdown(fd, Int32(SHUT_RDWR))
        return false
    }

    /// Ends the stream from another thread: shuts the socket down so the owning thread wakes and closes it.
    func terminate() {
        lock.lock()
        defer { lock.unlock() }
        guard open else { return }
        open = false
        if chunked { Socket.send(fd, SSE.lastChunk) }
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Called by the owning thread before it closes the socket, so no one writes to a reused descriptor.
    func detach() {
        lock.withLock { open = false }
    }
}
