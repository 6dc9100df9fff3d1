import Foundation
@testable import MCPXCore
import MCPXJSON
import Testing

/// Parses `json` as the file `f.json`; the error message, or nil when it parsed.
private func failure(_ json: String, env: [String: String] = [:], skipStdio: Bool = false) -> String? {
    do {
        _ = try ConfigFile.parse(Array(json.utf8), file: "f.json", environment: env, skipStdio: skipStdio)
        return nil
    } catch {
        return error.message
    }
}

private func parse(_ json: String, env: [String: String] = [:], skipStdio: Bool = false) throws -> ConfigFile.Loaded {
    try ConfigFile.parse(Array(json.utf8), file: "f.json", environment: env, skipStdio: skipStdio)
}

/// One server entry in an otherwise valid file.
private func entry(_ body: String, key: String = "s", env: [String: String] = [:]) -> String? {
    failure(#"{"mcpServers": {"\#(key)": \#(body)}}"#, env: env)
}

@Suite struct ConfigFileTests {
    // MARK: What a good file gives

    @Test func fullEntry() throws {
        let loaded = try parse(
            #"""
            {
              "mcpServers": {
                "docs": {
                  "url": "https://docs.example.com/mcp",
                  "type": "http",
                  "headers": {"Authorization": "Bearer ${DOCS_TOKEN}", "X-Team": "${TEAM:-core}"},
                  "enabled": false,
                  "timeout": 12.5,
                  "tools": ["search*"], "allowTools": ["get"],
                  "excludeTools": ["delete*"], "denyTools": ["drop"],
                  "prefix": "d"
                },
                "local": {"url": "http://127.0.0.1:8931/mcp"}
              }
            }
            """#, env: ["DOCS_TOKEN": "s3cret"])
        #expect(loaded.entries.map(\.key) == ["docs", "local"])
        #expect(loaded.entries.map(\.keyPath) == ["mcpServers.docs", "mcpServers.local"])
        #expect(loaded.warnings.isEmpty)
        let d = loaded.entries[0].config
        #expect(d.name == "d")
        #expect(d.url == "https://docs.example.com/mcp")
        #expect(d.transport == .streamableHTTP)
        #expect(d.headers.map(\.name) == ["Authorization", "X-Team"])
        #expect(d.headers.map(\.value) == ["Bearer s3cret", "core"])
        #expect(d.enabled == false)
        #expect(d.status == .disabled)
        #expect(d.timeoutSeconds == 12.5)
        #expect(d.allowTools == ["search*", "get"])
        #expect(d.denyTools == ["delete*", "drop"])
        let l = loaded.entries[1].config
        #expect(l.name == "local" && l.transport == .auto && l.enabled && l.status == .connecting && l.headers.isEmpty)
        #expect(l.timeoutSeconds == nil && l.allowTools.isEmpty && l.denyTools.isEmpty)
    }

    @Test func transportTypes() throws {
        for (type, transport) in [
            ("http", ServerConfig.Transport.streamableHTTP), ("streamable-http", .streamableHTTP),
            ("streamableHttp", .streamableHTTP), ("sse", .sse),
        ] {
            let c = try parse(#"{"mcpServers": {"s": {"url": "http://h/mcp", "type": "\#(type)"}}}"#).entries[0].config
            #expect(c.transport == transport, "type \(type)")
        }
        // Other clients' spellings of the URL.
        let w = try parse(#"{"mcpServers": {"s": {"serverUrl": "http://h/mcp"}}}"#).entries[0].config
        #expect(w.url == "http://h/mcp" && w.transport == .auto)
        let g = try parse(#"{"mcpServers": {"s": {"httpUrl": "http://h/mcp"}}}"#).entries[0].config
        #expect(g.transport == .streamableHTTP)
    }

    @Test func vscodeFormatWithCommentsAndTrailingCommas() throws {
        let text = "\u{FEFF}" + #"""
            // VS Code's .vscode/mcp.json is JSON with comments
            {
              "inputs": [],
              /* a block
                 comment */
              "servers": {
                "gh": {"type": "http", "url": "https://api.example.com/mcp", "headers": {"A": "b // not a comment"},},
              },
            }
            """#
        let loaded = try parse(text)
        #expect(loaded.entries.map(\.config.name) == ["gh"])
        #expect(loaded.entries[0].keyPath == "servers.gh")
        #expect(loaded.entries[0].config.headers[0].value == "b // not a comment")
    }

    @Test func bothGroupsAndEmptyFile() throws {
        let both = try parse(#"{"mcpServers": {"a": {"url": "http://a/"}}, "servers": {"b": {"url": "http://b/"}}}"#)
        #expect(both.entries.map(\.config.name) == ["a", "b"])
        #expect(try parse(#"{"mcpServers": {}}"#).entries.isEmpty)
    }

    @Test func disabledKeyOfOtherClients() throws {
        #expect(try parse(#"{"mcpServers": {"s": {"url": "http://h/", "disabled": true}}}"#).entries[0].config.enabled == false)
        #expect(try parse(#"{"mcpServers": {"s": {"url": "http://h/", "disabled": false}}}"#).entries[0].config.enabled)
        #expect(try parse(#"{"mcpServers": {"s": {"url": "http://h/", "enabled": true, "disabled": false}}}"#).entries[0].config.enabled)
    }

    @Test func warnings() throws {
        let loaded = try parse(
            #"{"mcpServers": {"s": {"url": "http://h/", "autoApprove": [], "excludetools": ["x"]}, "fs": {"command": "npx", "args": ["x"]}}}"#,
            skipStdio: true)
        #expect(loaded.entries.map(\.config.name) == ["s"])
        #expect(
            loaded.warnings == [
                "f.json: mcpServers.s.excludetools: unknown key, ignored",
                "f.json: mcpServers.fs: stdio server skipped (--skip-stdio)",
            ])
    }

    // MARK: Every error message

    @Test func fileErrors() throws {
        #expect(throws: ConfigError.self) { try ConfigFile.load(path: "/nonexistent/servers.json", environment: [:]) }
        do {
            _ = try ConfigFile.load(path: "/nonexistent/servers.json", environment: [:])
        } catch {
            #expect(error.message == "/nonexistent/servers.json: cannot read: no such file")
        }
        do {
            _ = try ConfigFile.load(path: "/tmp", environment: [:])
            Issue.record("a directory was read as a config file")
        } catch {
            #expect(error.message == "/tmp: cannot read: is a directory")
        }
    }

    @Test func invalidJSONNamesLineAndColumn() {
        #expect(failure("") == "f.json: invalid JSON at line 1, column 1: unexpected end of file")
        #expect(failure("{\n  \"mcpServers\": {\n    \"a\": {\"url\" \"x\"}\n}") == "f.json: invalid JSON at line 3, column 17: unexpected '\"'")
        #expect(failure("{\"mcpServers\": 01}") == "f.json: invalid JSON at line 1, column 17: unexpected '1'")
        #expect(failure("{\"a\": -}") == "f.json: invalid JSON at line 1, column 8: invalid number")
        #expect(failure("{\"a\": \"\\x\"}") == "f.json: invalid JSON at line 1, column 10: invalid escape in a string")
        #expect(failure("{\"a\": \"\u{01}\"}") == "f.json: invalid JSON at line 1, column 8: unexpected byte 0x01")
        do {
            _ = try ConfigFile.parse(Array("{\"a\": \"".utf8) + [0xFF, 0x22, 0x7D], file: "f.json", environment: [:])
            Issue.record("invalid UTF-8 accepted")
        } catch {
            #expect(error.message == "f.json: invalid JSON at line 1, column 9: invalid UTF-8 (or a control character) in a string")
        }
        #expect(failure("{} x") == "f.json: invalid JSON at line 1, column 4: unexpected text after the JSON value")
        #expect(failure("{\"é\": \u{7F}}") == "f.json: invalid JSON at line 1, column 7: unexpected byte 0x7F")
        #expect(failure("{\"a\":\n\n}") == "f.json: invalid JSON at line 3, column 1: unexpected '}'")
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(failure(deep)?.hasSuffix(": nested too deeply") == true)
    }

    @Test func topLevelErrors() {
        #expect(failure("[]") == #"f.json: must be a JSON object with "mcpServers" (or VS Code's "servers"), not an array"#)
        #expect(failure("3") == #"f.json: must be a JSON object with "mcpServers" (or VS Code's "servers"), not a number"#)
        #expect(
            failure(#"{"globalShortcut": ""}"#)
                == #"f.json: has no "mcpServers" object (Claude Desktop, Cursor, Claude Code) or "servers" object (VS Code)"#)
        #expect(failure(#"{"mcpServers": {}, "mcpServers": {}}"#) == #"f.json: invalid JSON at line 1, column 20: key "mcpServers" appears twice"#)
        #expect(failure(#"{"mcpServers": []}"#) == "f.json: mcpServers: must be an object of server names to server entries")
        #expect(failure(#"{"servers": null}"#) == "f.json: servers: must be an object of server names to server entries")
        #expect(
            failure(#"{"mcpServers": {"a": {"url": "http://h/"}, "a": {"url": "http://h/"}}}"#)
                == #"f.json: invalid JSON at line 1, column 44: key "a" appears twice"#)
    }

    @Test func entryShapeErrors() {
        #expect(entry(#""http://h/""#) == #"f.json: mcpServers.s: must be an object with "url", not a string"#)
        #expect(entry("null") == #"f.json: mcpServers.s: must be an object with "url", not null"#)
        #expect(entry(#"{"url": "http://h/", "url": "http://i/"}"#) == #"f.json: invalid JSON at line 1, column 43: key "url" appears twice"#)
        #expect(entry("{}") == #"f.json: mcpServers.s: needs "url" (an http or https URL)"#)
        #expect(entry(#"{"url": 3}"#) == "f.json: mcpServers.s.url: must be a string, not a number")
        #expect(
            entry(#"{"url": "http://h/", "serverUrl": "http://h/"}"#)
                == #"f.json: mcpServers.s: has both "url" and "serverUrl"; give one URL"#)
    }

    @Test func stdioEntries() throws {
        let loaded = try parse(
            #"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "${PKG}"], "env": {"TOKEN": "${T:-t0k3n-value}"}, "cwd": "/tmp"}}}"#,
            env: ["PKG": "@modelcontextprotocol/server-filesystem"])
        let c = loaded.entries[0].config
        #expect(c.transport == .stdio)
        #expect(c.stdio == ServerConfig.StdioSpec(
            command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem"], env: [(name: "TOKEN", value: "t0k3n-value")], cwd: "/tmp"))
        #expect(c.url == "stdio:npx -y @modelcontextprotocol/server-filesystem")
        #expect(entry(#"{"type": "stdio", "url": "http://h/"}"#) == #"f.json: mcpServers.s: a stdio server needs "command" (the program to start)"#)
        #expect(entry(#"{"command": "x", "url": "http://h/"}"#) == #"f.json: mcpServers.s: has both "command" and a URL; give one"#)
        #expect(entry(#"{"command": "x", "args": "y"}"#) == "f.json: mcpServers.s.args: must be an array of strings, not a string")
        #expect(entry(#"{"command": "x", "env": {"A": 1}}"#) == "f.json: mcpServers.s.env.A: must be a string, not a number")
    }

    @Test func shellWords() throws {
        #expect(try ShellWords.split(#"npx -y '@scope/pkg name' "a \"b\" \$c" d\ e"#) == ["npx", "-y", "@scope/pkg name", #"a "b" $c"#, "d e"])
        #expect(try ShellWords.split("  ") == [])
        #expect(try ShellWords.split("''") == [""])
        #expect(throws: ShellWords.SplitError.self) { try ShellWords.split("'open") }
        let s = try Options.parseStdioServer("fs=uvx mcp-server-git --repository '/tmp/my repo'")
        #expect(s.name == "fs" && s.stdio?.command == "uvx" && s.stdio?.args == ["mcp-server-git", "--repository", "/tmp/my repo"])
    }

    @Test func urlErrors() {
        #expect(entry(#"{"url": "ftp://h/x"}"#) == #"f.json: mcpServers.s.url: must be an http or https URL, not "ftp://h/x""#)
        #expect(entry(#"{"url": "not a url"}"#) == #"f.json: mcpServers.s.url: must be an http or https URL, not "not a url""#)
        // Query values (tokens travel there sometimes) are not repeated in the message.
        #expect(
            entry(#"{"serverUrl": "ws://h/mcp?key=secret"}"#)
                == #"f.json: mcpServers.s.serverUrl: must be an http or https URL, not "ws://h/mcp?key=REDACTED""#)
    }

    @Test func typeErrors() {
        #expect(entry(#"{"url": "http://h/", "type": 1}"#) == "f.json: mcpServers.s.type: must be a string, not a number")
        #expect(
            entry(#"{"url": "http://h/", "type": "websocket"}"#)
                == #"f.json: mcpServers.s.type: must be "http", "streamable-http", "streamableHttp" or "sse", not "websocket""#)
    }

    @Test func nameAndPrefixErrors() {
        #expect(
            entry(#"{"url": "http://h/"}"#, key: "my server")
                == #"f.json: mcpServers["my server"]: server name "my server" may contain only letters, digits, "_" and "-"; rename the key or set "prefix" to a valid name"#
        )
        #expect(
            entry(#"{"url": "http://h/"}"#, key: "a__b")
                == #"f.json: mcpServers.a__b: server name "a__b" must not contain "__" (the namespace separator); rename the key or set "prefix" to a valid name"#
        )
        #expect(
            entry(#"{"url": "http://h/"}"#, key: String(repeating: "x", count: 33))
                == "f.json: mcpServers.\(String(repeating: "x", count: 33)): server name \"\(String(repeating: "x", count: 33))\" must be 1 to 32 characters long; rename the key or set \"prefix\" to a valid name"
        )
        #expect(entry(#"{"url": "http://h/", "prefix": 1}"#) == "f.json: mcpServers.s.prefix: must be a string, not a number")
        #expect(
            entry(#"{"url": "http://h/", "prefix": "d_"}"#)
                == #"f.json: mcpServers.s.prefix: server name "d_" must not end with "_" (it would run into the separator)"#)
        #expect(entry(#"{"url": "http://h/", "prefix": ""}"#) == #"f.json: mcpServers.s.prefix: server name "" must be 1 to 32 characters long"#)
        // A key that is not a valid name is fine with a prefix.
        #expect(entry(#"{"url": "http://h/", "prefix": "ok"}"#, key: "github.com") == nil)
        #expect(
            failure(#"{"mcpServers": {"a": {"url": "http://h/"}, "b": {"url": "http://h/", "prefix": "a"}}}"#)
                == #"f.json: mcpServers.b: server name "a" is already used by mcpServers.a"#)
        #expect(
            failure(#"{"mcpServers": {"a": {"url": "http://h/"}}, "servers": {"a": {"url": "http://h/"}}}"#)
                == #"f.json: servers.a: server name "a" is already used by mcpServers.a"#)
    }

    @Test func headerErrors() {
        #expect(
            entry(#"{"url": "http://h/", "headers": ["A: b"]}"#)
                == "f.json: mcpServers.s.headers: must be an object of header names to strings, not an array")
        #expect(entry(#"{"url": "http://h/", "headers": {"A": 1}}"#) == "f.json: mcpServers.s.headers.A: must be a string, not a number")
        #expect(entry(#"{"url": "http://h/", "headers": {"A b": "c"}}"#) == #"f.json: mcpServers.s.headers["A b"]: is not a valid header name"#)
        #expect(entry(#"{"url": "http://h/", "headers": {"": "c"}}"#) == #"f.json: mcpServers.s.headers[""]: is not a valid header name"#)
        #expect(
            entry(#"{"url": "http://h/", "headers": {"Content-Type": "text/plain"}}"#)
                == "f.json: mcpServers.s.headers.Content-Type: is set by mcpx itself and cannot be configured")
        #expect(
            entry(#"{"url": "http://h/", "headers": {"mcp-session-id": "x"}}"#)
                == "f.json: mcpServers.s.headers.mcp-session-id: is set by mcpx itself and cannot be configured")
        #expect(
            entry(#"{"url": "http://h/", "headers": {"X-A": "1", "x-a": "2"}}"#)
                == #"f.json: mcpServers.s.headers.x-a: header "x-a" is given twice"#)
        #expect(
            entry(#"{"url": "http://h/", "headers": {"A": "b\r\nEvil: 1"}}"#)
                == "f.json: mcpServers.s.headers.A: must not contain line breaks")
        // Also when the line break comes from the environment.
        #expect(
            entry(#"{"url": "http://h/", "headers": {"A": "${V}"}}"#, env: ["V": "x\ny"])
                == "f.json: mcpServers.s.headers.A: must not contain line breaks")
    }

    @Test func flagAndNumberErrors() {
        #expect(entry(#"{"url": "http://h/", "enabled": "yes"}"#) == #"f.json: mcpServers.s.enabled: must be true or false, not "yes""#)
        #expect(entry(#"{"url": "http://h/", "disabled": 0}"#) == "f.json: mcpServers.s.disabled: must be true or false, not 0")
        #expect(
            entry(#"{"url": "http://h/", "enabled": true, "disabled": true}"#)
                == #"f.json: mcpServers.s: "enabled" and "disabled" contradict each other"#)
        #expect(
            entry(#"{"url": "http://h/", "timeout": 0}"#) == "f.json: mcpServers.s.timeout: must be a number of seconds from 0.01 to 86400, not 0")
        #expect(
            entry(#"{"url": "http://h/", "timeout": "30"}"#)
                == #"f.json: mcpServers.s.timeout: must be a number of seconds from 0.01 to 86400, not "30""#)
        #expect(
            entry(#"{"url": "http://h/", "timeout": 1e9}"#)
                == "f.json: mcpServers.s.timeout: must be a number of seconds from 0.01 to 86400, not 1000000000")
    }

    @Test func toolListErrors() {
        #expect(
            entry(#"{"url": "http://h/", "tools": "echo"}"#)
                == #"f.json: mcpServers.s.tools: must be an array of tool names or "*" patterns, not a string"#)
        #expect(entry(#"{"url": "http://h/", "excludeTools": ["a", 2]}"#) == "f.json: mcpServers.s.excludeTools[1]: must be a string, not a number")
        #expect(entry(#"{"url": "http://h/", "denyTools": [""]}"#) == "f.json: mcpServers.s.denyTools[0]: must not be empty")
        #expect(
            entry(#"{"url": "http://h/", "allowTools": ["${T}"]}"#)
                == "f.json: mcpServers.s.allowTools[0]: environment variable T is not set (write ${T:-} to allow an empty value)")
    }

    @Test func environmentErrorsNameVariableAndKey() {
        #expect(
            entry(#"{"url": "http://h/", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}"#, key: "docs")
                == "f.json: mcpServers.docs.headers.Authorization: environment variable DOCS_TOKEN is not set (write ${DOCS_TOKEN:-} to allow an empty value)"
        )
        #expect(
            entry(#"{"url": "http://${HOST/mcp"}"#)
                == #"f.json: mcpServers.s.url: unterminated "${" (write ${NAME} or ${NAME:-default})"#)
        #expect(
            entry(#"{"url": "http://${1X}/mcp"}"#)
                == #"f.json: mcpServers.s.url: "${1X}" is not a valid variable reference (write ${NAME} or ${NAME:-default})"#)
        #expect(
            entry(#"{"url": "http://h/", "headers": {"A": "${input:token}"}}"#)
                == #"f.json: mcpServers.s.headers.A: "${input:token}" (a VS Code input prompt) is not supported; use an environment variable: ${NAME}"#
        )
        #expect(entry(#"{"url": "${U}", "prefix": "${P}"}"#, env: ["U": "http://h/"]) != nil)
    }

    // MARK: Environment expansion

    @Test func expansion() throws {
        let env = ["A": "1", "EMPTY": "", "B_2": "two"]
        #expect(try EnvExpansion.expand("plain $A text", env) == "plain $A text")
        #expect(try EnvExpansion.expand("${A}", env) == "1")
        #expect(try EnvExpansion.expand("x${A}y${B_2}z", env) == "x1ytwoz")
        #expect(try EnvExpansion.expand("${env:A}", env) == "1")
        #expect(try EnvExpansion.expand("${NOPE:-dflt}", env) == "dflt")
        #expect(try EnvExpansion.expand("${EMPTY:-dflt}", env) == "dflt")
        #expect(try EnvExpansion.expand("${A:-dflt}", env) == "1")
        #expect(try EnvExpansion.expand("${NOPE:-}", env) == "")
        #expect(try EnvExpansion.expand("${EMPTY}", env) == "")
        #expect(try EnvExpansion.expand("${NOPE:-a:-b}", env) == "a:-b")
        #expect(try EnvExpansion.expand("$${A}", env) == "$1")
        #expect(throws: EnvExpansion.Failure.self) { try EnvExpansion.expand("${NOPE}", env) }
        #expect(throws: EnvExpansion.Failure.self) { try EnvExpansion.expand("${}", env) }
        #expect(throws: EnvExpansion.Failure.self) { try EnvExpansion.expand("${A B}", env) }
    }

    @Test func expansionAppliesToEveryStringMcpxReads() throws {
        let env = ["HOST": "127.0.0.1:9", "P": "px", "TOOL": "echo", "TYPE": "sse"]
        let c = try parse(
            #"{"mcpServers": {"s": {"url": "http://${HOST}/mcp", "prefix": "${P}", "type": "${TYPE}", "tools": ["${TOOL}"], "excludeTools": ["${X:-none}"]}}}"#,
            env: env
        ).entries[0].config
        #expect(c.url == "http://127.0.0.1:9/mcp")
        #expect(c.name == "px")
        #expect(c.transport == .sse)
        #expect(c.allowTools == ["echo"])
        #expect(c.denyTools == ["none"])
    }

    @Test func keyPaths() {
        #expect(ConfigFile.path("mcpServers", "docs") == "mcpServers.docs")
        #expect(ConfigFile.path("mcpServers", "a.b") == #"mcpServers["a.b"]"#)
        #expect(ConfigFile.path("", "x") == "x")
    }

    // MARK: Shipped examples and documentation

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func exampleServersFile() throws {
        let path = Self.root.appendingPathComponent("examples/servers.json").path
        let loaded = try ConfigFile.load(path: path, environment: ["DOCS_TOKEN": "t0k3n"])
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.entries.map(\.config.name) == ["alpha", "beta", "docs"])
        #expect(loaded.entries[2].config.headers.first?.value == "Bearer t0k3n")
        do {
            _ = try ConfigFile.load(path: path, environment: [:])
            Issue.record("an unset DOCS_TOKEN was accepted")
        } catch {
            #expect(error.message.hasSuffix("mcpServers.docs.headers.Authorization: environment variable DOCS_TOKEN is not set (write ${DOCS_TOKEN:-} to allow an empty value)"))
        }
    }

    /// Every JSON snippet in the docs and every client example parses, and the command lines they
    /// give mcpx are accepted by `Options.parse`.
    @Test func clientExamplesAndDocSnippets() throws {
        var documents: [(String, String)] = []
        let fm = FileManager.default
        let examples = Self.root.appendingPathComponent("examples")
        for name in try fm.contentsOfDirectory(atPath: examples.path) where name.hasSuffix(".json") {
            documents.append((name, try String(contentsOf: examples.appendingPathComponent(name), encoding: .utf8)))
        }
        var pages = ["docs/configuration.md"]
        for name in try fm.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs/clients").path) { pages.append("docs/clients/\(name)") }
        for page in pages {
            let text = try String(contentsOf: Self.root.appendingPathComponent(page), encoding: .utf8)
            for (i, block) in text.components(separatedBy: "```json\n").dropFirst().enumerated() {
                documents.append(("\(page) block \(i + 1)", block.components(separatedBy: "```")[0]))
            }
        }
        #expect(documents.count >= 15)
        var mcpxEntries = 0
        for (name, text) in documents {
            let value: JSONValue
            do {
                value = try JSONParser.parse(JSONC.strip(Array(text.utf8)))
            } catch {
                Issue.record("\(name) is not valid JSON: \(JSONC.describe(error, in: Array(text.utf8)))")
                continue
            }
            for group in ["mcpServers", "servers"] {
                guard case .object(let servers)? = value[group], case .object(let entry)? = servers["mcpx"] else { continue }
                mcpxEntries += 1
                let args = entry["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(args.contains("--stdio"), "\(name)")
                #expect(throws: Never.self, "\(name): \(args)") { try Options.parse(args) }
            }
        }
        #expect(mcpxEntries >= 8)
    }

    // MARK: Several sources

    @Test func duplicatesAcrossFilesAndFlags() throws {
        let dir = try TempDir()
        let a = try dir.write("a.json", #"{"mcpServers": {"x": {"url": "http://h/"}}}"#)
        let b = try dir.write("b.json", #"{"mcpServers": {"y": {"url": "http://h/", "prefix": "x"}}}"#)
        var o = try Options.parse(["--config", a, "--config", b])
        #expect(throws: ConfigError.self) { try ServerSet.resolve(o, log: .silent, environment: [:]) }
        do {
            _ = try ServerSet.resolve(o, log: .silent, environment: [:])
        } catch {
            #expect(error.message == "\(b): mcpServers.y: server name \"x\" is already defined in \(a) (mcpServers.x)")
        }
        o = try Options.parse(["--config", a, "--servers", "x=http://other/mcp"])
        do {
            _ = try ServerSet.resolve(o, log: .silent, environment: [:])
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.message == "--servers: server \"x\" is already defined in \(a) (mcpServers.x)")
        }
        o = try Options.parse(["--servers", "x=http://h/mcp", "--server", "x=http://i/mcp"])
        do {
            _ = try ServerSet.resolve(o, log: .silent, environment: [:])
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.message == "--servers: server \"x\" is given twice")
        }
        o = try Options.parse(["--config", a, "--servers", "z=http://h/mcp"])
        #expect(try ServerSet.resolve(o, log: .silent, environment: [:]).map(\.name) == ["x", "z"])
    }
}

/// A temporary directory removed when the value goes away.
final class TempDir {
    let path: String

    init() throws {
        var template = Array("\(NSTemporaryDirectory())/mcpx-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ConfigError("mkdtemp failed") }
        path = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = file(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    func read(_ name: String) -> String? {
        FileManager.default.contents(atPath: file(name)).map { String(decoding: $0, as: UTF8.self) }
    }

    var names: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}
