import Foundation

/// A running request that can be cancelled (`notifications/cancelled`, or its session ending) while it
/// waits. Waiting parks only the connection's own thread; cancellation wakes it at once.
final class InFlight: @unchecked Sendable {
    private let condition = NSCondition()
    private var cancelled = false

    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits `milliseconds`; false if cancelled before or during the wait.
    func sleep(milliseconds: Int) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(milliseconds) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while !cancelled {
            if !condition.wait(until: deadline) { break }
        }
        return !cancelled
    }
}
