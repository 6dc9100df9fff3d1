public import MCPXJSON
import Dispatch
import Synchronization

/// A search index over tool definitions: field-weighted BM25 (BM25F) over the tool's name, its
/// server's name, its description, and its parameters' names and descriptions, on stemmed terms,
/// with a small thesaurus of how people say what tools do, fused with the cosine of static
/// sentence vectors (`StaticEmbedding`).
///
/// Made of `Segment`s (one per server), each built from its tools alone; the index merges them
/// (term statistics and postings, on integer term ids) in a few milliseconds for 10,000 tools, so
/// a list change rebuilds one segment. Read-only once built: a query walks the postings of its
/// terms and one int8 dot product per tool.
public final class ToolIndex: Sendable {
    /// One tool as the index keeps it.
    public struct Tool: Sendable {
        public var exposedName: String
        public var server: String
        public var name: String
        public var description: String
        /// Parameter names with their descriptions.
        public var parameters: [(name: String, description: String, required: Bool)]
        /// In a search result's listing (`listing`): the parameters' names, required ones first
        /// and marked ("path (required), tail").
        public var parameterSummary = ""

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
        var weight: Float
        var b: Float
    }

    static let fields = [
        Field(weight: 3.0, b: 0.3),  // name
        Field(weight: 1.5, b: 0.0),  // server
        Field(weight: 1.0, b: 0.75),  // description
        Field(weight: 0.6, b: 0.5),  // parameters
    ]
    static let k1: Float = 1.2

    /// All tools, segment after segment; a `Hit.tool` indexes this.
    public let tools: [Tool]
    let segments: [Segment]
    /// Where each segment's tools start in `tools`.
    let segmentStart: [Int]
    let dictionary: SearchTerms
    /// Per tool: its BM25F field weights, length-normalized (what a field count is worth).
    let norms: [SIMD4<Float>]
    /// Which segments have term t: `termSegments[termSegmentStart[t] ..< termSegmentStart[t + 1]]`
    /// (a query looks in those only).
    let termSegmentStart: [Int32]
    let termSegments: [Int32]
    let embedding: StaticEmbedding?

    /// An index of `tools`, one segment per server (built in parallel), with a dictionary of its own.
    public convenience init(_ tools: [Tool], useEmbedding: Bool = true) {
        let dictionary = SearchTerms()
        self.init(segments: Self.segments(of: tools, terms: dictionary, useEmbedding: useEmbedding), terms: dictionary)
    }

    /// Segments of `tools`, one per server (in order of first appearance), built on all cores.
    public static func segments(of tools: [Tool], terms: SearchTerms, useEmbedding: Bool = true) -> [Segment] {
        var groups: [[Tool]] = []
        var slot: [String: Int] = [:]
        for t in tools {
            if let i = slot[t.server], groups[i].count < Segment.maxTools {
                groups[i].append(t)
            } else {
                slot[t.server] = groups.count
                groups.append([t])
            }
        }
        return segments(groups: groups, terms: terms, useEmbedding: useEmbedding)
    }

