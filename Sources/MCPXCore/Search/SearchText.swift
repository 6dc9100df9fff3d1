/// Turns tool names, descriptions and queries into index terms: words split on anything that is
/// not a letter or digit and on identifier boundaries (`readTextFile`, `read_text_file`,
/// `read-text.file` all give read, text, file), lower-cased, common English words dropped, Porter
/// stemmed.
enum SearchText {
    /// The words of `text`, lower-cased, identifiers split.
    static func words(_ text: String) -> [String] {
        var out: [String] = []
        var cur: [UInt8] = []
        var prev: UInt8 = 0
        func flush() {
            if !cur.isEmpty { out.append(String(decoding: cur, as: UTF8.self)) }
            cur.removeAll(keepingCapacity: true)
        }
        let bytes = Array(text.utf8)
        for (i, b) in bytes.enumerated() {
            let isUpper = b >= 0x41 && b <= 0x5A
            let isLower = b >= 0x61 && b <= 0x7A
            let isDigit = b >= 0x30 && b <= 0x39
            guard isUpper || isLower || isDigit else {
                flush()
                prev = 0
                continue
            }
            if !cur.isEmpty {
                let prevUpper = prev >= 0x41 && prev <= 0x5A
                let prevLower = prev >= 0x61 && prev <= 0x7A
                let prevDigit = prev >= 0x30 && prev <= 0x39
                // camelCase: a lower → upper boundary; HTTPServer: the last upper of a run before a lower.
                let nextLower = i + 1 < bytes.count && bytes[i + 1] >= 0x61 && bytes[i + 1] <= 0x7A
                if (isUpper && prevLower) || (isUpper && prevUpper && nextLower) || (isDigit != prevDigit) { flush() }
            }
            cur.append(isUpper ? b + 0x20 : b)
            prev = b
        }
        flush()
        return out
    }

    /// Index terms: words without stop words (nor words longer than `maxWordBytes`), stemmed.
    static func terms(_ text: String) -> [String] {
        words(text).compactMap { w in stopWords.contains(w) || w.utf8.count > maxWordBytes ? nil : PorterStemmer.stem(w) }
    }

    /// Longer words are no index terms (no language has them; a backend that sends them would
    /// only grow the term dictionary).
    static let maxWordBytes = 64

    /// `terms`, with stems remembered across calls (an index build sees the same words again and again).
    static func terms(_ text: String, cache: inout [String: String]) -> [String] {
        var out: [String] = []
        for w in words(text) where !stopWords.contains(w) && w.utf8.count <= maxWordBytes {
            if let s = cache[w] {
                out.append(s)
            } else {
                let s = PorterStemmer.stem(w)
                cache[w] = s
                out.append(s)
            }
        }
        return out
    }

    static let stopWords: Set<String> = [
        "a", "an", "the", "of", "to", "in", "for", "on", "with", "and", "or", "is", "are", "be", "been", "being", "was",
        "were", "this", "that", "these", "those", "it", "its", "me", "my", "mine", "i", "you", "your", "we", "our", "us",
        "please", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "do", "does", "did", "from",
        "by", "at", "as", "into", "onto", "about", "if", "then", "than", "so", "such", "there", "here", "what", "which",
        "who", "whom", "whose", "when", "where", "why", "how", "some", "any", "each", "every", "all", "also", "just",
        "only", "very", "too", "up", "out", "over", "via", "per", "not", "no", "yes", "want", "need", "like", "let", "lets",
        "let's", "i'd", "i'm", "hey", "ok", "okay", "thanks", "thank", "kindly", "quick", "quickly", "now", "currently",
        "s", "t", "e", "g", "eg", "etc", "using", "use", "used", "uses", "tool", "tools", "given", "specified",
        "specific", "provided", "optional", "default", "returns", "return", "whether",
    ]
}
