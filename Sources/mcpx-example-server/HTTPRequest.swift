/// One parsed HTTP/1.x request. Header names are stored lower-cased.
struct HTTPRequest {
    var method: String
    var target: String
    var minorVersion: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8] = []

    /// The target without its query string.
    var path: Substring {
        if let q = target.firstIndex(of: "?") { return target[..<q] }
        return target[...]
    }

    /// The first header of that (lower-case) name.
    func header(_ name: String) -> String? {
        for h in headers where h.name == name { return h.value }
        return nil
    }

    /// Whether the client asked to close after this exchange (or speaks HTTP/1.0 without keep-alive).
    var wantsClose: Bool {
        let connection = header("connection")?.lowercased() ?? ""
        if minorVersion == 0 { return !connection.contains("keep-alive") }
        return connection.contains("close")
    }

    /// Whether the Accept header admits `type` (lower-case `major/minor`); a missing header admits
    /// everything. Scans bytes without allocating: it runs on every POST.
    func accepts(_ type: StaticString) -> Bool {
        guard var accept = header("accept") else { return true }
        return accept.withUTF8 { bytes in
            let wanted = UnsafeBufferPointer(start: type.utf8Start, count: type.utf8CodeUnitCount)
            let slash = wanted.firstIndex(of: UInt8(ascii: "/")) ?? wanted.count
            var i = 0
            while i < bytes.count {
                // One list item: media range up to ';' or ',', then parameters up to ','.
                var itemEnd = i
                while itemEnd < bytes.count && bytes[itemEnd] != UInt8(ascii: ",") { itemEnd += 1 }
                var rangeEnd = i
                while rangeEnd < itemEnd && bytes[rangeEnd] != UInt8(ascii: ";") { rangeEnd += 1 }
                var a = i
                var b = rangeEnd
                while a < b && (bytes[a] == 32 || bytes[a] == 9) { a += 1 }
                while b > a && (bytes[b - 1] == 32 || bytes[b - 1] == 9) { b -= 1 }
                let media = UnsafeBufferPointer(rebasing: bytes[a..<b])
                if Self.equalsIgnoringCase(media, wanted)
                    || (media.count == 3 && media[0] == 42 && media[1] == 47 && media[2] == 42)  // */*
                    || (media.count == slash + 2 && media[slash + 1] == UInt8(ascii: "*")
                        && Self.equalsIgnoringCase(UnsafeBufferPointer(rebasing: media[0...slash]),
                                                   UnsafeBufferPointer(rebasing: wanted[0...slash])))
                {
                    return !Self.hasZeroQuality(UnsafeBufferPointer(rebasing: bytes[rangeEnd..<itemEnd]))
                }
                i = itemEnd + 1
            }
            return false
        }
    }

    private static func equalsIgnoringCase(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for k in 0..<a.count {
            let x = a[k] >= 65 && a[k] <= 90 ? a[k] + 32 : a[k]
            let y = b[k] >= 65 && b[k] <= 90 ? b[k] + 32 : b[k]
            if x != y { return false }
        }
        return true
    }

    /// Whether media-range parameters hold `q=0` (or `q=0.0...`), which refuses the type.
    private static func hasZeroQuality(_ params: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !params.isEmpty else { return false }
        let text = String(decoding: params, as: UTF8.self)
        for parameter in text.split(separator: ";") {
            let p = parameter.trimmingSpaces()
            if p.hasPrefix("q=") || p.hasPrefix("Q="), let q = Double(p.dropFirst(2)), q == 0 { return true }
        }
        return false
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
