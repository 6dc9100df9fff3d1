@testable import MCPXCore
import MCPXJSON
import Synchronization
import Testing

@Suite struct RefreshStateTests {
    @Test func oneRunningOneQueuedTheRestCoalesced() {
        var s = RefreshState()
        #expect(s.request() == .run)
        #expect(s.request() == .none)  // queued
        #expect(s.request() == .coalesced)
        #expect(s.request() == .coalesced)
        #expect(s.finished() == .run)  // the queued one
        #expect(s.phase == .running)
        #expect(s.finished() == .none)
        #expect(s.phase == .idle)
        #expect(s.request() == .run)
    }

    @Test func gateRunsAtMostTwiceForABurst() async {
        let gate = RefreshGate()
        let key = RefreshGate.Key(server: "a", list: .tools)
        let runs = Counter()
        let release = AsyncLatch()
        var coalesced = 0
        for _ in 0..<1_000 {
            if !gate.schedule(key, { runs.add(); await release.wait() }) { coalesced += 1 }
        }
        #expect(coalesced == 998)
        await release.open()
        for _ in 0..<200 where runs.value < 2 { try? await Task.sleep(nanoseconds: 5_000_000) }
        try? await Task.sleep(nanoseconds: 20_000_000)
        #expect(runs.value == 2)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = Mutex(0)
    func add() { lock.withLock { $0 += 1 } }
    var value: Int { lock.withLock { $0 } }
}

actor AsyncLatch {
    var isOpen = false
    var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        isOpen = true
        for w in waiters { w.resume() }
        waiters = []
    }
}

@Suite struct URLPatternTests {
    @Test func matchesPartByPart() {
        let local = URLPattern("http://127.0.0.1:*/mcp")!
        #expect(local.matches("http://127.0.0.1:8000/mcp"))
        #expect(!local.matches("http://127.0.0.1:8000/other"))
        #expect(!local.matches("http://[::1]:8000/mcp"))
        #expect(!local.matches("http://evil.example/x?http://127.0.0.1:1/mcp"))
        #expect(local.matches("http://127.0.0.1:8000/mcp?key=1"))  // query not matched
        let corp = URLPattern("https://*.corp.example/*")!
        #expect(corp.matches("https://mcp.corp.example/v1"))
        #expect(corp.matches("https://a.b.corp.example/"))
        #expect(!corp.matches("https://corp.example/"))
        #expect(!corp.matches("http://mcp.corp.example/"))  // scheme
        #expect(!corp.matches("https://mcp.corp.example:8443/"))  // not the default port
        #expect(!corp.matches("http://127.0.0.1:9/.corp.example/"))
        #expect(!corp.matches("https://evil.example/#.corp.example/x"))
        let v6 = URLPattern("http://[::1]:*")!
        #expect(v6.matches("http://[::1]:9/anything"))
        #expect(!v6.matches("http://127.0.0.1:9/"))
    }

    @Test func badPatternsAreRejected() {
        for bad in ["", "127.0.0.1:*", "http://", "http://u@h/", "http://[::1/", "http://h:/"] {
            #expect(URLPattern(bad) == nil, "\(bad)")
        }
    }

    @Test func unsafeURLsAreRefusedWhateverThePatterns() {
        #expect(URLPattern.unsafeReason("http://127.0.0.1:1@[::1]:8/mcp") != nil)
        #expect(URLPattern.unsafeReason("http://user:pw@127.0.0.1/mcp") != nil)
        #expect(URLPattern.unsafeReason("http://127.0.0.1/mcp\u{0}.corp.example") != nil)
        #expect(URLPattern.unsafeReason("http://127.0.0.1\\@evil/") != nil)
        #expect(URLPattern.unsafeReason("http://127.0.0.1:8/mcp?a=b@c") == nil)
        #expect(URLPattern.unsafeReason("https://mcp.corp.example/v1") == nil)
    }
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func shortenedNamesCarryTwelveHexDigits() {
        let n = ToolNaming.exposedName(server: "s", tool: "a.b", max: 64)
        #expect(n.hasPrefix("s__a_b_"))
        #expect(n.utf8.count == "s__a_b_".utf8.count + ToolNaming.hashDigits)
        let short = ToolNaming.exposedName(server: "server", tool: String(repeating: "t", count: 40), max: 16)
        #expect(short.utf8.count == 16 && ToolNaming.isValidExposedName(short, max: 16))
    }
}

@Suite struct RedactTests {
    @Test func headerValuesAndTheirCredentials() {
        #expect(Redact.headerSecrets(name: "Authorization", "Bearer abc123") == ["Bearer abc123", "abc123"])
        #expect(Redact.headerSecrets(name: "X-Api-Key", "plain-token") == ["plain-token"])
        #expect(Redact.headerSecrets(name: "Accept-Language", "en-US") == [])
    }

