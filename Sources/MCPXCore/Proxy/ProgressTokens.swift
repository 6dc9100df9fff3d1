import MCPXJSON
import Synchronization

/// The progress tokens of requests in flight: each request that carries a client's token goes to
/// its backend with a token of mcpx's own, and the backend's progress comes back to that client's
/// request under the client's token.
///
/// So two clients that both use token 1 never see each other's progress; a backend reports only
/// on its own requests (backend B cannot pose as A's progress, nor invent tokens); and a token the
/// backend sees tells it nothing about the client.
public final class ProgressTokens: Sendable {
    struct Entry {
        var server: String
        var clientToken: JSONValue
        var origin: CallOrigin
    }

    private let state = Mutex<(next: Int64, entries: [Int64: Entry])>((1, [:]))

    public init() {}

    /// A request carrying the client's `token` goes to `server`: the token the backend gets instead.
    func register(_ token: JSONValue, server: String, origin: CallOrigin) -> JSONValue {
        let n = state.withLock { s -> Int64 in
            let n = s.next
            s.next += 1
            s.entries[n] = Entry(server: server, clientToken: token, origin: origin)
            return n
        }
        return .string("mcpx-p\(n)")
    }

    static func number(_ token: JSONValue) -> Int64? {
        guard case .string(let s) = token, s.hasPrefix("mcpx-p") else { return nil }
        return Int64(s.dropFirst(6))
    }

    /// The request carrying `token` (one of ours) ended.
    func release(_ token: JSONValue) {
        guard let n = Self.number(token) else { return }
        _ = state.withLock { $0.entries.removeValue(forKey: n) }
    }

    /// The client's token and request that `server`'s progress on `token` belongs to; nil when it
    /// is not a token of that backend's requests in flight.
    func route(_ token: JSONValue, server: String) -> (clientToken: JSONValue, origin: CallOrigin)? {
        guard let n = Self.number(token) else { return nil }
        return state.withLock { s in
            guard let e = s.entries[n], e.server == server else { return nil }
            return (e.clientToken, e.origin)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
