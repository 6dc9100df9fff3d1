import MCPXJSON

/// Reads the answer to one Streamable HTTP POST: a JSON body or an SSE stream of messages.
///
/// Lives on the curl loop thread. Messages on the stream that are not the awaited response
/// (progress, log messages, server-to-client requests) go to `onOther` as they arrive, so they
/// reach the client while the call is still running.
final class PostExchange: @unchecked Sendable {
    enum Outcome: Sendable {
        /// The response to the request (a result or an error), or nil for an accepted notification.
        case message(IncomingMessage?)
        case failure(BackendError)
    }

    let expectID: RPCID?
    let sentSession: Bool
    let maxBytes: Int
    let onOther: @Sendable (IncomingMessage) -> Void
    /// A message on the stream that is not valid JSON-RPC (dropped).
    let onMalformed: (@Sendable () -> Void)?
    let onHeaders: (@Sendable (HTTPHeaders) -> Void)?
    let completion: @Sendable (Outcome) -> Void

    private var mode: Mode = .waiting
    private var body: [UInt8] = []
    private var sse = SSEParser()
    private var delivered = false
    private var status = 0
    private var unexpectedIDs = 0

    enum Mode { case waiting, json, sse, drainError }

    init(
        expectID: RPCID?, sentSession: Bool, maxBytes: Int,
        onOther: @escaping @Sendable (IncomingMessage) -> Void,
        onMalformed: (@Sendable () -> Void)? = nil,
        onHeaders: (@Sendable (HTTPHeaders) -> Void)?,
        completion: @escaping @Sendable (Outcome) -> Void
    ) {
        self.expectID = expectID
        self.sentSession = sentSession
        self.maxBytes = maxBytes
        self.onOther = onOther
        self.onMalformed = onMalformed
        self.onHeaders = onHeaders
        self.completion = completion
        self.sse = SSEParser(maxEventBytes: maxBytes)
    }

    func deliver(_ o: Outcome) {
        if delivered { return }
        delivered = true
        completion(o)
    }

    func head(_ status: Int, _ headers: HTTPHeaders) -> Bool {
        self.status = status
        onHeaders?(headers)
        let raw = headers["content-type"] ?? ""
        // Servers send it lowercase; lowercase only when they did not (no allocation per call).
        let ctype = raw.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? raw.lowercased() : raw
        switch status {
        case 200..<300:
            if status == 202 || (expectID == nil && !ctype.contains("text/event-stream")) {
                if expectID == nil {
                    deliver(.message(nil))
                    return true
                }
                deliver(.failure(BackendError(.protocolViolation, "answered a request with HTTP \(status) and no response")))
                return false
            }
            if ctype.hasPrefix("text/event-stream") {
                mode = .sse
            } else if ctype.hasPrefix("application/json") || ctype.isEmpty {
                mode = .json
            } else {
                deliver(.failure(BackendError(.protocolViolation, "unexpected content type \"\(ctype.prefix(64))\"")))
                return false
            }
            return true
        case 404 where sentSession:
            deliver(.failure(BackendError(.sessionExpired, "session expired (HTTP 404)", status: 404)))
            return false
        case 401, 403:
            var m = "HTTP \(status) \(status == 401 ? "unauthorized" : "forbidden")"
            if let auth = headers["www-authenticate"] {
                m += " (WWW-Authenticate: \(auth.prefix(200)))"
            }
            deliver(.failure(BackendError(.unauthorized, m, status: status)))
            return false
        default:
            mode = .drainError
            return true
        }
    }

    func data(_ chunk: UnsafeRawBufferPointer) -> Bool {
        switch mode {
        case .json, .drainError:
            if body.count + chunk.count > maxBytes {
                if mode == .drainError { return false }
                deliver(.failure(BackendError(.tooLarge, "response larger than \(maxBytes) bytes")))
                return false
            }
            body.append(contentsOf: chunk)
            return true
        case .sse:
            let events = sse.feed(chunk)
            if sse.overflowed {
                deliver(.failure(BackendError(.tooLarge, "SSE event larger than \(maxBytes) bytes")))
                return false
            }
            for e in events where !e.data.isEmpty {
                if handle(messageBytes: e.data) { return false }  // got the response: done with this stream
            }
            return true
        case .waiting:
            return true
        }
    }

    /// Returns true when the awaited response has been delivered.
    private func handle(messageBytes: [UInt8]) -> Bool {
        guard RawObject.looksLikeObject(messageBytes) else {
            // A batch from a 2025-03-26 server: handle each element.
            if let v = try? JSONParser.parse(messageBytes), case .array(let items) = v {
                for item in items where handle(messageBytes: item.serialized()) { return true }
                return false
            }
            deliver(.failure(BackendError(.protocolViolation, "sent a message that is not JSON-RPC")))
            return true
        }
        guard let msg = try? IncomingMessage(bytes: messageBytes) else {
            onMalformed?()
            // On a stream, one bad message among others is dropped; a JSON body was the answer.
            if mode == .sse { return false }
            deliver(.failure(BackendError(.protocolViolation, "sent malformed JSON-RPC")))
            return true
        }
        switch msg.kind {
        case .response(let id) where id == expectID:
            // MCP results are objects; what mcpx passes on must be one.
            guard let r = msg.raw.range("result"), msg.raw.bytes[r].first == UInt8(ascii: "{") else {
                deliver(.failure(BackendError(.protocolViolation, "sent a result that is not an object")))
                return true
            }
            deliver(.message(msg))
            return true
        case .errorResponse(let id) where id == expectID || (id == nil && expectID != nil):
            guard case .object(let e)? = msg.raw.value("error"), case .int? = e["code"], case .string? = e["message"] else {
                deliver(.failure(BackendError(.protocolViolation, "sent a malformed error (needs an integer code and a string message)")))
                return true
            }
            deliver(.message(msg))
            return true
        case .response, .errorResponse:
            unexpectedIDs += 1
            onOther(msg)  // counted by the owner as a response for an unknown id
            return false
        case .request, .notification:
            onOther(msg)
            return false
        }
    }

    func done(_ err: HTTPError?) {
        if delivered { return }
        if let err {
            deliver(.failure(BackendError(err)))
            return
        }
        switch mode {
        case .json:
            if expectID == nil {
                deliver(.message(nil))
                return
            }
            if body.isEmpty {
                deliver(.failure(BackendError(.protocolViolation, "empty response body (HTTP \(status))")))
                return
            }
            if !handle(messageBytes: body) {
                deliver(.failure(BackendError(.protocolViolation, "response did not answer request id \(expectID.map(\.description) ?? "-")")))
            }
        case .sse:
            deliver(.failure(BackendError(.protocolViolation, "event stream ended without a response")))
        case .drainError:
            // A 2026-07-28 server answers a request it refuses with 400/404 and its JSON-RPC error
            // (-32020, -32021, -32022, -32601, ...): that error is the answer.
            if status == 400 || status == 404, let expectID, let m = try? IncomingMessage(bytes: body),
                case .errorResponse(let id?) = m.kind, id == expectID
            {
                deliver(.message(m))
                return
            }
            let snippet = String(decoding: body.prefix(300), as: UTF8.self)
                .replacingAll("\n", with: " ")
            deliver(.failure(BackendError(.httpStatus, "HTTP \(status)\(snippet.isEmpty ? "" : ": \(snippet)")", status: status)))
        case .waiting:
            deliver(.failure(BackendError(.protocolViolation, "no response (HTTP \(status))")))
        }
    }
}
