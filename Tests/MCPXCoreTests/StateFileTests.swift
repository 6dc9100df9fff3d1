import Foundation
@testable import MCPXCore
import MCPXJSON
import Testing

private func server(_ name: String, _ url: String = "http://h/mcp", enabled: Bool = true, headers: [(name: String, value: String)] = []) -> ServerConfig {
    ServerConfig(name: name, url: url, headers: headers, enabled: enabled)
}

@Suite struct StateFileTests {
    // MARK: What is written

    @Test func onlyDifferencesFromTheConfigurationAreKept() {
        let configured = [server("a"), server("b", enabled: false), server("c")]
        let file = StateFile(path: "/unused", log: .silent, configured: configured, removed: [])
        // Nothing changed: nothing to keep.
        #expect(file.snapshot(for: configured) == StateFile.Snapshot())
        // manage disable a, enable b, remove c, add d.
        var now = configured
        now[0].enabled = false
        now[1].enabled = true
        now.remove(at: 2)
        now.append(server("d", "http://d/mcp"))
        let snap = file.snapshot(for: now)
        #expect(
            snap.servers == [
                .init(name: "a", enabled: false), .init(name: "b", enabled: true), .init(name: "d", url: "http://d/mcp", enabled: true),
            ])
        #expect(snap.removed == ["c"])
        // Re-adding c at another URL: no longer removed, and its new URL is kept.
        now.append(server("c", "http://elsewhere/mcp"))
        let again = file.snapshot(for: now)
        #expect(again.removed.isEmpty)
        #expect(again.servers.last == .init(name: "c", url: "http://elsewhere/mcp", enabled: true))
    }

    @Test func removalsFromAnEarlierRunAreRemembered() {
        // "old" was removed in an earlier run (it is in the loaded state, no longer in the set).
        let file = StateFile(path: "/unused", log: .silent, configured: [server("a")], removed: ["old"])
        #expect(file.snapshot(for: [server("a")]).removed == ["old"])
    }

    @Test func headerValuesAreNeverWritten() throws {
        let dir = try TempDir()
        let path = dir.file("state.json")
        let secret = "Bearer very-secret-token"
        let configured = [server("a", headers: [("Authorization", secret)]), server("b", headers: [("X-Key", secret)])]
        let file = StateFile(path: path, log: .silent, configured: configured, removed: [])
        var now = configured
        now[0].enabled = false
        now[1].url = "http://moved/mcp"  // differs from the config: stored, but still without headers
        try file.write(now)
        let text = try #require(dir.read("state.json"))
        #expect(!text.contains("secret"))
        #expect(!text.contains("Authorization"))
        #expect(text.contains("http://moved/mcp"))
    }

    @Test func encodeDecodeRoundTrip() throws {
        let snap = StateFile.Snapshot(
            servers: [.init(name: "a", enabled: false), .init(name: "n", url: "https://x.example/mcp?k=v", enabled: true)],
            removed: ["r1", "r2"])
        let bytes = StateFile.encode(snap)
        #expect(try StateFile.decode(bytes) == snap)
        // Readable: one server per line.
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\n    {\"name\":\"a\",\"enabled\":false},\n"))
        #expect(text.hasPrefix("{\n  \"version\": 1,\n"))
        #expect(try StateFile.decode(StateFile.encode(StateFile.Snapshot())) == StateFile.Snapshot())
    }

    // MARK: Atomic writes

    @Test func atomicWriteLeavesOnlyTheFile() throws {
        let dir = try TempDir()
        let file = StateFile(path: dir.file("state.json"), log: .silent, configured: [], removed: [])
        for i in 0..<5 { try file.write([server("s\(i)")]) }
        #expect(dir.names == ["state.json"])
        var st = stat()
        #expect(stat(dir.file("state.json"), &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        let loaded = try #require(try StateFile.load(path: dir.file("state.json"), log: .silent))
        #expect(loaded.servers == [.init(name: "s4", url: "http://h/mcp", enabled: true)])
    }

    @Test func crashBetweenWriteAndRenameKeepsTheOldState() throws {
        let dir = try TempDir()
        let path = dir.file("state.json")
        let file = StateFile(path: path, log: .silent, configured: [], removed: [])
        try file.write([server("old")])
        let before = try #require(dir.read("state.json"))
        // The new state reached a temporary file, then mcpx died before the rename.
        let temp = try StateFile.writeTemp(StateFile.encode(StateFile.Snapshot(servers: [.init(name: "new", url: "http://n/", enabled: true)])), besides: path)
        #expect(temp.hasPrefix(dir.path + "/.state.json.tmp-"))
        #expect(FileManager.default.fileExists(atPath: temp))
        #expect(dir.read("state.json") == before)
        // The next start reads the old state and ignores the stray temporary file.
        let loaded = try #require(try StateFile.load(path: path, log: .silent))
        #expect(loaded.servers.map(\.name) == ["old"])
        #expect(dir.names.filter { $0.hasPrefix("state.json.corrupt") }.isEmpty)
        // And the next save still works.
        try file.write([server("newer")])
        #expect(try StateFile.load(path: path, log: .silent)?.servers.map(\.name) == ["newer"])
    }

    @Test func failedWriteKeepsTheOldFile() throws {
        let dir = try TempDir()
        let path = dir.file("state.json")
        let file = StateFile(path: path, log: .silent, configured: [], removed: [])
        try file.write([server("a")])
        let before = dir.read("state.json")
        let missing = StateFile(path: dir.file("gone/state.json"), log: .silent, configured: [], removed: [])
        #expect(throws: ConfigError.self) { try missing.write([server("b")]) }
        missing.save([server("b")])  // logs, does not throw
        #expect(dir.read("state.json") == before)
    }

    // MARK: Loading

    @Test func missingAndEmptyFilesMeanNoState() throws {
        let dir = try TempDir()
        #expect(try StateFile.load(path: dir.file("none.json"), log: .silent) == nil)
        try dir.write("empty.json", " \n")
        #expect(try StateFile.load(path: dir.file("empty.json"), log: .silent) == nil)
        #expect(dir.names == ["empty.json"])  // not moved aside
    }

    @Test func corruptFileIsKeptAside() throws {
        let dir = try TempDir()
        let path = dir.file("state.json")
        let garbage = #"{"version": 1, "servers": [{"name": "a", "url": "http://h/"}"#  // cut short
        try dir.write("state.json", garbage)
        #expect(try StateFile.load(path: path, log: .silent) == nil)
        let aside = dir.names.filter { $0.hasPrefix("state.json.corrupt-") }
        #expect(aside.count == 1)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(dir.read(aside[0]) == garbage)
        // A second corrupt file in the same second does not replace the first one.
        try dir.write("state.json", "nonsense")
        #expect(try StateFile.load(path: path, log: .silent) == nil)
        let asides = dir.names.filter { $0.hasPrefix("state.json.corrupt-") }
        #expect(asides.count == 2)
        #expect(Set(asides.compactMap { dir.read($0) }) == [garbage, "nonsense"])
    }

    @Test func invalidContentCountsAsCorrupt() throws {
        let bad = [
            #"[]"#, #"{"servers": []}"#, #"{"version": "1"}"#, #"{"version": 0}"#,
            #"{"version": 1, "servers": {}}"#, #"{"version": 1, "servers": [{"url": "http://h/"}]}"#,
            #"{"version": 1, "servers": [{"name": "bad name"}]}"#, #"{"version": 1, "servers": [{"name": "a", "url": "file:///x"}]}"#,
            #"{"version": 1, "servers": [{"name": "a", "enabled": "no"}]}"#, #"{"version": 1, "servers": [{"name": "a"}, {"name": "a"}]}"#,
            #"{"version": 1, "removed": "a"}"#, #"{"version": 1, "removed": [1]}"#, #"{"version": 1, "servers": [{"name": "a", "url": 5}]}"#,
        ]
        for text in bad {
            #expect(throws: StateFile.DecodeError.self, "\(text)") { try StateFile.decode(Array(text.utf8)) }
        }
    }

    @Test func newerFormatStopsMcpx() throws {
        let dir = try TempDir()
        try dir.write("state.json", #"{"version": 2, "servers": []}"#)
        do {
            _ = try StateFile.load(path: dir.file("state.json"), log: .silent)
            Issue.record("a newer state file was accepted")
        } catch {
            #expect(error.message.contains("has format 2, newer than this mcpx understands (1)"))
        }
        #expect(dir.names == ["state.json"])  // untouched
    }

    // MARK: Applying a state at start

    @Test func stateWinsForServersItNames() {
        let configured = [
            server("a"), server("b", enabled: false), server("gone"),
            server("moved", "http://old/mcp", headers: [("Authorization", "Bearer t")]),
        ]
        let state = StateFile.Snapshot(
            servers: [
                .init(name: "a", enabled: false), .init(name: "b", enabled: true), .init(name: "added", url: "http://added/mcp", enabled: true),
                .init(name: "moved", url: "http://new/mcp", enabled: true), .init(name: "unknown", enabled: false),
            ],
            removed: ["gone", "never-configured"])
        let result = StateFile.apply(state, to: configured, file: "s.json", log: .silent)
        #expect(result.map(\.name) == ["a", "b", "moved", "added"])
        #expect(result[0].enabled == false && result[0].status == .disabled)
        #expect(result[1].enabled == true && result[1].status == .connecting)
        #expect(result[2].url == "http://new/mcp")
        #expect(result[2].headers.isEmpty)  // the config's token is not sent to another URL
        #expect(result[3].url == "http://added/mcp")
    }

    @Test func resolveMergesStateAndRemembersTheBaseline() throws {
        let dir = try TempDir()
        let config = try dir.write(
            "servers.json", #"{"mcpServers": {"a": {"url": "http://a/mcp"}, "b": {"url": "http://b/mcp", "headers": {"K": "v"}}}}"#)
        let statePath = dir.file("state.json")
        try dir.write(
            "state.json", #"{"version": 1, "servers": [{"name": "x", "url": "http://x/mcp", "enabled": true}], "removed": ["a"]}"#)
        let options = try Options.parse(["--config", config, "--state", statePath])
        let resolved = try ServerSet.resolveWithState(options, log: .silent, environment: [:])
        let servers = resolved.servers
        #expect(servers.map(\.name) == ["b", "x"])
        // The file the proxy saves through compares against the configuration, not the merged set.
        let file = try #require(resolved.stateFile)
        var now = servers
        now[0].enabled = false
        let snap = file.snapshot(for: now)
        #expect(snap.removed == ["a"])
        #expect(snap.servers == [.init(name: "b", enabled: false), .init(name: "x", url: "http://x/mcp", enabled: true)])
    }

    @Test func stateDirectoryIsCheckedAtStart() throws {
        let dir = try TempDir()
        for (path, message) in [
            (dir.file("nope/state.json"), "--state \(dir.file("nope/state.json")): directory \(dir.file("nope")) does not exist"),
            (dir.path, "--state \(dir.path): is a directory; give a file name"),
        ] {
            let options = try Options.parse(["--state", path])
            do {
                _ = try ServerSet.resolve(options, log: .silent, environment: [:])
                Issue.record("accepted --state \(path)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    /// The proxy calls the saver after manage changes; this needs no backend.
    @Test func manageChangesReachTheFile() async throws {
        let dir = try TempDir()
        let path = dir.file("state.json")
        let configured = [server("a", "http://127.0.0.1:1/mcp"), server("b", "http://127.0.0.1:1/mcp")]
        let loop = CurlLoop()
        let proxy = MultiServerProxy(settings: .init(), servers: configured, loop: loop, log: .silent)
        let file = StateFile(path: path, log: .silent, configured: configured, removed: [])
        await proxy.setStateSaver { file.save($0) }
        _ = await proxy.callManagementTool("manage", arguments: ["action": "disable", "name": "a"])
        #expect(try StateFile.load(path: path, log: .silent)?.servers == [.init(name: "a", enabled: false)])
        _ = await proxy.callManagementTool("manage", arguments: ["action": "remove", "name": "b"])
        let snap = try #require(try StateFile.load(path: path, log: .silent))
        #expect(snap.removed == ["b"])
        await proxy.shutdown()
        loop.shutdown()
    }
}
