import MCPXJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mcpx list | tools | call | check`: the same servers and flags as `mcpx --stdio`, for a person
/// at a terminal (tables) or a script (`--json`).
///
/// Each command starts a `MultiServerProxy` without a stdio client, connects the backends it
/// needs, does its work and shuts everything down. Exit codes: 0 success; 1 the work failed
/// (a tool error, a JSON-RPC error, an unhealthy server, a server that could not be reached, also
/// for `list`);
/// 2 a usage or configuration error.
public enum TerminalCommands {
    public static func run(_ options: Options, servers: [ServerConfig], stateFile: StateFile?, log: Logger) async -> Int32 {
        signal(SIGPIPE, SIG_IGN)  // `mcpx tools | head` must not kill mcpx mid-shutdown
        let out = TerminalOutput(json: options.json)
        let command = options.command.rawValue
        if servers.isEmpty && options.configPaths.isEmpty && options.statePath == nil
            && !(options.command == .call && ManagementTools.isOwn(options.commandArgs.first ?? ""))
        {
            out.error("mcpx \(command) needs servers: --servers NAME=URL or --config FILE (see mcpx --help)")
            return 2
        }
        // Usage errors first, before connecting anything.
        var callArguments: JSONValue?
        switch options.command {
        case .tools:
            if let s = options.commandArgs.first, !servers.contains(where: { $0.name == s }) {
                out.error("no server named \"\(s)\" (servers: \(servers.map(\.name).joined(separator: ", ")))")
                return 2
            }
        case .search:
            if let s = options.searchServer, !servers.contains(where: { $0.name == s }) {
                out.error("no server named \"\(s)\" (servers: \(servers.map(\.name).joined(separator: ", ")))")
                return 2
            }
            if options.commandArgs.isEmpty {
                out.error("mcpx search needs a query: mcpx search 'what you want to do' (or --catalog FILE)")
                return 2
            }
        case .call:
            if options.commandArgs.count > 1 {
                let text = options.commandArgs[1]
                do {
                    callArguments = try JSONParser.parse(text)
                } catch {
                    out.error("the arguments of mcpx call are not valid JSON: \(JSONC.describe(error, in: Array(text.utf8)))")
                    return 2
                }
                guard case .object? = callArguments else {
                    out.error("the arguments of mcpx call must be a JSON object, like '{\"text\": \"hi\"}'")
                    return 2
                }
            }
        default: break
        }

        let loop = CurlLoop()
        let needed = neededServers(options, servers)
        let proxy = MultiServerProxy(settings: options.settings, servers: needed, loop: loop, log: log)
        if let file = stateFile {
            await proxy.setStateSaver { file.save($0) }
            await proxy.setHistory(History(statePath: file.path, log: log))
        }
        await proxy.start(clientCapabilities: .object([:]))
        let code: Int32
        switch options.command {
        case .list: code = await list(proxy, out)
        case .tools: code = await tools(proxy, server: options.commandArgs.first, out)
        case .call:
            // The same path as a client's tools/call, with its deadlines.
            let dispatcher = Dispatcher(proxy: proxy, log: log, maxMessageBytes: options.maxLineBytes)
            let deadlines = Task { await dispatcher.runDeadlines() }
            code = await call(proxy, dispatcher, tool: options.commandArgs[0], arguments: callArguments, out)
            deadlines.cancel()
        case .check: code = await check(proxy, out)
        case .search: code = await search(proxy, query: options.commandArgs.joined(separator: " "), server: options.searchServer, limit: options.searchLimit, out)
        case .serve, .history, .registry: code = 2
        }
        await proxy.shutdown()
        loop.shutdown()
        return code
    }

    /// The servers a command has to connect: `tools SERVER` and `call SERVER__tool` need only
    /// that one (server names cannot contain `__`, so the prefix is unambiguous); the rest need all.
    static func neededServers(_ options: Options, _ servers: [ServerConfig]) -> [ServerConfig] {
        let target: String?
        switch options.command {
        case .tools: target = options.commandArgs.first
        case .call:
            let tool = options.commandArgs.first ?? ""
            target = ManagementTools.isOwn(tool) ? nil : tool.firstRange(of: ToolNaming.separator).map { String(tool[..<$0.lowerBound]) }
        default: target = nil
        }
        guard let target, servers.contains(where: { $0.name == target }) else { return servers }
        return servers.filter { $0.name == target }
    }

    // MARK: list

    static func list(_ proxy: MultiServerProxy, _ out: TerminalOutput) async -> Int32 {
        await proxy.waitForFirstAttempts()
        let configs = await proxy.serverConfigs
        // Like `check`: 1 when an enabled server could not be reached, so scripts can tell.
        let code: Int32 = configs.contains { $0.enabled && $0.status != .ready } ? 1 : 0
        if out.json {
            out.print(JSONValue.object(["servers": .array(configs.map(serverJSON))]).jsonString)
            return code
        }
        if configs.isEmpty {
            out.print("No servers configured.")
            return 0
        }
        let rows = configs.map { c -> [TerminalOutput.Cell] in
            [.init(c.name), out.status(c.status), .init(String(c.toolCount)), .init(Redact.url(c.url)),
             .init(c.status == .ready ? "" : c.lastError ?? "")]
        }
        out.table(["NAME", "STATUS", "TOOLS", "URL", "LAST ERROR"], rows)
        return code
    }

    static func serverJSON(_ c: ServerConfig) -> JSONValue {
        var o: JSONObject = [
            "name": .string(c.name), "url": .string(Redact.url(c.url)), "enabled": .bool(c.enabled),
            "status": .string(c.status.rawValue), "tools": .int(Int64(c.toolCount)),
            "transport": .string(c.transport.rawValue),
        ]
        o["protocolVersion"] = c.protocolVersion.map { .string($0) } ?? .null
        o["serverName"] = c.serverName.map { .string($0) } ?? .null
        o["lastError"] = c.lastError.map { .string($0) } ?? .null
        return .object(o)
    }

    // MARK: tools

    static func tools(_ proxy: MultiServerProxy, server: String?, _ out: TerminalOutput) async -> Int32 {
        await proxy.waitForFirstAttempts()
        let snap = proxy.router.snapshot
        let listed = (try? JSONParser.parse(snap.toolsListResult))?["tools"]?.arrayValue ?? []
        var items: [(name: String, server: String?, tool: String, description: String)] = []
        for def in listed {
            guard let name = def["name"]?.stringValue else { continue }
            let route = snap.tools[name]
            if let server, route?.server != server { continue }
            let description = def["description"]?.stringValue ?? def["title"]?.stringValue ?? ""
            items.append((name, route?.server, route?.tool ?? name, description))
        }
        var code: Int32 = 0
        for c in await proxy.serverConfigs where c.enabled && c.status != .ready && (server == nil || c.name == server) {
            out.warn("\(c.name): \(c.status.rawValue)\(c.lastError.map { ": \($0)" } ?? ""); its tools are not listed")
            code = 1
        }
        if out.json {
            let arr: [JSONValue] = items.map {
                ["name": .string($0.name), "server": $0.server.map { .string($0) } ?? .null, "tool": .string($0.tool),
                 "description": .string($0.description)]
            }
            out.print(JSONValue.object(["tools": .array(arr)]).jsonString)
            return code
        }
        out.table(["NAME", "DESCRIPTION"], items.map { [.init($0.name), .init(firstLine($0.description))] })
        return code
    }

    /// The first line (or sentence, for long paragraphs) of a description.
    static func firstLine(_ s: String) -> String {
        let line = s.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.trimmingWhitespace()
    }

    // MARK: search

    static func search(_ proxy: MultiServerProxy, query: String, server: String?, limit: Int, _ out: TerminalOutput) async -> Int32 {
        await proxy.waitForFirstAttempts()
        let index = await proxy.searchIndex()
        let hits = index.search(query, server: server, limit: limit)
        let listed = await proxy.listings(index, hits)
        if out.json {
            out.print(JSONValue.object(["tools": .array(zip(hits, listed).map { h, t in
                ["name": .string(t.exposedName), "server": .string(t.server), "description": .string(t.description), "score": .double((h.score * 1000).rounded() / 1000)]
            })]).jsonString)
        } else if hits.isEmpty {
            out.print("No tool matches \"\(query)\".")
        } else {
            for t in listed { out.print("\(t.exposedName)  \(t.description)") }
        }
        return hits.isEmpty ? 1 : 0
    }

    // MARK: call

    static func call(_ proxy: MultiServerProxy, _ dispatcher: Dispatcher, tool: String, arguments: JSONValue?, _ out: TerminalOutput) async -> Int32 {
        await proxy.waitForFirstAttempts()
        switch await dispatcher.callTool(tool, arguments: arguments, door: .cli) {
        case .rpcError(let e):
            if out.json {
                out.print(JSONValue.object(["error": e]).jsonString)
            } else {
                out.error("\(e["message"]?.stringValue ?? "error") (JSON-RPC error \(e["code"]?.intValue ?? 0))")
            }
            return 1
        case .result(let r):
            let failed = r["isError"]?.boolValue == true
            if out.json {
                out.print(r.jsonString)
            } else {
                var text = ""
                for block in r["content"]?.arrayValue ?? [] {
                    let t = describe(block)
                    text += t.hasSuffix("\n") ? t : t + "\n"
                }
                if let s = r["structuredContent"] { text += PrettyJSON.format(s) + "\n" }
                if failed { out.warn("\(tool) returned an error (isError)") }
                out.write(text)
            }
            return failed ? 1 : 0
        }
    }

    /// One content block as text: text as is, other kinds as a one-line summary.
    static func describe(_ block: JSONValue) -> String {
        let type = block["type"]?.stringValue ?? "?"
        switch type {
        case "text": return block["text"]?.stringValue ?? ""
        case "image", "audio":
            let bytes = (block["data"]?.stringValue?.utf8.count ?? 0) * 3 / 4
            return "[\(type): \(block["mimeType"]?.stringValue ?? "unknown type"), about \(bytes) bytes]"
        case "resource_link":
            return "[resource link: \(block["uri"]?.stringValue ?? "?")\(block["name"]?.stringValue.map { " (\($0))" } ?? "")]"
        case "resource":
            if let text = block["resource"]?["text"]?.stringValue { return text }
            return "[resource: \(block["resource"]?["uri"]?.stringValue ?? "?"), \(block["resource"]?["mimeType"]?.stringValue ?? "binary")]"
        default:
            return "[\(type) content]"
        }
    }

    // MARK: check

    static func check(_ proxy: MultiServerProxy, _ out: TerminalOutput) async -> Int32 {
        await proxy.waitForFirstAttempts()
        let pings = await proxy.pingAll()
        let configs = await proxy.serverConfigs
        let enabled = configs.filter(\.enabled)
        let healthy = pings.filter { $0.latencyMs != nil }.count
        var items: [JSONValue] = []
        var rows: [[TerminalOutput.Cell]] = []
        var stderrNotes: [String] = []
        for c in configs {
            let p = pings.first { $0.name == c.name }
            let state = !c.enabled ? "disabled" : p?.latencyMs != nil ? "healthy" : "unhealthy"
            var o: JSONObject = ["name": .string(c.name), "url": .string(Redact.url(c.url)), "status": .string(state)]
            o["latencyMs"] = p?.latencyMs.map { .double($0) } ?? .null
            o["error"] = p?.error.map { .string($0) } ?? .null
            if let tail = await proxy.stderrTail(c.name) {
                // A stdio server: what it said on stderr is often the only clue why it fails.
                o["stderrTail"] = .array(tail.map { .string($0) })
                if state == "unhealthy" && !tail.isEmpty {
                    stderrNotes.append("\(c.name) stderr (last lines):\n" + tail.suffix(5).map { "  \($0)" }.joined(separator: "\n"))
                }
            }
            items.append(.object(o))
            let latency = p?.latencyMs.map { "\($0.fixed(2)) ms" } ?? "-"
            rows.append([.init(c.name), out.health(state), .init(latency), .init(Redact.url(c.url)), .init(p?.error ?? "")])
        }
        let ok = !enabled.isEmpty && healthy == enabled.count
        if out.json {
            out.print(
                JSONValue.object([
                    "healthy": .int(Int64(healthy)), "total": .int(Int64(enabled.count)), "ok": .bool(ok), "servers": .array(items),
                ]).jsonString)
        } else {
            out.table(["NAME", "STATUS", "LATENCY", "URL", "ERROR"], rows)
            for note in stderrNotes { out.print(note) }
            out.print(enabled.isEmpty ? "No enabled servers to check." : "\(healthy)/\(enabled.count) healthy")
        }
        return ok ? 0 : 1
    }
}

/// Where terminal output goes and how it looks: tables and colours on a TTY (colours unless
/// `NO_COLOR` is set), the same tables without colour in a pipe, JSON with `--json`.
struct TerminalOutput {
    struct Cell {
        var text: String
        var color: String?
        init(_ text: String, color: String? = nil) {
            self.text = text
            self.color = color
        }
    }

    let json: Bool
    let tty: Bool
    let color: Bool

    init(json: Bool) {
        self.json = json
        tty = isatty(1) == 1
        let noColor = ProcessEnvironment.get("NO_COLOR").map { !$0.isEmpty } ?? false
        color = tty && !noColor && !json
    }

    static let green = "32", red = "31", yellow = "33", dim = "2", bold = "1"

    func paint(_ s: String, _ code: String?) -> String {
        guard color, let code, !s.isEmpty else { return s }
        return "\u{1B}[\(code)m\(s)\u{1B}[0m"
    }

    func status(_ s: ServerConfig.Status) -> Cell {
        switch s {
        case .ready: return Cell(s.rawValue, color: Self.green)
        case .failed, .crashLoop: return Cell(s.rawValue, color: Self.red)
        case .connecting: return Cell(s.rawValue, color: Self.yellow)
        case .disabled: return Cell(s.rawValue, color: Self.dim)
        }
    }

    func health(_ s: String) -> Cell {
        Cell(s, color: s == "healthy" ? Self.green : s == "disabled" ? Self.dim : Self.red)
    }

    /// Columns padded to their widest cell; on a TTY long cells are cut to keep rows on one line.
    func table(_ header: [String], _ rows: [[Cell]]) {
        let cut = tty ? 72 : Int.max
        let cells = rows.map { $0.map { c -> Cell in
            var c = c
            c.text = c.text.replacingAll("\n", with: " ")
            if c.text.count > cut { c.text = String(c.text.prefix(cut - 1)) + "…" }
            return c
        } }
        var widths = header.map(\.count)
        for r in cells { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.text.count) } }
        func line(_ r: [Cell]) -> String {
            var s = ""
            for (i, c) in r.enumerated() {
                let last = i == r.count - 1
                let pad = last ? "" : String(repeating: " ", count: widths[i] - c.text.count + 2)
                s += paint(c.text, c.color) + pad
            }
            return s.trimmingTrailingWhitespace()
        }
        var text = line(header.map { Cell($0, color: Self.bold) }) + "\n"
        for r in cells { text += line(r) + "\n" }
        write(text)
    }

    func print(_ s: String) { write(s + "\n") }

    /// A closed pipe (nobody is reading) drops the rest. No configured secret is ever printed.
    func write(_ s: String) { FileOutput.writeAll(1, Redact.known(s)) }

    func warn(_ s: String) { FileOutput.writeAll(2, "mcpx: \(Redact.known(s))\n") }

    func error(_ s: String) { FileOutput.writeAll(2, "mcpx: error: \(Redact.known(s))\n") }
}

/// Indented JSON for people (`mcpx call` prints structured content with it).
enum PrettyJSON {
    static func format(_ v: JSONValue, indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let end = String(repeating: "  ", count: indent)
        switch v {
        case .array(let a) where !a.isEmpty:
            return "[\n" + a.map { pad + format($0, indent: indent + 1) }.joined(separator: ",\n") + "\n\(end)]"
        case .object(let o) where !o.isEmpty:
            return "{\n"
                + o.members.map { pad + JSONValue.string($0.key).jsonString + ": " + format($0.value, indent: indent + 1) }
                .joined(separator: ",\n") + "\n\(end)}"
        default:
            return v.jsonString
        }
    }
}
