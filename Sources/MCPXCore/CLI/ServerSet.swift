#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The servers mcpx starts with: `--config` files, then `--servers` flags, then the `--state` file.
///
/// A server name may be defined once across all config files and flags. The state file then
/// applies what `manage` changed earlier (see `StateFile`).
public enum ServerSet {
    /// The servers to start, and the state file (if any) that records later `manage` changes
    /// against what the configuration said.
    public struct Resolved: Sendable {
        public var servers: [ServerConfig]
        public var stateFile: StateFile?
        /// The config files' `"expose"` (the last one that says) and `"alwaysExpose"` (all of them).
        public var expose: MultiServerProxy.ExposeMode? = nil
        public var alwaysExpose: [String] = []
        /// The servers of flags and config files before the state file was applied.
        public var configured: [ServerConfig] = []
        /// The config files' `"registries"`.
        public var registries: [String] = []
    }

    public static func resolve(
        _ options: Options, log: Logger, environment: [String: String]? = nil
    ) throws(ConfigError) -> [ServerConfig] {
        try resolveWithState(options, log: log, environment: environment).servers
    }

    public static func resolveWithState(
        _ options: Options, log: Logger, environment: [String: String]? = nil
    ) throws(ConfigError) -> Resolved {
        let environment = environment ?? ProcessEnvironment.all()
        var all: [ServerConfig] = []
        var origin: [String: String] = [:]
        var expose: MultiServerProxy.ExposeMode?
        var alwaysExpose: [String] = []
        var registries: [String] = []
        for path in options.configPaths {
            let loaded = try ConfigFile.load(path: path, environment: environment, skipStdio: options.skipStdio)
            for w in loaded.warnings { log.warning(w) }
            if let e = loaded.expose { expose = e }
            alwaysExpose += loaded.alwaysExpose
            registries += loaded.registries
            for e in loaded.entries {
                let name = e.config.name
                if let o = origin[name] {
                    throw ConfigError("\(path): \(e.keyPath): server name \"\(name)\" is already defined in \(o)")
                }
                origin[name] = "\(path) (\(e.keyPath))"
                all.append(e.config)
            }
        }
        for s in options.servers {
            if let o = origin[s.name] {
                throw ConfigError(
                    o == "--servers"
                        ? "--servers: server \"\(s.name)\" is given twice"
                        : "--servers: server \"\(s.name)\" is already defined in \(o)")
            }
            origin[s.name] = "--servers"
            all.append(s)
        }
        guard let statePath = options.statePath else { return Resolved(servers: all, stateFile: nil, expose: expose, alwaysExpose: alwaysExpose, configured: all, registries: registries) }
        try checkStateDirectory(statePath)
        let state = try StateFile.load(path: statePath, log: log)
        let file = StateFile(path: statePath, log: log, configured: all, removed: state?.removed ?? [])
        guard let state else { return Resolved(servers: all, stateFile: file, expose: expose, alwaysExpose: alwaysExpose, configured: all, registries: registries) }
        return Resolved(servers: StateFile.apply(state, to: all, file: statePath, log: log), stateFile: file, expose: expose, alwaysExpose: alwaysExpose, configured: all, registries: registries)
    }

    /// The state file's directory must exist and be writable: find out now, not at the first `manage`.
    static func checkStateDirectory(_ path: String) throws(ConfigError) {
        let dir = StateFile.split(path).dir
        guard PathKind(dir) == .directory else {
            throw ConfigError("--state \(path): directory \(dir) does not exist")
        }
        guard access(dir, W_OK) == 0 else {
            throw ConfigError("--state \(path): directory \(dir) is not writable")
        }
        if path.hasSuffix("/") || PathKind(path) == .directory {
            throw ConfigError("--state \(path): is a directory; give a file name")
        }
    }
}
