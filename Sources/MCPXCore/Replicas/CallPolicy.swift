import Synchronization
public import MCPXJSON

/// What a server's configuration says about its calls beyond routing: which results are cached,
/// how many calls a second it takes, which tools may be sent again. One per server, kept across
/// router rebuilds (its bucket and counters go on); read on the hot path without the actor.
public final class CallPolicy: Sendable {
    public let server: String
    public let cache: ServerConfig.CachePolicy?
    public let rateLimit: ServerConfig.RateLimit?
    public let retryTools: [String]

    let cacheHits = Atomic<Int>(0)
    let cacheMisses = Atomic<Int>(0)
    let rateLimited = Atomic<Int>(0)
    /// Calls sent again to another replica: not delivered (`failovers`), or retried by `retry`.
    let failovers = Atomic<Int>(0)
    let retries = Atomic<Int>(0)

    struct Bucket {
        var tokens: Double
        var at: UInt64
    }

    private let bucket: Mutex<Bucket>

    public init(server: String, cache: ServerConfig.CachePolicy?, rateLimit: ServerConfig.RateLimit?, retryTools: [String]) {
        self.server = server
        self.cache = cache
        self.rateLimit = rateLimit
        self.retryTools = retryTools
        bucket = Mutex(Bucket(tokens: Double(rateLimit?.burst ?? 0), at: monotonicNanos()))
    }

    /// Whether this server's configuration asks for anything here (else it gets no policy at all).
    public static func isNeeded(_ c: ServerConfig) -> Bool {
        c.cache != nil || c.rateLimit != nil || !c.retryTools.isEmpty
    }

    public func caches(_ tool: String) -> Bool {
        guard let cache else { return false }
        return cache.tools.contains { ToolFilter.matches(tool, pattern: $0) }
    }

    public func mayRetry(_ tool: String) -> Bool {
        retryTools.contains { ToolFilter.matches(tool, pattern: $0) }
    }

    /// Takes one call's token; nil when allowed, else the seconds until the next token.
    public func admit(now: UInt64 = monotonicNanos()) -> Double? {
        guard let limit = rateLimit else { return nil }
        return bucket.withLock { b -> Double? in
            let elapsed = Double(now &- b.at) / 1e9
            b.tokens = min(Double(limit.burst), b.tokens + elapsed * limit.callsPerSecond)
            b.at = now
            if b.tokens >= 1 {
                b.tokens -= 1
                return nil
            }
            return (1 - b.tokens) / limit.callsPerSecond
        }
    }

    /// The tool result a call over the limit gets.
    public func overLimitResult(tool: String, retryAfter: Double) -> JSONValue {
        let limit = rateLimit!
        let rate = limit.callsPerSecond == limit.callsPerSecond.rounded() ? String(Int(limit.callsPerSecond)) : String(limit.callsPerSecond)
        let wait = (retryAfter * 100).rounded(.up) / 100
        return Message.toolError(
            "Server '\(server)' is over its rate limit (\(rate) calls per second, bursts of \(limit.burst)); \(tool) was not called. Retry in \(wait) s.")
    }

    public var json: JSONValue {
        var o: JSONObject = [:]
        if let cache {
            o["cache"] = [
                "tools": .array(cache.tools.map { .string($0) }), "ttl": .double(cache.ttl),
                "hits": .int(Int64(cacheHits.load(ordering: .relaxed))), "misses": .int(Int64(cacheMisses.load(ordering: .relaxed))),
            ]
        }
        if let rateLimit {
            o["rateLimit"] = ["callsPerSecond": .double(rateLimit.callsPerSecond), "burst": .int(Int64(rateLimit.burst))]
        }
        o["rateLimited"] = .int(Int64(rateLimited.load(ordering: .relaxed)))
        if !retryTools.isEmpty { o["retry"] = ["tools": .array(retryTools.map { .string($0) })] }
        return .object(o)
    }
}
