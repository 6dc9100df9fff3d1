public import MCPXJSON

/// Prompts, resources, templates, completion and logging across backends.
extension MultiServerProxy {
    var listTimeoutMillis: Int { Int(settings.connectTimeout * 1000) }

    /// Fetches what the backend offers besides tools. A backend that advertises a list but fails to
    /// give it is logged and treated as offering none: its tools still work.
    func fetchCatalog(_ name: String, _ conn: BackendConnection) async {
        let caps = conn.serverCapabilities
        if caps?["prompts"] != nil { await refreshList(name, conn, kind: .prompts) }
        if caps?["resources"] != nil { await refreshResources(name, conn) }
    }

    enum ListKind: String {
        case prompts, resources, templates

        var method: String {
            switch self {
            case .prompts: return "prompts/list"
            case .resources: return "resources/list"
            case .templates: return "resources/templates/list"
            }
        }

        var key: String {
            switch self {
            case .prompts: return "prompts"
            case .resources: return "resources"
            case .templates: return "resourceTemplates"
            }
        }

        var notification: String {
            switch self {
            case .prompts: return "notifications/prompts/list_changed"
            case .resources, .templates: return "notifications/resources/list_changed"
            }
        }
    }

    /// Resources and templates share one list_changed notification: send it at most once.
    func refreshResources(_ name: String, _ conn: BackendConnection) async {
        let a = await refreshList(name, conn, kind: .resources, notify: false)
        let b = await refreshList(name, conn, kind: .templates, notify: false)
        if (a || b) && router.snapshot.startupDone { sessions.listChanged(ListKind.resources.notification) }
    }

    /// Fetches one list again; returns whether it changed (and tells the client if `notify`).
    @discardableResult
    func refreshList(_ name: String, _ conn: BackendConnection, kind: ListKind, notify: Bool = true) async -> Bool {
        let items: [JSONValue]
        do {
            items = try await conn.listAll(
                kind.method, key: kind.key, timeoutMillis: listTimeoutMillis, maxItems: kind == .resources ? 100_000 : 20_000)
        } catch {
            // Requests cut short by shutdown are not failures worth a warning.
            if !shuttingDown { log.warning("\(name): \(kind.method) failed: \(error.message)") }
            return false
        }
        guard entries[name]?.connection === conn else { return false }
        let changed: Bool
        switch kind {
        case .prompts:
            var prompts: [ExposedPrompt] = []
            for p in items.prefix(20_000) {
                guard case .object(var o) = p, case .string(let original)? = o["name"], !original.isEmpty else { continue }
                let exposed = ToolNaming.exposedName(server: name, tool: original, max: settings.maxToolName)
                o["name"] = .string(exposed)
                prompts.append(ExposedPrompt(exposedName: exposed, originalName: original, definition: .object(o)))
            }
            changed = prompts.map(\.definition) != entries[name]!.prompts.map(\.definition)
            entries[name]!.prompts = prompts
        case .resources:
            let r = items.prefix(100_000).map { ResourceURI.exposeField("uri", server: name, $0) }
            changed = r != entries[name]!.resources
            entries[name]!.resources = r
        case .templates:
            let t = items.prefix(20_000).map { ResourceURI.exposeField("uriTemplate", server: name, $0) }
            changed = t != entries[name]!.templates
            entries[name]!.templates = t
        }
        if notify && changed && router.snapshot.startupDone { sessions.listChanged(kind.notification) }
        return changed
    }

    /// Backend notifications beyond progress, log messages and tool list changes.
    func backendNotification(server: String, method: String, _ msg: IncomingMessage) async {
        guard let conn = entries[server]?.connection, entries[server]?.config.status == .ready else { return }
        switch method {
        case "notifications/resources/updated":
            guard var params = msg.params?.objectValue, case .string(let uri)? = params["uri"] else {
                conn.stats.withLock { $0.malformedMessages += 1 }
                return
            }
            let exposed = ResourceURI.expose(server: server, uri)
            params["uri"] = .string(exposed)
            for s in sessions.subscribers(of: exposed) { s.resourceUpdated(exposed, params: params) }
        case "notifications/cancelled":
            // The backend gave up on a request it sent the client.
            guard let v = msg.params?["requestId"], let bid = RPCID(v) else { return }
            bridge.cancelFromBackend(server: server, backendID: bid, reason: msg.params?["reason"]?.stringValue)
        default:
            log.debug("\(server): ignoring notification \(method)")
        }
    }

