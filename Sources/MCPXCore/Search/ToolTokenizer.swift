/// Reads a tool's texts once for both halves of the index: its index terms per field (what
/// `SearchText.terms` gives) and the WordPiece ids of its embedding text (what
/// `WordPiece.tokenize(ToolIndex.embeddingText(tool))` gives), without building the text or
/// a string per word.
///
/// ASCII text is scanned as bytes: a run of letters and digits is a word, looked up in a cache
/// keyed by its bytes (a word seen before costs one hash of at most 32 bytes); any other
/// printable character is punctuation (its own WordPiece token, and a word boundary). A text
/// with other bytes (non-ASCII, control characters) takes the string path for its WordPiece ids.
/// One tokenizer per thread; its cache lives as long as it does (one index build).
struct ToolTokenizer {
    let terms: SearchTerms
    let embedding: StaticEmbedding?

    /// A word of up to 32 bytes, zero-padded.
    struct Key: Equatable {
        var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0, d: UInt64 = 0

        /// Per process, so no backend can pick words that all land in one place of the table.
        static let seed = UInt64.random(in: .min ... .max)

        var hash: UInt64 {
            var x = (a ^ Self.seed) &* 0x9E37_79B9_7F4A_7C15
            x = (x ^ (x >> 29) ^ b) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 31) ^ c) &* 0x94D0_49BB_1331_11EB
            x = (x ^ (x >> 29) ^ d) &* 0x9E37_79B9_7F4A_7C15
            return x ^ (x >> 32)
        }
    }

    /// Key → word index, open addressing with linear probing (no per-lookup hasher setup: this
    /// is the hottest lookup of an index build). Never more than half full.
    struct WordTable {
        var keys = [Key](repeating: Key(), count: 4096)
        var values = [Int32](repeating: -1, count: 4096)
        var count = 0

        func find(_ k: Key) -> (slot: Int, value: Int32?) {
            let mask = keys.count - 1
            var i = Int(truncatingIfNeeded: k.hash) & mask
            while true {
                let v = values[i]
                if v < 0 { return (i, nil) }
                if keys[i] == k { return (i, v) }
                i = (i + 1) & mask
            }
        }

        mutating func insert(_ k: Key, _ v: Int32, at slot: Int) {
            keys[slot] = k
            values[slot] = v
            count += 1
            if count * 2 > keys.count { grow() }
        }

        mutating func grow() {
            let oldKeys = keys
            let oldValues = values
            keys = [Key](repeating: Key(), count: oldKeys.count * 2)
            values = [Int32](repeating: -1, count: oldKeys.count * 2)
            for (k, v) in zip(oldKeys, oldValues) where v >= 0 {
                let (slot, _) = find(k)
                keys[slot] = k
                values[slot] = v
            }
        }
    }

    /// What a word stands for: its index terms (camelCase and digit runs split, stop words
    /// dropped, stemmed) and, once asked for, its WordPiece ids, whole (in prose) and split like
    /// `SearchText.words` (in names). Ranges in the pools below.
    struct Word {
        var terms: Range<Int32>
        var pieces: Range<Int32>?
        var splitPieces: Range<Int32>?
    }

    var words: [Word] = []
    var cache = WordTable()
    var long: [String: Int32] = [:]
    var termPool: [Int32] = []
    var piecePool: [Int32] = []
    var pieceCache: [String: [Int32]] = [:]
    /// WordPiece id of each ASCII punctuation character (-1: none).
    let punctuation: [Int32]
    let colon: Int32

    init(terms: SearchTerms, embedding: StaticEmbedding?) {
        self.terms = terms
        self.embedding = embedding
        var p = [Int32](repeating: -1, count: 128)
        if let embedding {
            for b in 33..<127 where Self.isPunctuation(UInt8(b)) {
                p[b] = embedding.tokenizer.ids[String(UnicodeScalar(UInt8(b)))] ?? embedding.tokenizer.unknown
            }
        }
        punctuation = p
        colon = p[0x3A]
    }

    static func isPunctuation(_ b: UInt8) -> Bool {
        (33...47).contains(b) || (58...64).contains(b) || (91...96).contains(b) || (123...126).contains(b)
    }

    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// The index (in `words`) of the word `bytes` (letters and digits), made on first sight.
    mutating func word(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        if bytes.count <= 32 {
            var k = Key()
            withUnsafeMutableBytes(of: &k) { raw in
                raw.copyMemory(from: UnsafeRawBufferPointer(bytes))
            }
            let (slot, found) = cache.find(k)
            if let found { return Int(found) }
            cache.insert(k, Int32(words.count), at: slot)
        } else {
            let s = String(decoding: bytes, as: UTF8.self)
            if let i = long[s] { return Int(i) }
            long[s] = Int32(words.count)
        }
        let t0 = Int32(termPool.count)
        // (no word past SearchText.maxWordBytes is a term: the dictionary only grows)
        let stems = SearchText.words(String(decoding: bytes, as: UTF8.self)).compactMap {
            SearchText.stopWords.contains($0) || $0.utf8.count > SearchText.maxWordBytes ? nil : PorterStemmer.stem($0)
        }
        termPool += terms.intern(stems)
        words.append(Word(terms: t0..<Int32(termPool.count)))
        return words.count - 1
    }

    /// The WordPiece ids of word `i` (`bytes`), whole or split, computed once.
    mutating func pieces(_ i: Int, _ bytes: UnsafeBufferPointer<UInt8>, split: Bool) -> Range<Int32> {
        if let r = split ? words[i].splitPieces : words[i].pieces { return r }
        let p0 = Int32(piecePool.count)
        if let embedding {
            let s = String(decoding: bytes, as: UTF8.self)
            if split {
                for w in SearchText.words(s) { embedding.tokenizer.wordPieces(w, into: &piecePool) }
            } else {
                embedding.tokenizer.wordPieces(s.lowercased(), into: &piecePool)
            }
        }
        let r = p0..<Int32(piecePool.count)
        if split { words[i].splitPieces = r } else { words[i].pieces = r }
        return r
    }

    /// Index terms of `text` appended to `terms`; with `pieces`, also its WordPiece ids, as prose
    /// (`split` false: punctuation kept) or as a name (`split` true: words split, punctuation dropped).
    mutating func scan(_ text: String, terms out: inout [Int32], pieces: UnsafeMutablePointer<[Int32]>?, split: Bool) {
        var text = text
        let before = pieces?.pointee.count ?? 0
        let plain = text.withUTF8 { buf -> Bool in
            var plain = true
            var start = -1
            func flush(_ end: Int) {
                guard start >= 0 else { return }
                let bytes = UnsafeBufferPointer(rebasing: buf[start..<end])
                let w = word(bytes)
                let t = words[w].terms
                out += termPool[Int(t.lowerBound)..<Int(t.upperBound)]
                if let pieces {
                    let r = self.pieces(w, bytes, split: split)
                    pieces.pointee += piecePool[Int(r.lowerBound)..<Int(r.upperBound)]
                }
                start = -1
            }
            for i in 0..<buf.count {
                let b = buf[i]
                if Self.isAlnum(b) {
                    if start < 0 { start = i }
                    continue
                }
                flush(i)
                if b >= 0x80 || (b < 0x20 && b != 9 && b != 10 && b != 13) || b == 127 {
                    plain = false
                } else if !split, let pieces, b > 0x20, punctuation[Int(b)] >= 0 {
                    pieces.pointee.append(punctuation[Int(b)])
                }
            }
            flush(buf.count)
            return plain
        }
        // Not plain ASCII: the terms above are right (only ASCII letters and digits make words),
        // the pieces are redone on the string path.
        if !plain, let pieces, let embedding, !split {
            pieces.pointee.removeSubrange(before...)
            for word in WordPiece.basicTokens(text) {
                if let hit = pieceCache[word] {
                    pieces.pointee += hit
                } else {
                    var p: [Int32] = []
                    embedding.tokenizer.wordPieces(word, into: &p)
                    pieceCache[word] = p
                    pieces.pointee += p
                }
            }
        }
    }

    /// A tool's terms in its four fields (name, server, description, parameters) and the WordPiece
    /// ids of `ToolIndex.embeddingText(tool)`.
    mutating func read(_ t: ToolIndex.Tool, fields: inout [[Int32]], pieces: inout [Int32]) {
        for f in 0..<4 { fields[f].removeAll(keepingCapacity: true) }
        pieces.removeAll(keepingCapacity: true)
        let embed = embedding != nil
        withUnsafeMutablePointer(to: &pieces) { p in
            let pp = embed ? p : nil
            scan(t.server, terms: &fields[1], pieces: pp, split: true)
            scan(t.name, terms: &fields[0], pieces: pp, split: true)
            if embed { p.pointee.append(colon) }
            // (untrimmed: surrounding whitespace gives no term and no piece)
            scan(t.description, terms: &fields[2], pieces: pp, split: false)
            for param in t.parameters {
                scan(param.name, terms: &fields[3], pieces: nil, split: true)
                scan(param.description, terms: &fields[3], pieces: nil, split: false)
            }
        }
    }
}
