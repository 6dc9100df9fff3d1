import MCPXJSON
import Synchronization

/// Everything a client request needs once it is read, whichever door it came through: routing,
/// in-flight limits, deadlines, cancellation, session-expiry retry and result rewriting, once.
///
/// Doors turn bytes into messages and hand each one to `handle(_:from:reply:)` with the client's
/// `ClientSession` and where the answer goes. Tool calls to ready backends are forwarded on the
/// calling thread (the loop thread for the stdio and HTTP doors) without touching the actor (see
/// `Dispatcher+Calls.swift`); everything that needs the actor's state runs in a task. Every
/// request gets exactly one answer through its `Reply`.
public final class Dispatcher: Sendable {
    public static let supportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    public static let latestVersion = "2025-11-25"

    /// Where the answer to one request goes: the client's outlet, an HTTP response, or a batch
    /// being collected. `noAnswer` (no bytes) says the request ends without one (it was cancelled).
    public typealias Reply = @Sendable ([UInt8]) -> Void
    static let noAnswer: [UInt8] = []

    let proxy: MultiServerProxy
    let router: Router
    let sessions: ClientSessions
    /// The proxy's settings, copied: reading them through the actor reference per call would
    /// retain and release it (slowly: tasks hold it weakly, which gives it a side table).
    let settings: MultiServerProxy.Settings
    let log: Logger
    /// The largest message accepted, for the "too large" error.
    public let maxMessageBytes: Int
    /// 2026-07-28 clients' calls waiting for input a backend asked for, by `requestState`.
    let suspensions = Mutex<[String: Suspension]>([:])
    /// Which replica answered an `InputRequiredResult`, by its `requestState`: the retry goes there
    /// (the state is that replica's own).
    let stateReplicas = Mutex<[String: String]>([:])

    public init(proxy: MultiServerProxy, log: Logger, maxMessageBytes: Int) {
        self.proxy = proxy
        self.router = proxy.router
        self.sessions = proxy.sessions
        self.settings = proxy.settings
        self.log = log
        self.maxMessageBytes = maxMessageBytes
        proxy.bridge.suspendHook.withLock {
            $0 = { [weak self] origin, key, method, params in self?.suspend(origin, key: key, method: method, params: params) ?? false }
        }
    }

    // MARK: Reading