    /// A backend said its prompts or resources changed (coalesced by `BackendEvents`).
    func backendListChanged(server: String, _ list: RefreshGate.List) async {
        guard let conn = entries[server]?.connection, entries[server]?.config.status == .ready else { return }
        if list == .prompts {
            await refreshList(server, conn, kind: .prompts)
        } else {
            await refreshResources(server, conn)
        }
    }

    /// Every backend's lists, with exposed names and URIs (one page).
    public func combinedList(_ kind: String) -> JSONValue {
        var items: [JSONValue] = []
        for name in order {
            guard let e = entries[name], e.config.enabled, e.config.status == .ready else { continue }
            switch kind {
            case "prompts": items += e.prompts.map(\.definition)
            case "resources": items += e.resources
            default: items += e.templates
            }
        }
        let key = kind == "templates" ? "resourceTemplates" : kind
        return .object([key: .array(items)])
    }

    /// The backend and original name of an exposed prompt.
    public func promptRoute(_ exposed: String) -> (server: String, name: String)? {
        for name in order {
            guard let e = entries[name] else { continue }
            if let p = e.prompts.first(where: { $0.exposedName == exposed }) { return (name, p.originalName) }
        }
        return nil
    }

    /// The connection of a backend that can take requests now (reconnecting first if it failed).
    public func readyConnection(_ server: String) async -> BackendConnection? {
        guard entries[server] != nil else { return nil }
        if await ensureReady(server) { return entries[server]?.connection }
        return nil
    }

    /// What mcpx offers the client: tools always; the rest as far as backends offer it (a backend
    /// still on its first attempt counts as offering everything, so nothing is lost by a slow start).
    public func upstreamCapabilities() -> JSONValue {
        var offers: Set<String> = []
        for name in order {
            guard let e = entries[name], e.config.enabled else { continue }
            if e.config.status == .ready, let caps = e.connection.serverCapabilities?.objectValue {
                for k in ["prompts", "resources", "logging", "completions"] where caps[k] != nil { offers.insert(k) }
                if caps["resources"]?["subscribe"]?.boolValue == true { offers.insert("subscribe") }
            } else if !e.firstAttemptDone {
                offers.formUnion(["prompts", "resources", "logging", "completions", "subscribe"])
            }
        }
        var caps: JSONObject = ["tools": ["listChanged": true]]
        if offers.contains("prompts") { caps["prompts"] = ["listChanged": true] }
        if offers.contains("resources") {
            caps["resources"] = ["listChanged": true, "subscribe": .bool(offers.contains("subscribe"))]
        }
        if offers.contains("logging") { caps["logging"] = .object([:]) }
        if offers.contains("completions") { caps["completions"] = .object([:]) }
        return .object(caps)
    }

