/// Reads one HTTP/1.x response from a connection's bytes as they arrive: the status line, the header
/// lines, and the body framed by `Content-Length`, the chunked transfer coding, or the end of the
/// connection. Interim (1xx) heads are passed on and skipped.
///
/// A value-type state machine with no I/O: `feed` takes what one read returned, hands each head line
/// (without its CRLF; an empty line ends a head) and each piece of body to the caller straight from
/// the caller's buffer, and says when the response is complete. Everything the peer sends is
/// untrusted: lines, heads and chunk sizes are bounded and anything that is not HTTP/1.x is refused.
struct HTTPResponseReader {
    enum Phase: Equatable { case statusLine, headers, body, chunkSize, chunkData, chunkDataEnd, trailers, complete }

    enum Progress: Equatable {
        /// More bytes are needed.
        case needMore
        /// The response ended after `consumed` bytes of this buffer (more bytes after it are not
        /// part of it).
        case complete(consumed: Int)
        /// A callback returned false; the bytes up to `consumed` (the line or piece it was given
        /// included) are read.
        case aborted(consumed: Int)
    }

    struct Malformed: Error, Equatable {
        var reason: String
    }

    /// The largest response head mcpx reads (curl's limit too).
    static let maxHeadBytes = 100 * 1024

    private(set) var phase = Phase.statusLine
    private(set) var status = 0
    /// Whether the connection can carry another request once this response is complete.
    private(set) var reusable = false
    /// Whether any byte of a response arrived.
    private(set) var started = false

    private var partial: [UInt8] = []
    private var headBytes = 0
    private var minorVersion = 1
    private var contentLength: Int?
    private var chunked = false
    private var otherCoding = false
    private var closeRequested = false
    private var keepAliveRequested = false
    private var untilClose = false
    private var remaining = 0

