import MCPXJSON

/// One client connection of the HTTP door. Loop thread only.
///
/// Requests are answered one at a time, in order (pipelined ones wait in `queued`); an answer is
/// an `HTTPExchange`, which may be a plain response or an SSE stream. Writes go out at once; what
/// the socket cannot take waits in `out`, and a client that leaves more than the limit unread is
/// disconnected (its slowness never holds the loop or other clients).
final class HTTPServerConnection: @unchecked Sendable {
    let id: Int
    let fd: Int32
    unowned let door: HTTPDoor
    var watch: FDWatch?
    var parser: HTTPRequestParser
    var queued: [HTTPRequest] = []
    /// The request being answered.
    var exchange: HTTPExchange?
    var out: [UInt8] = []
    var outSent = 0
    var closeWhenFlushed = false
    var closed = false
    /// The client closed its side after sending: close once what it asked is answered.
    var peerClosed = false
    /// When bytes last came in or went out (monotonic ns), for the idle limit.
    var lastActivity = monotonicNanos()
    /// When the current request's first bytes arrived (a slow sender gets a time limit).
    var requestStarted: UInt64?

    init(id: Int, fd: Int32, door: HTTPDoor, parser: HTTPRequestParser) {
        self.id = id
        self.fd = fd
        self.door = door
        self.parser = parser
    }

    var unsentBytes: Int { out.count - outSent }

    /// Writes bytes (or keeps what the socket cannot take yet).
    func write(_ bytes: [UInt8]) {
        guard !closed, !bytes.isEmpty else { return }
        // Behind: what earlier messages left unsent is past the limit (one large answer alone is
        // not, however large: its size is bounded by the backend's response limit).
        if unsentBytes > door.settings.maxUnsentBytes {
            door.log.warning("http: client connection \(id) fell behind (\(unsentBytes) bytes unsent); disconnected")
            door.slowClientsDropped += 1
            close()
            return
        }
        lastActivity = monotonicNanos()
        if unsentBytes == 0 {
            let n = bytes.withUnsafeBytes { ServerSocket.writeSome(fd, $0) }
            guard let n else {
                close()
                return
            }
            if n == bytes.count { return }
            out = Array(bytes[n...])
            outSent = 0
            door.wantWritable(self)
        } else {
            out.append(contentsOf: bytes)
        }
    }

    /// The socket can take bytes again.
    func writable() {
        guard !closed else { return }
        if unsentBytes > 0 {
            let n = out[outSent...].withUnsafeBytes { ServerSocket.writeSome(fd, $0) }
            guard let n else {
                close()
                return
            }
            outSent += n
            if outSent == out.count {
                out = []
                outSent = 0
            } else {
                // The sent part stays until all is sent: moving the rest down after every partial
                // write would copy a large answer many times over.
                door.wantWritable(self)
                return
            }
        }
        if closeWhenFlushed { close() }
    }

    /// The answer to the current request is complete: close if asked to, else take the next one.
    func exchangeDone(_ ex: HTTPExchange) {
        guard exchange === ex else { return }
        exchange = nil
        if ex.closeAfter || (peerClosed && queued.isEmpty) {
            closeWhenFlushed = true
            if unsentBytes == 0 { close() }
            return
        }
        if !queued.isEmpty {
            let next = queued.removeFirst()
            door.begin(next, on: self)
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        out = []
        let ex = exchange
        exchange = nil
        ex?.connectionClosed()
        door.connectionClosed(self)
    }
}

/// The answer to one HTTP request: a whole response, or an SSE stream of events (chunked) that
/// ends with the last one. Loop thread only.
final class HTTPExchange: @unchecked Sendable {
    enum State { case open, streaming, done }

    let connection: HTTPServerConnection
    let closeAfter: Bool
    let isHead: Bool
    var state = State.open
    /// Headers every response of this exchange carries (`Mcp-Session-Id`).
    var headers: [(String, String)] = []
    /// Runs when the connection closes before the exchange is done.
    var onClose: (() -> Void)?
    /// The client closing its side ends the exchange (a 2026-07-28 request: closing is its cancel).
    var cancelOnPeerClose = false

