import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import MCPXCore

/// What the reader handed out for one response, fed in pieces of `split` bytes (0: all at once).
private struct Read {
    var lines: [String] = []
    var body: [UInt8] = []
    var progress: HTTPResponseReader.Progress = .needMore
    var error: String?
    var reader = HTTPResponseReader()

    init(_ text: String, split: Int = 0, eof: Bool = false) {
        let bytes = Array(text.utf8)
        let step = split == 0 ? max(bytes.count, 1) : split
        var offset = 0
        var consumed = 0
        while offset < bytes.count {
            let piece = Array(bytes[offset..<min(offset + step, bytes.count)])
            let result = piece.withUnsafeBytes { b in
                Result { () throws(HTTPResponseReader.Malformed) in
                    try reader.feed(
                        b, line: { lines.append(String(decoding: $0, as: UTF8.self)); return true },
                        body: { body += $0; return true })
                }
            }
            switch result {
            case .success(let p): progress = p
            case .failure(let e):
                error = e.reason
                return
            }
            if case .complete(let c) = progress {
                consumed = offset + c
                break
            }
            if case .aborted = progress { return }
            offset += step
        }
        if case .complete = progress {
            progress = .complete(consumed: consumed)
        } else if eof, reader.endOfInput() {
            progress = .complete(consumed: bytes.count)
        }
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

@Suite struct HTTPResponseReaderTests {
    static let json = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"

    @Test(arguments: [0, 1, 2, 7, 64])
    func contentLength(split: Int) {
        let r = Read(Self.json, split: split)
        #expect(r.error == nil)
        #expect(r.progress == .complete(consumed: Self.json.utf8.count))
        #expect(r.lines == ["HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: 13", ""])
        #expect(r.text == "{\"result\":{}}")
        #expect(r.reader.status == 200 && r.reader.reusable)
    }

    @Test(arguments: [0, 1, 3, 10])
    func chunkedWithExtensionsAndTrailers(split: Int) {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;ext=1\r\ndata:\r\nA\r\n {\"a\":1}\n\n\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let r = Read(text, split: split)
        #expect(r.error == nil)
        #expect(r.progress == .complete(consumed: text.utf8.count))
        #expect(r.text == "data: {\"a\":1}\n\n")
        #expect(r.reader.reusable)
    }

    @Test func bytesAfterTheResponseAreNotConsumed() {
        let r = Read(Self.json + "HTTP/1.1 200 OK\r\n")
        #expect(r.progress == .complete(consumed: Self.json.utf8.count))
    }

    @Test func interimResponsesAreSkipped() {
        let r = Read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + Self.json)
        #expect(r.error == nil)
        #expect(r.reader.status == 200)
        #expect(r.text == "{\"result\":{}}")
        #expect(r.lines.first == "HTTP/1.1 100 Continue" && r.lines.contains("HTTP/1.1 200 OK"))
    }

    @Test func noBodyStatuses() {
        for status in ["202 Accepted\r\nContent-Length: 0", "204 No Content", "304 Not Modified"] {
            let text = "HTTP/1.1 \(status)\r\n\r\n"
            let r = Read(text)
            #expect(r.progress == .complete(consumed: text.utf8.count), "\(status)")
            #expect(r.body.isEmpty)
        }
    }

    @Test func bodyUntilTheConnectionEnds() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"x\":1}"
        let open = Read(text)
        #expect(open.progress == .needMore)
        let closed = Read(text, eof: true)
        #expect(closed.progress == .complete(consumed: text.utf8.count))
        #expect(closed.text == "{\"x\":1}" && !closed.reader.reusable)
        // A coding other than chunked last: also framed by the end of the connection.
        let gzip = Read("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", eof: true)
        #expect(gzip.text == "abc" && !gzip.reader.reusable)
    }

    @Test func cutShortIsNotComplete() {
        for text in ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", "HTTP/1.1 200 OK\r\nContent-Le",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", ""] {
            let r = Read(text, eof: true)
            #expect(r.progress == .needMore, "\(text)")
            #expect(r.error == nil)
        }
    }

    @Test func connectionReuse() {
        #expect(!Read("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").reader.reusable)
        #expect(!Read("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n").reader.reusable)
        #expect(!Read("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").reader.reusable)
        #expect(Read("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").reader.reusable)
        #expect(Read("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").reader.reusable)
    }