    /// Feeds the bytes of one read. `line` gets each head line, `body` each piece of body.
    mutating func feed(
        _ data: UnsafeRawBufferPointer, line: (UnsafeRawBufferPointer) -> Bool, body: (UnsafeRawBufferPointer) -> Bool
    ) throws(Malformed) -> Progress {
        if !data.isEmpty { started = true }
        var i = 0
        let n = data.count
        while true {
            switch phase {
            case .complete:
                return .complete(consumed: i)
            case .body, .chunkData:
                if i == n { return .needMore }
                let take = min(remaining, n - i)
                let ok = body(UnsafeRawBufferPointer(rebasing: data[i..<(i + take)]))
                i += take
                if !untilClose { remaining -= take }
                if remaining == 0 { phase = phase == .body ? .complete : .chunkDataEnd }
                if !ok { return .aborted(consumed: i) }
            default:
                if i == n { return .needMore }
                guard let lf = Self.index(of: 0x0A, in: data, from: i) else {
                    if partial.count + (n - i) > Self.maxHeadBytes { throw Malformed(reason: "response head too large") }
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[i..<n]))
                    return .needMore
                }
                let ok: Bool
                if partial.isEmpty {
                    ok = try take(line: UnsafeRawBufferPointer(rebasing: data[i..<lf]), line)
                } else {
                    if partial.count + (lf - i) > Self.maxHeadBytes { throw Malformed(reason: "response head too large") }
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[i..<lf]))
                    let whole = partial
                    partial.removeAll(keepingCapacity: true)
                    let r = whole.withUnsafeBytes { b in Result { () throws(Malformed) in try take(line: b, line) } }
                    ok = try r.get()
                }
                i = lf + 1
                if !ok { return .aborted(consumed: i) }
            }
        }
    }

    /// The connection ended. True when that completes the response (a body framed by the end of
    /// the connection); false when the response was cut short.
    mutating func endOfInput() -> Bool {
        if phase == .body && untilClose {
            phase = .complete
            return true
        }
        return phase == .complete
    }

    private static func index(of byte: UInt8, in data: UnsafeRawBufferPointer, from: Int) -> Int? {
        var j = from
        while j < data.count {
            if data[j] == byte { return j }
            j += 1
        }
        return nil
    }

    /// One line, LF removed (a CR before it is removed here).
    private mutating func take(line raw: UnsafeRawBufferPointer, _ deliver: (UnsafeRawBufferPointer) -> Bool) throws(Malformed) -> Bool {
        let l = raw.count > 0 && raw[raw.count - 1] == 0x0D ? UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 1)]) : raw
        switch phase {
        case .statusLine:
            try statusLine(l)
            headBytes = l.count
            phase = .headers
            return deliver(l)
        case .headers:
            headBytes += l.count + 2
            if headBytes > Self.maxHeadBytes { throw Malformed(reason: "response head too large") }
            if l.isEmpty { return try endOfHead(deliver) }
            try header(l)
            return deliver(l)
        case .chunkSize:
            remaining = try Self.chunkSize(l)
            phase = remaining == 0 ? .trailers : .chunkData
            return true
        case .chunkDataEnd:
            guard l.isEmpty else { throw Malformed(reason: "bad chunk framing") }
            phase = .chunkSize
            return true
        case .trailers:
            headBytes += l.count + 2
            if headBytes > Self.maxHeadBytes { throw Malformed(reason: "response trailers too large") }
            if l.isEmpty { phase = .complete }
            return true
        case .body, .chunkData, .complete:
            return true
        }
    }

    /// "HTTP/1.1 200 OK" (the reason phrase may be empty or missing).
    private mutating func statusLine(_ l: UnsafeRawBufferPointer) throws(Malformed) {
        let prefix: [UInt8] = Array("HTTP/1.".utf8)
        guard l.count >= 12, l.starts(with: prefix), l[7] >= 0x30, l[7] <= 0x39, l[8] == 0x20,
            (9..<12).allSatisfy({ l[$0] >= 0x30 && l[$0] <= 0x39 }), l.count == 12 || l[12] == 0x20
        else { throw Malformed(reason: "not an HTTP/1.x response") }
        minorVersion = Int(l[7] - 0x30)
        status = (9..<12).reduce(0) { $0 * 10 + Int(l[$1] - 0x30) }
        contentLength = nil
        chunked = false
        otherCoding = false
        closeRequested = false
        keepAliveRequested = false
    }

    private mutating func header(_ l: UnsafeRawBufferPointer) throws(Malformed) {
        guard let colon = Self.index(of: UInt8(ascii: ":"), in: l, from: 0) else { return }
        var v = colon + 1
        var e = l.count
        while v < e && (l[v] == 0x20 || l[v] == 0x09) { v += 1 }
        while e > v && (l[e - 1] == 0x20 || l[e - 1] == 0x09) { e -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: l[v..<e])
        let name = UnsafeRawBufferPointer(rebasing: l[0..<colon])
        if Self.equalsLowercase(name, "content-length") {
            guard !value.isEmpty, value.count <= 15, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw Malformed(reason: "bad Content-Length")
            }
            let length = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            if let c = contentLength, c != length { throw Malformed(reason: "conflicting Content-Length") }
            contentLength = length
        } else if Self.equalsLowercase(name, "transfer-encoding") {
            // The last coding decides the framing: chunked, or the body runs to the end of the connection.
            let isChunked = value.split(separator: UInt8(ascii: ",")).last.map { Self.token($0, is: "chunked") } ?? false
            chunked = isChunked
            otherCoding = !isChunked
        } else if Self.equalsLowercase(name, "connection") {
            for token in value.split(separator: UInt8(ascii: ",")) {
                if Self.token(token, is: "close") { closeRequested = true }
                if Self.token(token, is: "keep-alive") { keepAliveRequested = true }
            }
        }
    }

    private mutating func endOfHead(_ deliver: (UnsafeRawBufferPointer) -> Bool) throws(Malformed) -> Bool {
        if status < 200 {
            // An interim answer (100 Continue, 103 Early Hints): the real head follows. 101 would
            // switch protocols, which a POST never asked for.
            if status == 101 { throw Malformed(reason: "unexpected 101 Switching Protocols") }
            phase = .statusLine
            return deliver(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        untilClose = false
        if status == 204 || status == 304 {
            phase = .complete
        } else if chunked {
            phase = .chunkSize
        } else if otherCoding {
            untilClose = true
        } else if let c = contentLength {
            remaining = c
            phase = c == 0 ? .complete : .body
        } else {
            untilClose = true
        }
        if untilClose {
            remaining = Int.max
            phase = .body
        }
        reusable = !untilClose && !closeRequested && (minorVersion >= 1 || keepAliveRequested)
        return deliver(UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// A chunk-size line: hex digits, then optional extensions after ';'.
    private static func chunkSize(_ l: UnsafeRawBufferPointer) throws(Malformed) -> Int {
        var size = 0
        var digits = 0
        for b in l {
            let d: Int
            switch b {
            case 0x30...0x39: d = Int(b - 0x30)
            case 0x41...0x46: d = Int(b - 0x41 + 10)
            case 0x61...0x66: d = Int(b - 0x61 + 10)
            case UInt8(ascii: ";"), 0x20, 0x09:
                if digits == 0 { throw Malformed(reason: "bad chunk size") }
                return size
            default: throw Malformed(reason: "bad chunk size")
            }
            digits += 1
            if digits > 15 { throw Malformed(reason: "chunk too large") }
            size = size * 16 + d
        }
        if digits == 0 { throw Malformed(reason: "bad chunk size") }
        return size
    }

    /// ASCII case-insensitive comparison with a lowercase `name`.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let p = name.utf8Start
        for k in 0..<bytes.count {
            let b = bytes[k]
            if (b >= 0x41 && b <= 0x5A ? b | 0x20 : b) != p[k] { return false }
        }
        return true
    }

    /// Whether a list element (spaces and tabs around it ignored) is `name`, ignoring case.
    static func token(_ element: Slice<UnsafeRawBufferPointer>, is name: StaticString) -> Bool {
        var lo = element.startIndex
        var hi = element.endIndex
        let base = element.base
        while lo < hi && (base[lo] == 0x20 || base[lo] == 0x09) { lo += 1 }
        while hi > lo && (base[hi - 1] == 0x20 || base[hi - 1] == 0x09) { hi -= 1 }
        return equalsLowercase(UnsafeRawBufferPointer(rebasing: base[lo..<hi]), name)
    }
}
