import Testing

@testable import MCPXCore

@Suite struct LoopbackTests {
    @Test func loopbackHosts() {
        for url in [
            "http://127.0.0.1:8000/mcp", "http://127.1.2.3/mcp", "https://localhost/mcp", "http://LOCALHOST:80",
            "http://[::1]:9000/mcp", "http://user:pw@127.0.0.1:1/x", "http://api.localhost/mcp", "http://127.0.0.1",
        ] {
            #expect(HTTPTransfer.isLoopback(url), "\(url)")
        }
    }

    @Test func otherHosts() {
        for url in [
            "http://example.com/mcp", "http://127.0.0.1.example.com/mcp", "http://10.0.0.1/mcp", "http://[::2]/mcp",
            "http://localhost.example.com/", "http://evil.com/?next=http://127.0.0.1/", "http://127.0.0.256/",
            "http://127.0.0.1@example.com/", "http://[::1/mcp", "",
        ] {
            #expect(!HTTPTransfer.isLoopback(url), "\(url)")
        }
    }
}
