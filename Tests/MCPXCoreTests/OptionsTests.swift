import Foundation
@testable import MCPXCore
import Testing

/// A value each flag accepts, for flags that take one.
private let sampleValues: [String: String] = [
    "--servers": "a=http://h/mcp", "--server": "a=http://h/mcp", "--config": "servers.json", "--state": "state.json",
    "--max-tool-name": "cursor:mcpx", "--tools": "echo,get_*", "--exclude-tools": "delete*", "--max-tools": "40",
    "--startup-timeout": "2", "--call-timeout": "30", "--max-call-time": "300", "--max-in-flight": "64", "--cache-max-bytes": "1048576", "--backend-protocol": "2025-11-25", "--admin-token": "admin-token-0123456789", "--registry": "http://127.0.0.1:1/", "--connect-timeout": "3", "--health-interval": "10",
    "--backoff-cap": "5", "--failure-threshold": "2", "--allow-url": "https://*.example.com/*",
    "--max-message-bytes": "65536", "--log-level": "debug", "--log-file": "/tmp/mcpx.log",
    "--stdio-server": "fs=npx -y 'some server'", "--allow-command": "npx",
    "--http": "127.0.0.1:0", "--http-token": "secret-token", "--http-allow-origin": "https://app.example.com",
    "--catalog": "catalog.json", "--limit": "5", "--expose": "search", "--expose-limit": "40", "--always-expose": "a__*",
]

/// Flags that need another flag beside them.
private let companions: [String: [String]] = [
    "--http-token": ["--http", "127.0.0.1:0"], "--http-allow-origin": ["--http", "127.0.0.1:0"], "--http-insecure": ["--http", "127.0.0.1:0"],
    "--catalog": ["search"], "--limit": ["search", "q"],
    "--admin-token": ["--http", "127.0.0.1:0"],
    "--watch": ["--config", "/tmp/mcpx-options-test.json"], "--state-git": ["--state", "/tmp/mcpx-options-test-state.json"],
]

private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private func read(_ relative: String) throws -> String {
    try String(contentsOf: repoRoot.appendingPathComponent(relative), encoding: .utf8)
}

private func flags(in text: String, pattern: String) -> Set<String> {
    let re = try! NSRegularExpression(pattern: pattern)
    let ns = text as NSString
    return Set(re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) })
}

