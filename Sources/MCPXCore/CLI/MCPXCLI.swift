import Foundation

/// Entry point of the `mcpx` executable.
public enum MCPXCLI {
    public static func run(_ args: [String]) async -> Int32 {
        let options: Options
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
        let log: Logger
        do {
            log = try Logger(level: options.logLevel, filePath: options.logFile)
        } catch {
            stderrLine("mcpx: error: \(error)")
            return 2
        }
        let servers: [ServerConfig]
        do {
            servers = try ServerSet.resolve(options, log: log)
        } catch {
            stderrLine("mcpx: error: \(error)")
            return 2
        }
        switch options.command {
        case .serve:
            return await StdioCommand.run(options, servers: servers, log: log)
        case .list, .tools, .call, .check:
            return await TerminalCommands.run(options, servers: servers)
        }
    }

    static func stderrLine(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// Only for --help / --version and terminal commands: never while serving MCP.
    static func stdoutText(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}

/// The servers mcpx starts with: --config files, the --state file, --servers flags.
public enum ServerSet {
    public static func resolve(_ options: Options, log: Logger) throws -> [ServerConfig] {
        var all: [ServerConfig] = []
        for s in options.servers {
            if all.contains(where: { $0.name == s.name }) { throw ConfigError("server \"\(s.name)\" is given twice") }
            all.append(s)
        }
        return all
    }
}

/// `mcpx list | tools | call | check` (see issue: terminal commands).
public enum TerminalCommands {
    public static func run(_ options: Options, servers: [ServerConfig]) async -> Int32 {
        MCPXCLI.stderrLine("mcpx: \(options.command.rawValue) is not implemented yet")
        return 2
    }
}
