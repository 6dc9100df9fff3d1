import Synchronization

/// Picks one of a server's ready replicas for each call, by its `loadBalancing` strategy.
///
/// One per replicated server, kept across router rebuilds (its rotation and weights go on where
/// they were). A pick takes one short lock; `least-connections` and `health` read each replica's
/// counters.
public final class ReplicaBalancer: Sendable {
    public let strategy: ServerConfig.LoadBalancing

    struct State {
        var next = 0
        /// Smooth weighted round-robin: each replica's current weight, by replica key.
        var current: [String: Int] = [:]
        var random = SplitMix64(seed: UInt64(truncatingIfNeeded: monotonicNanos()))
    }

    private let state = Mutex(State())

    public init(strategy: ServerConfig.LoadBalancing) {
        self.strategy = strategy
    }

    /// The index in `replicas` of the replica for the next call, skipping the keys in `excluded`;
    /// nil when none is left.
    public func pick(_ replicas: [Router.Replica], excluding excluded: [String] = []) -> Int? {
        let candidates = excluded.isEmpty ? Array(replicas.indices) : replicas.indices.filter { !excluded.contains(replicas[$0].key) }
        guard !candidates.isEmpty else { return nil }
        if candidates.count == 1 { return candidates[0] }
        switch strategy {
        case .roundRobin:
            return state.withLock { s in
                let i = candidates[s.next % candidates.count]
                s.next &+= 1
                return i
            }
        case .leastConnections:
            // Fewest calls in flight; ties go round in turn (so idle replicas share sequential calls).
            let start = state.withLock { s -> Int in
                s.next &+= 1
                return s.next
            }
            var best = -1
            var bestLoad = Int.max
            for j in 0..<candidates.count {
                let i = candidates[(start &+ j) % candidates.count]
                let load = replicas[i].connection.inFlight.load(ordering: .relaxed)
                if load < bestLoad {
                    best = i
                    bestLoad = load
                }
            }
            return best
        case .weighted:
            return state.withLock { s in
                var total = 0
                var best = candidates[0]
                var bestWeight = Int.min
                for i in candidates {
                    let r = replicas[i]
                    let w = s.current[r.key, default: 0] + r.weight
                    s.current[r.key] = w
                    total += r.weight
                    if w > bestWeight {
                        best = i
                        bestWeight = w
                    }
                }
                s.current[replicas[best].key, default: 0] -= total
                return best
            }
        case .random:
            return state.withLock { s in candidates[Int(s.random.next() % UInt64(candidates.count))] }
        case .health:
            return healthPick(replicas, candidates)
        }
    }

    /// A replica drawn with odds proportional to 1/score², where the score is its recent latency
    /// times a penalty for its recent error rate: the best replica gets most calls, a slow or
    /// erroring one few, and every one some (so its figures stay current and a recovered one is seen).
    func healthPick(_ replicas: [Router.Replica], _ candidates: [Int]) -> Int {
        let now = monotonicNanos()
        var figures: [(latency: Double, errors: Double)] = []
        figures.reserveCapacity(candidates.count)
        var knownMin = Double.infinity
        for i in candidates {
            let f = replicas[i].connection.stats.withLock { ($0.ewmaMicros, $0.healthErrorRate(now: now)) }
            if f.0 > 0 { knownMin = min(knownMin, f.0) }
            figures.append(f)
        }
        if knownMin == .infinity { knownMin = 1_000 }
        var odds: [Double] = []
        odds.reserveCapacity(candidates.count)
        var total = 0.0
        for f in figures {
            // A replica with no calls yet counts as good as the best one (it gets tried).
            let latency = max(50, f.latency > 0 ? f.latency : knownMin)
            let score = latency * (1 + 30 * f.errors)
            let o = 1 / (score * score)
            odds.append(o)
            total += o
        }
        let draw = state.withLock { s in Double(s.random.next() >> 11) / Double(1 << 53) } * total
        var acc = 0.0
        for (j, o) in odds.enumerated() {
            acc += o
            if draw < acc { return candidates[j] }
        }
        return candidates[candidates.count - 1]
    }
}

/// A small, fast, seedable generator (Steele, Lea, Flood 2014).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
