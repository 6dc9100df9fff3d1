import Dispatch
import Synchronization

/// Requests whose answers come on a stream of the backend's own (the HTTP+SSE transport's GET
/// stream, a stdio process's stdout) rather than on an exchange of their own: they wait here by
/// id, each with its deadline, until the stream delivers the answer, they are forgotten, or the
/// stream ends.
final class StreamRequests: Sendable {
    typealias Completion = @Sendable (Result<IncomingMessage?, BackendError>) -> Void

    private let state = Mutex<(waiting: [RPCID: Completion], closed: Bool)>(([:], false))

    /// Waits for the answer to `id`; after `timeoutMillis` (when > 0) it fails as timed out.
    /// False (and nothing waits) once the stream has ended: the caller answers the request.
    func add(_ id: RPCID, timeoutMillis: Int, _ completion: @escaping Completion) -> Bool {
        let added = state.withLock { s -> Bool in
            if s.closed { return false }
            s.waiting[id] = completion
            return true
        }
        if added && timeoutMillis > 0 {
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMillis)) { [self] in
                take(id)?(.failure(BackendError(.timeout, "timed out")))
            }
        }
        return added
    }

    /// Removes the request waiting for `id` (its answer came, or nobody waits any more).
    func take(_ id: RPCID) -> Completion? { state.withLock { $0.waiting.removeValue(forKey: id) } }

    var count: Int { state.withLock { $0.waiting.count } }

    /// A message read from the stream: an answer goes to the request waiting for it (dropped if
    /// none does), anything else to `other`.
    func deliver(_ msg: IncomingMessage, other: (IncomingMessage) -> Void) {
        switch msg.kind {
        case .response(let id), .errorResponse(let id?):
            take(id)?(.success(msg))
        default:
            other(msg)
        }
    }

    /// The stream ended: nothing more can wait; returns what was waiting, for the caller to fail.
    func close() -> [Completion] {
        state.withLock { s in
            s.closed = true
            defer { s.waiting = [:] }
            return Array(s.waiting.values)
        }
    }

    /// `close`, failing every waiting request with `error`.
    func failAll(_ error: BackendError) {
        for c in close() { c(.failure(error)) }
    }
}