    @Test func malformedResponsesAreRefused() {
        let bad = [
            "this is {not HTTP at all \u{1}\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ]
        for text in bad {
            #expect(Read(text).error != nil, "\(text.debugDescription)")
            #expect(Read(text, split: 1).error != nil, "\(text.debugDescription)")
        }
    }

    @Test func oversizedHeadsAreRefused() {
        let long = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: HTTPResponseReader.maxHeadBytes) + "\r\n\r\n"
        #expect(Read(long).error == "response head too large")
        #expect(Read(long, split: 4096).error == "response head too large")
        let many = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-A: b\r\n", count: 20_000) + "\r\n"
        #expect(Read(many).error == "response head too large")
    }

    @Test func abortStopsReading() throws {
        var reader = HTTPResponseReader()
        let bytes = Array(Self.json.utf8)
        let p = bytes.withUnsafeBytes { b in
            Result { () throws(HTTPResponseReader.Malformed) in try reader.feed(b, line: { _ in true }, body: { _ in false }) }
        }
        // The piece the callback refused counts as read: the rest can still be read to its end.
        #expect(try p.get() == .aborted(consumed: bytes.count))
    }
}

@Suite struct LoopbackEndpointTests {
    private func endpoint(_ url: String) -> LoopbackEndpoint? { CurlURL(url).flatMap(LoopbackEndpoint.init) }

    @Test func plainLoopbackURLs() throws {
        let e = try #require(endpoint("http://127.0.0.1:8000/mcp?x=1"))
        #expect(String(decoding: e.requestLine, as: UTF8.self) == "POST /mcp?x=1 HTTP/1.1\r\n")
        #expect(String(decoding: e.hostLine, as: UTF8.self) == "Host: 127.0.0.1:8000\r\n")
        #expect(e.addresses.count == 1)
        let v6 = try #require(endpoint("http://[::1]:9/"))
        #expect(String(decoding: v6.hostLine, as: UTF8.self) == "Host: [::1]:9\r\n")
        #expect(v6.addresses.map(\.family) == [AF_INET6])
        let local = try #require(endpoint("http://LOCALHOST/x"))
        #expect(String(decoding: local.hostLine, as: UTF8.self) == "Host: localhost\r\n")
        #expect(local.addresses.map(\.family) == [AF_INET, AF_INET6])
        #expect(String(decoding: try #require(endpoint("http://127.0.0.1:80")).requestLine, as: UTF8.self) == "POST / HTTP/1.1\r\n")
    }

    @Test func othersGoThroughCurl() {
        for url in ["https://127.0.0.1:8443/mcp", "http://example.com/mcp", "http://10.0.0.1:80/", "http://api.localhost/mcp",
            "http://[::2]:80/", "http://127.0.0.1:0/", "http://user:pw@127.0.0.1:8000/mcp"] {
            #expect(endpoint(url) == nil, "\(url)")
        }
    }

    @Test func headerLinesFollowCurlsConventions() {
        let h = HeaderList(["Accept: a", "Expect:", "X-Empty;", "Authorization: Bearer t", "Bad: x\r\nInjected: y", "nonsense"])
        #expect(String(decoding: h.wire, as: UTF8.self) == "Accept: a\r\nX-Empty:\r\nAuthorization: Bearer t\r\n")
        #expect(!h.setsHost)
        #expect(HeaderList(["host: other"]).setsHost)
    }

    @Test func requestHead() throws {
        let e = try #require(endpoint("http://127.0.0.1:8000/mcp"))
        for (size, length) in [(0, "0"), (7, "7"), (354, "354"), (1_000_000, "1000000")] {
            let t = HTTPTransfer(
                method: .post, url: "http://127.0.0.1:8000/mcp", headers: HeaderList(["Accept: a", "Expect:"]),
                body: [UInt8](repeating: 0x20, count: size), timeoutMillis: 0, loopbackEndpoint: e,
                onHead: { _, _ in true }, onData: { _ in true }, onDone: { _ in })
            let c = LoopbackConnection(fd: -1, tag: 1, endpoint: e, addressIndex: 0, connected: true)
            c.begin(t)
            #expect(String(decoding: c.head, as: UTF8.self)
                == "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: a\r\nContent-Length: \(length)\r\n\r\n")
            #expect(c.release() === t && t.loopback == nil && c.transfer == nil)
        }
    }
}
