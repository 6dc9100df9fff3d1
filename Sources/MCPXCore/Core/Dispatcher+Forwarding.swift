import MCPXJSON

/// Prompts, resources, completion and logging: routed to one backend, or answered from the
/// lists the proxy keeps. None of these is on the hot path, so they go through the actor.
extension Dispatcher {

    func otherRequest(id: RPCID, method: String, _ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        let params = msg.params?.objectValue ?? [:]
        switch method {
        case "prompts/list", "resources/list", "resources/templates/list":
            if let cursor = params["cursor"], !cursor.isNull {
                reply(Message.error(id: id, .invalidParams("Invalid cursor: mcpx returns every item in one page")))
                return
            }
            let kind = method == "prompts/list" ? "prompts" : method == "resources/list" ? "resources" : "templates"
            session.markListed(method == "prompts/list" ? "notifications/prompts/list_changed" : "notifications/resources/list_changed")
            ensureStarted(session)
            Task { [proxy] in
                await proxy.waitForCatalogs()
                reply(Message.response(id: id, result: await proxy.combinedList(kind)))
            }
        case "prompts/get":
            guard case .string(let name)? = params["name"] else {
                reply(Message.error(id: id, .invalidParams("Invalid params: prompts/get needs params.name (a string)")))
                return
            }
            Task { [proxy] in
                await proxy.waitForCatalogs()
                guard let route = await proxy.promptRoute(name) else {
                    reply(Message.error(id: id, .invalidParams("Unknown prompt: \(name)")))
                    return
                }
                var p = params
                p["name"] = .string(route.name)
                await self.relay(id: id, server: route.server, method: method, params: .object(p), session, reply: reply)
            }
        case "resources/read", "resources/subscribe", "resources/unsubscribe":
            guard case .string(let uri)? = params["uri"] else {
                reply(Message.error(id: id, .invalidParams("Invalid params: \(method) needs params.uri (a string)")))
                return
            }
            guard let (server, original) = ResourceURI.split(uri) else {
                reply(Message.error(id: id, RPCError(.resourceNotFound, "Resource not found: \(uri) (mcpx resource URIs look like <server>+<uri>)", data: ["uri": .string(uri)])))
                return
            }
            var p = params
            p["uri"] = .string(original)
            // Subscriptions are per client: the backend is asked once, and told to stop only when
            // no client holds the subscription any more.
            if method == "resources/unsubscribe" {
                session.unsubscribe(uri)
                if sessions.othersSubscribed(to: uri, except: session) || session.isSubscribed(uri) {
                    reply(Message.response(id: id, result: .object([:])))
                    return
                }
            }
            // Whether a client held it already: a 2026-07-28 backend's listen holds each URI once
            // per first subscriber (and lets it go with the last).
            let held = method == "resources/subscribe" && (sessions.othersSubscribed(to: uri, except: session) || session.isSubscribed(uri))
            Task { [proxy] in
                await proxy.waitForStartup()
                guard await proxy.config(server) != nil else {
                    reply(Message.error(id: id, RPCError(.resourceNotFound, "Resource not found: \(uri) (no server \"\(server)\")", data: ["uri": .string(uri)])))
                    return
                }
                if method == "resources/subscribe" { session.subscribe(uri) }
                if method != "resources/read", let conn = await proxy.readyConnection(server), conn.isModern {
                    // A 2026-07-28 backend: updates come on its listen stream.
                    if !held { await proxy.listenForResource(server, original, method == "resources/subscribe") }
                    reply(Message.response(id: id, result: .object([:])))
                    return
                }
                await self.relay(id: id, server: server, method: method, params: .object(p), session, reply: reply)
            }
        case "completion/complete":
            completion(id: id, params, session, reply: reply)
        case "logging/setLevel":
            guard case .string(let name)? = params["level"], let level = MCPLogLevel(rawValue: name) else {
                reply(Message.error(id: id, .invalidParams("Invalid params: level must be one of \(MCPLogLevel.allCases.map(\.rawValue).sorted().joined(separator: ", "))")))
                return
            }
            // Each client gets what its own level lets through; backends are told the most verbose
            // level any client asked for.
            session.setLogLevel(level)
            let backendLevel = sessions.mostVerboseLogLevel ?? level
            Task { [proxy] in await proxy.setLogLevel(backendLevel.rawValue) }
            reply(Message.response(id: id, result: .object([:])))
        default:
            reply(Message.error(id: id, .methodNotFound(method)))
        }
    }

