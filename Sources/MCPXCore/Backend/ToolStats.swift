public import MCPXJSON

/// Calls of one tool: counts by outcome and a latency histogram (fixed buckets, the same the
/// Prometheus exposition uses, so its cumulative counts are exact and p50/p99 are estimates
/// within one bucket).
public struct ToolStats: Sendable {
    public enum Outcome: String, Sendable, CaseIterable {
        case ok, error, timeout, cancelled
    }

    /// Upper bounds of the latency buckets, in µs (a last, unbounded bucket follows).
    public static let boundsMicros: [Int] = [
        100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
    ]

    public var ok = 0
    public var errors = 0
    public var timeouts = 0
    public var cancelled = 0
    /// Calls per latency bucket (not cumulative); `boundsMicros.count + 1` of them once any is timed.
    public var buckets: [Int] = []
    public var timed = 0
    public var sumMicros = 0
    public var lastError: String?

    public init() {}

    public var calls: Int { ok + errors + timeouts + cancelled }

    public func count(_ o: Outcome) -> Int {
        switch o {
        case .ok: ok
        case .error: errors
        case .timeout: timeouts
        case .cancelled: cancelled
        }
    }

    mutating func record(_ outcome: Outcome, micros: Int?, lastError: String? = nil) {
        switch outcome {
        case .ok: ok += 1
        case .error: errors += 1
        case .timeout: timeouts += 1
        case .cancelled: cancelled += 1
        }
        if let lastError { self.lastError = lastError }
        guard let micros else { return }
        if buckets.isEmpty { buckets = Array(repeating: 0, count: Self.boundsMicros.count + 1) }
        var i = 0
        while i < Self.boundsMicros.count && micros > Self.boundsMicros[i] { i += 1 }
        buckets[i] += 1
        timed += 1
        sumMicros += micros
    }

    /// Adds another's counts (the same tool on another replica).
    mutating func add(_ o: ToolStats) {
        ok += o.ok
        errors += o.errors
        timeouts += o.timeouts
        cancelled += o.cancelled
        if !o.buckets.isEmpty {
            if buckets.isEmpty { buckets = o.buckets } else { for i in buckets.indices { buckets[i] += o.buckets[i] } }
        }
        timed += o.timed
        sumMicros += o.sumMicros
        if o.lastError != nil { lastError = o.lastError }
    }

    /// The latency (µs) below which a fraction `q` of the timed calls fall, interpolated in its bucket.
    public func quantileMicros(_ q: Double) -> Int? {
        guard timed > 0 else { return nil }
        let rank = q * Double(timed)
        var seen = 0
        for (i, n) in buckets.enumerated() where n > 0 {
            if Double(seen + n) >= rank {
                let lower = i == 0 ? 0 : Self.boundsMicros[i - 1]
                let upper = i < Self.boundsMicros.count ? Self.boundsMicros[i] : lower * 2
                let within = (rank - Double(seen)) / Double(n)
                return lower + Int(Double(upper - lower) * max(0, min(1, within)))
            }
            seen += n
        }
        return Self.boundsMicros.last
    }

    public var json: JSONValue {
        var o: JSONObject = [
            "calls": .int(Int64(calls)), "ok": .int(Int64(ok)), "errors": .int(Int64(errors)),
            "timeouts": .int(Int64(timeouts)), "cancelled": .int(Int64(cancelled)),
        ]
        if let p = quantileMicros(0.5) { o["p50Ms"] = .double(Double(p) / 1000) }
        if let p = quantileMicros(0.99) { o["p99Ms"] = .double(Double(p) / 1000) }
        if timed > 0 { o["meanMs"] = .double(Double(sumMicros) / Double(timed) / 1000) }
        if let e = lastError { o["lastError"] = .string(e) }
        return .object(o)
    }
}

extension BackendStats {
    /// One call of `tool` ended (`micros` nil when it never got an answer: timed out or cancelled).
    mutating func recordTool(_ tool: String, _ outcome: ToolStats.Outcome, micros: Int?, lastError: String? = nil) {
        tools[tool, default: ToolStats()].record(outcome, micros: micros, lastError: lastError)
        toolsVersion &+= 1
        if outcome != .cancelled { recordHealth(failed: outcome != .ok, micros: micros) }
    }
}
