extension HTTPTransfer {
    /// Whether `url`'s host is this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
    public static func isLoopback(_ url: String) -> Bool {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        let host: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return false }
            host = rest[rest.index(after: rest.startIndex)..<close]
            return host == "::1" || host.lowercased() == "0:0:0:0:0:0:0:1"
        }
        host = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let h = host.lowercased()
        if h == "localhost" || h.hasSuffix(".localhost") { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { p in UInt8(p) != nil }
    }
}
