public import MCPXJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Counters and latency figures of one backend, updated on the hot path under a lock.
public struct BackendStats: Sendable {
    public var requests: Int = 0
    public var calls: Int = 0
    public var errors: Int = 0
    public var consecutiveFailures: Int = 0
    public var timeouts: Int = 0
    public var sessionExpiries: Int = 0
    public var unknownResponseIDs: Int = 0
    /// Messages that were not valid JSON-RPC (duplicate names, both request and response, ...): dropped.
    public var malformedMessages: Int = 0
    /// Progress for tokens that are not of this backend's calls in flight: dropped.
    public var foreignProgress: Int = 0
    /// Requests to the client past the per-backend bound: refused or dropped.
    public var refusedRequests: Int = 0
    /// List changes folded into a refresh already queued.
    public var coalescedRefreshes: Int = 0
    /// Log lines sent outside any call's response while several clients had calls there: dropped.
    public var ambiguousMessages: Int = 0
    public var errorsByKind: [String: Int] = [:]
    public var lastError: String?
    public var lastLatencyMicros: Int?
    /// Per tool (by its own name): calls by outcome and latency.
    public var tools: [String: ToolStats] = [:]
    /// Bumped by every change of `tools` (the /metrics renderer reuses what did not change).
    public var toolsVersion = 0
    /// Sessions started again after the first (a backend restarted or was reconnected).
    public var reconnects = 0
    /// Calls whose outcome was not a plain success (an error answer, `isError`, a failure, a timeout).
    public var callErrors = 0
    /// Recent latency (µs, 0 until the first call) and error rate (0 to 1), exponentially weighted:
    /// what `health` balancing compares. The error rate fades with time (`healthErrorRate(now:)`).
    public var ewmaMicros: Double = 0
    var ewmaErrors: Double = 0
    var ewmaAt: UInt64 = 0
    /// The latest latencies (µs), a ring, for percentiles.
    var ring: [UInt32] = []
    var ringNext = 0

    public init() {}

    mutating func recordSuccess(micros: Int) {
        requests += 1
        consecutiveFailures = 0
        lastLatencyMicros = micros
        let v = UInt32(clamping: micros)
        if ring.count < 512 {
            ring.append(v)
        } else {
            ring[ringNext] = v
            ringNext = (ringNext + 1) % 512
        }
    }

    mutating func recordFailure(_ e: BackendError) {
        requests += 1
        errors += 1
        errorsByKind[e.kind.rawValue, default: 0] += 1
        if e.isTransportFailure { consecutiveFailures += 1 }
        if e.kind == .timeout { timeouts += 1 }
        if e.kind == .sessionExpired { sessionExpiries += 1 }
        lastError = e.message
    }

    /// p50 / p99 / max of the recent latencies, in µs.
    public var latencyFigures: (p50: Int, p99: Int, max: Int)? {
        guard !ring.isEmpty else { return nil }
        let s = ring.sorted()
        func at(_ q: Double) -> Int { Int(s[min(s.count - 1, Int(Double(s.count - 1) * q))]) }
        return (at(0.5), at(0.99), Int(s.last!))
    }

    public var json: JSONValue {
        var o: JSONObject = [
            "requests": .int(Int64(requests)), "calls": .int(Int64(calls)), "errors": .int(Int64(errors)),
            "consecutiveFailures": .int(Int64(consecutiveFailures)),
            "timeouts": .int(Int64(timeouts)), "sessionExpiries": .int(Int64(sessionExpiries)),
            "unknownResponseIds": .int(Int64(unknownResponseIDs)),
            "malformedMessages": .int(Int64(malformedMessages)), "foreignProgress": .int(Int64(foreignProgress)),
            "refusedRequests": .int(Int64(refusedRequests)), "coalescedRefreshes": .int(Int64(coalescedRefreshes)),
            "reconnects": .int(Int64(reconnects)), "ambiguousMessages": .int(Int64(ambiguousMessages)),
        ]
        o["errorsByKind"] = .object(JSONObject(errorsByKind.sorted { $0.key < $1.key }.map { (key: $0.key, value: .int(Int64($0.value))) }))
        if let l = lastLatencyMicros { o["lastLatencyMs"] = .double(Double(l) / 1000) }
        if let f = latencyFigures {
            o["latencyP50Ms"] = .double(Double(f.p50) / 1000)
            o["latencyP99Ms"] = .double(Double(f.p99) / 1000)
            o["latencyMaxMs"] = .double(Double(f.max) / 1000)
        }
        return .object(o)
    }
}

extension BackendStats {
    /// Weight of the newest call in the moving averages.
    static let ewmaAlpha = 0.2
    /// The error rate halves every this many seconds without calls (a replica that errored gets
    /// tried again once its record has faded).
    static let errorHalfLife = 5.0

    mutating func recordHealth(failed: Bool, micros: Int?, now: UInt64 = monotonicNanos()) {
        if !failed, let micros { ewmaMicros = ewmaMicros == 0 ? Double(micros) : ewmaMicros + Self.ewmaAlpha * (Double(micros) - ewmaMicros) }
        if failed { callErrors += 1 }
        let rate = healthErrorRate(now: now)
        ewmaErrors = rate + Self.ewmaAlpha * ((failed ? 1 : 0) - rate)
        ewmaAt = now
    }

    /// The recent error rate, faded by the time since the last call.
    public func healthErrorRate(now: UInt64 = monotonicNanos()) -> Double {
        guard ewmaAt > 0, now > ewmaAt else { return ewmaErrors }
        return ewmaErrors * pow(0.5, Double(now - ewmaAt) / 1e9 / Self.errorHalfLife)
    }
}

extension BackendStats {
    /// The figures of several connections (a server's replicas) as one: counters summed, tool
    /// figures merged, latencies pooled.
    static func merged(_ all: [BackendStats]) -> BackendStats {
        guard var out = all.first else { return BackendStats() }
        for s in all.dropFirst() {
            out.requests += s.requests
            out.calls += s.calls
            out.errors += s.errors
            out.callErrors += s.callErrors
            out.timeouts += s.timeouts
            out.sessionExpiries += s.sessionExpiries
            out.unknownResponseIDs += s.unknownResponseIDs
            out.malformedMessages += s.malformedMessages
            out.foreignProgress += s.foreignProgress
            out.refusedRequests += s.refusedRequests
            out.coalescedRefreshes += s.coalescedRefreshes
            out.ambiguousMessages += s.ambiguousMessages
            out.reconnects += s.reconnects
            out.consecutiveFailures = min(out.consecutiveFailures, s.consecutiveFailures)
            for (k, v) in s.errorsByKind { out.errorsByKind[k, default: 0] += v }
            for (k, v) in s.tools { out.tools[k, default: ToolStats()].add(v) }
            out.toolsVersion &+= s.toolsVersion
            out.ring += s.ring
            if out.lastError == nil { out.lastError = s.lastError }
            if out.lastLatencyMicros == nil { out.lastLatencyMicros = s.lastLatencyMicros }
        }
        return out
    }
}
