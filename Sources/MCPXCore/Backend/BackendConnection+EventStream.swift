import MCPXJSON

extension BackendConnection {
    /// How a backend's GET stream ended.
    public enum EventStreamEnd: Sendable {
        /// 405 (or another 4xx): the backend offers no such stream; poll its lists instead.
        case notOffered(Int)
        /// The stream closed or failed; it may be opened again.
        case closed(String)
    }

    /// Opens the optional GET stream on which the backend sends list changes and requests outside
    /// any call. Messages go to `onMessage`; `onAnswer` runs when the backend answered the GET (the
    /// stream is open, or refused); `onEnd` runs once when the stream is over.
    @discardableResult
    public func openEventStream(
        lastEventID: String?, onAnswer: (@Sendable () -> Void)? = nil, onEnd: @escaping @Sendable (EventStreamEnd, String?) -> Void
    ) -> HTTPTransfer {
        closeEventStream()
        let (headers, envelope) = session.withLock { ($0.headers, $0.modern ? $0.envelope : nil) }
        let reader = EventStreamReader(onMessage: onStreamMessage, maxBytes: maxResponseBytes) { [weak self] in
            self?.stats.withLock { $0.malformedMessages += 1 }
        }
        var extra = ["Accept: text/event-stream"]
        if let lastEventID, BackendConnection.isValidSessionID(lastEventID) { extra.append("Last-Event-ID: \(lastEventID)") }
        // At 2026-07-28 the stream is a `subscriptions/listen` request's SSE answer.
        let listen = envelope.map { listenRequest(envelope: $0) }
        let t = HTTPTransfer(
            method: listen == nil ? .get : .post, url: url, headers: listen == nil ? headers : modernHeaders(method: "subscriptions/listen", name: nil),
            extraHeaders: listen == nil ? extra : [], body: listen ?? [], timeoutMillis: 0, direct: direct,
            onHead: { status, h in
                defer { onAnswer?() }
                return reader.head(status, h)
            },
            onData: { reader.data($0) },
            onDone: { err in
                // Closed by mcpx itself (replaced, or the backend was marked failed): not an end to react to.
                if err?.kind == .cancelled { return }
                if let s = reader.refusedStatus {
                    onEnd(.notOffered(s), nil)
                } else {
                    onEnd(.closed(err?.detail ?? "closed by the backend"), reader.lastEventID)
                }
            })
        loop.start(t)
        session.withLock { $0.eventStream = t }
        return t
    }

    /// A `subscriptions/listen` request for every list change (2026-07-28).
    func listenRequest(envelope: [UInt8]) -> [UInt8] {
        let uris = session.withLock { $0.listenURIs }.sorted()
        var body = Array(#"{"jsonrpc":"2.0","id":"mcpx-listen-"#.utf8)
        body += Array(String(makeRequestID()).utf8)
        body += Array(#"","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true,"promptsListChanged":true,"resourcesListChanged":true"#.utf8)
        if !uris.isEmpty {
            body += Array(#","resourceSubscriptions":"#.utf8)
            JSONValue.array(uris.map { .string($0) }).write(to: &body)
        }
        body += Array(#"},"_meta":{"#.utf8)
        body += envelope
        body += Array("}}}".utf8)
        return body
    }

    /// Adds or removes a hold on a resource URI of the listen stream (2026-07-28 has no
    /// resources/subscribe); true when the set of URIs changed (the stream must be opened again).
    /// Counted, not toggled: a subscribe and the previous holder's unsubscribe can arrive in
    /// either order (they run as separate tasks), and the URI must stay while one holds it.
    func setListened(_ uri: String, _ on: Bool) -> Bool {
        session.withLock { s in
            if on {
                s.listenHolds[uri, default: 0] += 1
                return s.listenURIs.insert(uri).inserted
            }
            guard let n = s.listenHolds[uri] else { return false }
            if n > 1 {
                s.listenHolds[uri] = n - 1
                return false
            }
            s.listenHolds[uri] = nil
            return s.listenURIs.remove(uri) != nil
        }
    }

    /// A 2026-07-28 stdio server: its list changes come on a `subscriptions/listen` stream, opened
    /// once per process (its frames arrive on stdout with everything else).
    @discardableResult
    func listenOnStdio() -> OneShotSignal? {
        let (stdio, envelope) = session.withLock { ($0.stdio, $0.modern ? $0.envelope : nil) }
        guard let stdio, let envelope else { return nil }
        let body = listenRequest(envelope: envelope)
        guard let id = (try? RawObject(body))?.value("id").flatMap(RPCID.init) else { return nil }
        let acked = OneShotSignal()
        if case .string(let sid) = id { listenAcks.add(sid, acked) }
        // One listen at a time: the one it replaces is cancelled.
        if let old = session.withLock({ s -> RPCID? in
            defer { s.stdioListenID = id }
            return s.stdioListenID
        }) {
            stdio.forget(old)
            stdio.send(Message.notification(method: "notifications/cancelled", params: ["requestId": old.json]), expecting: nil, timeoutMillis: 0) { _ in }
        }
        stdio.send(body, expecting: id, timeoutMillis: 0) { [weak self] _ in
            if case .string(let sid) = id { _ = self?.listenAcks.take(sid) }
        }
        return acked
    }

    /// Stops the GET stream, if one is open.
    public func closeEventStream() {
        if let t = session.withLock({ s -> HTTPTransfer? in
            defer { s.eventStream = nil }
            return s.eventStream
        }) {
            loop.cancel(t)
        }
    }
}

/// Reads a GET event stream on the curl thread.
final class EventStreamReader: @unchecked Sendable {
    let onMessage: @Sendable (IncomingMessage) -> Void
    let onMalformed: @Sendable () -> Void
    var parser: SSEParser
    var refusedStatus: Int?
    var lastEventID: String? { parser.lastEventID }

    init(onMessage: @escaping @Sendable (IncomingMessage) -> Void, maxBytes: Int, onMalformed: @escaping @Sendable () -> Void) {
        self.onMessage = onMessage
        self.onMalformed = onMalformed
        self.parser = SSEParser(maxEventBytes: maxBytes)
    }

    func head(_ status: Int, _ headers: HTTPHeaders) -> Bool {
        guard status == 200, (headers["content-type"] ?? "").lowercased().hasPrefix("text/event-stream") else {
            refusedStatus = status == 200 ? 415 : status
            return false
        }
        return true
    }

    func data(_ chunk: UnsafeRawBufferPointer) -> Bool {
        for e in parser.feed(chunk) where !e.data.isEmpty {
            if let m = try? IncomingMessage(bytes: e.data) { onMessage(m) } else { onMalformed() }
        }
        return !parser.overflowed
    }
}
