#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the configuration again and hands the new server set to the proxy (SIGHUP, `--watch`).
/// An invalid file changes nothing: the error is logged with its file and key path.
final class ConfigReloader: Sendable {
    let options: Options
    let proxy: MultiServerProxy
    let stateFile: StateFile?
    let log: Logger

    init(options: Options, proxy: MultiServerProxy, stateFile: StateFile?, log: Logger) {
        self.options = options
        self.proxy = proxy
        self.stateFile = stateFile
        self.log = log
    }

    func reload(why: String) async {
        let resolved: ServerSet.Resolved
        do {
            resolved = try ServerSet.resolveWithState(options, log: log)
        } catch {
            log.error("config reload (\(why)) failed; the running servers stay as they are: \(error)")
            return
        }
        stateFile?.updateConfigured(resolved.configured)
        let r = await proxy.reload(resolved.servers)
        func names(_ l: [String]) -> String { l.isEmpty ? "none" : l.joined(separator: ", ") }
        log.info("config reloaded (\(why)): added \(names(r.added)), removed \(names(r.removed)), changed \(names(r.changed))")
    }

    /// Polls the config files (modification time, size, inode) and reloads when one changed.
    func watchFiles() async {
        var last = options.configPaths.map(Self.fingerprint)
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 500_000_000)
            let now = options.configPaths.map(Self.fingerprint)
            if now != last {
                last = now
                // A file being written may be half there: wait a moment for it to settle.
                try? await Task.sleep(nanoseconds: 100_000_000)
                last = options.configPaths.map(Self.fingerprint)
                await reload(why: "a config file changed")
            }
        }
    }

    static func fingerprint(_ path: String) -> [Int64] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [-1] }
        return [Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec), Int64(st.st_size), Int64(st.st_ino)]
    }
}
