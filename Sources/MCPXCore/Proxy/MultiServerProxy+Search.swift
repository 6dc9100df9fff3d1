import MCPXJSON

/// The search index over the tools mcpx can route.
extension MultiServerProxy {
    /// A server's tool definitions as listed (exposed names), read back from its `tools/list` part.
    func definitions(_ e: Entry) -> [JSONValue] {
        guard !e.toolBytes.isEmpty,
            case .array(let defs)? = try? JSONParser.parse([UInt8(ascii: "[")] + e.toolBytes + [UInt8(ascii: "]")])
        else { return [] }
        return defs
    }

    /// A server's tools as the index keeps them.
    func indexTools(_ name: String, _ e: Entry) -> [ToolIndex.Tool] {
        definitions(e).compactMap { d in
            guard let exposed = d["name"]?.stringValue else { return nil }
            var t = ToolIndex.Tool(exposedName: exposed, server: name, definition: d)
            t.name = e.toolRoutes[exposed]?.tool ?? exposed
            return t
        }
    }

    /// What search results show of `hits`: each tool's description cut to its first sentence and
    /// its parameters summed up, from its server's definitions (the index keeps names only; a
    /// server's listings are made once per version of its list, when it first has a hit).
    func listings(_ index: ToolIndex, _ hits: [ToolIndex.Hit]) -> [ToolIndex.Tool] {
        hits.map { h in
            let t = index.tools[h.tool]
            guard let e = entries[t.server] else { return t }
            if searchListings[t.server]?.version != e.toolsVersion {
                var tools: [String: ToolIndex.Tool] = [:]
                for d in definitions(e) {
                    if let n = d["name"]?.stringValue { tools[n] = ToolIndex.Tool(exposedName: n, server: t.server, definition: d).listing }
                }
                searchListings[t.server] = (e.toolsVersion, tools)
            }
            return searchListings[t.server]?.tools[t.exposedName] ?? t
        }
    }

    /// The index of the tools listed now, merged again when they changed since the last search;
    /// only the servers whose tool list changed have their segments built again (on all cores).
    public func searchIndex() -> ToolIndex {
        if let c = searchIndexCache, c.generation == toolsGeneration { return c.index }
        // The term dictionary only grows; when it holds far more terms than the segments use
        // (tool lists that keep changing), everything starts over with a new one.
        if searchTerms.count > Self.searchTermsFloor {
            var live = [Bool](repeating: false, count: searchTerms.count)
            var distinct = 0
            for (_, c) in searchSegments {
                for s in c.segments { for t in s.postTerm where !live[Int(t)] { live[Int(t)] = true; distinct += 1 } }
            }
            if searchTerms.count > 3 * distinct {
                searchTerms = SearchTerms()
                searchSegments = [:]
            }
        }
        var parts: [(name: String, version: Int, segments: [ToolIndex.Segment]?)] = []
        var groups: [[ToolIndex.Tool]] = []
        var owner: [Int] = []  // the part each group belongs to
        for name in order {
            guard let e = entries[name], e.config.enabled, e.config.status == .ready, !e.toolBytes.isEmpty else { continue }
            if let c = searchSegments[name], c.version == e.toolsVersion {
                parts.append((name, e.toolsVersion, c.segments))
                continue
            }
            // (a server listing more than a segment holds gets several)
            let tools = indexTools(name, e)
            var at = 0
            repeat {
                groups.append(Array(tools[at..<min(tools.count, at + ToolIndex.Segment.maxTools)]))
                owner.append(parts.count)
                at += ToolIndex.Segment.maxTools
            } while at < tools.count
            parts.append((name, e.toolsVersion, nil))
        }
        let built = ToolIndex.segments(groups: groups, terms: searchTerms)
        var fresh: [Int: [ToolIndex.Segment]] = [:]
        for (g, s) in zip(owner, built) { fresh[g, default: []].append(s) }
        var segments: [ToolIndex.Segment] = []
        var kept: [String: (version: Int, segments: [ToolIndex.Segment])] = [:]
        for (i, p) in parts.enumerated() {
            let s = p.segments ?? fresh[i] ?? []
            kept[p.name] = (p.version, s)
            segments += s
        }
        searchSegments = kept
        searchListings = searchListings.filter { kept[$0.key]?.version == $0.value.version }
        let index = ToolIndex(segments: segments, terms: searchTerms)
        searchIndexCache = (toolsGeneration, index)
        return index
    }

