import Synchronization

/// Something that happens once (for example: a backend's GET stream answered), awaited with a bound.
final class OneShotSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Marks it as happened and resumes every waiter; later calls do nothing.
    func fire() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.fired { return [] }
            s.fired = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Returns once it has happened, or after `seconds` at the latest.
    func wait(upTo seconds: Double) async {
        if state.withLock({ $0.fired }) { return }
        let timer = Task { [self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            fire()
        }
        await withCheckedContinuation { c in
            let now = state.withLock { s -> Bool in
                if s.fired { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
        timer.cancel()
    }
}
