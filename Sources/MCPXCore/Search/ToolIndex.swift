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
    /// Each tool's unit vector (`StaticEmbedding`) in int8, `dimensions` per tool, times
    /// `vectorScales[tool]`; empty without a table (10,000 tools: 2.6 MB).
    let vectors: [Int8]
    let vectorScales: [Float]
    let embedding: StaticEmbedding?
    /// term → (tool, BM25F pseudo-frequency) for every tool that has it.
    let postings: [String: [(tool: Int32, tf: Float)]]
    let idf: [String: Double]

    public init(_ tools: [Tool], useEmbedding: Bool = true) {
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
        var stems: [String: String] = [:]
        for t in tools {
            let name = SearchText.terms(t.name, cache: &stems)
            let server = serverTerms[t.server] ?? {
                let s = SearchText.terms(t.server, cache: &stems)
                serverTerms[t.server] = s
                return s
            }()
            let description = SearchText.terms(t.description, cache: &stems)
            var params: [String] = []
            for p in t.parameters {
                params += SearchText.terms(p.name, cache: &stems)
                params += SearchText.terms(p.description, cache: &stems)
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
        let embedding = useEmbedding ? StaticEmbedding.shared : nil
        self.embedding = embedding
        if let embedding {
            var vectors: [Int8] = []
            var scales: [Float] = []
            vectors.reserveCapacity(tools.count * embedding.dimensions)
            scales.reserveCapacity(tools.count)
            var cache: [String: [Int32]] = [:]
            for t in tools {
                let v = embedding.embed(Self.embeddingText(t), cache: &cache)
                let m = v.reduce(Float(0)) { max($0, abs($1)) }
                let scale = m > 0 ? m / 127 : 1
                scales.append(scale)
                for x in v { vectors.append(Int8(max(-127, min(127, (x / scale).rounded())))) }
            }
            self.vectors = vectors
            self.vectorScales = scales
        } else {
            vectors = []
            vectorScales = []
        }
    }

    /// What a tool's vector is made of (the recipe of `scripts/embeddings/eval_devset.py`):
    /// `<server words> <tool words>: <description>. parameters: <name words> <description>; ...`.
    static func embeddingText(_ t: Tool) -> String {
        var s = SearchText.words(t.server).joined(separator: " ") + " " + SearchText.words(t.name).joined(separator: " ")
        let description = t.description.trimmingWhitespace()
        s += ":"
        if !description.isEmpty { s += " " + description }
        if !t.parameters.isEmpty {
            if !description.isEmpty && !description.hasSuffix(".") { s += "." }
            s += " parameters: " + t.parameters.map { p in
                let d = p.description.trimmingWhitespace()
                return SearchText.words(p.name).joined(separator: " ") + (d.isEmpty ? "" : " " + d)
            }.joined(separator: "; ")
        }
        return s
    }

    /// Weights of the fused score: lexical (BM25F) and semantic (static vectors), each z-scored.
    static let lexicalWeight = 0.2
    static let semanticWeight = 0.8

    /// Every tool's fused score: z(BM25F) × 0.2 + z(cosine) × 0.8, z over all tools. Tools with
    /// neither a matching word nor a positive cosine are left out.
    func fused(lexical: [Int32: Double], query q: [Float], dimensions d: Int) -> [Hit] {
        let n = tools.count
        // The query in int8 too: integer dot products (wrapping adds are associative, so the
        // compiler vectorizes them; float sums it must keep in order).
        let qmax = q.reduce(Float(0)) { max($0, abs($1)) }
        let qscale = qmax > 0 ? qmax / 127 : 1
        let qi = q.map { Int32(max(-127, min(127, ($0 / qscale).rounded()))) }
        var cos = [Double](repeating: 0, count: n)
        vectors.withUnsafeBufferPointer { v in
            qi.withUnsafeBufferPointer { qp in
                for i in 0..<n {
                    var acc: Int32 = 0
                    let row = v.baseAddress! + i * d
                    for k in 0..<d { acc &+= Int32(row[k]) &* qp[k] }
                    cos[i] = Double(Float(acc) * vectorScales[i] * qscale)
                }
            }
        }
        func meanStd(_ values: [Double]) -> (Double, Double) {
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            return (mean, max(variance.squareRoot(), 1e-9))
        }
        var lex = [Double](repeating: 0, count: n)
        for (t, s) in lexical { lex[Int(t)] = s }
        let (lm, ls) = meanStd(lex)
        let (cm, cs) = meanStd(cos)
        var hits: [Hit] = []
        hits.reserveCapacity(n)
        for i in 0..<n where lex[i] > 0 || cos[i] > 0 {
            hits.append(Hit(tool: i, score: Self.lexicalWeight * (lex[i] - lm) / ls + Self.semanticWeight * (cos[i] - cm) / cs))
        }
        return hits
    }

    /// The best `limit` tools for `query` (of `server` only, when given), best first.
    public func search(_ query: String, server: String? = nil, limit: Int = 10) -> [Hit] {
        Self.best(scored(query, server: server), limit) { tools[$0].exposedName }
    }

    /// The best `limit` tools, and how many tools match at all (a word in common, or a vector
    /// pointing its way), from one scoring.
    public func searchCounting(_ query: String, server: String? = nil, limit: Int) -> (hits: [Hit], total: Int) {
        let all = scored(query, server: server)
        return (Self.best(all, limit) { tools[$0].exposedName }, all.count)
    }

    /// Every matching tool with its score, unordered.
    func scored(_ query: String, server: String?) -> [Hit] {
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
        var hits: [Hit]
        if let embedding, !tools.isEmpty {
            hits = fused(lexical: scores, query: embedding.embed(query), dimensions: embedding.dimensions)
        } else {
            hits = scores.map { Hit(tool: Int($0.key), score: $0.value) }
        }
        if let server { hits.removeAll { tools[$0.tool].server != server } }
        return hits
    }

    /// The `limit` best hits, best first (ties by name): a bounded selection, not a full sort.
    static func best(_ hits: [Hit], _ limit: Int, name: (Int) -> String) -> [Hit] {
        func better(_ a: Hit, _ b: Hit) -> Bool { a.score != b.score ? a.score > b.score : name(a.tool) < name(b.tool) }
        if limit >= hits.count / 4 { return Array(hits.sorted(by: better).prefix(limit)) }
        var top: [Hit] = []
        top.reserveCapacity(limit + 1)
        for h in hits {
            if top.count == limit, let last = top.last, !better(h, last) { continue }
            var i = top.count
            while i > 0 && better(h, top[i - 1]) { i -= 1 }
            top.insert(h, at: i)
            if top.count > limit { top.removeLast() }
        }
        return top
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