/// Every `--flag` the usage text mentions.
private let usageFlags = flags(in: Options.usage, pattern: #"(?<![\w-])(--[a-z][a-z-]*[a-z])"#)

private func message(_ args: [String]) -> String? {
    do {
        _ = try Options.parse(args)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct OptionsTests {
    @Test func everyFlagInTheUsageIsAccepted() throws {
        #expect(usageFlags.count >= 20)
        for flag in usageFlags {
            let args = (sampleValues[flag].map { [flag, $0] } ?? [flag]) + (companions[flag] ?? [])
            #expect(message(args) == nil, "\(args)")
            if let v = sampleValues[flag] {
                #expect(message(["\(flag)=\(v)"] + (companions[flag] ?? [])) == nil, "\(flag)=\(v)")
                #expect(message([flag])?.contains("\(flag) needs a value") == true, "\(flag) without a value")
            }
        }
    }

    @Test func everyFlagParseAcceptsIsInTheUsageAndTheDocs() throws {
        // The flags are the string literals of `case` labels in Options.parse.
        let source = try read("Sources/MCPXCore/CLI/Options.swift")
        let caseLines = source.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("case \"-") }
        let accepted = flags(in: caseLines.joined(separator: "\n"), pattern: #""(--?[A-Za-z][a-z-]*)""#)
        #expect(accepted.count >= 20)
        let docs = try read("docs/configuration.md")
        for flag in accepted {
            #expect(message((sampleValues[flag].map { [flag, $0] } ?? [flag]) + (companions[flag] ?? [])) == nil, "\(flag)")
            let documented = flags(in: docs, pattern: #"(?<![\w-])(--?[A-Za-z][a-z-]*)(?![\w-])"#)
            #expect(documented.contains(flag), "\(flag) is not in docs/configuration.md")
            if flag.hasPrefix("--") { #expect(usageFlags.contains(flag), "\(flag) is not in the usage text") }
        }
        #expect(usageFlags.isSubset(of: accepted), "usage flags parse does not list: \(usageFlags.subtracting(accepted))")
    }

    @Test func values() throws {
        let o = try Options.parse([
            "--stdio", "--servers", "a=http://h/mcp,b=https://x.example/mcp?x=1,2", "--config", "one.json", "--config=two.json",
            "--state", "s.json", "--tools", "a*,b", "--exclude-tools", "c", "--exclude-tools", "d", "--max-tools", "40",
            "--max-tool-name", "claude-code:mcpx", "--read-only", "--allow-url", "http://*", "--log-level", "warning", "--skip-stdio",
        ])
        #expect(o.command == .serve)
        #expect(o.servers.map(\.name) == ["a", "b"])
        #expect(o.servers[1].url == "https://x.example/mcp?x=1,2")  // a comma not followed by NAME= stays in the URL
        #expect(o.configPaths == ["one.json", "two.json"])
        #expect(o.statePath == "s.json")
        #expect(o.settings.globalAllowTools == ["a*", "b"])
        #expect(o.settings.globalDenyTools == ["c", "d"])
        #expect(o.settings.maxTools == 40)
        #expect(o.settings.maxToolName == 53)
        #expect(o.settings.readOnly && o.settings.allowURLs == ["http://*"])
        #expect(o.logLevel == .warning && o.logLevelGiven)
        #expect(o.skipStdio)
        let d = try Options.parse([])
        #expect(!d.logLevelGiven && d.logLevel == .info && !d.skipStdio && !d.json)
    }

    @Test func commands() throws {
        #expect(try Options.parse(["list", "--json"]).command == .list)
        let t = try Options.parse(["tools", "docs"])
        #expect(t.command == .tools && t.commandArgs == ["docs"])
        let c = try Options.parse(["call", "a__echo", #"{"text":"hi"}"#, "--servers", "a=http://h/mcp"])
        #expect(c.command == .call && c.commandArgs == ["a__echo", #"{"text":"hi"}"#])
        // Arguments that look like a flag are arguments after `call TOOL`.
        #expect(try Options.parse(["call", "a__x", "-5"]).commandArgs == ["a__x", "-5"])
        #expect(try Options.parse(["check"]).command == .check)
    }

    @Test func usageErrors() {
        #expect(message(["--nope"]) == "unknown option --nope (see mcpx --help)")
        #expect(message(["call", "-x"]) == "unknown option -x (see mcpx --help)")
        #expect(message(["frobnicate"]) == #"unknown command "frobnicate" (commands: list, tools, call, check, search, history, registry; see mcpx --help)"#)
        #expect(message(["serve"]) == #"unknown command "serve" (commands: list, tools, call, check, search, history, registry; see mcpx --help)"#)
        #expect(message(["list", "extra"]) == #"mcpx list: unexpected argument "extra" (see mcpx --help)"#)
        #expect(message(["check", "a"]) == #"mcpx check: unexpected argument "a" (see mcpx --help)"#)
        #expect(message(["tools", "a", "b"]) == #"mcpx tools: unexpected argument "b" (see mcpx --help)"#)
        #expect(message(["call"]) == #"mcpx call needs a tool name: mcpx call TOOL '{"arg": ...}'"#)
        #expect(message(["call", "t", "{}", "more"]) == #"mcpx call: unexpected argument "more" (see mcpx --help)"#)
        #expect(message(["--max-tools", "0"]) == #"--max-tools must be a number from 1 to 1000000, not "0""#)
        #expect(message(["--log-level", "loud"]) == #"--log-level must be debug, info, warning or error, not "loud""#)
        #expect(message(["--servers", "nourl"]) == #"--servers entry "nourl" must look like NAME=URL"#)
        #expect(message(["--servers", "a=ftp://h/"]) == #"--servers: server "a": URL scheme must be http or https, not ftp"#)
    }

    // MARK: --max-tool-name presets (the arithmetic in docs/configuration.md)

    @Test func clientPresets() throws {
        #expect(try ClientPresets.maxToolName("48") == 48)
        for name in ["claude", "anthropic", "openai", "claude-desktop"] { #expect(try ClientPresets.maxToolName(name) == 64) }
        // Cursor: server key + tool name within 60.
        #expect(try ClientPresets.maxToolName("cursor") == 60 - 4)
        #expect(try ClientPresets.maxToolName("cursor:mcpx") == 56)
        #expect(try ClientPresets.maxToolName("cursor:tools") == 55)
        // Claude Code: mcp__<key>__<tool> within 64.
        #expect(try ClientPresets.maxToolName("claude-code") == 64 - 7 - 4)
        #expect(try ClientPresets.maxToolName("claude-code:mcpx") == 53)
        #expect(try ClientPresets.maxToolName("claude-code:my-proxy") == 49)
        #expect(throws: ConfigError.self) { try ClientPresets.maxToolName("cursor:" + String(repeating: "k", count: 50)) }
        #expect(throws: ConfigError.self) { try ClientPresets.maxToolName("15") }
        #expect(throws: ConfigError.self) { try ClientPresets.maxToolName("129") }
        #expect(throws: ConfigError.self) { try ClientPresets.maxToolName("gemini") }
    }
}
