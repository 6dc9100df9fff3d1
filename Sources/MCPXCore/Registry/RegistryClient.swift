public import MCPXJSON
import Synchronization

/// A client of the MCP Registry API (v0.1): `GET {URL}/v0.1/servers?search=&limit=&cursor=` and
/// `GET {URL}/v0.1/servers/{name}/versions/{version|latest}`, through the curl loop.
public struct RegistryClient: Sendable {
    public let baseURL: String
    let loop: CurlLoop

    public init(baseURL: String, loop: CurlLoop) {
        var b = baseURL
        while b.hasSuffix("/") { b.removeLast() }
        self.baseURL = b
        self.loop = loop
    }

    /// One registry entry: its `server.json` and the registry's status of it.
    public struct Entry: Sendable {
        public var server: JSONValue
        public var status: String
        public var name: String { server["name"]?.stringValue ?? "?" }
        public var version: String? { server["version"]?.stringValue }
        public var description: String { server["description"]?.stringValue ?? server["title"]?.stringValue ?? "" }

        init?(_ v: JSONValue) {
            guard let s = v["server"], case .object = s else { return nil }
            server = s
            status = v["_meta"]?["io.modelcontextprotocol.registry/official"]?["status"]?.stringValue ?? "active"
        }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Entries matching `query` (every page up to `maxItems`), deleted ones left out.
    public func search(_ query: String, maxItems: Int = 100) async throws(Failure) -> [Entry] {
        var out: [Entry] = []
        var cursor: String?
        for _ in 0..<20 {
            var url = "\(baseURL)/v0.1/servers?limit=\(min(100, maxItems))"
            if !query.isEmpty { url += "&search=\(Self.escape(query))" }
            if let cursor { url += "&cursor=\(Self.escape(cursor))" }
            let page = try await getJSON(url)
            for item in page["servers"]?.arrayValue ?? [] {
                guard let e = Entry(item), e.status != "deleted" else { continue }
                out.append(e)
            }
            cursor = page["metadata"]?["nextCursor"]?.stringValue ?? page["metadata"]?["next_cursor"]?.stringValue
            if cursor == nil || cursor == "" || out.count >= maxItems { break }
        }
        return Array(out.prefix(maxItems))
    }

    /// One server's entry (its latest version unless `version` is given).
    public func show(_ name: String, version: String? = nil) async throws(Failure) -> Entry {
        let v = try await getJSON("\(baseURL)/v0.1/servers/\(Self.escape(name))/versions/\(Self.escape(version ?? "latest"))")
        guard let e = Entry(v) else { throw Failure(message: "\(baseURL): no server \"\(name)\"") }
        return e
    }

    func getJSON(_ url: String) async throws(Failure) -> JSONValue {
        let (status, body) = try await get(url)
        guard status == 200 else {
            throw Failure(message: status == 404 ? "\(Redact.url(url)): not found" : "\(Redact.url(url)): HTTP \(status)")
        }
        guard let v = try? JSONParser.parse(body) else { throw Failure(message: "\(Redact.url(url)): the answer is not JSON") }
        return v
    }

    func get(_ url: String) async throws(Failure) -> (Int, [UInt8]) {
        final class Collect: @unchecked Sendable {
            var status = 0
            var body: [UInt8] = []
        }
        let c = Collect()
        let maxBytes = 16 << 20
        let result: HTTPError? = await withCheckedContinuation { k in
            let t = HTTPTransfer(
                method: .get, url: url, headers: HeaderList(["Accept: application/json", "User-Agent: mcpx/\(MCPXVersion.version)"]),
                timeoutMillis: 15_000, direct: HTTPTransfer.isLoopback(url),
                onHead: { status, _ in
                    c.status = status
                    return true
                },
                onData: { chunk in
                    guard c.body.count + chunk.count <= maxBytes else { return false }
                    c.body.append(contentsOf: chunk)
                    return true
                },
                onDone: { err in k.resume(returning: err) })
            loop.start(t)
        }
        if let result { throw Failure(message: "\(Redact.url(url)): \(result.detail)") }
        return (c.status, c.body)
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986), as a path or query part.
    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(b)))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%\(hex[Int(b >> 4)])\(hex[Int(b & 15)])"
            }
        }
        return out
    }
}
