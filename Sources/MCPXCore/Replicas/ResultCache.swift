import Synchronization
import MCPXJSON

/// Tool results kept in memory for servers with a `"cache"` policy, and the calls in flight for
/// them (single flight: identical calls made at once are sent once and all get its answer).
///
/// Keys are server, tool and the arguments in canonical JSON, so key order and whitespace do not
/// matter. Memory is bounded by `maxBytes` over all servers; the least recently used results go
/// first. Only plain results are kept: `isError` results and JSON-RPC errors never are.
public final class ResultCache: Sendable {
    /// A call waiting for an identical one in flight.
    struct Waiter {
        var id: RPCID
        var session: ClientSession
        var route: Router.Route
        var params: RawObject
        var reply: @Sendable ([UInt8]) -> Void
    }

    struct Item {
        var server: String
        var result: [UInt8]
        var expires: UInt64
        var lastUse: UInt64
        var size: Int { result.count + 96 }
    }

    struct State {
        var items: [String: Item] = [:]
        var bytes = 0
        var tick: UInt64 = 0
        var flights: [String: [Waiter]] = [:]
    }

    public let maxBytes: Int
    private let state = Mutex(State())

    public init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// The key of a call of `tool` on `server` with `arguments` (the raw bytes of the call's
    /// `arguments`, or nil); nil when they are not valid JSON.
    static func key(server: String, tool: String, arguments: ArraySlice<UInt8>?) -> String? {
        var out = Array(server.utf8)
        out.append(0)
        out.append(contentsOf: tool.utf8)
        out.append(0)
        if let arguments {
            guard let v = try? JSONParser.parse(arguments) else { return nil }
            if case .null = v {} else { v.writeCanonical(to: &out) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    enum Lookup {
        case hit([UInt8])
        /// An identical call is in flight: this one waits for its answer.
        case joined
        /// This call goes to the backend; `complete` or `abandon` must follow.
        case lead
    }

    func begin(_ key: String, waiter: Waiter, now: UInt64 = monotonicNanos()) -> Lookup {
        state.withLock { s in
            if let item = s.items[key] {
                if item.expires > now {
                    s.tick += 1
                    s.items[key]!.lastUse = s.tick
                    return .hit(item.result)
                }
                s.bytes -= item.size
                s.items[key] = nil
            }
            if s.flights[key] != nil {
                s.flights[key]!.append(waiter)
                return .joined
            }
            s.flights[key] = []
            return .lead
        }
    }

    /// The call that led `key` was answered: keep `result` for `ttl` seconds (when given) and
    /// answer every waiter with `answer(itsID)`.
    func complete(_ key: String, server: String, result: [UInt8]?, ttl: Double?, answer: (RPCID) -> [UInt8], now: UInt64 = monotonicNanos()) {
        let waiters = state.withLock { s -> [Waiter] in
            if let result, let ttl, maxBytes > 0 {
                let item = Item(server: server, result: result, expires: now + UInt64(ttl * 1e9), lastUse: s.tick + 1)
                s.tick += 1
                if item.size <= maxBytes {
                    if let old = s.items[key] { s.bytes -= old.size }
                    s.items[key] = item
                    s.bytes += item.size
                    if s.bytes > maxBytes { Self.evict(&s, down: maxBytes, now: now) }
                }
            }
            return s.flights.removeValue(forKey: key) ?? []
        }
        for w in waiters { w.reply(answer(w.id)) }
    }

    /// The call that led `key` ended without an answer to share (cancelled, timed out): its
    /// waiters are handed back to be sent on their own.
    func abandon(_ key: String) -> [Waiter] {
        state.withLock { $0.flights.removeValue(forKey: key) ?? [] }
    }

    /// A waiting call its client cancelled: taken out (it gets no answer); its reply, if found.
    func dropWaiter(_ session: ClientSession, _ id: RPCID) -> (@Sendable ([UInt8]) -> Void)? {
        state.withLock { s in
            for (key, list) in s.flights {
                if let i = list.firstIndex(where: { $0.session === session && $0.id == id }) {
                    let w = s.flights[key]!.remove(at: i)
                    return w.reply
                }
            }
            return nil
        }
    }

    /// Drops expired results first, then the least recently used, until `bytes` ≤ 90 % of `limit`.
    static func evict(_ s: inout State, down limit: Int, now: UInt64) {
        for (k, v) in s.items where v.expires <= now {
            s.bytes -= v.size
            s.items[k] = nil
        }
        let target = limit - limit / 10
        guard s.bytes > target else { return }
        for (k, v) in s.items.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
            s.bytes -= v.size
            s.items[k] = nil
            if s.bytes <= target { break }
        }
    }

    /// Forgets the results of `server` (every server when nil); returns how many.
    @discardableResult
    public func flush(server: String?) -> Int {
        state.withLock { s in
            var n = 0
            for (k, v) in s.items where server == nil || v.server == server {
                s.bytes -= v.size
                s.items[k] = nil
                n += 1
            }
            return n
        }
    }

    /// Results kept for `server` and their size.
    public func usage(server: String, now: UInt64 = monotonicNanos()) -> (entries: Int, bytes: Int) {
        state.withLock { s in
            var n = 0
            var b = 0
            for v in s.items.values where v.server == server && v.expires > now {
                n += 1
                b += v.size
            }
            return (n, b)
        }
    }

    public var totalBytes: Int { state.withLock { $0.bytes } }
}
