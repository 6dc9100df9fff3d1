@testable import MCPXCore
import MCPXJSON
import Testing

@Suite struct SearchIndexTests {
    /// Tools whose texts take every path of `ToolTokenizer`: camelCase and digits, stop words,
    /// punctuation, non-ASCII, control characters, words longer than 32 and 100 bytes, empty
    /// descriptions, descriptions ending with a period, parameters with and without descriptions.
    static let tools: [ToolIndex.Tool] = [
        .init(exposedName: "fs__read_text_file", server: "fs", name: "read_text_file",
              description: "Read the complete contents of a file as text. DEPRECATED: Use read_text_file instead.",
              parameters: [("path", "", true), ("tail", "If provided, returns only the last N lines of the file", false)]),
        .init(exposedName: "gh__getPullRequestV2", server: "github-archived", name: "getPullRequestV2",
              description: "  Get a PR (pull request) by #number — with its diff; e.g. `gh pr view 42`  ",
              parameters: [("owner", "Repository owner", true), ("pullNumber", "The PR's number.", true)]),
        .init(exposedName: "x__caf\u{e9}", server: "x", name: "caf\u{e9}_d\u{e9}j\u{e0}",
              description: "Caf\u{e9} d\u{e9}j\u{e0}-vu: na\u{ef}ve_r\u{e9}sum\u{e9}! \u{1F680} 東京", parameters: [("q", "na\u{ef}ve query", false)]),
        .init(exposedName: "x__ctl", server: "x", name: "ctl", description: "split\u{1}word and tab\there\nnext line.", parameters: []),
        .init(exposedName: "x__long", server: "x", name: String(repeating: "verylongidentifier", count: 3),
              description: "Supercalifragilisticexpialidociousness-and-antidisestablishmentarianism " + String(repeating: "a", count: 120),
              parameters: [("HTTPServerURL", "", false)]),
        .init(exposedName: "x__empty", server: "x", name: "empty", description: "", parameters: [("a", "", false), ("b_c", "d.", false)]),
        .init(exposedName: "x__none", server: "x", name: "none", description: "Ends with a period.", parameters: []),
        // words of 32 and 33 bytes (the cache key's edge), one word in different cases in a name and in prose
        .init(exposedName: "x__edge", server: "x", name: "getHTTPResponse",
              description: "abcdefghijklmnopqrstuvwxyzabcdef abcdefghijklmnopqrstuvwxyzabcdefg gethttpresponse GETHTTPRESPONSE", parameters: [("GetHttpResponse", "getHTTPResponse", false)]),
        // more distinct words than the word table's first size (it grows)
        .init(exposedName: "x__many", server: "x", name: "many", description: (0..<3000).map { "w\($0)x" }.joined(separator: " "), parameters: []),
    ]

    @Test func tokenizerReadsWhatTheStringPathsRead() throws {
        let e = try #require(StaticEmbedding.shared)
        let dictionary = SearchTerms()
        var reader = ToolTokenizer(terms: dictionary, embedding: e)
        var fields: [[Int32]] = [[], [], [], []]
        var pieces: [Int32] = []
        for t in Self.tools {
            reader.read(t, fields: &fields, pieces: &pieces)
            #expect(pieces == e.tokenizer.tokenize(ToolIndex.embeddingText(t)), "pieces of \(t.exposedName)")
            func ids(_ texts: [String]) -> [Int32] { dictionary.intern(texts.flatMap { SearchText.terms($0) }) }
            #expect(fields[0] == ids([t.name]))
            #expect(fields[1] == ids([t.server]))
            #expect(fields[2] == ids([t.description.trimmingWhitespace()]))
            #expect(fields[3] == ids(t.parameters.flatMap { [$0.name, $0.description] }))
        }
    }

    @Test func asciiWordPiecesMatchTheGeneralPath() throws {
        let e = try #require(StaticEmbedding.shared)
        // The general path bounds its candidates by the longest entry too: still exact.
        func reference(_ word: String) -> [Int32] {  // greedy longest match, every candidate tried
            let chars = Array(word.unicodeScalars)
            var out: [Int32] = []
            var start = 0
            while start < chars.count {
                var end = chars.count
                var found: Int32?
                while start < end, found == nil {
                    found = e.tokenizer.ids[(start > 0 ? "##" : "") + String(String.UnicodeScalarView(chars[start..<end]))]
                    if found == nil { end -= 1 }
                }
                guard let id = found else { return [e.tokenizer.unknown] }
                out.append(id)
                start = end
            }
            return out
        }
        for word in ["na\u{ef}vet\u{e9}", "\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}", "caf\u{e9}s", String(repeating: "\u{e9}", count: 99), "\u{4e2d}"] {
            var got: [Int32] = []
            e.tokenizer.unicodePieces(word, into: &got)
            #expect(got == reference(word), "\(word)")
        }
        for word in ["kubernetes", "readtextfile", "a", "zzzzqqqxj", "antidisestablishmentarianism", String(repeating: "ab", count: 60), "42nd"] {
            var fast: [Int32] = []
            _ = Array(word.utf8).withUnsafeBufferPointer { e.tokenizer.asciiPieces($0, into: &fast) }
            var slow: [Int32] = []
            e.tokenizer.unicodePieces(word, into: &slow)
            #expect(fast == slow, "\(word)")
        }
    }

