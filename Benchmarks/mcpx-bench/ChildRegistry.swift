import Glibc

/// Every process the bench started and has not stopped yet, so an error or a signal can stop them all,
/// each by its own pid (and process group, which is its pid).
final class ChildRegistry: @unchecked Sendable {
    static let shared = ChildRegistry()

    private let gate = Gate()
    private var pids: Set<pid_t> = []
    private var interrupted = false

    /// Set once a signal asked the bench to stop: the signal thread exits the process shortly.
    var isInterrupted: Bool {
        gate.lock()
        defer { gate.unlock() }
        return interrupted
    }

    func add(_ pid: pid_t) {
        gate.lock()
        pids.insert(pid)
        gate.unlock()
    }

    func remove(_ pid: pid_t) {
        gate.lock()
        pids.remove(pid)
        gate.unlock()
    }

    /// SIGTERM to each group, a short grace, then SIGKILL (at the end, and from the signal thread).
    func killAll(interrupting: Bool = false) {
        gate.lock()
        let all = pids
        pids = []
        if interrupting { interrupted = true }
        gate.unlock()
        for pid in all { kill(-pid, SIGTERM) }
        if !all.isEmpty { Clock.sleep(milliseconds: 300) }
        for pid in all {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }
}
