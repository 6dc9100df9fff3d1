/// Percentiles and medians.
enum Stats {
    /// Nearest-rank percentile of sorted values (p in 0...100).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
        return sorted[min(sorted.count - 1, max(0, rank))]
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Latencies (ns) summarised in µs under `prefix`: p50, p90, p99, mean, max.
    static func latencySummary(_ nanos: [UInt64], prefix: String) -> [(String, Double)] {
        guard !nanos.isEmpty else { return [] }
        let us = nanos.map { Double($0) / 1000 }.sorted()
        return [
            ("\(prefix)_p50_us", percentile(us, 50)),
            ("\(prefix)_p90_us", percentile(us, 90)),
            ("\(prefix)_p99_us", percentile(us, 99)),
            ("\(prefix)_mean_us", us.reduce(0, +) / Double(us.count)),
            ("\(prefix)_max_us", us.last!),
        ]
    }
}
