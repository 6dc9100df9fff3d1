import Dispatch
import MCPXJSON
import Synchronization

/// The 2024-11-05 HTTP+SSE transport: one long GET stream carries every server message; each
/// client message is POSTed to the `endpoint` the stream announced first.
///
/// Responses arrive on the stream, so requests wait in `requests` by id, each with its own deadline.
final class LegacySSEChannel: Sendable {
    typealias Completion = StreamRequests.Completion

    let sseURL: String
    /// On this machine: no proxy (the endpoint has the same origin).
    let direct: Bool
    let loop: CurlLoop
    let headers: HeaderList
    let maxBytes: Int
    let onMessage: @Sendable (IncomingMessage) -> Void
    let onMalformed: @Sendable () -> Void

    struct State {
        var endpoint: String?
        var closed = false
        var stream: HTTPTransfer?
        var connectWaiter: CheckedContinuation<Result<String, BackendError>, Never>?
        var parser: SSEParser
    }

    let state: Mutex<State>
    let requests = StreamRequests()

    init(sseURL: String, loop: CurlLoop, headers: HeaderList, maxBytes: Int, onMessage: @escaping @Sendable (IncomingMessage) -> Void,
        onMalformed: @escaping @Sendable () -> Void
    ) {
        self.sseURL = sseURL
        self.direct = HTTPTransfer.isLoopback(sseURL)
        self.loop = loop
        self.headers = headers
        self.maxBytes = maxBytes
        self.onMessage = onMessage
        self.onMalformed = onMalformed
        state = Mutex(State(parser: SSEParser(maxEventBytes: maxBytes)))
    }

    /// Opens the stream and waits for the `endpoint` event (bounded by `timeoutMillis`).
    func connect(timeoutMillis: Int) async throws(BackendError) {
        let r: Result<String, BackendError> = await withCheckedContinuation { c in
            state.withLock { $0.connectWaiter = c }
            let t = HTTPTransfer(
                method: .get, url: sseURL, headers: headers, extraHeaders: ["Accept: text/event-stream"], timeoutMillis: 0,
                connectTimeoutMillis: timeoutMillis, direct: direct,
                onHead: { [self] status, h in
                    guard status == 200, (h["content-type"] ?? "").lowercased().hasPrefix("text/event-stream") else {
                        resolveConnect(.failure(BackendError(.protocolViolation, "GET \(status == 200 ? "did not return an event stream" : "returned HTTP \(status)"); not an MCP HTTP+SSE endpoint either", status: status)))
                        return false
                    }
                    return true
                },
                onData: { [self] in data($0) },
                onDone: { [self] err in streamEnded(err?.detail ?? "closed by the backend") })
            state.withLock { $0.stream = t }
            loop.start(t)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMillis)) { [self] in
                resolveConnect(.failure(BackendError(.timeout, "no endpoint event within \(timeoutMillis) ms")))
            }
        }
        switch r {
        case .success(let endpoint): state.withLock { $0.endpoint = endpoint }
        case .failure(let e):
            close()
            throw e
        }
    }

    private func resolveConnect(_ r: Result<String, BackendError>) {
        let c = state.withLock { s -> CheckedContinuation<Result<String, BackendError>, Never>? in
            defer { s.connectWaiter = nil }
            return s.connectWaiter
        }
        c?.resume(returning: r)
    }

    /// Resolves the endpoint against the SSE URL; it must stay on the same origin.
    static func resolveEndpoint(_ data: String, against base: String) -> String? {
        guard let b = CurlURL(base), let u = CurlURL(base), u.resolve(data.trimmingWhitespace()) else { return nil }
        for part in [CurlURL.Part.scheme, .host, .port] where u.get(part)?.lowercased() != b.get(part)?.lowercased() {
            return nil
        }
        return u.get(.url)
    }

    private func data(_ chunk: UnsafeRawBufferPointer) -> Bool {
        let (events, overflow) = state.withLock { s in (s.parser.feed(chunk), s.parser.overflowed) }
        for e in events {
            if e.event == "endpoint" {
                let text = String(decoding: e.data, as: UTF8.self)
                if let url = Self.resolveEndpoint(text, against: sseURL) {
                    resolveConnect(.success(url))
                } else {
                    resolveConnect(.failure(BackendError(.protocolViolation, "endpoint event points to another origin or is not a URL")))
                    return false
                }
                continue
            }
            guard e.event == "message", !e.data.isEmpty else { continue }
            guard let msg = try? IncomingMessage(bytes: e.data) else {
                onMalformed()
                continue
            }
            requests.deliver(msg, other: onMessage)
        }
        return !overflow
    }

    private func streamEnded(_ why: String) {
        resolveConnect(.failure(BackendError(.unavailable, "event stream ended: \(why)")))
        state.withLock { s in
            s.closed = true
            s.stream = nil  // the stream's callbacks hold this channel: let both go
        }
        requests.failAll(BackendError(.unavailable, "event stream ended: \(why)"))
    }

    var isOpen: Bool { state.withLock { !$0.closed && $0.endpoint != nil } }

    /// POSTs one message to the endpoint; a request's answer comes on the stream.
    func send(_ body: [UInt8], expecting id: RPCID?, timeoutMillis: Int, completion: @escaping Completion) -> HTTPTransfer? {
        let endpoint: String? = state.withLock { s in s.closed ? nil : s.endpoint }
        guard let endpoint, id.map({ requests.add($0, timeoutMillis: timeoutMillis, completion) }) ?? true else {
            completion(.failure(BackendError(.unavailable, "event stream is closed")))
            return nil
        }
        let status = StatusBox()
        let t = HTTPTransfer(
            method: .post, url: endpoint, headers: headers, body: body, timeoutMillis: timeoutMillis, direct: direct,
            onHead: { code, _ in
                status.code = code
                return true
            },
            onData: { _ in true },
            onDone: { [self] err in
                // The POST itself: 2xx means accepted; the answer to a request comes on the stream.
                let err = err ?? ((200..<300).contains(status.code) ? nil : HTTPError(.other, "HTTP \(status.code)"))
                if let err {
                    let c = id.flatMap { requests.take($0) } ?? (id == nil ? completion : nil)
                    c?(.failure(BackendError(err)))
                } else if id == nil {
                    completion(.success(nil))
                }
            })
        loop.start(t)
        return t
    }

    var pendingCount: Int { requests.count }

    /// Forgets a request (cancelled by the client).
    func forget(_ id: RPCID) { _ = requests.take(id) }

    func close() {
        let t = state.withLock { s -> HTTPTransfer? in
            s.closed = true
            defer { s.stream = nil }
            return s.stream
        }
        if let t { loop.cancel(t) }
    }
}

/// The status of one POST, written and read on the curl thread only.
final class StatusBox: @unchecked Sendable {
    var code = 0
}
