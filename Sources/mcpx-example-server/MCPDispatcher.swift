import MCPXJSON

/// The JSON-RPC methods: `initialize` (which creates the session) and everything a session may ask.
struct MCPDispatcher {
    let server: ExampleServer

    static let supportedVersions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    static let latestVersion = "2025-11-25"

    // MARK: initialize

    /// Negotiates the version and opens a session.
    func initialize(params: JSONValue?) throws(RPCError) -> (session: Session, result: JSONValue) {
        let p = try Self.object(params)
        guard let requested = p["protocolVersion"]?.stringValue else {
            throw RPCError.invalidParams("initialize needs a string 'protocolVersion'")
        }
        let version = Self.supportedVersions.contains(requested) ? requested : Self.latestVersion
        let session = server.sessions.create(protocolVersion: version)
        let capabilities: JSONValue = [
            "tools": ["listChanged": true],
            "resources": ["subscribe": true, "listChanged": true],
            "prompts": ["listChanged": true],
            "logging": [:],
            "completions": [:],
        ]
        let result: JSONValue = [
            "protocolVersion": .string(version),
            "capabilities": capabilities,
            "serverInfo": ["name": .string(server.options.name), "version": "1.0.0"],
            "instructions": .string("Example MCP server '\(server.options.name)' for mcpx demos, tests and benchmarks."),
        ]
        return (session, result)
    }

    // MARK: Session methods

    /// The full JSON-RPC answer to a request, or nil if it was cancelled and must go unanswered.
    func answer(_ ctx: RequestContext) -> JSONValue? {
        do throws(RPCError) {
            guard let result = try handle(ctx) else { return .none }
            return RPC.result(id: ctx.id, result)
        } catch {
            return RPC.error(id: ctx.id, error)
        }
    }

    private func handle(_ ctx: RequestContext) throws(RPCError) -> JSONValue? {
        let p = ctx.params
        switch ctx.method {
        case "tools/call":
            return try ToolRunner(server: server).call(ctx)
        case "ping":
            return [:]
        case "tools/list":
            return try server.catalog.list(cursor: try Self.cursor(p))
        case "resources/list":
            try Self.noCursor(p)
            return server.content.listResources()
        case "resources/templates/list":
            try Self.noCursor(p)
            return server.content.listTemplates()
        case "resources/read":
            return try server.content.read(try Self.uri(p))
        case "resources/subscribe":
            ctx.session.subscribe(try Self.uri(p))
            return [:]
        case "resources/unsubscribe":
            ctx.session.unsubscribe(try Self.uri(p))
            return [:]
        case "prompts/list":
            try Self.noCursor(p)
            return server.content.listPrompts()
        case "prompts/get":
            return try server.content.getPrompt(p)
        case "completion/complete":
            return try server.content.complete(p)
        case "logging/setLevel":
            guard let name = p["level"]?.stringValue, let level = LogLevel(name: name) else {
                throw RPCError.invalidParams("logging/setLevel needs 'level', one of \(LogLevel.names.joined(separator: ", "))")
            }
            ctx.session.logLevel = level
            return [:]
        case "initialize":
            throw RPCError.invalidRequest("Session already initialized")
        default:
            throw RPCError.methodNotFound(ctx.method)
        }
    }

    // MARK: Client notifications

    func notification(_ method: String, params: JSONValue?, session: Session) {
        switch method {
        case "notifications/cancelled":
            if let id = params?["requestId"] {
                switch id {
                case .string, .int: session.cancel(requestID: id)
                case .double where id.intValue != nil: session.cancel(requestID: .int(id.intValue!))
                default: break
                }
            }
        default:
            break  // notifications/initialized, roots/list_changed, progress: nothing to do
        }
    }

    // MARK: Params

    /// Params as an object (absent means empty).
    static func object(_ params: JSONValue?) throws(RPCError) -> JSONObject {
        switch params {
        case .none, .some(.null): return [:]
        case .object(let o)?: return o
        case let other?: throw RPCError.invalidParams("params must be an object, got \(other.typeName)")
        }
    }

    private static func cursor(_ p: JSONObject) throws(RPCError) -> String? {
        switch p["cursor"] {
        case .none, .some(.null): return nil
        case .string(let s)?: return s
        default: throw RPCError.invalidParams("Invalid cursor")
        }
    }

    /// Lists that fit one page take no cursor.
    private static func noCursor(_ p: JSONObject) throws(RPCError) {
        if try cursor(p) != nil { throw RPCError.invalidParams("Invalid cursor") }
    }

    private static func uri(_ p: JSONObject) throws(RPCError) -> String {
        guard let uri = p["uri"]?.stringValue else { throw RPCError.invalidParams("'uri' must be a string") }
        return uri
    }
}
