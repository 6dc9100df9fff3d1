/// How people name what tools do: groups of words that often stand for one another in a request
/// ("show me the file" for a tool that reads it, "ticket" for an issue). A query term also matches
/// the other words of its groups, at a lower weight. General software vocabulary, written by hand.
enum Thesaurus {
    static let weight = 0.4

    static let groups: [[String]] = [
        ["show", "display", "view", "see", "print", "read", "open", "look", "inspect"],
        ["fetch", "get", "retrieve", "obtain", "download", "pull", "grab", "load"],
        ["list", "enumerate", "browse", "overview"],
        ["find", "search", "lookup", "locate", "query", "seek", "discover", "look"],
        ["create", "make", "new", "add", "generate", "build", "compose", "draft", "open"],
        ["delete", "remove", "erase", "drop", "destroy", "trash", "purge", "wipe", "discard"],
        ["update", "edit", "modify", "change", "alter", "patch", "adjust", "tweak", "set"],
        ["send", "post", "message", "notify", "reply", "tell", "share", "publish", "dm"],
        ["file", "document", "doc"],
        ["folder", "directory", "dir"],
        ["issue", "ticket", "bug", "task"],
        ["repo", "repository", "project", "codebase"],
        ["page", "website", "site", "url", "link", "webpage", "web"],
        ["screenshot", "capture", "snapshot", "screen"],
        ["click", "press", "tap", "hit"],
        ["type", "fill", "enter", "input"],
        ["navigate", "go", "visit", "browse", "open"],
        ["tail", "last", "end", "recent", "latest", "bottom"],
        ["head", "first", "beginning", "top", "start"],
        ["email", "mail", "inbox"],
        ["calendar", "event", "meeting", "appointment", "schedule"],
        ["channel", "room", "chat", "conversation", "thread"],
        ["user", "member", "person", "people", "account", "profile", "teammate", "colleague"],
        ["comment", "note", "remark", "feedback", "review"],
        ["run", "execute", "exec", "invoke", "launch", "trigger"],
        ["stop", "kill", "terminate", "halt", "cancel", "shutdown"],
        ["write", "save", "store", "put", "upload", "persist"],
        ["move", "rename", "relocate"],
        ["copy", "duplicate", "clone"],
        ["diff", "difference", "compare", "changes"],
        ["weather", "forecast", "temperature", "rain"],
        ["time", "date", "clock", "timezone"],
        ["convert", "transform", "translate"],
        ["summary", "summarize", "overview", "digest"],
        ["table", "database", "db", "sql", "schema"],
        ["song", "track", "music", "playlist", "tune"],
        ["image", "picture", "photo", "diagram", "drawing"],
        ["video", "clip", "transcript", "caption", "subtitle"],
        ["map", "place", "location", "address", "direction", "route", "geocode", "nearby"],
        ["paper", "article", "publication", "research"],
        ["error", "exception", "crash", "failure", "incident"],
        ["metric", "dashboard", "graph", "chart", "panel"],
        ["container", "docker", "image"],
        ["cluster", "pod", "deployment", "node"],
        ["commit", "revision", "history"],
        ["label", "tag"],
        ["size", "bytes", "length"],
        ["count", "number", "total", "how many"],
        ["customer", "client", "buyer"],
        ["payment", "charge", "invoice", "bill", "refund"],
        ["note", "memo", "vault"],
        ["todo", "task", "reminder"],
        ["doc", "documentation", "docs", "manual", "reference", "api"],
        ["news", "headline"],
        ["price", "cost", "rate", "quote"],
    ]

    /// Stemmed term → the stemmed terms it also matches, with their weight.
    static let map: [String: [(String, Double)]] = {
        var m: [String: Set<String>] = [:]
        for g in groups {
            let stems = Set(g.flatMap { SearchText.words($0) }.map(PorterStemmer.stem))
            for s in stems { m[s, default: []].formUnion(stems.subtracting([s])) }
        }
        return m.mapValues { $0.sorted().map { ($0, weight) } }
    }()

    static func expansions(of term: String) -> [(String, Double)] { map[term] ?? [] }
}
