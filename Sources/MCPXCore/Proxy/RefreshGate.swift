import Synchronization

/// Coalesces the refreshes of one list of one backend: at most one in flight and one queued.
///
/// A backend may send `notifications/tools/list_changed` as often as it likes; each used to start a
/// `tools/list` of its own, and 1,500 of them took every file descriptor mcpx had. Now a change
/// that arrives while a refresh runs only marks the list for one more refresh afterwards.
struct RefreshState: Equatable, Sendable {
    enum Phase: Equatable, Sendable { case idle, running, runningQueued }
    private(set) var phase: Phase = .idle

    /// What the caller of `request` and `finished` must do.
    enum Action: Equatable, Sendable {
        /// Start (or run once more) a refresh.
        case run
        /// Nothing: a refresh is running and one more is queued.
        case none
        /// Nothing: the change was folded into the refresh already queued.
        case coalesced
    }

    /// A change was announced.
    mutating func request() -> Action {
        switch phase {
        case .idle:
            phase = .running
            return .run
        case .running:
            phase = .runningQueued
            return .none
        case .runningQueued:
            return .coalesced
        }
    }

    /// The running refresh ended: `.run` when a queued one must follow.
    mutating func finished() -> Action {
        switch phase {
        case .idle, .running:
            phase = .idle
            return .none
        case .runningQueued:
            phase = .running
            return .run
        }
    }
}

/// The refresh states of every backend's lists, thread-safe (changes arrive on the loop thread).
final class RefreshGate: Sendable {
    enum List: String, Sendable { case tools, prompts, resources }
    struct Key: Hashable, Sendable {
        var server: String
        var list: List
    }

    private let states = Mutex<[Key: RefreshState]>([:])

    /// Announces a change; returns what to do (`.run`: start the refresh loop now).
    func request(_ key: Key) -> RefreshState.Action {
        states.withLock { $0[key, default: RefreshState()].request() }
    }

    /// The refresh ended; `.run` means run it once more.
    func finished(_ key: Key) -> RefreshState.Action {
        states.withLock { s in
            let a = s[key, default: RefreshState()].finished()
            if s[key]?.phase == .idle { s[key] = nil }
            return a
        }
    }

    /// Runs `refresh` for `key` now unless one is running (then once more after it, at most).
    /// Returns false when the change was coalesced into one already queued.
    @discardableResult
    func schedule(_ key: Key, _ refresh: @escaping @Sendable () async -> Void) -> Bool {
        switch request(key) {
        case .coalesced: return false
        case .none: return true
        case .run:
            Task {
                repeat { await refresh() } while finished(key) == .run
            }
            return true
        }
    }
}
