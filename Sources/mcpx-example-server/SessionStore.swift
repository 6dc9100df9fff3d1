import Foundation
import MCPXJSON

/// All live sessions by id.
final class SessionStore: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [String: Session] = [:]

    func create(protocolVersion: String) -> Session {
        var generator = SystemRandomNumberGenerator()
        while true {
            let id = Self.hex(generator.next()) + Self.hex(generator.next())
            let session = Session(id: id, protocolVersion: protocolVersion)
            let inserted = lock.withLock {
                guard sessions[id] == nil else { return false }
                sessions[id] = session
                return true
            }
            if inserted { return session }
        }
    }

    func lookup(_ id: String) -> Session? {
        lock.withLock { sessions[id] }
    }

    /// Removes and closes a session; nil if it did not exist.
    func remove(_ id: String) -> Session? {
        guard let session = lock.withLock({ sessions.removeValue(forKey: id) }) else { return nil }
        session.close()
        return session
    }

    var count: Int {
        lock.withLock { sessions.count }
    }

    /// Sends a server-initiated message on a GET stream of every session that `include` accepts.
    func broadcast(_ message: JSONValue, to include: (Session) -> Bool = { _ in true }) {
        let all = lock.withLock { Array(sessions.values) }
        for session in all where include(session) {
            session.sendOnStream(message)
        }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
