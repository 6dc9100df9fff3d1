import MCPXJSON

/// How the answer to one POST goes out: a JSON body with Content-Length by default, or an SSE stream
/// (chunked, flushed per event) that opens as soon as the handler emits a notification, or at once in
/// `--sse` mode. Lives on the connection's thread only.
final class ResponseChannel {
    private let connection: HTTPConnection!
    /// `--stdio`: every message is one line on stdout (notifications, then the answer).
    private let lineOut: EventStream?
    /// The client's Accept admits text/event-stream; otherwise notifications are dropped.
    private let streamAllowed: Bool
    private let forceStream: Bool
    private let chunked: Bool
    /// Headers added to the response (the session id on `initialize`).
    var extraHeaders: [(String, String)] = []
    private(set) var isStreaming = false
    /// Replies of a batch held back while the answer is still a plain JSON array.
    private var heldReplies: [JSONValue] = []

    init(lines: EventStream) {
        connection = nil
        lineOut = lines
        streamAllowed = true
        forceStream = false
        chunked = false
    }

    init(connection: HTTPConnection, request: HTTPRequest, forceStream: Bool) {
        self.lineOut = nil
        self.connection = connection
        streamAllowed = request.accepts("text/event-stream")
        self.forceStream = forceStream && streamAllowed
        chunked = connection.chunkedAllowed
    }

    /// Sends a notification ahead of the response (switching to SSE if needed). Dropped when the
    /// client cannot take a stream.
    func notify(_ message: JSONValue) {
        if let lineOut {
            _ = lineOut.send(message)
            return
        }
        guard streamAllowed else { return }
        sendEvent(message, last: false)
    }

    /// The answer to a single request.
    func reply(_ message: JSONValue) {
        if let lineOut {
            _ = lineOut.send(message)
            return
        }
        if isStreaming || forceStream {
            sendEvent(message, last: true)
        } else {
            connection.sendJSON(message, headers: extraHeaders)
        }
    }

    /// Ends a request that will not be answered because it was cancelled: an SSE stream is closed
    /// without a response; a client that takes no stream loses the connection instead.
    func abandon() {
        if lineOut != nil { return }  // a line protocol has nothing to close
        if isStreaming {
            endStream()
        } else if streamAllowed {
            var out = startStream()
            if chunked { out.append(contentsOf: SSE.lastChunk) }
            connection.write(out)
        } else {
            connection.closeAfterResponse = true
        }
    }

    // MARK: Batches

    /// One reply of a batch: streamed if the stream is open, otherwise held for the JSON array.
    func batchReply(_ message: JSONValue) {
        if lineOut != nil {
            heldReplies.append(message)
            return
        }
        if isStreaming || forceStream {
            sendEvent(message, last: false)
        } else {
            heldReplies.append(message)
        }
    }

    /// Completes a batch answer (which must have held at least one request).
    func finishBatch() {
        if let lineOut {
            if !heldReplies.isEmpty { _ = lineOut.send(.array(heldReplies)) }
            return
        }
        if isStreaming {
            endStream()
        } else if heldReplies.isEmpty {
            abandon()
        } else {
            connection.sendJSON(.array(heldReplies), headers: extraHeaders)
        }
    }

    // MARK: Stream plumbing

    /// The response head of the stream, plus any batch replies held so far.
    private func startStream() -> [UInt8] {
        var head: [UInt8] = []
        if !chunked { connection.closeAfterResponse = true }  // only EOF can end an unframed stream
        connection.appendHead(status: 200, headers: SSE.headers(chunked: chunked) + extraHeaders, to: &head)
        isStreaming = true
        for held in heldReplies { SSE.appendEvent(held, chunked: chunked, to: &head) }
        heldReplies.removeAll()
        return head
    }

    /// Writes one event (opening the stream first if needed) in a single send.
    private func sendEvent(_ message: JSONValue, last: Bool) {
        var out = isStreaming ? [] : startStream()
        SSE.appendEvent(message, chunked: chunked, to: &out)
        if last && chunked { out.append(contentsOf: SSE.lastChunk) }
        connection.write(out)
    }

    private func endStream() {
        if chunked { connection.write(SSE.lastChunk) }
    }
}
