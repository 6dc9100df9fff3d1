@testable import MCPXCore
import MCPXJSON
import Testing

@Suite struct HTTPRequestParserTests {
    func parse(_ text: String, maxBody: Int = 1 << 20, pieces: Int = 1) -> [HTTPRequestParser.Event] {
        var p = HTTPRequestParser(maxHeadBytes: 1024, maxBodyBytes: maxBody)
        let bytes = Array(text.utf8)
        var events: [HTTPRequestParser.Event] = []
        // Feed in `pieces` parts: the result must not depend on how the bytes arrive.
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        var i = 0
        while i < bytes.count {
            events += p.feed(Array(bytes[i..<min(bytes.count, i + size)]))
            i += size
        }
        return events
    }

    func requests(_ events: [HTTPRequestParser.Event]) -> [HTTPRequest] {
        events.compactMap { if case .request(let r) = $0 { r } else { nil } }
    }

    func failure(_ events: [HTTPRequestParser.Event]) -> HTTPRequestParser.Failure? {
        events.compactMap { if case .failure(let f) = $0 { f } else { nil } }.first
    }

    @Test func contentLengthBodyAndPipelining() {
        let text = "POST /mcp?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type:  application/json \r\nContent-Length: 7\r\n\r\n{\"a\":1}GET /health HTTP/1.1\r\nHOST: a\r\n\r\n"
        for pieces in [1, 3, 17, text.utf8.count] {
            let rs = requests(parse(text, pieces: pieces))
            #expect(rs.count == 2, "pieces \(pieces)")
            #expect(rs.first?.method == "POST" && rs.first?.path == "/mcp" && rs.first?.query == "x=1")
            #expect(rs.first?.header("content-type") == "application/json")
            #expect(rs.first.map { String(decoding: $0.body, as: UTF8.self) } == "{\"a\":1}")
            #expect(rs.last?.method == "GET" && rs.last?.header("host") == "a")
        }
    }

    @Test func chunkedBody() {
        let text = "POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
        for pieces in [1, 5, text.utf8.count] {
            let rs = requests(parse(text, pieces: pieces))
            #expect(rs.count == 1)
            #expect(rs.first.map { String(decoding: $0.body, as: UTF8.self) } == "abcde")
        }
    }

    @Test func malformedInputFailsWithItsStatus() {
        #expect(failure(parse("GARBAGE\r\n\r\n"))?.status == 400)
        #expect(failure(parse("get / HTTP/1.1\r\n\r\n"))?.status == 400)
        #expect(failure(parse("GET / HTTP/2.0\r\n\r\n"))?.status == 505)
        #expect(failure(parse("GET http://x/ HTTP/1.1\r\n\r\n"))?.status == 400)
        #expect(failure(parse("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"))?.status == 400)
        #expect(failure(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"))?.status == 400)
        #expect(failure(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))?.status == 400)
        #expect(failure(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"))?.status == 501)
        #expect(failure(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))?.status == 400)
        #expect(failure(parse("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", maxBody: 1000))?.status == 413)
        #expect(failure(parse("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 2000) + "\r\n\r\n"))?.status == 431)
        #expect(failure(parse("GET / HTTP/1.1\r\n folded\r\n\r\n"))?.status == 400)
        #expect(failure(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"))?.status == 400)
    }

    @Test func aMillionTinyChunksAreALoopNotARecursion() {
        // Each chunk once cost a stack frame: 1,000 one-byte chunks crashed mcpx (SIGSEGV).
        var text = "POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        text += String(repeating: "1\r\nx\r\n", count: 200_000)
        text += "0\r\n" + String(repeating: "T: v\r\n", count: 1_000) + "\r\n"
        var p = HTTPRequestParser(maxHeadBytes: 64 << 10, maxBodyBytes: 1 << 20)
        let events = p.feed(Array(text.utf8))
        let r = requests(events)
        #expect(r.count == 1)
        #expect(r.first?.body.count == 200_000)
    }

    @Test func theHeadIsAnnouncedBeforeTheBody() {
        var p = HTTPRequestParser(maxBodyBytes: 1 << 20)
        let first = p.feed(Array("POST /mcp HTTP/1.1\r\nContent-Length: 5\r\n\r\nab".utf8))
        #expect(first.count == 1)
        if case .head(let h)? = first.first { #expect(h.path == "/mcp") } else { Issue.record("no head event") }
        #expect(requests(p.feed(Array("cde".utf8))).first.map { String(decoding: $0.body, as: UTF8.self) } == "abcde")
    }

    @Test func afterAFailureNothingMoreIsRead() {
        var p = HTTPRequestParser(maxBodyBytes: 100)
        #expect(p.feed(Array("BROKEN\r\n\r\n".utf8)).count == 1)
        #expect(p.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)).isEmpty)
    }

    @Test func closeAfter() {
        #expect(requests(parse("GET / HTTP/1.0\r\n\r\n")).first?.closeAfter == true)
        #expect(requests(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")).first?.closeAfter == true)
        #expect(requests(parse("GET / HTTP/1.1\r\n\r\n")).first?.closeAfter == false)
    }

    @Test func queryValues() {
        let r = requests(parse("GET /dashboard?a=1&token=ab%2Bc+d HTTP/1.1\r\n\r\n")).first
        #expect(r?.queryValue("token") == "ab+c d")
        #expect(r?.queryValue("a") == "1")
        #expect(r?.queryValue("b") == nil)
    }
}

@Suite struct HTTPDoorRulesTests {
    func request(_ headers: [(String, String)], query: String = "") -> HTTPRequest {
        HTTPRequest(method: "GET", path: "/", query: query, headers: headers, body: [], closeAfter: false)
    }

