import MCPXJSON
import Synchronization

/// The MCP server side of mcpx: reads the client's messages, answers or routes each one.
///
/// `handle(line:)` runs on the stdin thread. Tool calls to ready backends are forwarded from there
/// without touching the actor (see `StdioServer+Calls.swift`); everything that needs the actor's
/// state runs in a task. Every request gets exactly one answer through its `Reply`.
public final class StdioServer: Sendable {
    public static let supportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    public static let latestVersion = "2025-11-25"

    /// Where the answer to one request goes: stdout, or a batch being collected. `noAnswer` (no
    /// bytes) says the request ends without one (the client cancelled it).
    typealias Reply = @Sendable ([UInt8]) -> Void
    static let noAnswer: [UInt8] = []

    let client: ClientChannel
    let proxy: MultiServerProxy
    let router: Router
    /// The proxy's settings, copied: reading them through the actor reference per call would
    /// retain and release it (slowly: tasks hold it weakly, which gives it a side table).
    let settings: MultiServerProxy.Settings
    let log: Logger
    let pending = Mutex<[RPCID: PendingCall]>([:])
    /// Calls waiting to be sent (for start-up or a reconnect), so a cancel can stop them.
    let parkedCalls = Mutex<[RPCID: ParkedCall]>([:])
    /// The largest line accepted, for the "too large" error.
    let maxLineBytes: Int
    /// Answers to single messages go straight to stdout (one closure for all of them).
    let toStdout: Reply

    public init(client: ClientChannel, proxy: MultiServerProxy, log: Logger, maxLineBytes: Int) {
        self.client = client
        self.proxy = proxy
        self.router = proxy.router
        self.settings = proxy.settings
        self.log = log
        self.maxLineBytes = maxLineBytes
        self.toStdout = { [client] in if !$0.isEmpty { client.send($0) } }
    }

    // MARK: Reading

    public func handle(line: LineSplitter.Line) {
        switch line {
        case .tooLong(let size, let head):
            let id = Self.sniffID(head)
            log.warning("dropped a \(size)-byte message (limit exceeded)")
            client.send(Message.error(id: id, RPCError(.invalidRequest, "Message too large: \(size) bytes; mcpx accepts at most \(maxLineBytes) bytes per line")))
        case .line(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }  // blank line: nothing to answer
            handleMessage(bytes)
        }
    }

