import Dispatch

/// `--state-git`: the state file's directory is a git repository and every change of the server
/// set is a commit of the state file and its history, with a message naming actor, action and
/// server. `git log`, `git diff` and `git clone` of that directory are the audit trail, the review
/// and the backup. Commits run one at a time, right after the change is written.
public final class GitMemory: Sendable {
    let directory: String
    let files: [String]
    let log: Logger
    let queue = DispatchQueue(label: "mcpx.state-git")

    static let identity = ["GIT_AUTHOR_NAME": "mcpx", "GIT_AUTHOR_EMAIL": "mcpx@localhost", "GIT_COMMITTER_NAME": "mcpx", "GIT_COMMITTER_EMAIL": "mcpx@localhost"]

    /// Checks that `git` runs and makes `directory` a repository if it is not one; throws a clear
    /// error otherwise.
    public init(statePath: String, log: Logger) throws(ConfigError) {
        let (dir, base) = StateFile.split(statePath)
        directory = dir
        files = [base, base + ".history.jsonl"]
        self.log = log
        guard let v = Subprocess.run(["git", "--version"]), v.status == 0 else {
            throw ConfigError("--state-git needs the git command, and it could not be run (install git, or drop --state-git)")
        }
        if Subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd: dir)?.status != 0 {
            guard let r = Subprocess.run(["git", "init", "-q"], cwd: dir), r.status == 0 else {
                throw ConfigError("--state-git: git init in \(dir) failed")
            }
            log.info("state: \(dir) is now a git repository (--state-git)")
        }
    }

    /// Commits the state file and its history for one change.
    public func commit(_ e: History.Entry) {
        let message = "\(e.actor)\(e.client.map { " (\($0))" } ?? ""): \(e.action) \(e.server)\(e.to.map { " (back to \($0))" } ?? "") [history \(e.id)]"
        // In step with the change: the commit holds exactly the state after it.
        queue.sync { [directory, files, log] in
            _ = Subprocess.run(["git", "add", "--"] + files, cwd: directory)
            let r = Subprocess.run(["git", "commit", "-q", "--no-gpg-sign", "-m", message, "--"] + files, cwd: directory, environment: Self.identity)
            if r?.status != 0 { log.warning("state-git: commit failed: \(r?.output.prefix(300) ?? "git could not be run")") }
        }
    }

    /// Waits for the commits queued so far (at shutdown).
    public func flush() { queue.sync {} }
}