    /// Segments built apart and merged rank exactly as one build of everything, and replacing one
    /// server's segment gives what a full build of the new set gives.
    @Test func segmentsMergeToTheSameIndex() {
        let a = (0..<30).map { i in
            ToolIndex.Tool(exposedName: "s\(i % 3)__t\(i)", server: "s\(i % 3)", name: "t\(i)",
                           description: ["Read a file from disk.", "Delete a Kubernetes pod.", "Post a message to a Slack channel.", "Search the web."][i % 4] + " Variant \(i).",
                           parameters: [("p\(i % 5)", "the \(i % 7) value", i % 2 == 0)])
        }
        let whole = ToolIndex(a)
        // The same tools as one segment, interleaved (not grouped by server), as a reference.
        let oneTerms = SearchTerms()
        let one = ToolIndex(segments: [ToolIndex.Segment(a, terms: oneTerms)], terms: oneTerms)
        let terms = SearchTerms()
        let parts = ["s0", "s1", "s2"].map { s in ToolIndex.Segment(a.filter { $0.server == s }, terms: terms) }
        let merged = ToolIndex(segments: parts, terms: terms)
        for q in ["show me the file", "remove the crashed pod", "tell the team", "web", "variant 7"] {
            let x = whole.search(q, limit: 10).map { (whole.tools[$0.tool].exposedName, ($0.score * 1e4).rounded()) }
            let y = merged.search(q, limit: 10).map { (merged.tools[$0.tool].exposedName, ($0.score * 1e4).rounded()) }
            let z = one.search(q, limit: 10).map { (one.tools[$0.tool].exposedName, ($0.score * 1e4).rounded()) }
            #expect(x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1), "\(q)")
            #expect(x.map(\.0) == z.map(\.0) && x.map(\.1) == z.map(\.1), "\(q)")
            #expect(!x.isEmpty)
        }
        // More results than the bounded selection keeps: the same order, by a full sort.
        let many = merged.search("file", limit: 100).map { merged.tools[$0.tool].exposedName }
        #expect(Array(many.prefix(10)) == merged.search("file", limit: 10).map { merged.tools[$0.tool].exposedName })
        // s1 changes its tools: only its segment is built again.
        var changed = a.filter { $0.server == "s1" }
        changed[0].description = "Forecast the weather for a city."
        let updated = ToolIndex(segments: [parts[0], ToolIndex.Segment(changed, terms: terms), parts[2]], terms: terms)
        let full = ToolIndex(a.filter { $0.server == "s0" } + changed + a.filter { $0.server == "s2" })
        let q = "will it rain in Paris tomorrow"
        #expect(updated.search(q, limit: 5).map { updated.tools[$0.tool].exposedName } == full.search(q, limit: 5).map { full.tools[$0.tool].exposedName })
        #expect(updated.search(q, limit: 1).first.map { updated.tools[$0.tool].exposedName } == changed[0].exposedName)
        // A server filter keeps to that server; the count is of matching tools.
        let (hits, total) = merged.searchCounting("file", server: "s2", limit: 50)
        #expect(!hits.isEmpty && hits.allSatisfy { merged.tools[$0.tool].server == "s2" } && total == hits.count)
    }

    /// A hostile tool list cannot grow the term dictionary with giant words, and a giant query is cut.
    @Test func giantWordsAreNoTermsAndGiantQueriesAreCut() {
        let terms = SearchTerms()
        let giant = String(repeating: "x", count: 70)
        _ = ToolIndex.Segment([ToolIndex.Tool(exposedName: "s__t", server: "s", name: "t", description: "read \(giant) files", parameters: [])], terms: terms)
        #expect(terms.lookup(giant) == nil && terms.lookup("read") != nil)
        // Lexical only (no vectors): a word past the first 2 KB of a query is not read.
        let index = ToolIndex([ToolIndex.Tool(exposedName: "s__read", server: "s", name: "read", description: "Read a file.", parameters: [])], useEmbedding: false)
        let filler = String(repeating: "zzz ", count: 600)
        #expect(index.search(filler + "read", limit: 1).isEmpty)
        #expect(index.search("read " + filler, limit: 1).count == 1)
    }

    @Test func firstSentence() {
        #expect(ToolIndex.firstSentence("Read a file. Then more.") == "Read a file.")
        #expect(ToolIndex.firstSentence("\n\n  Lists things  \nsecond line. x") == "Lists things")
        #expect(ToolIndex.firstSentence("v1.2 is out") == "v1.2 is out")
        #expect(ToolIndex.firstSentence("") == "")
        #expect(ToolIndex.firstSentence(String(repeating: "é", count: 300)).count == 200)
    }
}
