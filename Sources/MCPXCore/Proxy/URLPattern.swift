/// An `--allow-url` pattern, matched against a URL as parsed, part by part.
///
/// A pattern is `SCHEME://HOST[:PORT][/PATH]`, each part a glob where `*` stands for any run of
/// characters (in the host too, so `*.corp.example` takes `a.b.corp.example`). A pattern without a
/// port takes only the scheme's default port; without a path, any path. The URL's query and
/// fragment are not matched. Matching the raw string instead let `http://evil/?x=http://allowed/`
/// and `http://allowed@evil/` through; here each part of the URL is compared with its own part of
/// the pattern, and `manage add` refuses URLs with user info, NUL, backslashes or control bytes
/// before any pattern is consulted (`URLPattern.unsafeReason`).
public struct URLPattern: Sendable, Equatable {
    public var scheme: String
    public var host: String
    /// nil: the scheme's default port.
    public var port: String?
    /// nil: any path.
    public var path: String?

    /// Parses a pattern; nil when it is not of the form above.
    public init?(_ text: String) {
        guard let sep = text.firstRange(of: "://") else { return nil }
        scheme = text[..<sep.lowerBound].lowercased()
        var rest = text[sep.upperBound...]
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        var authority = String(rest)
        if authority.hasPrefix("[") {
            // [v6]:port
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = String(after.dropFirst()) } else if !after.isEmpty { return nil }
            authority = String(authority[...close])
        } else if let colon = authority.lastIndex(of: ":") {
            port = String(authority[authority.index(after: colon)...])
            authority = String(authority[..<colon])
        }
        host = authority.lowercased()
        guard !scheme.isEmpty, !host.isEmpty, !host.contains("@"), port.map({ !$0.isEmpty }) ?? true else { return nil }
    }

    /// Why a URL must not be added at all, whatever the patterns (nil if none).
    public static func unsafeReason(_ url: String) -> String? {
        if url.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "URLs with NUL or control characters are not accepted" }
        if url.contains("\\") { return "URLs with backslashes are not accepted" }
        if let u = CurlURL(url), u.get(.user) != nil { return "URLs with user info (user@host) are not accepted" }
        // What curl might not see as user info but a person or another parser would.
        if let sep = url.firstRange(of: "://") {
            let rest = url[sep.upperBound...]
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            if authority.contains("@") { return "URLs with user info (user@host) are not accepted" }
        }
        return nil
    }

    /// Whether the parsed URL `url` matches.
    public func matches(_ url: String) -> Bool {
        guard let u = CurlURL(url), let s = u.get(.scheme)?.lowercased(), let h = u.get(.host)?.lowercased(),
            let p = u.get(.port)
        else { return false }
        let path = u.get(.path) ?? "/"
        guard ToolFilter.matches(s, pattern: scheme), ToolFilter.matches(h, pattern: host) else { return false }
        if let port {
            guard ToolFilter.matches(p, pattern: port) else { return false }
        } else {
            guard p == Self.defaultPort(s) else { return false }
        }
        if let pattern = self.path { return ToolFilter.matches(path, pattern: pattern) }
        return true
    }

    static func defaultPort(_ scheme: String) -> String {
        scheme == "https" ? "443" : "80"
    }
}
