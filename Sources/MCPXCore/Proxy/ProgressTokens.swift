import MCPXJSON
import Synchronization

/// The progress tokens of calls in flight, and the backend each call went to.
///
/// A backend's `notifications/progress` reaches the client only for a token of its own call in
/// flight: backend B cannot pose as A's progress, nor invent tokens the client never issued.
public final class ProgressTokens: Sendable {
    /// A token as its JSON text (string and integer tokens never collide: `"1"` is not `1`).
    private let owners = Mutex<[String: (server: String, calls: Int)]>([:])

    public init() {}

    static func key(_ token: JSONValue) -> String? {
        switch token {
        case .string, .int: return token.jsonString
        default: return nil
        }
    }

    /// A call carrying `token` was sent to `server`.
    func register(_ token: JSONValue, server: String) {
        guard let k = Self.key(token) else { return }
        owners.withLock { o in
            if let cur = o[k], cur.server == server {
                o[k] = (server, cur.calls + 1)
            } else {
                o[k] = (server, 1)  // a token reused for another server now belongs to it
            }
        }
    }

    /// The call carrying `token` to `server` ended.
    func release(_ token: JSONValue, server: String) {
        guard let k = Self.key(token) else { return }
        owners.withLock { o in
            guard let cur = o[k], cur.server == server else { return }
            o[k] = cur.calls > 1 ? (server, cur.calls - 1) : nil
        }
    }

    /// Whether `server` may report progress for `token`.
    func owns(_ token: JSONValue, server: String) -> Bool {
        guard let k = Self.key(token) else { return false }
        return owners.withLock { $0[k]?.server == server }
    }

    var count: Int { owners.withLock { $0.count } }
}
