#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a short command to its end (for `git`): no shell, stdin from /dev/null, stdout and stderr
/// captured (bounded). Not for servers (see `ChildProcess`).
enum Subprocess {
    struct Outcome {
        var status: Int32
        var output: String
    }

    /// nil when the program could not be started at all (not found, not executable).
    static func run(_ argv: [String], cwd: String? = nil, environment extra: [String: String] = [:]) -> Outcome? {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        var env = ProcessEnvironment.all()
        for (k, v) in extra { env[k] = v }
        var all = argv
        if let cwd { all = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd] + argv }
        let cArgs = all.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, all[0], &actions, nil, cArgs, cEnv)
        close(pipeFDs[1])
        guard rc == 0 else {
            close(pipeFDs[0])
            return nil
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(pipeFDs[0], &buf, buf.count)
            if n > 0 {
                if out.count < 65_536 { out += buf[0..<n] }
            } else if n == 0 || errno != EINTR {
                break
            }
        }
        close(pipeFDs[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        // The shell's "not found" for a cwd run is exit 127.
        if cwd != nil && code == 127 { return nil }
        return Outcome(status: code, output: String(decoding: out, as: UTF8.self))
    }
}