    /// One message (or a 2025-03-26 batch) from `session`'s client; a request is answered through `reply`.
    public func handle(_ bytes: [UInt8], from session: ClientSession, reply: @escaping Reply) {
        if bytes.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "[") {
            handleBatch(bytes, session, reply: reply)
            return
        }
        if let msg = classify(bytes, reply: reply) { handle(msg, session, reply: reply) }
    }

    /// The answer to a message larger than the limit (its id read from its first bytes, if it can be).
    public func tooLarge(size: Int, head: [UInt8], unit: String = "message") -> [UInt8] {
        log.warning("dropped a \(size)-byte message (limit exceeded)")
        return Message.error(id: Self.sniffID(head), RPCError(.invalidRequest, "Message too large: \(size) bytes; mcpx accepts at most \(maxMessageBytes) bytes per \(unit)"))
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
    public func handle(_ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        switch msg.kind {
        case .request(let id, let method):
            request(id: id, method: method, msg, session, reply: reply)
        case .notification(let method):
            notification(method: method, msg, session)
        case .response, .errorResponse:
            clientResponse(msg, session)
        }
    }

    // MARK: Requests

    func request(id: RPCID, method: String, _ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        // A client that did the handshake is handshake-era for good; any other request may be a
        // stateless 2026-07-28 one (its `_meta` says).
        if !session.isLegacy {
            switch ModernEra.envelope(of: msg) {
            case .none:
                if method == "server/discover" {
                    // It exists only at 2026-07-28, whose requests carry the envelope.
                    reply(Message.error(id: id, RPCError(.methodNotFound, "Method not found: server/discover is a \(ModernEra.version) request and needs params._meta with \(ModernEra.protocolVersionKey) and \(ModernEra.capabilitiesKey)")))
                    return
                }
            case .invalid(let e):
                reply(Message.error(id: id, e))
                return
            case .modern(let envelope):
                modernRequest(id: id, method: method, msg, envelope, session, reply: reply)
                return
            }
        }
        dispatch(id: id, method: method, msg, session, reply: reply)
    }

    /// A request of either era, once its era is settled.
    func dispatch(id: RPCID, method: String, _ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        switch method {
        case "initialize":
            initialize(id: id, msg, session, reply: reply)
        case "ping":
            reply(Message.response(id: id, result: .object([:])))
        case "tools/list":
            if let cursor = msg.params?["cursor"], !cursor.isNull {
                reply(Message.error(id: id, .invalidParams("Invalid cursor: mcpx returns every tool in one page")))
                return
            }
            ensureStarted(session)
            session.markListed("notifications/tools/list_changed")
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
            toolCall(id: id, msg, session, reply: reply)
        default:
            otherRequest(id: id, method: method, msg, session, reply: reply)
        }
    }

    func initialize(id: RPCID, _ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        guard let params = msg.params?.objectValue, case .string(let requested)? = params["protocolVersion"] else {
            reply(Message.error(id: id, .invalidParams("initialize needs params.protocolVersion (a string)")))
            return
        }
        let version = Self.supportedVersions.contains(requested) ? requested : Self.latestVersion
        let caps = params["capabilities"]?.objectValue.map { JSONValue.object($0) } ?? .object([:])
        if session.isModern {
            reply(Message.error(id: id, RPCError(.unsupportedVersion, "This client has made \(ModernEra.version) requests; the initialize handshake is not accepted on the same connection", data: ["supported": [.string(ModernEra.version)], "requested": .string(requested)])))
            return
        }
        session.setInitializeParams(version: version, capabilities: caps)
        session.setClientName(params["clientInfo"]?["name"]?.stringValue)
        Task { [proxy] in
            // Backends connect now (unless a door started them already), told only what this client
            // supports. Their first attempts get a moment (bounded) so the answer can say what they offer.
            await proxy.start(clientCapabilities: caps)
            await proxy.waitForFirstAttempts(upTo: min(0.25, proxy.settings.startupTimeout))
            self.answerInitialize(id: id, version: version, capabilities: await proxy.upstreamCapabilities(), instructions: await proxy.instructions(), reply: reply)
        }
    }

    func answerInitialize(id: RPCID, version: String, capabilities: JSONValue, instructions: String, reply: Reply) {
        let result: JSONValue = [
            "protocolVersion": .string(version),
            "capabilities": capabilities,
            "serverInfo": [
                "name": "mcpx", "title": "mcpx MCP multiplexer", "version": .string(MCPXVersion.version),
            ],
            "instructions": .string(instructions),
        ]
        reply(Message.response(id: id, result: result))
    }

    /// Backends connect when the client initializes; a client that skips that still gets them.
    func ensureStarted(_ session: ClientSession) {
        if session.protocolVersion == nil {
            Task { [proxy] in await proxy.start(clientCapabilities: .object([:])) }
        }
    }

    // MARK: Notifications and responses

    func notification(method: String, _ msg: IncomingMessage, _ session: ClientSession) {
        switch method {
        case "notifications/initialized":
            session.markInitialized()
        case "notifications/cancelled":
            guard let v = msg.params?["requestId"], let id = RPCID(v) else { return }
            cancel(clientID: id, session, reason: msg.params?["reason"]?.stringValue)
        case "notifications/roots/list_changed":
            Task { [proxy] in await proxy.rootsChanged() }
        default:
            log.debug("ignoring notification \(method)")
        }
    }

    func clientResponse(_ msg: IncomingMessage, _ session: ClientSession) {
        if proxy.bridge.clientAnswered(msg, from: session) { return }
        log.debug("ignoring a response from the client (id \(msg.id?.description ?? "null"))")
    }

    // MARK: Batches (2025-03-26)

    func handleBatch(_ bytes: [UInt8], _ session: ClientSession, reply: @escaping Reply) {
        // The line starts with "[": valid JSON here is always an array.
        guard case .array(let items)? = try? JSONParser.parse(bytes) else {
            reply(Message.error(id: nil, RPCError(.parseError, "Parse error: not valid JSON")))
            return
        }
        guard session.protocolVersion == "2025-03-26" else {
            reply(Message.error(id: nil, RPCError(.invalidRequest, "Invalid Request: JSON-RPC batches are supported only under protocol version 2025-03-26")))
            return
        }
        guard !items.isEmpty else {
            reply(Message.error(id: nil, RPCError(.invalidRequest, "Invalid Request: empty batch")))
            return
        }
        let collector = BatchCollector(expected: items.count, reply: reply)
        let reply: Reply = { collector.add($0) }
        for item in items {
            // An invalid item is answered (and counted) by classify; only requests are answered later.
            guard let msg = classify(item.serialized(), reply: reply) else { continue }
            if case .request = msg.kind {} else { collector.skip() }
            handle(msg, session, reply: reply)
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
    let reply: Dispatcher.Reply
    let state: Mutex<(remaining: Int, answers: [[UInt8]])>

    init(expected: Int, reply: @escaping Dispatcher.Reply) {
        self.reply = reply
        state = Mutex((expected, []))
    }

    func skip() { complete(nil) }
    /// An answer for the batch; an empty one (`Dispatcher.noAnswer`: the request was cancelled) counts as none.
    func add(_ answer: [UInt8]) { complete(answer.isEmpty ? nil : answer) }

    private func complete(_ answer: [UInt8]?) {
        let done = state.withLock { s -> [[UInt8]]? in
            if let answer { s.answers.append(answer) }
            s.remaining -= 1
            return s.remaining == 0 ? s.answers : nil
        }
        guard let done else { return }
        // Every request of the batch was cancelled: the batch ends without an answer.
        guard !done.isEmpty else {
            reply(Dispatcher.noAnswer)
            return
        }
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, a) in done.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: a)
        }
        out.append(UInt8(ascii: "]"))
        reply(out)
    }
}
