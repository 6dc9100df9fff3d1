import Foundation
@testable import MCPXCore
import MCPXJSON
import Testing

private let backendTools = ["echo", "add", "search_docs", "search_code", "delete_repo", "admin.reset"]

private func tools(_ names: [String]) -> [JSONValue] {
    names.map { ["name": .string($0), "inputSchema": ["type": "object"]] }
}

/// The exposed names the router has for server `a` after it listed `backendTools`.
private func exposed(_ settings: MultiServerProxy.Settings = .init(), allow: [String] = [], deny: [String] = []) async -> [String] {
    let loop = CurlLoop()
    defer { loop.shutdown() }
    let server = ServerConfig(name: "a", url: "http://127.0.0.1:1/mcp", allowTools: allow, denyTools: deny)
    let proxy = MultiServerProxy(settings: settings, servers: [server], loop: loop, log: .silent)
    await proxy.setTools("a", tools(backendTools))
    await proxy.publishNow()  // setTools coalesces router rebuilds; read the routes now
    let names = await proxy.router.snapshot.tools.filter { $0.value.server == "a" }.map(\.key).sorted()
    await proxy.shutdown()
    return names
}

@Suite struct ToolFilterTests {
    @Test func globMatching() {
        #expect(ToolFilter.matches("echo", pattern: "echo"))
        #expect(!ToolFilter.matches("echo", pattern: "ech"))
        #expect(!ToolFilter.matches("echo2", pattern: "echo"))
        #expect(ToolFilter.matches("echo", pattern: "*"))
        #expect(ToolFilter.matches("", pattern: "*"))
        #expect(ToolFilter.matches("search_docs", pattern: "search_*"))
        #expect(ToolFilter.matches("search_", pattern: "search_*"))
        #expect(!ToolFilter.matches("research_docs", pattern: "search_*"))
        #expect(ToolFilter.matches("delete_repo", pattern: "*_repo"))
        #expect(ToolFilter.matches("a_b_c", pattern: "a*b*c"))
        #expect(ToolFilter.matches("abcbc", pattern: "a*bc"))
        #expect(!ToolFilter.matches("abcbd", pattern: "a*bc"))
        #expect(ToolFilter.matches("x", pattern: "**x**"))
        #expect(!ToolFilter.matches("x", pattern: ""))
        #expect(ToolFilter.matches("admin.reset", pattern: "admin.*"))
        // Case-sensitive, like tool names.
        #expect(!ToolFilter.matches("Echo", pattern: "echo"))
    }

    @Test func allowAndDeny() {
        #expect(ToolFilter.allows("x", allow: [], deny: []))
        #expect(ToolFilter.allows("echo", allow: ["echo", "add"], deny: []))
        #expect(!ToolFilter.allows("sleep", allow: ["echo", "add"], deny: []))
        #expect(!ToolFilter.allows("delete_repo", allow: [], deny: ["delete*"]))
        // Deny wins over allow.
        #expect(!ToolFilter.allows("delete_repo", allow: ["*"], deny: ["delete*"]))
    }

    @Test func perServerFilters() async {
        #expect(await exposed().count == backendTools.count)
        #expect(await exposed(allow: ["search_*"]) == ["a__search_code", "a__search_docs"])
        #expect(await exposed(deny: ["search_*", "admin.*"]) == ["a__add", "a__delete_repo", "a__echo"])
        #expect(await exposed(allow: ["search_*"], deny: ["*_code"]) == ["a__search_docs"])
    }

    @Test func globalFilters() async {
        var s = MultiServerProxy.Settings()
        s.globalAllowTools = ["echo", "add"]
        #expect(await exposed(s) == ["a__add", "a__echo"])
        s = .init()
        s.globalDenyTools = ["delete*"]
        #expect(await exposed(s).contains("a__delete_repo") == false)
        // A global deny also applies to what a server's own list allows.
        #expect(await exposed(s, allow: ["delete*", "echo"]) == ["a__echo"])
    }

    @Test func flagsReachTheSettings() async throws {
        let o = try Options.parse(["--tools", "echo,add", "--exclude-tools", "add"])
        #expect(await exposed(o.settings) == ["a__echo"])
    }

    @Test func maxToolsWarningInProxyStatus() async throws {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        var settings = MultiServerProxy.Settings()
        settings.maxTools = 2
        // With no backends the client still sees mcpx's own three tools: more than 2.
        let proxy = MultiServerProxy(settings: settings, servers: [], loop: loop, log: .silent)
        await proxy.start(clientCapabilities: [:])
        let status = await proxy.callManagementTool("proxy_status", arguments: nil)
        let warnings = try #require(status["structuredContent"]?["warnings"]?.arrayValue)
        #expect(warnings.count == 1)
        #expect(warnings.first?.stringValue?.contains("more than --max-tools 2") == true)
        let text = status["content"]?.arrayValue?.first?["text"]?.stringValue ?? ""
        #expect(text.contains("warning: The client sees 3 tools, more than --max-tools 2"))

        settings.maxTools = 3
        let calm = MultiServerProxy(settings: settings, servers: [], loop: loop, log: .silent)
        await calm.start(clientCapabilities: [:])
        #expect(await calm.callManagementTool("proxy_status", arguments: nil)["structuredContent"]?["warnings"]?.arrayValue?.isEmpty == true)
        await proxy.shutdown()
        await calm.shutdown()
    }
}
