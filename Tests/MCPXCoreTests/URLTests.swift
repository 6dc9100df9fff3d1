import Testing

@testable import MCPXCore

/// URL handling without Foundation: libcurl's parser for checks and resolution, text for redaction.
@Suite struct URLTests {
    @Test func redactionDropsUserInfoAndQueryValues() {
        #expect(Redact.url("http://user:pw@h:1/mcp?token=abc&x=1#f") == "http://h:1/mcp?token=REDACTED&x=REDACTED#REDACTED")
        #expect(Redact.url("https://h/mcp") == "https://h/mcp")
        #expect(Redact.url("http://h/p?flag&k=") == "http://h/p?REDACTED&k=REDACTED")
        #expect(Redact.url("http://h/p#frag-secret") == "http://h/p#REDACTED")
        #expect(Redact.url("http://a@b@h/") == "http://h/")
        // The path may hold an @ (it is not user info there).
        #expect(Redact.url("http://h/a@b") == "http://h/a@b")
        // A URL that does not parse loses its secrets too.
        #expect(Redact.url("http://u:secret@h:99999/?k=secret") == "http://h:99999/?k=REDACTED")
        #expect(Redact.url("not a url?key=secret") == "not a url?key=REDACTED")
    }

    @Test func backendURLChecks() {
        #expect(Options.validateURL("http://127.0.0.1:8000/mcp") == nil)
        #expect(Options.validateURL("HTTPS://example.com") == nil)
        #expect(Options.validateURL("ftp://h/") == "URL scheme must be http or https, not ftp")
        #expect(Options.validateURL("ws://h/") == "URL scheme must be http or https, not ws")
        for bad in ["", "http://", "localhost:8000", "http://h:99999/", "http://bad host/", "mcp"] {
            #expect(Options.validateURL(bad)?.hasSuffix("is not a valid URL") == true, "\(bad)")
        }
    }

    @Test func legacyEndpointResolution() {
        let base = "http://127.0.0.1:8000/sse"
        #expect(LegacySSEChannel.resolveEndpoint("/messages/?session_id=ab12", against: base)
            == "http://127.0.0.1:8000/messages/?session_id=ab12")
        #expect(LegacySSEChannel.resolveEndpoint("messages?s=1", against: "http://h/a/sse") == "http://h/a/messages?s=1")
        #expect(LegacySSEChannel.resolveEndpoint(" http://127.0.0.1:8000/m ", against: base) == "http://127.0.0.1:8000/m")
        #expect(LegacySSEChannel.resolveEndpoint("http://127.0.0.1:80/m", against: "http://127.0.0.1/sse") == "http://127.0.0.1:80/m")
        // Another origin is refused: host, port or scheme.
        #expect(LegacySSEChannel.resolveEndpoint("http://evil.example/m", against: base) == nil)
        #expect(LegacySSEChannel.resolveEndpoint("http://127.0.0.1:8001/m", against: base) == nil)
        #expect(LegacySSEChannel.resolveEndpoint("https://127.0.0.1:8000/m", against: base) == nil)
        #expect(LegacySSEChannel.resolveEndpoint("//evil.example/m", against: base) == nil)
    }
}