    @Test func urlSecretsCoverUserInfoQueryAndFragment() {
        let s = Redact.urlSecrets("http://user:pw%2Dx@h:1/mcp?key=q-secret&flag-secret#frag-secret")
        for expected in ["pw%2Dx", "pw-x", "user:pw%2Dx", Redact.base64(Array("user:pw-x".utf8)), "q-secret", "flag-secret", "frag-secret"] {
            #expect(s.contains(expected), "\(expected)")
        }
        #expect(!s.contains("user"))  // a user name beside a password is no secret
        #expect(Redact.urlSecrets("http://h/tools/deep?kind=deep&k=longer-value") == ["longer-value"])
        #expect(Redact.urlSecrets("https://TOKENVALUE@h/").contains("TOKENVALUE"))
        #expect(Redact.base64(Array("user:pw-secret-1234".utf8)) == "dXNlcjpwdy1zZWNyZXQtMTIzNA==")
        #expect(Redact.base64(Array("ab".utf8)) == "YWI=")
    }

    @Test func registeredSecretsLeaveEveryText() {
        Redact.register(["Bearer unit-test-secret-42", "unit-test-secret-42", "abc"])
        #expect(Redact.known("echo: unit-test-secret-42!") == "echo: [REDACTED]!")
        #expect(Redact.known("Bearer unit-test-secret-42") == "[REDACTED]")
        #expect(Redact.known("abc stays (too short to be a secret)") == "abc stays (too short to be a secret)")
        let v: JSONValue = ["a": ["text": "x unit-test-secret-42 y"], "n": 1]
        #expect(Redact.value(v) == ["a": ["text": "x [REDACTED] y"], "n": 1])
        Redact.register(["unit-test-secret-42"])  // a second holder
        Redact.unregister(["Bearer unit-test-secret-42", "unit-test-secret-42", "abc"])
        #expect(Redact.known("unit-test-secret-42") == "[REDACTED]")  // still held once
        Redact.unregister(["unit-test-secret-42"])
        #expect(Redact.known("unit-test-secret-42") == "unit-test-secret-42")
    }
}

@Suite struct StrictJSONTests {
    @Test func duplicateMemberNamesAreRefusedAtEveryDepth() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"a":1,"a":2}"#) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"p":{"t":"x","t":"y"}}"#) }
        #expect(throws: JSONParseError.self) { try RawObject(Array(#"{"method":"a","x":1,"method":"b"}"#.utf8)) }
        // Many members: the set-based check.
        let many = (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        #expect((try? JSONParser.parse("{\(many)}")) != nil)
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{\(many),\"k7\":0}") }
        #expect(throws: JSONParseError.self) { try RawObject(Array("{\(many),\"k39\":0}".utf8)) }
    }

    @Test func aMessageIsARequestOrAResponseNeverBoth() {
        let both = Array(#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#.utf8)
        #expect(throws: RPCError.self) { try IncomingMessage(bytes: both) }
        let resultAndError = Array(#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#.utf8)
        #expect(throws: RPCError.self) { try IncomingMessage(bytes: resultAndError) }
        let dup = Array(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{},"method":"x"}"#.utf8)
        #expect(throws: RPCError.self) { try IncomingMessage(bytes: dup) }
    }
}

@Suite struct ProgressTokenTests {
    final class Discard: ClientOutlet {
        func deliver(_ message: [UInt8], relatedTo: RPCID?) {}
    }

    @Test func eachRequestGetsItsOwnTokenAndOnlyItsBackendMayReport() {
        let t = ProgressTokens()
        let s1 = ClientSession(door: .http, outlet: Discard())
        let s2 = ClientSession(door: .http, outlet: Discard())
        // Two clients use the same token: the backends see two different ones.
        let a = t.register(1, server: "a", origin: CallOrigin(session: s1, requestID: .int(7)))
        let b = t.register(1, server: "a", origin: CallOrigin(session: s2, requestID: .int(7)))
        #expect(a != b)
        #expect(t.route(a, server: "a")?.origin.session === s1)
        #expect(t.route(b, server: "a")?.origin.session === s2)
        #expect(t.route(a, server: "a")?.clientToken == 1)
        #expect(t.route(a, server: "b") == nil)  // not b's request
        #expect(t.route(1, server: "a") == nil)  // the client's token means nothing to a backend
        #expect(t.route("mcpx-p999", server: "a") == nil)
        t.release(a)
        #expect(t.route(a, server: "a") == nil)
        #expect(t.count == 1)
    }
}

@Suite struct ToolResultURITests {
    @Test func onlyContentIsRewrittenTheRestIsCopiedByteForByte() {
        let result = Array(#"{"content":[{"type":"resource_link","uri":"file:///x","name":"x"},{"type":"resource","resource":{"uri":"a+file:///s","text":"t"}},{"type":"text","text":"uri"}],"structuredContent":{"big":123456789012345678901234567890,"uri":"keep"}}"#.utf8)
        let out = ResourceURI.exposeInToolResult(server: "b", result[...])!
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains(#""uri":"b+file:///x""#))
        #expect(text.contains(#""uri":"b+a+file:///s""#))
        #expect(text.contains(#""structuredContent":{"big":123456789012345678901234567890,"uri":"keep"}"#))
    }

    @Test func resultsWithoutResourcesAreLeftAlone() {
        let plain = Array(#"{"content":[{"type":"text","text":"see \"uri\""}],"structuredContent":{"uri":"x"}}"#.utf8)
        #expect(ResourceURI.exposeInToolResult(server: "b", plain[...]) == nil)
    }
}
