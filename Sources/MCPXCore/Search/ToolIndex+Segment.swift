/// One server's part of a `ToolIndex`: its tools' term counts per field and their vectors, built
/// from its tool list alone, so a list change rebuilds one segment and the index merges the rest
/// as they are.
extension ToolIndex {
    public struct Segment: Sendable {
        /// The tools' names (exposed, server, own); descriptions and parameters are not kept.
        let tools: [Tool]
        /// The segment's postings: its distinct terms, ascending (found by binary search), term k's
        /// tools are `postTool[postStart[k] ..< postStart[k + 1]]`, each with the term's count in
        /// the four fields (name, server, description, parameters), one byte each.
        let postTerm: [Int32]
        let postStart: [Int32]
        let postTool: [UInt16]
        let postCounts: [SIMD4<UInt8>]
        /// Terms per field, per tool.
        let lengths: [SIMD4<UInt16>]
        /// Each tool's unit vector in int8 (`dimensions` per tool) and its scale; empty without a table.
        let vectors: [Int8]
        let vectorScales: [Float]

        var count: Int { tools.count }

        /// Tools one segment holds at most (postings keep a tool's place in 16 bits).
        public static let maxTools = 65_535

        /// Where `term`'s postings are, if the segment has it.
        func postings(of term: Int32) -> Range<Int>? {
            var lo = 0
            var hi = postTerm.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if postTerm[mid] < term { lo = mid + 1 } else { hi = mid }
            }
            guard lo < postTerm.count, postTerm[lo] == term else { return nil }
            return Int(postStart[lo])..<Int(postStart[lo + 1])
        }

        /// Builds the segment of `tools` (all of one server, or any set) with term ids from `dictionary`.
        public init(_ tools: [Tool], terms dictionary: SearchTerms, useEmbedding: Bool = true) {
            var reader = ToolTokenizer(terms: dictionary, embedding: useEmbedding ? StaticEmbedding.shared : nil)
            self.init(tools, reader: &reader)
        }

        /// Builds the segment of `tools` with `reader` (whose word cache carries over to the next segment).
        init(_ tools: [Tool], reader: inout ToolTokenizer) {
            let tools = Array(tools.prefix(Self.maxTools))
            let embedding = reader.embedding
            let d = embedding?.dimensions ?? 0
            // Every term occurrence as one integer, term | tool | field, sorted once per segment:
            // then equal (term, tool) runs are a posting and its field counts.
            var occurrences: [UInt64] = []
            var lengths: [SIMD4<UInt16>] = []
            lengths.reserveCapacity(tools.count)
            var vectors = [Int8](repeating: 0, count: tools.count * d)
            var scales: [Float] = []
            scales.reserveCapacity(embedding == nil ? 0 : tools.count)
            var fields: [[Int32]] = [[], [], [], []]
            var pieces: [Int32] = []
            var v = [Float](repeating: 0, count: d)
            for (ti, t) in tools.enumerated() {
                reader.read(t, fields: &fields, pieces: &pieces)
                lengths.append(SIMD4(
                    UInt16(clamping: fields[0].count), UInt16(clamping: fields[1].count),
                    UInt16(clamping: fields[2].count), UInt16(clamping: fields[3].count)))
                for f in 0..<4 {
                    for id in fields[f] { occurrences.append(UInt64(UInt32(bitPattern: id)) << 24 | UInt64(ti) << 8 | UInt64(f)) }
                }
                guard let embedding else { continue }
                v.withUnsafeMutableBufferPointer { vp in
                    embedding.embed(tokens: pieces, into: vp.baseAddress!)
                    var m: Float = 0
                    for k in 0..<d { m = max(m, abs(vp[k])) }
                    let scale = m > 0 ? m / 127 : 1
                    scales.append(scale)
                    let inv = 1 / scale
                    vectors.withUnsafeMutableBufferPointer { out in
                        let row = out.baseAddress! + ti * d
                        for k in 0..<d { row[k] = Int8(max(-127, min(127, (vp[k] * inv).rounded()))) }
                    }
                }
            }
            occurrences.sort()
            var postTerm: [Int32] = []
            var postStart: [Int32] = []
            var postTool: [UInt16] = []
            var postCounts: [SIMD4<UInt8>] = []
            var i = 0
            while i < occurrences.count {
                let key = occurrences[i] >> 8  // term and tool
                var c = SIMD4<UInt8>(repeating: 0)
                while i < occurrences.count && occurrences[i] >> 8 == key {
                    let f = Int(occurrences[i] & 0xFF)
                    if c[f] < 255 { c[f] += 1 }
                    i += 1
                }
                let term = Int32(truncatingIfNeeded: key >> 16)
                if postTerm.last != term {
                    postTerm.append(term)
                    postStart.append(Int32(postTool.count))
                }
                postTool.append(UInt16(truncatingIfNeeded: key & 0xFFFF))
                postCounts.append(c)
            }
            postStart.append(Int32(postTool.count))
            self.postTerm = postTerm
            self.postStart = postStart
            self.postTool = postTool
            self.postCounts = postCounts
            self.lengths = lengths
            self.tools = tools.map { ToolIndex.Tool(exposedName: $0.exposedName, server: $0.server, name: $0.name, description: "", parameters: []) }
            self.vectors = vectors
            self.vectorScales = scales
        }
    }
}

extension ToolIndex.Tool {
    /// What a search result shows of the tool: its description's first sentence, its parameters'
    /// names and whether they are required.
    var listing: ToolIndex.Tool {
        var t = ToolIndex.Tool(exposedName: exposedName, server: server, name: name, description: ToolIndex.firstSentence(description), parameters: [])
        t.parameterSummary = parameters.sorted { $0.required != $1.required ? $0.required : $0.name < $1.name }
            .map { $0.required ? "\($0.name) (required)" : $0.name }.joined(separator: ", ")
        return t
    }
}