    func handleMessage(_ bytes: [UInt8]) {
        if bytes.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "[") {
            handleBatch(bytes)
            return
        }
        if let msg = classify(bytes, reply: toStdout) { handle(msg, reply: toStdout) }
    }

    static func toolsList(id: RPCID, _ snap: Router.Snapshot) -> [UInt8] {
        Message.response(id: id, capacity: snap.toolsListBytes + snap.toolsListParts.count + 16) {
            snap.writeToolsListResult(to: &$0)
        }
    }

    /// Reads one message; an invalid one is answered with its JSON-RPC error and gives nil.
    func classify(_ bytes: [UInt8], reply: Reply) -> IncomingMessage? {
        do {
            return try IncomingMessage(bytes: bytes)
        } catch {
            // The id, if it could be read, goes back with an invalid-request error.
            var id: RPCID?
            if error.code != .parseError, let raw = try? RawObject(bytes), let v = raw.value("id") { id = RPCID(v) }
            reply(Message.error(id: id, error))
            return nil
        }
    }

    /// Acts on a valid message: a request gets exactly one answer through `reply`.
    func handle(_ msg: IncomingMessage, reply: @escaping Reply) {
        switch msg.kind {
        case .request(let id, let method):
            request(id: id, method: method, msg, reply: reply)
        case .notification(let method):
            notification(method: method, msg)
        case .response, .errorResponse:
            clientResponse(msg)
        }
    }

    // MARK: Requests

    func request(id: RPCID, method: String, _ msg: IncomingMessage, reply: @escaping Reply) {
        switch method {
        case "initialize":
            initialize(id: id, msg, reply: reply)
        case "ping":
            reply(Message.response(id: id, result: .object([:])))
        case "tools/list":
            if let cursor = msg.params?["cursor"], !cursor.isNull {
                reply(Message.error(id: id, .invalidParams("Invalid cursor: mcpx returns every tool in one page")))
                return
            }
            ensureStarted()
            client.markListed("notifications/tools/list_changed")
            let snap = router.snapshot
            if snap.startupDone {
                reply(Self.toolsList(id: id, snap))
                return
            }
            Task { [proxy, router] in
                await proxy.waitForStartup()
                reply(Self.toolsList(id: id, router.snapshot))
            }
        case "tools/call":
            toolCall(id: id, msg, reply: reply)
        default:
            otherRequest(id: id, method: method, msg, reply: reply)
        }
    }

    func initialize(id: RPCID, _ msg: IncomingMessage, reply: @escaping Reply) {
        guard let params = msg.params?.objectValue, case .string(let requested)? = params["protocolVersion"] else {
            reply(Message.error(id: id, .invalidParams("initialize needs params.protocolVersion (a string)")))
            return
        }
        let version = Self.supportedVersions.contains(requested) ? requested : Self.latestVersion
        let caps = params["capabilities"]?.objectValue.map { JSONValue.object($0) } ?? .object([:])
        client.setInitializeParams(version: version, capabilities: caps)
        Task { [proxy] in
            // Backends connect now, told only what this client supports. Their first attempts get a
            // moment (bounded) so the answer can say what they offer.
            await proxy.start(clientCapabilities: caps)
            await proxy.waitForFirstAttempts(upTo: min(0.25, proxy.settings.startupTimeout))
            self.answerInitialize(id: id, version: version, capabilities: await proxy.upstreamCapabilities(), reply: reply)
        }
    }

    func answerInitialize(id: RPCID, version: String, capabilities: JSONValue, reply: Reply) {
        let result: JSONValue = [
            "protocolVersion": .string(version),
            "capabilities": capabilities,
            "serverInfo": [
                "name": "mcpx", "title": "mcpx MCP multiplexer", "version": .string(MCPXVersion.version),
            ],
            "instructions": "Tools of several MCP servers, named <server>__<tool>. Use the manage tool to list, add, remove, enable or disable servers, and proxy_status / proxy_health to see their state.",
        ]
        reply(Message.response(id: id, result: result))
    }

    /// Backends connect when the client initializes; a client that skips that still gets them.
    func ensureStarted() {
        if client.protocolVersion == nil {
            Task { [proxy] in await proxy.start(clientCapabilities: .object([:])) }
        }
    }

    // MARK: Notifications and responses

    func notification(method: String, _ msg: IncomingMessage) {
        switch method {
        case "notifications/initialized":
            client.markInitialized()
        case "notifications/cancelled":
            guard let v = msg.params?["requestId"], let id = RPCID(v) else { return }
            cancel(clientID: id, reason: msg.params?["reason"]?.stringValue)
        case "notifications/roots/list_changed":
            Task { [proxy] in await proxy.rootsChanged() }
        default:
            log.debug("ignoring notification \(method)")
        }
    }

    func clientResponse(_ msg: IncomingMessage) {
        if proxy.bridge.clientAnswered(msg) { return }
        log.debug("ignoring a response from the client (id \(msg.id?.description ?? "null"))")
    }

    // MARK: Batches (2025-03-26)

    func handleBatch(_ bytes: [UInt8]) {
        // The line starts with "[": valid JSON here is always an array.
        guard case .array(let items)? = try? JSONParser.parse(bytes) else {
            client.send(Message.error(id: nil, RPCError(.parseError, "Parse error: not valid JSON")))
            return
        }
        guard client.protocolVersion == "2025-03-26" else {
            client.send(Message.error(id: nil, RPCError(.invalidRequest, "Invalid Request: JSON-RPC batches are supported only under protocol version 2025-03-26")))
            return
        }
        guard !items.isEmpty else {
            client.send(Message.error(id: nil, RPCError(.invalidRequest, "Invalid Request: empty batch")))
            return
        }
        let collector = BatchCollector(expected: items.count, client: client)
        let reply: Reply = { collector.add($0) }
        for item in items {
            // An invalid item is answered (and counted) by classify; only requests are answered later.
            guard let msg = classify(item.serialized(), reply: reply) else { continue }
            if case .request = msg.kind {} else { collector.skip() }
            handle(msg, reply: reply)
        }
    }

    /// Best effort: the id of a message too large to parse, from its first bytes.
    static func sniffID(_ head: [UInt8]) -> RPCID? {
        let s = String(decoding: head, as: UTF8.self)
        guard let r = s.firstRange(of: "\"id\"") else { return nil }
        var rest = s[r.upperBound...].drop(while: { $0 == " " })
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop(while: { $0 == " " })
        if rest.first == "\"" {
            let body = rest.dropFirst()
            guard let end = body.firstIndex(of: "\""), !body[..<end].contains("\\") else { return nil }
            return .string(String(body[..<end]))
        }
        let digits = rest.prefix(while: { $0 == "-" || $0.isNumber })
        return Int64(digits).map { .int($0) }
    }
}

/// Collects the answers of one batch and writes them as one array.
final class BatchCollector: Sendable {
    let client: ClientChannel
    let state: Mutex<(remaining: Int, answers: [[UInt8]])>

    init(expected: Int, client: ClientChannel) {
        self.client = client
        state = Mutex((expected, []))
    }

    func skip() { complete(nil) }
    /// An answer for the batch; an empty one (`StdioServer.noAnswer`: the request was cancelled) counts as none.
    func add(_ answer: [UInt8]) { complete(answer.isEmpty ? nil : answer) }

    private func complete(_ answer: [UInt8]?) {
        let done = state.withLock { s -> [[UInt8]]? in
            if let answer { s.answers.append(answer) }
            s.remaining -= 1
            return s.remaining == 0 ? s.answers : nil
        }
        guard let done, !done.isEmpty else { return }
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, a) in done.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: a)
        }
        out.append(UInt8(ascii: "]"))
        client.send(out)
    }
}