    /// Terms the search dictionary holds before it is checked for terms no segment uses any more
    /// (10,000 real tools have about 20,000 terms).
    static let searchTermsFloor = 100_000
}

extension MultiServerProxy {
    /// `search_tools {query, server?, limit?}`.
    func searchToolsResult(_ args: JSONObject) -> JSONValue {
        guard case .string(let query)? = args["query"], !query.trimmingWhitespace().isEmpty else {
            return ManagementTools.failure("search_tools needs \"query\": the task in plain words")
        }
        let server = args["server"]?.stringValue
        if let server, entries[server] == nil { return ManagementTools.failure("No server named \"\(server)\"") }
        let limit = max(1, min(50, args["limit"]?.intValue.map(Int.init) ?? 8))
        let index = searchIndex()
        let (hits, total) = index.searchCounting(query, server: server, limit: limit)
        var lines: [String] = []
        var items: [JSONValue] = []
        for (h, t) in zip(hits, listings(index, hits)) {
            let sentence = t.description
            let params = t.parameterSummary
            lines.append("\(t.exposedName) — \(sentence.isEmpty ? "(no description)" : sentence) — \(params.isEmpty ? "no parameters" : params)")
            items.append(["name": .string(t.exposedName), "server": .string(t.server), "description": .string(sentence),
                          "score": .double((h.score * 1000).rounded() / 1000)])
        }
        let text = hits.isEmpty
            ? "No tool matches \"\(query)\"\(server.map { " on \($0)" } ?? ""). Try other words, or list the servers with manage."
            : lines.joined(separator: "\n") + "\n\nCall one with call_tool {\"name\": ..., \"arguments\": {...}}; describe_tools gives full input schemas."
        return ManagementTools.result(text, ["tools": .array(items), "total": .int(Int64(total))])
    }

    /// `describe_tools {names}`: the full definitions, as the servers gave them (names exposed).
    func describeToolsResult(_ args: JSONObject) -> JSONValue {
        guard let names = args["names"]?.arrayValue?.compactMap(\.stringValue), !names.isEmpty else {
            return ManagementTools.failure("describe_tools needs \"names\": an array of tool names (server__tool)")
        }
        var found: [String: JSONValue] = [:]
        let wanted = Set(names)
        let servers = Set(names.compactMap { router.snapshot.tools[$0]?.server })
        for name in order where servers.contains(name) {
            guard let e = entries[name] else { continue }
            for d in definitions(e) { if let n = d["name"]?.stringValue, wanted.contains(n) { found[n] = d } }
        }
        let own = ManagementTools.definitions(readOnly: settings.readOnly) + ManagementTools.searchDefinitions()
        for d in own { if let n = d["name"]?.stringValue, wanted.contains(n) { found[n] = d } }
        let tools = names.compactMap { found[$0] }
        let unknown = names.filter { found[$0] == nil }
        var text = tools.map { $0.jsonString }.joined(separator: "\n")
        if !unknown.isEmpty { text += (text.isEmpty ? "" : "\n") + "Unknown: \(unknown.joined(separator: ", ")) (names come from search_tools)" }
        return ManagementTools.result(text, ["tools": .array(tools), "unknown": .array(unknown.map { .string($0) })], isError: tools.isEmpty)
    }

    /// The `initialize` instructions: in search mode, the servers and one line of what each offers
    /// (within about 4 KB), so the model knows what to search for.
    public func instructions() -> String {
        var text = "Tools of several MCP servers, named <server>__<tool>. Use the manage tool to list, add, remove, enable or disable servers, and proxy_status / proxy_health to see their state."
        guard router.snapshot.searchMode else { return text }
        text = "Tools of several MCP servers, named <server>__<tool>; most are not listed. Find the tool for a task with search_tools (plain words), read its schema with describe_tools, and call it with call_tool. manage, proxy_status and proxy_health handle the servers themselves.\n\nServers:"
        var budget = 4096 - text.utf8.count
        for name in order {
            guard let e = entries[name], e.config.enabled, e.config.status == .ready else { continue }
            var about = e.connection.backendInstructions.map { ToolIndex.firstSentence($0) } ?? ""
            if about.isEmpty { about = "tools such as " + e.toolRoutes.values.map(\.tool).sorted().prefix(4).joined(separator: ", ") }
            let line = "\n- \(name) (\(e.toolNames.count) tools): \(about.prefix(120))"
            if line.utf8.count > budget {
                text += "\n- …and more (manage list names them all)"
                break
            }
            text += line
            budget -= line.utf8.count
        }
        return text
    }
}
