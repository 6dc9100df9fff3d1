import Glibc

/// Reads HTTP/1.x requests off a socket through one reusable buffer: the head (request line and
/// header fields), then the body by Content-Length or chunked transfer coding, sending
/// `100 Continue` when the client waits for it. Bodies over the limit are refused with 413.
final class HTTPReader {
    let fd: Int32
    let maxBodyBytes: Int

    private static let capacity = 64 * 1024
    private static let maxLine = 8 * 1024
    private static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    private let buffer: UnsafeMutablePointer<UInt8>
    private var start = 0
    private var end = 0

    enum ReadResult {
        case request(HTTPRequest)
        case closed
        case failed(status: Int, message: String)
    }

    init(fd: Int32, maxBodyBytes: Int) {
        self.fd = fd
        self.maxBodyBytes = maxBodyBytes
        buffer = .allocate(capacity: Self.capacity)
    }

    deinit { buffer.deallocate() }

    /// Blocks until the peer closes or the socket is shut down, discarding anything it sends.
    func drainUntilClosed() {
        while true {
            let n = recv(fd, buffer, Self.capacity, 0)
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            return
        }
    }

    /// Reads more bytes into the buffer, compacting it first when full. False on EOF, error or no room.
    private func fill() -> Bool {
        if end == Self.capacity {
            guard start > 0 else { return false }
            memmove(buffer, buffer + start, end - start)
            end -= start
            start = 0
        }
        while true {
            let n = recv(fd, buffer + end, Self.capacity - end, 0)
            if n > 0 {
                end += n
                return true
            }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    func readRequest() -> ReadResult {
        var scanned = 0  // bytes after `start` already searched for the end of the head
        var headEnd = -1
        while headEnd < 0 {
            if scanned == 0 {
                // Tolerate stray line breaks between requests.
                while start < end && (buffer[start] == 13 || buffer[start] == 10) { start += 1 }
            }
            var i = start + scanned
            while i < end {
                if buffer[i] == 10 {
                    if i + 1 < end && buffer[i + 1] == 10 {
                        headEnd = i + 2
                        break
                    }
                    if i + 2 < end && buffer[i + 1] == 13 && buffer[i + 2] == 10 {
                        headEnd = i + 3
                        break
                    }
                    if i + 2 >= end { break }  // need more bytes to decide
                }
                i += 1
            }
            if headEnd >= 0 { break }
            scanned = i - start
            if end - start >= Self.capacity {
                return .failed(status: 431, message: "request head too large")
            }
            if !fill() {
                return .closed
            }
        }

        guard var request = parseHead(from: start, to: headEnd) else {
            return .failed(status: 400, message: "malformed request head")
        }
        start = headEnd
        if request.minorVersion > 1 || request.minorVersion < 0 {
            return .failed(status: 505, message: "only HTTP/1.0 and HTTP/1.1 are supported")
        }
        switch readBody(of: request) {
        case .success(let body):
            request.body = body
            return .request(request)
        case .failure(let failure):
            return failure.status == 0 ? .closed : .failed(status: failure.status, message: failure.message)
        }
    }

    private struct BodyFailure: Error {
        var status: Int  // 0: the peer went away
        var message: String
        static let gone = BodyFailure(status: 0, message: "")
    }

    private func readBody(of request: HTTPRequest) -> Result<[UInt8], BodyFailure> {
        let limit = maxBodyBytes
        let expectsContinue = request.header("expect")?.lowercased() == "100-continue"
        if let te = request.header("transfer-encoding") {
            guard te.lowercased().hasSuffix("chunked") else {
                return .failure(BodyFailure(status: 501, message: "unsupported transfer coding '\(te)'"))
            }
            if expectsContinue && start == end { Socket.send(fd, Self.continueResponse) }
            return readChunked(limit: limit)
        }
        guard let lengthText = request.header("content-length") else { return .success([]) }
        guard let length = Int(lengthText), length >= 0 else {
            return .failure(BodyFailure(status: 400, message: "bad Content-Length"))
        }
        if length > limit {
            return .failure(BodyFailure(status: 413, message: "request body over \(limit) bytes"))
        }
        if length == 0 { return .success([]) }
        if expectsContinue && start == end { Socket.send(fd, Self.continueResponse) }
        var body: [UInt8] = []
        body.reserveCapacity(length)
        return readExact(length, into: &body) ? .success(body) : .failure(.gone)
    }

    private func readChunked(limit: Int) -> Result<[UInt8], BodyFailure> {
        var body: [UInt8] = []
        while true {
            guard let line = readLine() else { return .failure(.gone) }
            var size = 0
            var digits = 0
            for byte in line {
                let digit: Int
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a")) + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A")) + 10
                case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"): digit = -1
                default: return .failure(BodyFailure(status: 400, message: "bad chunk size"))
                }
                if digit < 0 { break }
                digits += 1
                guard digits <= 15 else { return .failure(BodyFailure(status: 413, message: "chunk too large")) }
                size = size << 4 | digit
            }
            guard digits > 0 else { return .failure(BodyFailure(status: 400, message: "bad chunk size")) }
            if size == 0 {
                // Trailer fields up to the blank line.
                while true {
                    guard let trailer = readLine() else { return .failure(.gone) }
                    if trailer.isEmpty { return .success(body) }
                }
            }
            guard body.count + size <= limit else {
                return .failure(BodyFailure(status: 413, message: "request body over \(limit) bytes"))
            }
            guard readExact(size, into: &body) else { return .failure(.gone) }
            guard let crlf = readLine(), crlf.isEmpty else {
                return .failure(BodyFailure(status: 400, message: "chunk not followed by CRLF"))
            }
        }
    }

    /// Appends exactly `count` bytes to `body`: first what is buffered, then straight from the socket.
    private func readExact(_ count: Int, into body: inout [UInt8]) -> Bool {
        let buffered = min(count, end - start)
        body.append(contentsOf: UnsafeBufferPointer(start: buffer + start, count: buffered))
        start += buffered
        if start == end {
            start = 0
            end = 0
        }
        var missing = count - buffered
        guard missing > 0 else { return true }
        let base = body.count
        body.append(contentsOf: repeatElement(0, count: missing))
        var offset = base
        while missing > 0 {
            let n = body.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, missing, 0) }
            if n > 0 {
                offset += n
                missing -= n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    /// One line (without its CR LF) from the buffer, reading as needed.
    private func readLine() -> [UInt8]? {
        var scanned = 0
        while true {
            var i = start + scanned
            while i < end {
                if buffer[i] == 10 {
                    var stop = i
                    if stop > start && buffer[stop - 1] == 13 { stop -= 1 }
                    let line = Array(UnsafeBufferPointer(start: buffer + start, count: stop - start))
                    start = i + 1
                    return line
                }
                i += 1
            }
            scanned = end - start
            if scanned > Self.maxLine || !fill() { return nil }
        }
    }

    /// Parses the request line and header fields in `buffer[from..<to]`.
    private func parseHead(from: Int, to: Int) -> HTTPRequest? {
        var lineStart = from
        var request: HTTPRequest?
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(12)
        var nameBytes: [UInt8] = []
        while lineStart < to {
            var lineEnd = lineStart
            while lineEnd < to && buffer[lineEnd] != 10 { lineEnd += 1 }
            let next = lineEnd + 1
            if lineEnd > lineStart && buffer[lineEnd - 1] == 13 { lineEnd -= 1 }
            defer { lineStart = next }
            if lineEnd == lineStart { break }  // the blank line
            let line = UnsafeBufferPointer(start: buffer + lineStart, count: lineEnd - lineStart)
            if request == nil {
                request = parseRequestLine(line)
                if request == nil { return nil }
                continue
            }
            if line[0] == 32 || line[0] == 9 { return nil }  // obsolete line folding
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
            nameBytes.removeAll(keepingCapacity: true)
            for b in line[0..<colon] {
                if b == 32 || b == 9 { return nil }
                nameBytes.append(b >= 65 && b <= 90 ? b + 32 : b)
            }
            var valueStart = colon + 1
            var valueEnd = line.count
            while valueStart < valueEnd && (line[valueStart] == 32 || line[valueStart] == 9) { valueStart += 1 }
            while valueEnd > valueStart && (line[valueEnd - 1] == 32 || line[valueEnd - 1] == 9) { valueEnd -= 1 }
            headers.append((
                name: String(decoding: nameBytes, as: UTF8.self),
                value: String(decoding: UnsafeBufferPointer(rebasing: line[valueStart..<valueEnd]), as: UTF8.self)
            ))
        }
        request?.headers = headers
        return request
    }

    private func parseRequestLine(_ line: UnsafeBufferPointer<UInt8>) -> HTTPRequest? {
        let parts = line.split(separator: 32, omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        let version = parts[2]
        guard version.count == 8, version.starts(with: "HTTP/1.".utf8) else { return nil }
        let minor = Int(version[version.startIndex + 7]) - 48
        guard minor >= 0 && minor <= 9 else { return nil }
        return HTTPRequest(
            method: String(decoding: parts[0], as: UTF8.self),
            target: String(decoding: parts[1], as: UTF8.self),
            minorVersion: minor,
            headers: [])
    }
}
