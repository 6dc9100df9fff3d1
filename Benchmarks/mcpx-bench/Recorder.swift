/// Every figure of every run, by key, in the order first recorded; the report shows medians.
final class Recorder {
    private(set) var keys: [String] = []
    private(set) var values: [String: [Double]] = [:]

    func add(_ key: String, _ value: Double) {
        guard value.isFinite else { return }
        if values[key] == nil { keys.append(key) }
        values[key, default: []].append(value)
    }

    func add(_ pairs: [(String, Double)]) {
        for (key, value) in pairs { add(key, value) }
    }

    func median(_ key: String) -> Double? {
        guard let v = values[key], !v.isEmpty else { return nil }
        return Stats.median(v)
    }

    func range(_ key: String) -> (min: Double, max: Double)? {
        guard let v = values[key], let lo = v.min(), let hi = v.max() else { return nil }
        return (lo, hi)
    }
}
