/// Splits a command line into words the way a POSIX shell does, without running a shell:
/// blanks separate words; 'single quotes' keep everything; "double quotes" keep everything but
/// `\` before `"`, `\`, `$` and a backquote; a `\` outside quotes keeps the next character.
/// No expansion of any kind (`$VAR`, `~`, globs) happens.
public enum ShellWords {
    public struct SplitError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func split(_ line: String) throws(SplitError) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var it = line.makeIterator()
        while let c = it.next() {
            switch c {
            case " ", "\t", "\n":
                if inWord {
                    words.append(word)
                    word = ""
                    inWord = false
                }
            case "'":
                inWord = true
                var closed = false
                while let d = it.next() {
                    if d == "'" { closed = true; break }
                    word.append(d)
                }
                if !closed { throw SplitError(description: "unterminated ' in \(line)") }
            case "\"":
                inWord = true
                var closed = false
                while let d = it.next() {
                    if d == "\"" { closed = true; break }
                    if d == "\\" {
                        guard let e = it.next() else { break }
                        if !"\"\\$`".contains(e) { word.append("\\") }
                        word.append(e)
                        continue
                    }
                    word.append(d)
                }
                if !closed { throw SplitError(description: "unterminated \" in \(line)") }
            case "\\":
                inWord = true
                if let e = it.next() { word.append(e) }
            default:
                inWord = true
                word.append(c)
            }
        }
        if inWord { words.append(word) }
        return words
    }
}
