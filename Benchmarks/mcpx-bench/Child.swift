import Foundation
import Glibc

/// A process the bench started: in its own process group (pgid == pid), signal dispositions reset, stderr
/// to a log file, optionally with pipes to its stdin and from its stdout. Stopped by its pid only.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let name: String
    let logPath: String
    /// Our end of the child's stdin pipe (-1 when none or closed).
    private(set) var stdinFD: Int32
    /// Our end of the child's stdout pipe (-1 when none or handed over).
    private(set) var stdoutFD: Int32
    private var stopped = false

    private init(pid: pid_t, name: String, logPath: String, stdinFD: Int32, stdoutFD: Int32) {
        self.pid = pid
        self.name = name
        self.logPath = logPath
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
    }

    static func spawn(
        _ argv: [String], name: String, logPath: String, pipeStdin: Bool, pipeStdout: Bool
    ) throws(BenchError) -> Child {
        guard access(argv[0], X_OK) == 0 else { throw BenchError("\(argv[0]): not an executable file") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }

        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        if pipeStdin {
            try makePipe(&inPipe)
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if pipeStdout {
            try makePipe(&outPipe)
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)

        // Own process group; the bench ignores or catches some signals, the child gets the defaults.
        posix_spawnattr_setpgroup(&attr, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] =
            ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        if pipeStdin { close(inPipe[0]) }
        if pipeStdout { close(outPipe[1]) }
        guard rc == 0 else {
            if pipeStdin { close(inPipe[1]) }
            if pipeStdout { close(outPipe[0]) }
            throw BenchError("cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        ChildRegistry.shared.add(pid)
        return Child(pid: pid, name: name, logPath: logPath, stdinFD: inPipe[1], stdoutFD: outPipe[0])
    }

    /// A pipe whose ends are closed on exec (only the main thread spawns, so no other spawn races this).
    private static func makePipe(_ fds: inout [Int32]) throws(BenchError) {
        guard pipe(&fds) == 0 else { throw BenchError("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
    }

    /// Hands our end of the stdout pipe to a reader that closes it itself.
    func takeStdout() -> Int32 {
        let fd = stdoutFD
        stdoutFD = -1
        return fd
    }

    func closeStdin() {
        if stdinFD >= 0 {
            close(stdinFD)
            stdinFD = -1
        }
    }

    /// Whether the process has exited (it stays a zombie until `stop` reaps it).
    var hasExited: Bool {
        var info = siginfo_t()  // zeroed: si_signo stays 0 while the child runs
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_signo == SIGCHLD
    }

    /// Ends the process: EOF on stdin first (mcpx shuts down on it), then SIGTERM to its group, then
    /// SIGKILL to whatever is left of the group, and reaps it.
    func stop(grace: Double = 1.5) {
        guard !stopped else { return }
        stopped = true
        let hadStdin = stdinFD >= 0
        closeStdin()
        if hadStdin { _ = waitForExit(seconds: 0.5) }
        if !hasExited {
            kill(-pid, SIGTERM)
            _ = waitForExit(seconds: grace)
        }
        kill(-pid, SIGKILL)  // the leader is at most a zombie here, so the group id is still ours
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if stdoutFD >= 0 {
            close(stdoutFD)
            stdoutFD = -1
        }
        ChildRegistry.shared.remove(pid)
    }

    private func waitForExit(seconds: Double) -> Bool {
        let deadline = Clock.nanos() + UInt64(seconds * 1e9)
        while Clock.nanos() < deadline {
            if hasExited { return true }
            Clock.sleep(milliseconds: 5)
        }
        return hasExited
    }

    /// The end of the child's stderr log, for error messages.
    func stderrTail(_ bytes: Int = 600) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "" }
        let tail = data.suffix(bytes)
        return String(decoding: tail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