    func completion(id: RPCID, _ params: JSONObject, _ session: ClientSession, reply: @escaping Reply) {
        guard case .object(var ref)? = params["ref"], case .string(let type)? = ref["type"] else {
            reply(Message.error(id: id, .invalidParams("Invalid params: completion/complete needs params.ref")))
            return
        }
        Task { [proxy] in
            await proxy.waitForCatalogs()
            let server: String
            switch type {
            case "ref/prompt":
                guard case .string(let name)? = ref["name"], let route = await proxy.promptRoute(name) else {
                    reply(Message.error(id: id, .invalidParams("Unknown prompt: \(ref["name"]?.stringValue ?? "")")))
                    return
                }
                ref["name"] = .string(route.name)
                server = route.server
            case "ref/resource":
                guard case .string(let uri)? = ref["uri"], let (s, original) = ResourceURI.split(uri), await proxy.config(s) != nil else {
                    reply(Message.error(id: id, .invalidParams("Unknown resource: \(ref["uri"]?.stringValue ?? "")")))
                    return
                }
                ref["uri"] = .string(original)
                server = s
            default:
                reply(Message.error(id: id, .invalidParams("Invalid params: unknown ref type \(type)")))
                return
            }
            var p = params
            p["ref"] = .object(ref)
            await self.relay(id: id, server: server, method: "completion/complete", params: .object(p), session, reply: reply)
        }
    }

    /// Sends a request to one backend and relays its answer, with URIs rewritten.
    /// A backend's own JSON-RPC error passes through; a dead backend is -32603 naming it.
    func relay(id: RPCID, server: String, method: String, params: JSONValue, _ session: ClientSession, reply: @escaping Reply) async {
        guard let conn = await proxy.readyConnection(server) else {
            let why = await proxy.config(server)?.lastError ?? "not connected"
            reply(Message.error(id: id, RPCError(.internalError, "Server '\(server)' is unavailable: \(why)", data: ["server": .string(server)])))
            return
        }
        let timeout = router.snapshot.backends[server]?.timeoutMillis ?? 60_000
        conn.noteUse()
        // Progress the backend reports reaches this client, under its own token, while this runs.
        var params = params
        var mine: JSONValue?
        if case .object(var p) = params, case .object(var meta)? = p["_meta"], let token = meta["progressToken"] {
            let t = proxy.progressTokens.register(token, server: server, origin: CallOrigin(session: session, requestID: id))
            meta["progressToken"] = t
            p["_meta"] = .object(meta)
            params = .object(p)
            mine = t
        }
        defer { if let mine { proxy.progressTokens.release(mine) } }
        do {
            let m = try await conn.request(method, params, timeoutMillis: timeout, origin: CallOrigin(session: session, requestID: id))
            if case .errorResponse = m.kind, let e = m.raw.raw("error") {
                reply(Self.backendError(id: id, e))
                return
            }
            guard let r = m.raw.raw("result") else {
                reply(Message.error(id: id, RPCError(.internalError, "Server '\(server)' sent no result", data: ["server": .string(server)])))
                return
            }
            if !session.isModern, Self.isInputRequired(r), let first = try? JSONParser.parse(r), case .object(var p) = params {
                p["_meta"] = nil
                reply(await bridgeInputRequired(id: id, session, server: server, conn: conn, method: method, params: p, first: first, timeoutMillis: timeout))
                return
            }
            if ResourceURI.mayContainURI(r), let v = try? JSONParser.parse(r) {
                reply(Message.response(id: id, result: ResourceURI.exposeInResult(server: server, v)))
            } else {
                reply(Message.response(id: id, rawResult: r))
            }
        } catch {
            reply(Message.error(id: id, RPCError(.internalError, "Server '\(server)' failed: \(error.message)", data: ["server": .string(server)])))
        }
    }
}
