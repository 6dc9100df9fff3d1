public import MCPXJSON

/// A search index over tool definitions: field-weighted BM25 (BM25F) over the tool's name, its
/// server's name, its description, and its parameters' names and descriptions, on stemmed terms,
/// with a small thesaurus of how people say what tools do.
///
/// Built once from the tools (a few tens of milliseconds for 10,000), then read-only: a query
/// walks the postings of its terms only.
public final class ToolIndex: Sendable {
    /// One tool as the index keeps it.
    public struct Tool: Sendable {
        public var exposedName: String
        public var server: String
        public var name: String
        public var description: String
        /// Parameter names with their descriptions.
        public var parameters: [(name: String, description: String, required: Bool)]

        public init(exposedName: String, server: String, name: String, description: String, parameters: [(name: String, description: String, required: Bool)]) {
            self.exposedName = exposedName
            self.server = server
            self.name = name
            self.description = description
            self.parameters = parameters
        }

        /// From an MCP tool definition (`name`, `description`, `inputSchema.properties`).
        public init(exposedName: String, server: String, definition d: JSONValue) {
            var params: [(String, String, Bool)] = []
            let required = Set((d["inputSchema"]?["required"]?.arrayValue ?? []).compactMap(\.stringValue))
            if case .object(let props)? = d["inputSchema"]?["properties"] {
                for (k, v) in props { params.append((k, v["description"]?.stringValue ?? "", required.contains(k))) }
            }
            self.init(
                exposedName: exposedName, server: server, name: d["name"]?.stringValue ?? exposedName,
                description: d["description"]?.stringValue ?? "", parameters: params)
        }
    }

    public struct Hit: Sendable {
        public var tool: Int
        public var score: Double
    }

    /// Field weights and length normalization.
    struct Field {
        var weight: Double
        var b: Double
    }

    static let nameField = Field(weight: 3.0, b: 0.3)
    static let serverField = Field(weight: 1.5, b: 0.0)
    static let descriptionField = Field(weight: 1.0, b: 0.75)
    static let parameterField = Field(weight: 0.6, b: 0.5)
    static let k1 = 1.2

    public let tools: [Tool]
    /// term → (tool, BM25F pseudo-frequency) for every tool that has it.
    let postings: [String: [(tool: Int32, tf: Float)]]
    let idf: [String: Double]

    public init(_ tools: [Tool]) {
        self.tools = tools
        // Per tool and field: term counts and lengths.
        struct Counts {
            var name: [String: Int] = [:], server: [String: Int] = [:], description: [String: Int] = [:], parameters: [String: Int] = [:]
            var lengths = (0, 0, 0, 0)
        }
        func count(_ terms: [String]) -> [String: Int] {
            var c: [String: Int] = [:]
            for t in terms { c[t, default: 0] += 1 }
            return c
        }
        var all: [Counts] = []
        all.reserveCapacity(tools.count)
        var serverTerms: [String: [String]] = [:]
        var totals = (0.0, 0.0, 0.0, 0.0)
        for t in tools {
            let name = SearchText.terms(t.name)
            let server = serverTerms[t.server] ?? {
                let s = SearchText.terms(t.server)
                serverTerms[t.server] = s
                return s
            }()
            let description = SearchText.terms(t.description)
            var params: [String] = []
            for p in t.parameters {
                params += SearchText.terms(p.name)
                params += SearchText.terms(p.description)
            }
            var c = Counts(name: count(name), server: count(server), description: count(description), parameters: count(params))
            c.lengths = (name.count, server.count, description.count, params.count)
            totals.0 += Double(name.count)
            totals.1 += Double(server.count)
            totals.2 += Double(description.count)
            totals.3 += Double(params.count)
            all.append(c)
        }
        let n = Double(max(1, tools.count))
        let avg = (max(1, totals.0 / n), max(1, totals.1 / n), max(1, totals.2 / n), max(1, totals.3 / n))
        var postings: [String: [(tool: Int32, tf: Float)]] = [:]
        for (i, c) in all.enumerated() {
            func norm(_ f: Field, _ len: Int, _ avgLen: Double) -> Double { f.weight / (1 - f.b + f.b * Double(len) / avgLen) }
            let wn = norm(Self.nameField, c.lengths.0, avg.0)
            let ws = norm(Self.serverField, c.lengths.1, avg.1)
            let wd = norm(Self.descriptionField, c.lengths.2, avg.2)
            let wp = norm(Self.parameterField, c.lengths.3, avg.3)
            var tf: [String: Double] = [:]
            for (t, k) in c.name { tf[t, default: 0] += wn * Double(k) }
            for (t, k) in c.server { tf[t, default: 0] += ws * Double(k) }
            for (t, k) in c.description { tf[t, default: 0] += wd * Double(k) }
            for (t, k) in c.parameters { tf[t, default: 0] += wp * Double(k) }
            for (t, v) in tf { postings[t, default: []].append((Int32(i), Float(v))) }
        }
        var idf: [String: Double] = [:]
        for (t, list) in postings {
            let df = Double(list.count)
            idf[t] = log(1 + (n - df + 0.5) / (df + 0.5))
        }
        self.postings = postings
        self.idf = idf
    }

    /// The best `limit` tools for `query` (of `server` only, when given), best first.
    public func search(_ query: String, server: String? = nil, limit: Int = 10) -> [Hit] {
        var weights: [String: Double] = [:]
        for t in SearchText.terms(query) {
            weights[t, default: 0] += 1
            for (s, w) in Thesaurus.expansions(of: t) where weights[s] == nil || weights[s]! < w { weights[s] = max(weights[s] ?? 0, w) }
        }
        var scores: [Int32: Double] = [:]
        for (term, qw) in weights {
            guard let list = postings[term], let idf = idf[term] else { continue }
            for (tool, tf) in list {
                let f = Double(tf)
                scores[tool, default: 0] += qw * idf * f * (Self.k1 + 1) / (Self.k1 + f)
            }
        }
        var hits = scores.map { Hit(tool: Int($0.key), score: $0.value) }
        if let server { hits.removeAll { tools[$0.tool].server != server } }
        hits.sort { $0.score != $1.score ? $0.score > $1.score : tools[$0.tool].exposedName < tools[$1.tool].exposedName }
        return Array(hits.prefix(limit))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