    @Test func acceptHeader() {
        #expect(HTTPDoor.accepts(request([("accept", "application/json, text/event-stream")]), "text/event-stream"))
        #expect(HTTPDoor.accepts(request([("accept", "Application/JSON;q=0.9")]), "application/json"))
        #expect(HTTPDoor.accepts(request([("accept", "*/*")]), "text/event-stream"))
        #expect(HTTPDoor.accepts(request([("accept", "text/*")]), "text/event-stream"))
        #expect(!HTTPDoor.accepts(request([("accept", "text/html")]), "text/event-stream"))
        #expect(!HTTPDoor.accepts(request([("accept", "application/jsonx")]), "application/json"))
        #expect(!HTTPDoor.accepts(request([]), "application/json"))
    }

    @Test func bearerToken() {
        #expect(HTTPDoor.bearerMatches(request([("authorization", "Bearer s3cret")]), token: "s3cret", allowQuery: false))
        #expect(HTTPDoor.bearerMatches(request([("authorization", "bearer s3cret")]), token: "s3cret", allowQuery: false))
        #expect(!HTTPDoor.bearerMatches(request([("authorization", "Bearer s3cre")]), token: "s3cret", allowQuery: false))
        #expect(!HTTPDoor.bearerMatches(request([("authorization", "Bearer s3cretx")]), token: "s3cret", allowQuery: false))
        #expect(!HTTPDoor.bearerMatches(request([("authorization", "Basic s3cret")]), token: "s3cret", allowQuery: false))
        #expect(!HTTPDoor.bearerMatches(request([], query: "token=s3cret"), token: "s3cret", allowQuery: false))
        #expect(HTTPDoor.bearerMatches(request([], query: "token=s3cret"), token: "s3cret", allowQuery: true))
    }

    @Test func loopbackHostsAndOriginsAreLiterals() {
        #expect(HTTPDoor.isIPv4Loopback("127.0.0.1"))
        #expect(HTTPDoor.isIPv4Loopback("127.12.0.254"))
        #expect(!HTTPDoor.isIPv4Loopback("127.a.evil.com"))
        #expect(!HTTPDoor.isIPv4Loopback("127.0.0.1.evil.com"))
        #expect(!HTTPDoor.isIPv4Loopback("127.0.0.256"))
        #expect(HTTPDoor.isLoopbackHost("localhost:8080"))
        #expect(HTTPDoor.isLoopbackHost("127.0.0.1"))
        #expect(HTTPDoor.isLoopbackHost("[::1]:9"))
        #expect(!HTTPDoor.isLoopbackHost("rebind.evil.com"))
        #expect(!HTTPDoor.isLoopbackHost("127.a.evil.com:80"))
    }

    @Test func addressesAndOrigins() throws {
        #expect(try ServerSocket.Address.parse("127.0.0.1:0") == .init(host: "127.0.0.1", port: 0))
        #expect(try ServerSocket.Address.parse("[::1]:8080") == .init(host: "::1", port: 8080))
        #expect(try ServerSocket.Address.parse("localhost:80").isLoopback)
        #expect(try !ServerSocket.Address.parse("0.0.0.0:80").isLoopback)
        #expect(throws: ConfigError.self) { try ServerSocket.Address.parse("8080") }
        #expect(throws: ConfigError.self) { try ServerSocket.Address.parse("h:70000") }
    }

