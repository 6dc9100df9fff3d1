/// Entry point of the `mcpx` executable.
public enum MCPXCLI {
    public static func run(_ args: [String]) async -> Int32 {
        var options: Options
        do {
            options = try Options.parse(args)
        } catch {
            stderrLine("mcpx: error: \(error)")
            return 2
        }
        if options.showHelp {
            stdoutText(Options.usage + "\n")
            return 0
        }
        if options.showVersion {
            stdoutText(MCPXVersion.full + "\n")
            return 0
        }
        if options.command == .search, let catalog = options.catalogPath {
            return SearchCommand.catalog(catalog, limit: options.searchLimit)
        }
        let log: Logger
        do {
            // Terminal commands talk to a person: only warnings and errors unless asked for more.
            let level = options.command == .serve || options.logLevelGiven ? options.logLevel : max(options.logLevel, .warning)
            log = try Logger(level: level, filePath: options.logFile)
        } catch {
            stderrLine("mcpx: error: \(error)")
            return 2
        }
        if options.command == .history { return historyCommand(options) }
        if options.command == .registry { return await registryCommand(options) }
        let resolved: ServerSet.Resolved
        do {
            resolved = try ServerSet.resolveWithState(options, log: log)
        } catch {
            stderrLine("mcpx: error: \(error)")
            return 2
        }
        if let e = resolved.expose, !options.exposeGiven { options.settings.expose = e }
        options.settings.alwaysExpose += resolved.alwaysExpose
        options.settings.registries += resolved.registries.filter { !options.settings.registries.contains($0) }
        switch options.command {
        case .serve:
            return await ServeCommand.run(options, servers: resolved.servers, stateFile: resolved.stateFile, log: log)
        case .history:
            return historyCommand(options)
        case .registry:
            return await registryCommand(options)
        case .list, .tools, .call, .check, .search:
            return await TerminalCommands.run(options, servers: resolved.servers, stateFile: resolved.stateFile, log: log)
        }
    }

    /// `mcpx history [SERVER] --state FILE [--limit N]`: the history beside the state file.
    static func historyCommand(_ options: Options) -> Int32 {
        guard let state = options.statePath else {
            stderrLine("mcpx: error: mcpx history needs --state FILE (the history is kept beside it)")
            return 2
        }
        let h = History(statePath: state, log: (try? Logger(level: .warning)) ?? .silent)
        let server = options.commandArgs.first
        let entries = h.all.filter { server == nil || $0.server == server }
        let limit = options.searchLimitGiven ? options.searchLimit : 50
        if entries.isEmpty {
            stdoutText("No changes recorded\(server.map { " for \($0)" } ?? "") in \(h.path ?? state).\n")
            return 0
        }
        stdoutText(entries.suffix(limit).map(\.line).joined(separator: "\n") + "\n")
        return 0
    }

    /// `mcpx registry search QUERY` / `mcpx registry show NAME`.
    static func registryCommand(_ options: Options) async -> Int32 {
        guard !options.settings.registries.isEmpty else {
            stderrLine("mcpx: error: mcpx registry needs --registry URL")
            return 2
        }
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let sub = options.commandArgs[0]
        let arg = options.commandArgs.dropFirst().joined(separator: " ")
        var failed = false
        for url in options.settings.registries {
            let client = RegistryClient(baseURL: url, loop: loop)
            do {
                if sub == "search" {
                    for e in try await client.search(arg, maxItems: options.searchLimitGiven ? options.searchLimit : 50) {
                        stdoutText("\(e.name)\(e.version.map { " \($0)" } ?? "")\(e.status == "active" ? "" : " [\(e.status)]") — \(ToolIndex.firstSentence(e.description)) — \(MultiServerProxy.howItRuns(e.server))\n")
                    }
                } else {
                    let e = try await client.show(arg)
                    stdoutText(String(decoding: e.server.serialized(), as: UTF8.self) + "\n")
                    return 0
                }
            } catch {
                stderrLine("mcpx: \(error.message)")
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    static func stderrLine(_ s: String) {
        FileOutput.writeAll(2, s + "\n")
    }

    /// Only for --help / --version and terminal commands: never while serving MCP.
    static func stdoutText(_ s: String) {
        FileOutput.writeAll(1, s)
    }
}
