/// BERT's uncased tokenizer, as `scripts/embeddings/minilm.py` runs it (the vocabulary of
/// all-MiniLM-L6-v2): clean control characters, space out CJK ideographs, lower-case, drop
/// combining marks, split on whitespace and punctuation, then greedy longest-match WordPiece with
/// `##` continuations; a word it cannot cover (or longer than 100 characters) is `[UNK]`.
///
/// One difference: Python strips accents after NFD decomposition; the standard library has no
/// decomposition, so precomposed letters (é) stay as they are. Queries and tool descriptions are
/// almost all ASCII.
struct WordPiece: Sendable {
    let ids: [String: Int32]
    let unknown: Int32
    /// The longest entry, in UTF-8 bytes (no piece can be longer).
    let longest: Int

    init(vocabulary: String) {
        var ids: [String: Int32] = [:]
        var i: Int32 = 0
        var longest = 0
        for line in vocabulary.split(separator: "\n", omittingEmptySubsequences: false) {
            if ids[String(line)] == nil { ids[String(line)] = i }
            longest = max(longest, line.utf8.count)
            i += 1
        }
        self.ids = ids
        self.longest = longest
        unknown = ids["[UNK]"] ?? 100
    }

    /// Token ids of `text` (no [CLS]/[SEP]).
    func tokenize(_ text: String) -> [Int32] {
        var out: [Int32] = []
        for word in Self.basicTokens(text) { wordPieces(word, into: &out) }
        return out
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// Words and punctuation marks, lower-cased.
    static func basicTokens(_ text: String) -> [String] {
        // ASCII (nearly every tool description and query): one pass over the bytes.
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return asciiTokens(text) }
        return unicodeTokens(text)
    }

    static func asciiTokens(_ text: String) -> [String] {
        var words: [String] = []
        var cur: [UInt8] = []
        func flush() {
            if !cur.isEmpty { words.append(String(decoding: cur, as: UTF8.self)) }
            cur.removeAll(keepingCapacity: true)
        }
        for var b in text.utf8 {
            if b == 32 || b == 9 || b == 10 || b == 13 {
                flush()
            } else if b < 32 || b == 127 {
                continue  // control characters are dropped
            } else if (33...47).contains(b) || (58...64).contains(b) || (91...96).contains(b) || (123...126).contains(b) {
                flush()
                words.append(String(UnicodeScalar(b)))
            } else {
                if b >= 0x41 && b <= 0x5A { b += 0x20 }
                cur.append(b)
            }
        }
        flush()
        return words
    }

    static func unicodeTokens(_ text: String) -> [String] {
        var words: [String] = []
        var cur = String.UnicodeScalarView()
        func flush() {
            if !cur.isEmpty { words.append(String(cur)) }
            cur = String.UnicodeScalarView()
        }
        for s in text.lowercased().unicodeScalars {
            let v = s.value
            let category = s.properties.generalCategory
            if v == 0 || v == 0xFFFD || ((category == .control || category == .format) && v != 9 && v != 10 && v != 13) { continue }
            if category == .nonspacingMark { continue }  // accents, as far as they are separate marks
            if v == 32 || v == 9 || v == 10 || v == 13 || category == .spaceSeparator {
                flush()
            } else if isCJK(v) || isPunctuation(s) {
                flush()
                words.append(String(s))
            } else {
                cur.append(s)
            }
        }
        flush()
        return words
    }

    func wordPieces(_ word: String, into out: inout [Int32]) {
        var word = word
        if let done = word.withUTF8({ $0.allSatisfy { $0 < 0x80 } ? asciiPieces($0, into: &out) : nil }), done { return }
        unicodePieces(word, into: &out)
    }

    /// `wordPieces` on Unicode scalars (any word).
    func unicodePieces(_ word: String, into out: inout [Int32]) {
        let chars = Array(word.unicodeScalars)
        if chars.count > 100 {
            out.append(unknown)
            return
        }
        var pieces: [Int32] = []
        var start = 0
        while start < chars.count {
            // (no entry has more scalars than bytes: longer candidates cannot match)
            var end = min(chars.count, start + longest - (start > 0 ? 2 : 0))
            var found: Int32?
            while start < end {
                var sub = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { sub = "##" + sub }
                if let id = ids[sub] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                out.append(unknown)
                return
            }
            pieces.append(id)
            start = end
        }
        out.append(contentsOf: pieces)
    }

    /// `wordPieces` of an ASCII word, on its bytes: each candidate piece is a small string made
    /// from a stack buffer, and no candidate is longer than the longest vocabulary entry.
    func asciiPieces(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) -> Bool {
        if word.count > 100 {
            out.append(unknown)
            return true
        }
        let mark = out.count
        var start = 0
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: longest + 2) { buf in
            while start < word.count {
                let prefix = start > 0 ? 2 : 0
                if prefix > 0 {
                    buf[0] = UInt8(ascii: "#")
                    buf[1] = UInt8(ascii: "#")
                }
                var end = min(word.count, start + longest - prefix)
                var found: Int32?
                while start < end {
                    let n = end - start
                    for k in 0..<n { buf[prefix + k] = word[start + k] }
                    if let id = ids[String(decoding: UnsafeBufferPointer(rebasing: buf[0..<(prefix + n)]), as: UTF8.self)] {
                        found = id
                        break
                    }
                    end -= 1
                }
                guard let id = found else {
                    out.removeSubrange(mark...)
                    out.append(unknown)
                    return true
                }
                out.append(id)
                start = end
            }
            return true
        }
    }
}
