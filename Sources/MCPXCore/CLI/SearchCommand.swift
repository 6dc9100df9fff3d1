import CSupport
import MCPXJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mcpx search --catalog FILE`: ranks the tools of a catalog (the `{"servers": [{"name", "tools":
/// [...]}]}` format of shared/data) for queries read from stdin, one JSON object per line
/// (`{"query": "..."}`), and writes one line per query: `{"ranked": ["server__tool", ...]}`, the
/// 10 best first. No backend is started.
enum SearchCommand {
    static func catalog(_ path: String, limit: Int) -> Int32 {
        guard let index = index(ofCatalog: path) else { return 2 }
        _ = mcpx_trim_heap()  // the catalog's parse tree is gone: its memory goes back
        var splitter = LineSplitter(maxLineBytes: 1 << 20)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var out: [UInt8] = []
        func answer(_ line: LineSplitter.Line) {
            guard case .line(let l) = line, l.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else {
                if case .tooLong = line { emit([], &out) }
                return
            }
            let query = (try? JSONParser.parse(l))?["query"]?.stringValue ?? ""
            emit(ranked(index, query, limit: limit), &out)
        }
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            for line in chunk.withUnsafeBytes({ splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) { answer(line) }
            // One write per read: a driver that sends a query and waits gets its answer at once.
            if !out.isEmpty {
                out.withUnsafeBytes { _ = FileOutput.writeAll(1, $0) }
                out.removeAll(keepingCapacity: true)
            }
        }
        if let last = splitter.finish() { answer(last) }
        if !out.isEmpty { out.withUnsafeBytes { _ = FileOutput.writeAll(1, $0) } }
        return 0
    }

    /// The index of the catalog at `path` (its bytes and parse tree gone when this returns), or nil
    /// after saying why on stderr.
    static func index(ofCatalog path: String) -> ToolIndex? {
        guard let bytes = FileInput.readAll(path) else {
            FileOutput.writeAll(2, "mcpx: error: cannot read \(path)\n")
            return nil
        }
        let tools: [ToolIndex.Tool]
        do {
            tools = try Self.tools(ofCatalog: JSONParser.parse(bytes))
        } catch {
            FileOutput.writeAll(2, "mcpx: error: \(path): \(error)\n")
            return nil
        }
        _ = StaticEmbedding.shared  // the table, decoded once, is not the index
        let t0 = monotonicNanos()
        let terms = SearchTerms()
        let segments = ToolIndex.segments(of: tools, terms: terms)
        let t1 = monotonicNanos()
        let index = ToolIndex(segments: segments, terms: terms)
        let t2 = monotonicNanos()
        func ms(_ ns: UInt64) -> String { (Double(ns) / 1e6).fixed(1) + " ms" }
        FileOutput.writeAll(2, "mcpx search: \(tools.count) tools of \(segments.count) servers indexed in \(ms(t2 - t0)) (segments \(ms(t1 - t0)), merge \(ms(t2 - t1)))\n")
        return index
    }

    /// The exposed names of the best `limit` tools, padded with the next tools in index order (the
    /// catalog's, server by server) when fewer match, so every answer has `limit` names.
    static func ranked(_ index: ToolIndex, _ query: String, limit: Int) -> [String] {
        var names = index.search(query, limit: limit).map { index.tools[$0.tool].exposedName }
        if names.count < limit {
            var seen = Set(names)
            for t in index.tools where names.count < limit && !seen.contains(t.exposedName) {
                names.append(t.exposedName)
                seen.insert(t.exposedName)
            }
        }
        return names
    }

    static func emit(_ names: [String], _ out: inout [UInt8]) {
        JSONValue.object(["ranked": .array(names.map { .string($0) })]).write(to: &out)
        out.append(0x0A)
    }

    /// A catalog's tools, named `server__tool`.
    static func tools(ofCatalog v: JSONValue) throws(ConfigError) -> [ToolIndex.Tool] {
        guard let servers = v["servers"]?.arrayValue else { throw ConfigError("not a tool catalog: no \"servers\" array") }
        var out: [ToolIndex.Tool] = []
        for s in servers {
            guard let server = s["name"]?.stringValue else { continue }
            for t in s["tools"]?.arrayValue ?? [] {
                guard let name = t["name"]?.stringValue else { continue }
                out.append(ToolIndex.Tool(exposedName: "\(server)\(ToolNaming.separator)\(name)", server: server, definition: t))
            }
        }
        return out
    }
}
