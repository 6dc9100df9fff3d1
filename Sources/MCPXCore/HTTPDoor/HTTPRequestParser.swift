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
        /// A request's head, before its body is read (so it can be refused without reading it).
        case head(HTTPRequest)
        case request(HTTPRequest)
        case failure(Failure)
    }

    enum State {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed
    }

    let maxHeadBytes: Int
    let maxBodyBytes: Int
    private var state = State.head
    /// The request whose body is being read (kept outside `state`, so appending never copies it).
    private var current: HTTPRequest?
    private var buffer: [UInt8] = []
    /// Where the unread bytes of `buffer` start.
    private var start = 0
    /// How far a head still incomplete was searched for its end (no rescan from the start).
    private var headScanned = 0

    public init(maxHeadBytes: Int = 64 << 10, maxBodyBytes: Int) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether the parser is between requests with nothing buffered.
    public var isIdle: Bool {
        if case .head = state { return start == buffer.count }
        return false
    }

    /// Feeds bytes; returns the heads, requests (and at most one failure, last) they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        if case .failed = state { return [] }
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
            headScanned = 0
        }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        // One step at a time in a loop (never recursion: a body of a million tiny chunks is a
        // million iterations, not a million stack frames).
        while true {
            switch step() {
            case .needMore:
                compact()
                return events
            case .progress:
                continue
            case .event(let e):
                events.append(e)
                if case .failure = e {
                    state = .failed
                    current = nil
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
            headScanned = max(0, headScanned - start)
            start = 0
        }
    }

    enum Step {
        case needMore
        case progress
        case event(Event)
    }

    private func fail(_ status: Int, _ reason: String) -> Step { .event(.failure(Failure(status: status, reason: reason))) }

    /// The line starting at `from`, and the index just past its CRLF (or LF), if complete.
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

    private mutating func finishRequest() -> Step {
        state = .head
        guard let req = current else { return .progress }
        current = nil
        return .event(.request(req))
    }

    private mutating func step() -> Step {
        switch state {
        case .failed:
            return .needMore
        case .head:
            return head()
        case .body(let remaining):
            guard buffer.count - start >= remaining else { return .needMore }
            current?.body = Array(buffer[start..<(start + remaining)])
            start += remaining
            return finishRequest()
        case .chunkSize:
            guard let (line, next) = lineEnd(from: start) else {
                return buffer.count - start > 1024 ? fail(400, "chunk size line too long") : .needMore
            }
            let text = String(decoding: buffer[line], as: UTF8.self)
            let hex = text.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingWhitespace() } ?? ""
            guard !hex.isEmpty, hex.count <= 15, let size = Int(hex, radix: 16) else { return fail(400, "bad chunk size") }
            start = next
            if size == 0 {
                state = .trailers
            } else if (current?.body.count ?? 0) + size > maxBodyBytes {
                return fail(413, "request body larger than \(maxBodyBytes) bytes")
            } else {
                state = .chunkData(remaining: size)
            }
            return .progress
        case .chunkData(let remaining):
            let take = min(remaining, buffer.count - start)
            if take == 0 { return .needMore }
            current?.body.append(contentsOf: buffer[start..<(start + take)])
            start += take
            state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            return take == remaining ? .progress : .needMore
        case .chunkDataEnd:
            guard let (line, next) = lineEnd(from: start) else { return buffer.count - start > 2 ? fail(400, "bad chunk end") : .needMore }
            guard line.isEmpty else { return fail(400, "bad chunk end") }
            start = next
            state = .chunkSize
            return .progress
        case .trailers:
            guard let (line, next) = lineEnd(from: start) else {
                return buffer.count - start > maxHeadBytes ? fail(431, "trailers too large") : .needMore
            }
            start = next
            return line.isEmpty ? finishRequest() : .progress
        }
    }

    private mutating func head() -> Step {
        // Blank lines before a request line are ignored (RFC 9112 §2.2).
        while start < buffer.count && (buffer[start] == 0x0D || buffer[start] == 0x0A) { start += 1 }
        guard start < buffer.count else { return .needMore }
        // Find the end of the head (an empty line), searching only bytes not searched before.
        if !Self.hasHeadEnd(buffer, from: max(start, headScanned - 3)) {
            headScanned = buffer.count
            return buffer.count - start > maxHeadBytes ? fail(431, "request head larger than \(maxHeadBytes) bytes") : .needMore
        }
        var lines: [Range<Int>] = []
        var pos = start
        while true {
            guard let (line, next) = lineEnd(from: pos) else { return .needMore }
            if next - start > maxHeadBytes { return fail(431, "request head larger than \(maxHeadBytes) bytes") }
            if line.isEmpty { pos = next; break }
            lines.append(line)
            pos = next
        }
        start = pos
        headScanned = 0
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
            current = req
            state = .chunkSize
            return .event(.head(req))
        }
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 15, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let n = Int(first)
            else { return fail(400, "bad Content-Length") }
            guard n <= maxBodyBytes else { return fail(413, "request body larger than \(maxBodyBytes) bytes") }
            if n > 0 {
                current = req
                state = .body(remaining: n)
                return .event(.head(req))
            }
        }
        return .event(.request(req))
    }

    /// Whether `bytes[from...]` holds an empty line (LF LF, or CRLF CRLF, or a mix).
    static func hasHeadEnd(_ bytes: [UInt8], from: Int) -> Bool {
        var i = max(0, from)
        var previousLF = false
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0A {
                if previousLF { return true }
                previousLF = true
            } else if b != 0x0D {
                previousLF = false
            }
            i += 1
        }
        return false
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