    init(connection: HTTPServerConnection, request: HTTPRequest) {
        self.connection = connection
        self.closeAfter = request.closeAfter
        self.isHead = request.method == "HEAD"
    }

    var isOpen: Bool { state != .done && !connection.closed }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 431: "Request Header Fields Too Large"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }

    private func head(_ status: Int, _ extra: [(String, String)], capacity: Int = 0) -> [UInt8] {
        var h: [UInt8] = []
        h.reserveCapacity(160 + capacity)
        h.append(contentsOf: "HTTP/1.1 ".utf8)
        h.append(contentsOf: String(status).utf8)
        h.append(0x20)
        h.append(contentsOf: Self.reason(status).utf8)
        h.append(contentsOf: [0x0D, 0x0A])
        for (k, v) in headers { Self.header(k, v, &h) }
        for (k, v) in extra { Self.header(k, v, &h) }
        if closeAfter { h.append(contentsOf: "Connection: close\r\n".utf8) }
        h.append(contentsOf: [0x0D, 0x0A])
        return h
    }

    private static func header(_ k: String, _ v: String, _ h: inout [UInt8]) {
        h.append(contentsOf: k.utf8)
        h.append(contentsOf: [0x3A, 0x20])
        h.append(contentsOf: v.utf8)
        h.append(contentsOf: [0x0D, 0x0A])
    }

    /// A whole response.
    func respond(_ status: Int, contentType: String? = nil, _ body: [UInt8] = [], headers extra: [(String, String)] = []) {
        guard state == .open, !connection.closed else { return }
        state = .done
        var hs = extra
        if let contentType { hs.append(("Content-Type", contentType)) }
        hs.append(("Content-Length", String(body.count)))
        var bytes = head(status, hs, capacity: isHead ? 0 : body.count)
        if !isHead { bytes.append(contentsOf: body) }
        connection.write(bytes)
        connection.exchangeDone(self)
    }

    func respondJSON(_ status: Int, _ value: JSONValueBytes, headers extra: [(String, String)] = []) {
        respond(status, contentType: "application/json", value.bytes, headers: extra)
    }

    /// Sends the head of an SSE stream (chunked, so the connection can be kept after it ends).
    func startStream() {
        guard state == .open, !connection.closed else { return }
        state = .streaming
        connection.write(head(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("Transfer-Encoding", "chunked")]))
    }

    /// Starts the SSE stream (if it has not started) and sends one event.
    func event(_ message: [UInt8]) {
        guard isOpen else { return }
        if state == .open { startStream() }
        connection.write(Self.chunk(Self.sseEvent(message)))
    }

    /// A comment line on the stream (keeps idle connections and proxies awake).
    func keepAlive() {
        guard state == .streaming, !connection.closed else { return }
        connection.write(Self.chunk(Array(": keep-alive\n\n".utf8)))
    }

    /// Ends the stream, with a last event if given; a stream never started becomes a JSON response
    /// (or, with nothing to send, an empty event stream: a request cancelled by its client).
    func finish(last: [UInt8]?) {
        guard isOpen else { return }
        if state == .open {
            if let last {
                respond(200, contentType: "application/json", last)
                return
            }
            startStream()
        }
        var bytes: [UInt8] = []
        if let last { bytes = Self.chunk(Self.sseEvent(last)) }
        bytes.append(contentsOf: "0\r\n\r\n".utf8)
        state = .done
        connection.write(bytes)
        connection.exchangeDone(self)
    }

    func connectionClosed() {
        if state != .done {
            state = .done
            onClose?()
        }
    }

    static func sseEvent(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = Array("event: message\ndata: ".utf8)
        out.reserveCapacity(message.count + 24)
        // A message is one line of JSON: raw line breaks can only be whitespace between tokens.
        for b in message { out.append(b == 0x0A || b == 0x0D ? 0x20 : b) }
        out.append(contentsOf: "\n\n".utf8)
        return out
    }

    static func chunk(_ data: [UInt8]) -> [UInt8] {
        var out = Array(String(data.count, radix: 16).utf8)
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: data)
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }
}

/// Bytes that are one JSON text (a small wrapper so JSON answers say what they are).
struct JSONValueBytes {
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ value: JSONValue) { self.bytes = value.serialized() }
}
