public import MCPXJSON
import CSupport

/// How resource URIs of many backends share one namespace: `<server>+<original URI>`.
///
/// `file:///notes.md` on server `docs` is exposed as `docs+file:///notes.md`; a template
/// `file:///{path}` as `docs+file:///{path}`. Server names never contain `+`, so the first `+`
/// splits the two apart again; the scheme stays a valid URI scheme for server names that start
/// with a letter and use no `_`. Every URI mcpx passes up is rewritten this way (lists, reads,
/// templates, links and embedded resources in tool and prompt results, notifications); every URI
/// the client sends down (reads, subscriptions, completion refs) is split back.
public enum ResourceURI {
    public static func expose(server: String, _ uri: String) -> String { server + "+" + uri }

    /// `(server, original)` for an exposed URI, or nil when it has no server prefix.
    public static func split(_ exposed: String) -> (server: String, uri: String)? {
        guard let plus = exposed.firstIndex(of: "+") else { return nil }
        let server = String(exposed[..<plus])
        guard ToolNaming.validateServerName(server) == nil else { return nil }
        return (server, String(exposed[exposed.index(after: plus)...]))
    }

    /// Whether a serialized result may hold a URI (a cheap check before parsing it).
    public static func mayContainURI(_ bytes: ArraySlice<UInt8>) -> Bool {
        let needle = Array("\"uri\"".utf8)
        guard bytes.count >= needle.count else { return false }
        return bytes.withUnsafeBufferPointer { b in
            needle.withUnsafeBufferPointer { n in
                memmemFind(b, n)
            }
        }
    }

    static func memmemFind(_ hay: UnsafeBufferPointer<UInt8>, _ needle: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let h = hay.baseAddress, let n = needle.baseAddress, hay.count >= needle.count else { return false }
        return mcpx_memmem(h, hay.count, n, needle.count) != nil  // libc's: word-at-a-time, not byte-at-a-time
    }

    /// A `tools/call` result with the URIs of its `resource_link` and embedded `resource` blocks
    /// exposed, or nil when it has none (the caller forwards the bytes as they are). Only the
    /// `content` member is parsed and written again; every other member (`structuredContent`,
    /// `_meta`, ...) is copied byte for byte. A result without the bytes `"resource` is not parsed.
    public static func exposeInToolResult(server: String, _ result: ArraySlice<UInt8>) -> [UInt8]? {
        guard contains(result, resourceNeedle), let raw = try? RawObject(Array(result)),
            let range = raw.range("content"), case .array(let blocks)? = raw.value("content")
        else { return nil }
        let exposed = blocks.map { exposeBlock(server: server, $0) }
        guard exposed != blocks else { return nil }
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(result.count + 16 * blocks.count)
        for (i, m) in raw.members.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(m.key, to: &out)
            out.append(UInt8(ascii: ":"))
            if m.range == range {
                JSONValue.array(exposed).write(to: &out)
            } else {
                out.append(contentsOf: raw.bytes[m.range])
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static let resourceNeedle = Array("\"resource".utf8)

    static func contains(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        return hay.withUnsafeBufferPointer { h in needle.withUnsafeBufferPointer { n in memmemFind(h, n) } }
    }

    /// Rewrites the URIs of content blocks (`resource_link` and embedded `resource`) in a tool or
    /// prompt result, and of `contents` in a read result.
    public static func exposeInResult(server: String, _ result: JSONValue) -> JSONValue {
        guard case .object(var o) = result else { return result }
        if case .array(let content)? = o["content"] { o["content"] = .array(content.map { exposeBlock(server: server, $0) }) }
        if case .array(let messages)? = o["messages"] {
            o["messages"] = .array(
                messages.map { m in
                    guard case .object(var mo) = m, let c = mo["content"] else { return m }
                    if case .array(let blocks) = c {
                        mo["content"] = .array(blocks.map { exposeBlock(server: server, $0) })
                    } else {
                        mo["content"] = exposeBlock(server: server, c)
                    }
                    return .object(mo)
                })
        }
        if case .array(let contents)? = o["contents"] { o["contents"] = .array(contents.map { exposeField("uri", server: server, $0) }) }
        return .object(o)
    }

    static func exposeBlock(server: String, _ block: JSONValue) -> JSONValue {
        guard case .object(var b) = block else { return block }
        switch b["type"]?.stringValue {
        case "resource_link"?:
            return exposeField("uri", server: server, block)
        case "resource"?:
            if let r = b["resource"] { b["resource"] = exposeField("uri", server: server, r) }
            return .object(b)
        default:
            return block
        }
    }

    /// Prefixes the string member `key` of an object.
    public static func exposeField(_ key: String, server: String, _ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v, case .string(let uri)? = o[key] else { return v }
        o[key] = .string(expose(server: server, uri))
        return .object(o)
    }
}