    /// Waits (bounded) for backends still on their first attempt, so initialize can say what they offer.
    public func waitForFirstAttempts(upTo seconds: Double) async {
        let deadline = monotonicNanos() + UInt64(seconds * 1e9)
        while monotonicNanos() < deadline {
            if order.allSatisfy({ entries[$0].map { $0.firstAttemptDone || !$0.config.enabled } ?? true }) { return }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
    }

    /// `logging/setLevel`: remembered for backends that connect later, sent to every ready one that logs.
    public func setLogLevel(_ level: String) {
        logLevel = level
        for name in order where entries[name]?.config.status == .ready {
            if let conn = entries[name]?.connection { applyLogLevel(conn) }
        }
    }

    /// Sends the client's log level (if it set one) to a backend that offers logging.
    func applyLogLevel(_ conn: BackendConnection) {
        // A 2026-07-28 backend has no logging/setLevel: its log level travels per request.
        guard let level = logLevel, conn.serverCapabilities?["logging"] != nil, !conn.isModern else { return }
        Task { _ = try? await conn.call("logging/setLevel", ["level": .string(level)], timeoutMillis: 5_000) }
    }

    /// The client's roots changed: tell every ready backend.
    public func rootsChanged() {
        for name in order where entries[name]?.config.status == .ready && entries[name]?.connection.isModern == false {
            entries[name]?.connection.notify("notifications/roots/list_changed", nil)
        }
    }

    /// Opens the backend's GET stream; when it ends, opens it again (or falls back to polling).
    /// `answered` is for a connection attempt (the backend is not ready yet): it fires when the
    /// backend has answered the GET or the stream ended. Returns whether a GET was sent.
    @discardableResult
    func openEventStream(_ name: String, lastEventID: String? = nil, attempt: Int = 0, answered: OneShotSignal? = nil) -> Bool {
        guard let e = entries[name], e.config.status == .ready || answered != nil, !shuttingDown else { return false }
        let conn = e.connection
        if conn.isLegacySSE {
            // The HTTP+SSE transport's one stream already carries everything the backend sends
            // (a stdio process's stdout too; at 2026-07-28 once it is asked to, with a listen).
            if conn.isModern { conn.listenOnStdio() }
            entries[name]?.hasEventStream = true
            return false
        }
        var onAnswer: (@Sendable () -> Void)?
        if let answered { onAnswer = { answered.fire() } }
        conn.openEventStream(lastEventID: lastEventID, onAnswer: onAnswer) { [weak self] end, lastID in
            answered?.fire()
            Task { await self?.eventStreamEnded(name, conn, end, lastEventID: lastID, attempt: attempt) }
        }
        entries[name]?.hasEventStream = true
        return true
    }

    /// How long a connection attempt waits for the backend to answer the GET that opens its stream.
    static let eventStreamAnswerWait = 2.0

    /// Opens the GET stream of a connection that has just completed its handshake; the signal to
    /// wait for before the backend counts as ready (nil when there is no GET to wait for).
    func openFirstEventStream(_ name: String, _ conn: BackendConnection) -> OneShotSignal? {
        guard let e = entries[name], e.connection === conn, e.config.enabled else { return nil }
        entries[name]?.eventStreamRefused = false
        let answered = OneShotSignal()
        return openEventStream(name, answered: answered) ? answered : nil
    }

    func eventStreamEnded(_ name: String, _ conn: BackendConnection, _ end: BackendConnection.EventStreamEnd, lastEventID: String?, attempt: Int) async {
        guard entries[name]?.connection === conn, !shuttingDown else { return }
        switch end {
        case .notOffered(let status):
            log.debug("\(name): no GET stream (HTTP \(status)); lists are polled every \(settings.healthInterval) s")
            entries[name]?.hasEventStream = false
            entries[name]?.eventStreamRefused = true
        case .closed(let why):
            entries[name]?.hasEventStream = false
            guard entries[name]?.config.status == .ready else { return }
            log.debug("\(name): GET stream ended (\(why)); checking the backend, then reopening")
            // A stream that breaks often means the backend went away: find out now.
            guard await healthCheck(name) else {
                startSupervisor(name)
                return
            }
            let delay = Self.backoff(attempt: attempt + 1, base: 0.5, cap: 30)
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            openEventStream(name, lastEventID: lastEventID, attempt: min(attempt + 1, 10))
        }
    }

    /// `resources/subscribe` / `unsubscribe` for a 2026-07-28 backend, which has neither: the URI
    /// joins (or leaves) its listen stream, opened again with the new set.
    public func listenForResource(_ server: String, _ uri: String, _ on: Bool) async {
        guard let e = entries[server], e.connection.isModern, e.connection.setListened(uri, on) else { return }
        // Answered once the backend answered the new listen (its acknowledgement comes first on
        // it), so an update sent right after the client's subscribe is not lost.
        let conn = e.connection
        if conn.isLegacySSE {
            // stdio: the new listen is live once the server acknowledges it.
            if let acked = conn.listenOnStdio(), on { await acked.wait(upTo: Self.eventStreamAnswerWait) }
            return
        }
        let answered = OneShotSignal()
        if openEventStream(server, answered: answered) && on { await answered.wait(upTo: Self.eventStreamAnswerWait) }
    }

    /// For backends without a GET stream: fetch every list again (called from the health loop).
    func pollLists(_ name: String) async {
        guard let e = entries[name], e.config.status == .ready, !e.hasEventStream else { return }
        await refreshTools(name)
        await fetchCatalog(name, e.connection)
    }
}