    @Test func nonLoopbackNeedsATokenOrInsecure() throws {
        #expect(throws: ConfigError.self) { try Options.parse(["--http", "0.0.0.0:0"]) }
        let tokenOK = try Options.parse(["--http", "0.0.0.0:0", "--http-token", "t0ken"])
        #expect(tokenOK.http?.token == "t0ken")
        _ = try Options.parse(["--http", "0.0.0.0:0", "--http-insecure"])
        var o = try Options.parse(["--http", "127.0.0.1:0"])
        o.http = nil
        o.httpAllowOrigins = []
        var env = try Options.parse([])
        env.http = .init(address: try .parse("0.0.0.0:1"))
        try env.finishHTTP(environment: ["MCPX_HTTP_TOKEN": "from-env"])
        #expect(env.http?.token == "from-env")
        #expect(!(try Options.parse(["--http", "127.0.0.1:0"])).servesStdio)
        #expect(try Options.parse(["--http", "127.0.0.1:0", "--stdio"]).servesStdio)
        #expect(try Options.parse([]).servesStdio)
    }
}

@Suite struct ToolStatsTests {
    @Test func outcomesBucketsAndQuantiles() {
        var t = ToolStats()
        for _ in 0..<98 { t.record(.ok, micros: 800) }  // the 1 ms bucket
        t.record(.error, micros: 40_000, lastError: "boom")  // 50 ms
        t.record(.timeout, micros: 70_000_000)  // past the last bound
        #expect(t.calls == 100 && t.ok == 98 && t.errors == 1 && t.timeouts == 1)
        #expect(t.buckets.reduce(0, +) == 100)
        #expect(t.buckets.last == 1)
        let p50 = t.quantileMicros(0.5)!
        #expect(p50 > 500 && p50 <= 1_000)
        #expect(t.quantileMicros(0.99)! > 25_000)
        #expect(t.lastError == "boom")
        #expect(Metrics.bucketLabels.first == "0.0001" && Metrics.bucketLabels.last == "+Inf")
        #expect(Metrics.bucketLabels.count == t.buckets.count)
    }

    @Test func labelValuesAreEscaped() {
        var w = Metrics.Writer()
        w.sample("m", [("tool", "a\"b\\c\nd")], 1)
        #expect(String(decoding: w.bytes, as: UTF8.self) == "m{tool=\"a\\\"b\\\\c\\nd\"} 1\n")
    }
}

@Suite struct SearchRankerTests {
    @Test func theShippedTableIsTheGeneratedOne() throws {
        let e = try #require(StaticEmbedding.shared)
        let bytes = e.table.map { UInt8(bitPattern: $0) }
        #expect(SHA256.hex(bytes) == StaticEmbeddings.tableSHA256)
        #expect(e.dimensions == 256 && e.factors.count == 30_522)
    }

    @Test func tokenizerAndVectorsMatchThePythonReference() throws {
        // Test vectors from scripts/embeddings/README.md (the Python side that built the table).
        let e = try #require(StaticEmbedding.shared)
        #expect(e.tokenizer.tokenize("read a file") == [3191, 1037, 5371])
        #expect(e.tokenizer.tokenize("Show me the last 20 lines of /var/log/app/server.log")
            == [2265, 2033, 1996, 2197, 2322, 3210, 1997, 1013, 13075, 1013, 8833, 1013, 10439, 1013, 8241, 1012, 8833])
        #expect(e.tokenizer.tokenize("delete a kubernetes pod") == [3972, 12870, 1037, 13970, 5677, 7159, 2229, 17491])
        let v = e.embed("read a file")
        let expected: [Float] = [-0.121029, 0.084419, 0.057526, 0.062705, 0.098068, 0.055818]
        for (a, b) in zip(v, expected) { #expect(abs(a - b) < 1e-4) }
        let pod = e.embed("delete a kubernetes pod")
        let log = e.embed("Show me the last 20 lines of /var/log/app/server.log")
        let dot = { (x: [Float], y: [Float]) in zip(x, y).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(v, pod) - 0.005175) < 1e-3)
        #expect(abs(dot(v, log) - 0.241145) < 1e-3)
    }

    @Test func stemmerAndWords() {
        #expect(SearchText.words("readTextFile") == ["read", "text", "file"])
        #expect(SearchText.words("HTTPServer_v2-x.y") == ["http", "server", "v", "2", "x", "y"])
        #expect(PorterStemmer.stem("running") == "run")
        #expect(PorterStemmer.stem("files") == "file")
        #expect(PorterStemmer.stem("generalization") == "gener")
    }

    @Test func rankerFindsTheToolPeopleDescribe() {
        let tools = [
            ToolIndex.Tool(exposedName: "fs__read_text_file", server: "fs", name: "read_text_file",
                description: "Read the complete contents of a file as text.", parameters: [("path", "", true), ("tail", "If provided, returns only the last N lines of the file", false)]),
            ToolIndex.Tool(exposedName: "k8s__pods_delete", server: "k8s", name: "pods_delete", description: "Delete a Kubernetes pod.", parameters: [("name", "", true)]),
            ToolIndex.Tool(exposedName: "slack__post_message", server: "slack", name: "post_message", description: "Post a new message to a Slack channel.", parameters: [("channel_id", "", true), ("text", "", true)]),
        ]
        let index = ToolIndex(tools)
        #expect(index.search("show me the last 20 lines of the server log", limit: 1).first.map { index.tools[$0.tool].exposedName } == "fs__read_text_file")
        #expect(index.search("remove the crashed pod", limit: 1).first.map { index.tools[$0.tool].exposedName } == "k8s__pods_delete")
        #expect(index.search("let the team channel know the build is green", limit: 1).first.map { index.tools[$0.tool].exposedName } == "slack__post_message")
        #expect(index.search("anything", server: "slack", limit: 5).allSatisfy { index.tools[$0.tool].server == "slack" })
    }
}
