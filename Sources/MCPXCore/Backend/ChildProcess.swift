import CSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One stdio server's process: started in a process group of its own (dying with mcpx on Linux),
/// stopped the way the MCP spec's stdio section says, and always reaped.
///
/// Stopping: close its stdin, wait a short grace, SIGTERM the group, wait, SIGKILL the group. The
/// whole group, because `npx` and `uvx` start the real server as a grandchild that outlives a
/// signal to the wrapper alone.
final class ChildProcess: Sendable {
    let pid: Int32
    let stdinFD: Int32
    let stdoutFD: Int32
    let stderrFD: Int32
    let started = monotonicNanos()
    /// The exit status once reaped (`waitpid`), so it is reaped exactly once.
    private let exit = Mutex<Int32?>(nil)

    private init(pid: Int32, fds: (Int32, Int32, Int32)) {
        self.pid = pid
        (stdinFD, stdoutFD, stderrFD) = fds
    }

    /// Directories searched after PATH: where `npx`, `uvx`, `docker` live when mcpx was started
    /// from a GUI whose PATH has only the system directories.
    static let fallbackPath = [
        "/usr/local/bin", "/opt/homebrew/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin",
    ]

    /// The program `command` names: itself when it has a `/`, else the first executable of that
    /// name in PATH, then in the user's usual tool folders and `fallbackPath`.
    static func resolve(_ command: String, environment: [String: String]) -> String? {
        if command.contains("/") { return command }
        var dirs = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        if let home = environment["HOME"] {
            dirs += [".local/bin", ".cargo/bin", ".npm-global/bin", ".volta/bin", ".bun/bin", ".deno/bin"].map { "\(home)/\($0)" }
        }
        dirs += fallbackPath
        for dir in dirs where !dir.isEmpty {
            let path = dir + "/" + command
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// The environment a child gets: mcpx's, with the entry's `env` on top, and how deep in a
    /// chain of mcpx processes it is (`MCPX_STDIO_DEPTH`).
    static func environment(_ spec: ServerConfig.StdioSpec) -> [String: String] {
        var env = ProcessEnvironment.all()
        for (k, v) in spec.env { env[k] = v }
        env[depthVariable] = String(currentDepth + 1)
        return env
    }

    /// A client's config usually lists mcpx itself; read as `--config`, every mcpx would start
    /// another. Each mcpx tells its children how deep they are, and one this deep starts none.
    static let depthVariable = "MCPX_STDIO_DEPTH"
    static let maxDepth = 4
    static var currentDepth: Int { ProcessEnvironment.get(depthVariable).flatMap { Int($0) } ?? 0 }

    /// Starts `spec` from the loop thread, which lives as long as mcpx: `PR_SET_PDEATHSIG` fires
    /// when the *thread* that forked exits, and the concurrency pool's threads come and go.
    static func spawn(_ spec: ServerConfig.StdioSpec, on loop: CurlLoop) async throws(BackendError) -> ChildProcess {
        let r: Result<ChildProcess, BackendError> = await withCheckedContinuation { c in
            let scheduled = loop.onLoop {
                do throws(BackendError) {
                    c.resume(returning: .success(try spawn(spec)))
                } catch {
                    c.resume(returning: .failure(error))
                }
            }
            if !scheduled { c.resume(returning: .failure(BackendError(.cancelled, "mcpx is shutting down"))) }
        }
        return try r.get()
    }

    /// Starts `spec` from the calling thread; throws a clear error when the program cannot be found or run.
    static func spawn(_ spec: ServerConfig.StdioSpec) throws(BackendError) -> ChildProcess {
        if currentDepth >= maxDepth {
            throw BackendError(.refused, "not started: this mcpx is \(currentDepth) levels below other mcpx processes (\(depthVariable)); does a config file list mcpx itself? Use --skip-stdio or remove that entry")
        }
        let env = environment(spec)
        guard let path = resolve(spec.command, environment: env) else {
            throw BackendError(.unavailable, "cannot start \(spec.command): not found in PATH (\(env["PATH"] ?? "unset")) or \(fallbackPath.joined(separator: ":")); give the full path")
        }
        let argv = [spec.command] + spec.args
        let envp = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var fds: [Int32] = [-1, -1, -1]
        var pid: Int32 = -1
        let rc = withCStrings(argv) { a in
            withCStrings(envp) { e in
                if let cwd = spec.cwd {
                    return mcpx_spawn(path, a, e, cwd, &fds, &pid)
                }
                return mcpx_spawn(path, a, e, nil, &fds, &pid)
            }
        }
        if rc != 0 {
            if pid > 0 { var status: Int32 = 0; _ = waitpid(pid, &status, 0) }  // exec failed: it exits at once
            throw BackendError(.unavailable, "cannot start \(path): \(String(cString: strerror(rc)))")
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return ChildProcess(pid: pid, fds: (fds[0], fds[1], fds[2]))
    }

    /// The exit status if the child has exited (reaping it), else nil. Never blocks.
    func reap() -> Int32? {
        exit.withLock { e in
            if let e { return e }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) {
                e = status
                return status
            }
            return nil
        }
    }

    var hasExited: Bool { reap() != nil }

    /// How a reaped child ended, for people: "exited with 1", "killed by signal 9".
    static func describe(_ status: Int32) -> String {
        let sig = status & 0x7F
        if sig == 0 { return "exited with status \((status >> 8) & 0xFF)" }
        return "killed by signal \(sig)"
    }

    /// Sends `signal` to the child's process group (and to the child, should the group be gone,
    /// but only while it is not reaped: a reaped pid may belong to another process by now).
    func signalGroup(_ signal: Int32) {
        if kill(-pid, signal) != 0 && exit.withLock({ $0 == nil }) { _ = kill(pid, signal) }
    }

    /// Stops the child (its stdin already closed by the caller): waits `grace` for it to exit,
    /// then SIGTERM to the group, `grace` more, then SIGKILL. Returns once it is reaped.
    func stop(grace: Double = 1.0) async {
        if await waitExit(seconds: grace) {
            signalGroup(SIGKILL)  // what it left running in its group goes too
            return
        }
        signalGroup(SIGTERM)
        if await waitExit(seconds: grace) {
            signalGroup(SIGKILL)
            return
        }
        signalGroup(SIGKILL)
        _ = await waitExit(seconds: 5)
    }

    /// Polls for the exit (20 ms apart) for up to `seconds`.
    func waitExit(seconds: Double) async -> Bool {
        let deadline = monotonicNanos() + UInt64(seconds * 1e9)
        while true {
            if hasExited { return true }
            if monotonicNanos() >= deadline { return false }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}

/// Runs `body` with `strings` as a NULL-terminated C array of C strings.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
