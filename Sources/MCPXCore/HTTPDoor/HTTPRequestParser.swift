/// One HTTP/1.1 request as the HTTP door received it.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path, without the query.
    public var path: String
    public var query: String
    /// Header names lower-cased, in the order received.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// HTTP/1.0, or `Connection: close`: the connection ends after the answer.
    public var closeAfter: Bool

    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

    /// A query parameter's value (percent-decoding `%XX` and `+`).
    public func queryValue(_ key: String) -> String? {
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0] == key else { continue }
            return Self.percentDecode(kv[1])
        }
        return nil
    }

    static func percentDecode(_ s: Substring) -> String {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                it = it.dropFirst(2)
            } else {
                out.append(c == UInt8(ascii: "+") ? 0x20 : c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Reads requests from the bytes of one connection, incrementally: a value-type state machine
/// (head, then a `Content-Length` or chunked body), so it can be tested without sockets.
///
/// Untrusted input: the head is limited (`maxHeadBytes`, 431), the body too (`maxBodyBytes`, 413);
/// anything that is not HTTP/1.x, a bad `Content-Length`, a bad chunk is a 400. After an error the
/// parser stays failed: the connection is answered and closed.
public struct HTTPRequestParser: Sendable {
    public struct Failure: Error, Sendable, Equatable {
        public var status: Int
        public var reason: String
    }

    public enum Event: Sendable {
        case request(HTTPRequest)
        case failure(Failure)
    }

    enum State {
        case head
        case body(HTTPRequest, remaining: Int)
        case chunkSize(HTTPRequest)
        case chunkData(HTTPRequest, remaining: Int)
        case chunkDataEnd(HTTPRequest)
        case trailers(HTTPRequest)
        case failed
    }

    let maxHeadBytes: Int
    let maxBodyBytes: Int
    private var state = State.head
    private var buffer: [UInt8] = []
    /// Where the unread bytes of `buffer` start.
    private var start = 0

    public init(maxHeadBytes: Int = 64 << 10, maxBodyBytes: Int) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether the parser is between requests with nothing buffered.
    public var isIdle: Bool {
        if case .head = state { return start == buffer.count }
        return false
    }

    /// Feeds bytes; returns the requests (and at most one failure, last) they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        if case .failed = state { return [] }
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        while true {
            switch step() {
            case .needMore:
                compact()
                return events
            case .event(let e):
                events.append(e)
                if case .failure = e {
                    state = .failed
                    buffer = []
                    start = 0
                    return events
                }
            }
        }
    }

    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        bytes.withUnsafeBytes { feed($0) }
    }

    private mutating func compact() {
        if start > 64 << 10 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }

    enum Step {
        case needMore
        case event(Event)
    }

    private func fail(_ status: Int, _ reason: String) -> Step { .event(.failure(Failure(status: status, reason: reason))) }

    /// The index just past the next CRLF (or LF) from `start`, if there is one.
    private func lineEnd(from: Int) -> (content: Range<Int>, next: Int)? {
        var i = from
        while i < buffer.count {
            if buffer[i] == 0x0A {
                let end = i > from && buffer[i - 1] == 0x0D ? i - 1 : i
                return (from..<end, i + 1)
            }
            i += 1
        }
        return nil
    }

    private mutating func step() -> Step {
        switch state {
        case .failed:
            return .needMore
        case .head:
            return head()
        case .body(var req, let remaining):
            let have = buffer.count - start
            if have < remaining {
                return .needMore
            }
            req.body = Array(buffer[start..<(start + remaining)])
            start += remaining
            state = .head
            return .event(.request(req))
        case .chunkSize(let req):
            guard let (line, next) = lineEnd(from: start) else {
                return buffer.count - start > 1024 ? fail(400, "chunk size line too long") : .needMore
            }
            let text = String(decoding: buffer[line], as: UTF8.self)
            let hex = text.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingWhitespace() } ?? ""
            guard !hex.isEmpty, hex.count <= 15, let size = Int(hex, radix: 16) else { return fail(400, "bad chunk size") }
            start = next
            if size == 0 {
                state = .trailers(req)
            } else if req.body.count + size > maxBodyBytes {
                return fail(413, "request body larger than \(maxBodyBytes) bytes")
            } else {
                state = .chunkData(req, remaining: size)
            }
            return step()
        case .chunkData(var req, let remaining):
            let take = min(remaining, buffer.count - start)
            if take == 0 { return .needMore }
            req.body.append(contentsOf: buffer[start..<(start + take)])
            start += take
            state = take == remaining ? .chunkDataEnd(req) : .chunkData(req, remaining: remaining - take)
            return take == remaining ? step() : .needMore
        case .chunkDataEnd(let req):
            guard let (line, next) = lineEnd(from: start) else { return buffer.count - start > 2 ? fail(400, "bad chunk end") : .needMore }
            guard line.isEmpty else { return fail(400, "bad chunk end") }
            start = next
            state = .chunkSize(req)
            return step()
        case .trailers(let req):
            guard let (line, next) = lineEnd(from: start) else {
                return buffer.count - start > maxHeadBytes ? fail(431, "trailers too large") : .needMore
            }
            start = next
            if line.isEmpty {
                state = .head
                return .event(.request(req))
            }
            return step()
        }
    }

    private mutating func head() -> Step {
        // Blank lines before a request line are ignored (RFC 9112 §2.2).
        while start < buffer.count && (buffer[start] == 0x0D || buffer[start] == 0x0A) { start += 1 }
        guard start < buffer.count else { return .needMore }
        // Find the end of the head: an empty line.
        var lines: [Range<Int>] = []
        var pos = start
        while true {
            guard let (line, next) = lineEnd(from: pos) else {
                return buffer.count - start > maxHeadBytes ? fail(431, "request head larger than \(maxHeadBytes) bytes") : .needMore
            }
            if next - start > maxHeadBytes { return fail(431, "request head larger than \(maxHeadBytes) bytes") }
            if line.isEmpty { pos = next; break }
            lines.append(line)
            pos = next
        }
        start = pos
        guard let first = lines.first else { return fail(400, "empty request") }
        let parts = buffer[first].split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return fail(400, "malformed request line") }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)
        guard !method.isEmpty, method.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return fail(400, "malformed method") }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { return fail(version.hasPrefix("HTTP/") ? 505 : 400, "unsupported HTTP version") }
        guard target.hasPrefix("/"), !target.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) else { return fail(400, "malformed request target") }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(lines.count - 1)
        for l in lines.dropFirst() {
            let bytes = buffer[l]
            if bytes.first == 0x20 || bytes.first == 0x09 { return fail(400, "obsolete header folding") }
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > bytes.startIndex else { return fail(400, "malformed header line") }
            let nameBytes = bytes[bytes.startIndex..<colon]
            guard nameBytes.allSatisfy(Self.isTokenByte) else { return fail(400, "malformed header name") }
            // Bytes, not Strings, until the end: names are ASCII tokens, lower-cased as bytes; values
            // lose their surrounding spaces and tabs (RFC 9110 §5.5).
            var lower = Array(nameBytes)
            for i in lower.indices where lower[i] >= 0x41 && lower[i] <= 0x5A { lower[i] += 0x20 }
            let name = String(decoding: lower, as: UTF8.self)
            var v = bytes[(colon + 1)...]
            while let f = v.first, f == 0x20 || f == 0x09 { v = v.dropFirst() }
            while let e = v.last, e == 0x20 || e == 0x09 { v = v.dropLast() }
            headers.append((name, String(decoding: v, as: UTF8.self)))
        }
        let q = target.firstIndex(of: "?")
        var req = HTTPRequest(
            method: method, path: String(target[..<(q ?? target.endIndex)]),
            query: q.map { String(target[target.index(after: $0)...]) } ?? "", headers: headers, body: [], closeAfter: version == "HTTP/1.0")
        var lengths: [String] = []
        var te: [String] = []
        for (name, value) in headers {
            switch name {
            case "connection":
                let c = value.lowercased()
                if c.contains("close") { req.closeAfter = true } else if c.contains("keep-alive") && version == "HTTP/1.0" { req.closeAfter = false }
            case "content-length": lengths.append(value)
            case "transfer-encoding": te.append(value.lowercased())
            default: break
            }
        }
        if !te.isEmpty {
            // Both framings at once is how requests get smuggled: refused.
            guard lengths.isEmpty else { return fail(400, "both Content-Length and Transfer-Encoding") }
            guard te.count == 1, te[0] == "chunked" else { return fail(501, "unsupported Transfer-Encoding") }
            state = .chunkSize(req)
            return step()
        }
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 15, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let n = Int(first)
            else { return fail(400, "bad Content-Length") }
            guard n <= maxBodyBytes else { return fail(413, "request body larger than \(maxBodyBytes) bytes") }
            if n > 0 {
                state = .body(req, remaining: n)
                return step()
            }
        }
        return .event(.request(req))
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}