    /// A segment of each of `groups` (at most `Segment.maxTools` tools each), built on all cores,
    /// each core with a word cache of its own.
    public static func segments(groups: [[Tool]], terms: SearchTerms, useEmbedding: Bool = true) -> [Segment] {
        if useEmbedding { _ = StaticEmbedding.shared }  // decoded once, before the workers start
        let work = groups
        let built = Mutex<[Segment?]>(Array(repeating: nil, count: groups.count))
        let workers = max(1, min(groups.count, 8, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            var reader = ToolTokenizer(terms: terms, embedding: useEmbedding ? StaticEmbedding.shared : nil)
            while i < work.count {
                let s = Segment(work[i], reader: &reader)
                built.withLock { $0[i] = s }
                i += workers
            }
        }
        return built.withLock { $0.map { $0! } }
    }

    /// Merges `segments` (built with `terms`): the tools, and their field-length norms from the
    /// averages over all segments (postings stay in the segments).
    public init(segments: [Segment], terms: SearchTerms) {
        self.segments = segments
        dictionary = terms
        var start: [Int] = []
        var all: [Tool] = []
        var n = 0
        var totals = SIMD4<Float>(repeating: 0)
        for s in segments {
            start.append(n)
            n += s.count
            all += s.tools
            for l in s.lengths { totals += SIMD4<Float>(l) }
        }
        segmentStart = start
        tools = all
        let avg = n > 0 ? (totals / Float(n)).replacing(with: 1, where: totals .< Float(n)) : SIMD4(repeating: 1)
        let weight = SIMD4<Float>(Self.fields.map(\.weight))
        let b = SIMD4<Float>(Self.fields.map(\.b))
        var norms: [SIMD4<Float>] = []
        norms.reserveCapacity(n)
        for s in segments { for l in s.lengths { norms.append(weight / (1 - b + b * SIMD4<Float>(l) / avg)) } }
        self.norms = norms
        let termCount = terms.count
        var from = [Int32](repeating: 0, count: termCount + 1)
        for s in segments { for t in s.postTerm where Int(t) < termCount { from[Int(t) + 1] += 1 } }
        for t in 0..<termCount { from[t + 1] += from[t] }
        var cursor = from
        var owners = [Int32](repeating: 0, count: Int(from[termCount]))
        for (si, s) in segments.enumerated() {
            for t in s.postTerm where Int(t) < termCount {
                owners[Int(cursor[Int(t)])] = Int32(si)
                cursor[Int(t)] += 1
            }
        }
        termSegmentStart = from
        termSegments = owners
        embedding = segments.contains { !$0.vectors.isEmpty } ? StaticEmbedding.shared : nil
    }

    /// What a tool's vector is made of (the recipe of `scripts/embeddings/eval_devset.py`):
    /// `<server words> <tool words>: <description>`. Its parameters are not (they are in the
    /// lexical side's parameter field): on both dev sets the fused ranker found more tools in its
    /// top 5 without them in the vector.
    static func embeddingText(_ t: Tool) -> String {
        var s = SearchText.words(t.server).joined(separator: " ") + " " + SearchText.words(t.name).joined(separator: " ") + ":"
        let description = t.description.trimmingWhitespace()
        if !description.isEmpty { s += " " + description }
        return s
    }

    /// The first sentence of a description (at most 200 characters).
    public static func firstSentence(_ s: String) -> String {
        let line = s.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingWhitespace() ?? ""
        var out = line
        if let r = line.firstRange(of: ". ") { out = String(line[..<r.lowerBound]) + "." }
        return out.count > 200 ? String(out.prefix(199)) + "…" : out
    }

    /// Query bytes read; the rest is ignored.
    static let maxQueryBytes = 2048
    /// Distinct terms (thesaurus expansions included) a query looks up.
    static let maxQueryTerms = 48

    /// Weights of the fused score: lexical (BM25F) and semantic (static vectors), each z-scored.
    static let lexicalWeight = 0.2
    static let semanticWeight = 0.8

    /// The best `limit` tools for `query` (of `server` only, when given), best first.
    public func search(_ query: String, server: String? = nil, limit: Int = 10) -> [Hit] {
        searchCounting(query, server: server, limit: limit).hits
    }

    /// The best `limit` tools, best first (ties by name), and how many tools match at all (a word
    /// in common, or a vector pointing its way), from one scoring.
    ///
    /// Score: z(BM25F) × 0.2 + z(cosine) × 0.8, z over all tools; tools with neither a matching
    /// word nor a positive cosine are left out. Without a table, BM25F alone.
    public func searchCounting(_ query: String, server: String? = nil, limit: Int) -> (hits: [Hit], total: Int) {
        // A task in words is short; a longer query is cut (its cost grows with its terms).
        let query = query.utf8.count > Self.maxQueryBytes ? String(decoding: query.utf8.prefix(Self.maxQueryBytes), as: UTF8.self) : query
        let n = tools.count
        guard n > 0, limit > 0 else { return ([], 0) }
        let lex = lexical(query)
        var cos: [Float] = []
        if let embedding { cos = cosines(embedding.embed(query), dimensions: embedding.dimensions) }
        var lexMean: Double = 0, lexScale: Double = 1, cosMean: Double = 0, cosScale: Double = 1
        if !cos.isEmpty {
            func stats(_ x: [Float]) -> (Double, Double) {
                var sum: Double = 0, sq: Double = 0
                for v in x {
                    sum += Double(v)
                    sq += Double(v) * Double(v)
                }
                let mean = sum / Double(x.count)
                let variance = max(0, sq / Double(x.count) - mean * mean)
                return (mean, 1 / max(variance.squareRoot(), 1e-9))
            }
            (lexMean, lexScale) = stats(lex)
            (cosMean, cosScale) = stats(cos)
            lexScale *= Self.lexicalWeight
            cosScale *= Self.semanticWeight
        }
        var top: [Hit] = []
        top.reserveCapacity(min(limit, 64) + 1)
        var total = 0
        func better(_ a: Hit, _ b: Hit) -> Bool { a.score != b.score ? a.score > b.score : tools[a.tool].exposedName < tools[b.tool].exposedName }
        for i in 0..<n {
            let l = lex[i]
            let score: Double
            if cos.isEmpty {
                guard l > 0 else { continue }
                score = Double(l)
            } else {
                guard l > 0 || cos[i] > 0 else { continue }
                score = (Double(l) - lexMean) * lexScale + (Double(cos[i]) - cosMean) * cosScale
            }
            if let server, tools[i].server != server { continue }
            total += 1
            let h = Hit(tool: i, score: score)
            if limit > 64 {  // many wanted: collect, sort once below
                top.append(h)
                continue
            }
            if top.count == limit, let last = top.last, !better(h, last) { continue }
            var at = top.count
            while at > 0 && better(h, top[at - 1]) { at -= 1 }
            top.insert(h, at: at)
            if top.count > limit { top.removeLast() }
        }
        if limit > 64 { top = Array(top.sorted(by: better).prefix(limit)) }
        return (top, total)
    }

    /// BM25F of every tool for `query`'s terms (each also standing for its thesaurus group, lower):
    /// per term, its postings in each segment that has it (binary search there), its document
    /// frequency summed over them, then each posting's pseudo-frequency from its field counts and the tool's norms.
    func lexical(_ query: String) -> [Float] {
        // At most `maxQueryTerms` distinct terms (each costs a lookup in every segment).
        var weights: [String: Float] = [:]
        for t in SearchText.terms(query) {
            if weights[t] != nil || weights.count < Self.maxQueryTerms { weights[t, default: 0] += 1 }
            for (s, w) in Thesaurus.expansions(of: t) where weights[s] == nil ? weights.count < Self.maxQueryTerms : weights[s]! < Float(w) {
                weights[s] = Float(w)
            }
        }
        var lex = [Float](repeating: 0, count: tools.count)
        let k1 = Self.k1
        let n = Float(tools.count)
        var found: [(segment: Int, range: Range<Int>)] = []
        lex.withUnsafeMutableBufferPointer { out in
            for (term, qw) in weights {
                guard let id = dictionary.lookup(term), Int(id) + 1 < termSegmentStart.count else { continue }
                found.removeAll(keepingCapacity: true)
                var df = 0
                for j in Int(termSegmentStart[Int(id)])..<Int(termSegmentStart[Int(id) + 1]) {
                    let si = Int(termSegments[j])
                    if let r = segments[si].postings(of: id) {
                        found.append((si, r))
                        df += r.count
                    }
                }
                guard df > 0 else { continue }
                let w = qw * log(1 + (n - Float(df) + 0.5) / (Float(df) + 0.5))
                for (si, r) in found {
                    let s = segments[si]
                    let base = segmentStart[si]
                    for p in r {
                        let tool = base + Int(s.postTool[p])
                        let f = (SIMD4<Float>(s.postCounts[p]) * norms[tool]).sum()
                        out[tool] += w * f * (k1 + 1) / (k1 + f)
                    }
                }
            }
        }
        return lex
    }

    /// The cosine of every tool's vector with `q`: the query in int8 too, integer dot products
    /// (wrapping adds are associative, so the compiler vectorizes them; float sums it must keep
    /// in order).
    func cosines(_ q: [Float], dimensions d: Int) -> [Float] {
        let qmax = q.reduce(Float(0)) { max($0, abs($1)) }
        let qscale = qmax > 0 ? qmax / 127 : 1
        let qi = q.map { Int16(max(-127, min(127, ($0 / qscale).rounded()))) }
        var cos = [Float](repeating: 0, count: tools.count)
        cos.withUnsafeMutableBufferPointer { out in
            qi.withUnsafeBufferPointer { qp in
                for (si, s) in segments.enumerated() where !s.vectors.isEmpty {
                    s.vectors.withUnsafeBufferPointer { v in
                        for i in 0..<s.count {
                            let row = v.baseAddress! + i * d
                            var acc: Int32 = 0
                            for k in 0..<d { acc &+= Int32(Int16(row[k]) &* qp[k]) }
                            out[segmentStart[si] + i] = Float(acc) * s.vectorScales[i] * qscale
                        }
                    }
                }
            }
        }
        return cos
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
