public import MCPXJSON

extension MultiServerProxy {
    /// Runs one of mcpx's own tools; the answer is a tool result (errors have `isError`).
    public func callManagementTool(_ name: String, arguments: JSONValue?, actor: History.Actor = History.Actor("model")) async -> JSONValue {
        let args = arguments?.objectValue ?? [:]
        switch name {
        case ManagementTools.manage: return await manage(args, actor: actor)
        case ManagementTools.status: return statusResult()
        case ManagementTools.health: return healthSummary()
        case ManagementTools.searchTools: return searchToolsResult(args)
        case ManagementTools.describeTools: return describeToolsResult(args)
        default: return ManagementTools.failure("Unknown tool: \(name)")
        }
    }

    func manage(_ args: JSONObject, actor: History.Actor) async -> JSONValue {
        guard case .string(let action)? = args["action"] else {
            return ManagementTools.failure(
                "manage needs \"action\": one of add, remove, list, enable, disable, health")
        }
        let name = args["name"]?.stringValue
        if settings.readOnly && !["list", "health", "flush_cache", "history", "search_registry"].contains(action) {
            return ManagementTools.failure("manage \(action) is disabled: mcpx runs with --read-only")
        }
        switch action {
        case "list": return listResult()
        case "health": return await healthCheckNow(name ?? "all")
        case "flush_cache": return flushCache(name ?? "all")
        case "history": return historyResult(server: name, limit: args["limit"]?.intValue.map(Int.init) ?? 20)
        case "search_registry": return await registrySearch(args["query"]?.stringValue ?? "")
        case "install": return await registryInstall(args, actor: actor)
        case "rollback":
            guard let to = args["to"]?.intValue else { return ManagementTools.failure("manage rollback needs \"to\": the id of a history entry (see manage history)") }
            return await rollback(to: Int(to), actor: actor)
        case "add":
            if let command = args["command"] {
                guard let name, case .string(let cmd) = command else {
                    return ManagementTools.failure("manage add with a command needs \"name\" and \"command\" (a string)")
                }
                switch stdioSpec(cmd, args) {
                case .success(let spec): return await add(ServerConfig(name: name, stdio: spec), actor: actor)
                case .failure(let e): return ManagementTools.failure("Cannot add \"\(name)\": \(e.message)")
                }
            }
            var balancing: ServerConfig.LoadBalancing?
            if let lb = args["loadBalancing"] {
                guard let s = lb.stringValue, let v = ServerConfig.LoadBalancing(rawValue: s) else {
                    return ManagementTools.failure("manage add: \"loadBalancing\" must be one of \(ServerConfig.LoadBalancing.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                balancing = v
            }
            if let list = args["urls"] {
                guard let name else { return ManagementTools.failure("manage add with urls needs \"name\"") }
                guard case .array(let items) = list, !items.isEmpty, items.count <= 64, items.allSatisfy({ $0.stringValue != nil }) else {
                    return ManagementTools.failure("manage add: \"urls\" must be a list of 1 to 64 URLs (strings)")
                }
                if args["url"] != nil { return ManagementTools.failure("manage add: give \"url\" or \"urls\", not both") }
                let urls = items.compactMap(\.stringValue)
                for u in urls {
                    if let problem = validateURL(u) { return ManagementTools.failure("Cannot add \"\(name)\": \(problem)") }
                }
                if Set(urls).count != urls.count { return ManagementTools.failure("Cannot add \"\(name)\": the same URL is given twice") }
                var config = ServerConfig(name: name, url: urls[0])
                config.setReplicas(urls.map { ServerConfig.Replica(url: $0) })
                if let balancing { config.loadBalancing = balancing }
                return await add(config, actor: actor)
            }
            guard let name, let url = args["url"]?.stringValue else {
                return ManagementTools.failure("manage add needs \"name\" and \"url\" (or \"urls\" for several instances, or \"command\" for a stdio server)")
            }
            if let problem = validateURL(url) { return ManagementTools.failure("Cannot add \"\(name)\": \(problem)") }
            var config = ServerConfig(name: name, url: url)
            if let balancing { config.loadBalancing = balancing }
            return await add(config, actor: actor)
        case "remove", "enable", "disable":
            guard let name else { return ManagementTools.failure("manage \(action) needs \"name\"") }
            guard entries[name] != nil else {
                return ManagementTools.failure("No server named \"\(name)\". Servers: \(order.joined(separator: ", "))")
            }
            switch action {
            case "remove": return await remove(name, actor: actor)
            case "enable": return await setEnabled(name, true, actor: actor)
            default: return await setEnabled(name, false, actor: actor)
            }
        default:
            return ManagementTools.failure(
                "Unknown action \"\(action)\": use add, remove, list, enable, disable or health")
        }
    }

    /// Checks a URL that the model (not the user) asks mcpx to connect to.
    func validateURL(_ url: String) -> String? {
        if let problem = URLPattern.unsafeReason(url) { return problem }
        if let problem = CurlURL.backendProblem(
            url, notValid: { "\"\(Redact.url(String(url.prefix(200))))\" is not a valid URL" },
            scheme: { "only http:// and https:// URLs are allowed, not \($0)://" })
        {
            return problem
        }
        if !settings.allowURLs.isEmpty && !settings.allowURLs.contains(where: { URLPattern($0)?.matches(url) ?? false }) {
            return "\(Redact.url(url)) is not allowed by --allow-url"
        }
        return nil
    }

    /// A stdio server the model asks for: only a command the user allowed (`--allow-command`).
    func stdioSpec(_ command: String, _ args: JSONObject) -> Result<ServerConfig.StdioSpec, ConfigError> {
        guard settings.allowCommands.contains(where: { ToolFilter.matches(command, pattern: $0) }) else {
            return .failure(ConfigError(settings.allowCommands.isEmpty
                ? "starting commands is not allowed: mcpx starts stdio servers for manage add only with --allow-command PATTERN"
                : "\(command.prefix(200)) does not match any --allow-command pattern"))
        }
        if command.utf8.contains(where: { $0 < 0x20 }) { return .failure(ConfigError("the command has control characters")) }
        var spec = ServerConfig.StdioSpec(command: command)
        if let a = args["args"] {
            guard case .array(let items) = a, let strings = Optional(items.compactMap(\.stringValue)), strings.count == items.count else {
                return .failure(ConfigError("\"args\" must be an array of strings"))
            }
            spec.args = strings
        }
        if let e = args["env"] {
            guard case .object(let vars) = e else { return .failure(ConfigError("\"env\" must be an object of strings")) }
            for (k, v) in vars {
                guard case .string(let s) = v, !k.isEmpty, !k.contains("=") else {
                    return .failure(ConfigError("\"env\" must be an object of names to strings"))
                }
                spec.env.append((name: k, value: s))
            }
        }
        if let c = args["cwd"] {
            guard case .string(let s) = c else { return .failure(ConfigError("\"cwd\" must be a string")) }
            spec.cwd = s
        }
        return .success(spec)
    }

    func add(_ config: ServerConfig, actor: History.Actor, action: String = "add", rollbackTo: Int? = nil) async -> JSONValue {
        var config = config
        if config.protocolChoice == .auto { config.protocolChoice = settings.backendProtocol }
        let name = config.name
        let url = config.url
        if let problem = ToolNaming.validateServerName(name) { return ManagementTools.failure("Cannot add: \(problem)") }
        if entries[name] != nil { return ManagementTools.failure("A server named \"\(name)\" already exists") }
        addEntries(config)
        order.append(name)
        let shown = config.instances.map { Redact.url($0.url) }.joined(separator: " | ")
        log.info("manage: adding \(name) at \(shown)")
        if !started { start(clientCapabilities: clientCapabilities) }
        let ok = await attemptConnect(name)
        guard let e = entries[name] else { return ManagementTools.failure("\"\(name)\" was removed while connecting") }
        if !ok {
            // Adding is all or nothing: a server that cannot be reached is not kept.
            let error = e.config.lastError ?? "unknown error"
            for gone in removeEntries(name) where gone.memberKeys.isEmpty { await gone.connection.close() }
            order.removeAll { $0 == name }
            publishNow()
            return ManagementTools.failure("Could not add \"\(name)\" at \(config.replicas.isEmpty ? Redact.url(url) : shown): \(error)")
        }
        startSupervisorAfterConnect(name)
        publishNow()
        persist()
        history.record(actor, action: action, server: name, before: nil, after: History.describe(config), to: rollbackTo)
        let count = e.toolNames.count
        let replicaNote = config.replicas.isEmpty ? "" : " (\(config.replicas.count) replicas, \(config.loadBalancing.rawValue))"
        return ManagementTools.result(
            "Added \"\(name)\" at \(shown)\(replicaNote): \(count) tool\(count == 1 ? "" : "s") (\(e.toolNames.prefix(10).joined(separator: ", "))\(count > 10 ? ", ..." : ""))",
            ["server": .string(name), "status": "ready", "toolCount": .int(Int64(count)),
             "tools": .array(e.toolNames.map { .string($0) })])
    }

    /// Starts the health loop of a backend that has just connected (no second handshake).
    /// Supervises a backend that has just connected: the health loop (and idle stops) first.
    func startSupervisorAfterConnect(_ name: String) {
        if isReplicated(name) {
            superviseReplicasAfterConnect(name)
            return
        }
        entries[name]?.supervisor?.cancel()
        entries[name]?.supervisor = Task { [weak self] in await self?.supervise(name, alreadyConnected: true) }
    }

    func remove(_ name: String, actor: History.Actor, action: String = "remove", rollbackTo: Int? = nil) async -> JSONValue {
        guard let e = entries[name] else { return ManagementTools.failure("No server named \"\(name)\"") }
        let closing = dropServer(name)
        publishNow()
        persist()
        history.record(actor, action: action, server: name, before: History.describe(e.config), after: nil, to: rollbackTo)
        for c in closing { await c.close() }
        log.info("manage: removed \(name)")
        return ManagementTools.result(
            "Removed \"\(name)\" (\(e.toolNames.count) tools withdrawn)",
            ["server": .string(name), "removed": true, "toolsWithdrawn": .int(Int64(e.toolNames.count))])
    }

    func setEnabled(_ name: String, _ enabled: Bool, actor: History.Actor, action: String? = nil, rollbackTo: Int? = nil) async -> JSONValue {
        guard let e = entries[name] else { return ManagementTools.failure("No server named \"\(name)\"") }
        if e.config.enabled == enabled {
            return ManagementTools.result(
                "\"\(name)\" is already \(enabled ? "enabled" : "disabled")",
                ["server": .string(name), "enabled": .bool(enabled), "status": .string(e.config.status.rawValue)])
        }
        var after = e.config
        after.enabled = enabled
        entries[name]!.config.enabled = enabled
        for k in e.memberKeys {
            entries[k]?.config.enabled = enabled
            entries[k]?.config.status = enabled ? .connecting : .disabled
        }
        persist()
        history.record(actor, action: action ?? (enabled ? "enable" : "disable"), server: name, before: History.describe(e.config), after: History.describe(after), to: rollbackTo)
        if enabled {
            entries[name]!.config.status = .connecting
            if started {
                let ok = await attemptConnect(name)
                if ok { startSupervisorAfterConnect(name) } else { startSupervisor(name) }
            }
            publishNow()
            let c = entries[name]?.config
            let count = entries[name]?.toolNames.count ?? 0
            let text = c?.status == .ready
                ? "Enabled \"\(name)\": \(count) tools" : "Enabled \"\(name)\", but it is not reachable yet: \(c?.lastError ?? "unknown error"); mcpx keeps retrying"
            return ManagementTools.result(
                text, ["server": .string(name), "enabled": true, "status": .string(c?.status.rawValue ?? "failed"), "toolCount": .int(Int64(count))])
        } else {
            for k in connectionKeys(name) {
                entries[k]?.supervisor?.cancel()
                entries[k]?.supervisor = nil
                entries[k]?.config.status = .disabled
            }
            entries[name]!.config.status = .disabled
            publishNow()
            for k in connectionKeys(name) { if let c = entries[k]?.connection { await c.close() } }
            return ManagementTools.result(
                "Disabled \"\(name)\" (\(e.toolNames.count) tools withdrawn)",
                ["server": .string(name), "enabled": false, "status": "disabled"])
        }
    }

    func serverJSON(_ e: Entry, detailed: Bool) -> JSONValue {
        let c = e.config
        var o: JSONObject = [
            "name": .string(c.name), "url": .string(Redact.url(c.url)), "enabled": .bool(c.enabled),
            "status": .string(c.status.rawValue), "toolCount": .int(Int64(c.toolCount)),
        ]
        o["lastError"] = c.lastError.map { .string($0) } ?? .null
        if let replicas = replicasJSON(c.name, detailed: detailed) {
            o["url"] = .string(c.instances.map { Redact.url($0.url) }.joined(separator: " | "))
            o["replicas"] = replicas
            o["loadBalancing"] = .string(c.loadBalancing.rawValue)
        }
        if detailed, let policy = e.policy {
            for (k, v) in policy.json.objectValue ?? [:] { o[k] = v }
            if policy.cache != nil {
                let u = cache.usage(server: c.name)
                var co = o["cache"]?.objectValue ?? [:]
                co["entries"] = .int(Int64(u.entries))
                co["bytes"] = .int(Int64(u.bytes))
                o["cache"] = .object(co)
            }
            o["failovers"] = .int(Int64(policy.failovers.load(ordering: .relaxed)))
            o["retries"] = .int(Int64(policy.retries.load(ordering: .relaxed)))
        }
        if detailed {
            // A replicated server's figures are its replicas' together (each is in `replicas`).
            let s = e.memberKeys.isEmpty ? e.connection.statsSnapshot : BackendStats.merged(e.memberKeys.compactMap { entries[$0]?.connection.statsSnapshot })
            o["transport"] = .string(c.transport.rawValue)
            o["protocolVersion"] = c.protocolVersion.map { .string($0) } ?? .null
            o["serverName"] = c.serverName.map { .string($0) } ?? .null
            o["connectAttempts"] = .int(Int64(c.connectAttempts))
            o["stats"] = s.json
            o["toolStats"] = .object(JSONObject(s.tools.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value.json) }))
            let f = callFigures(c.name)
            o["calls"] = .int(Int64(f.calls))
            o["errors"] = .int(Int64(f.errors))
            o["inFlight"] = .int(Int64(f.inFlight))
            // Requests awaiting their answer on the HTTP+SSE stream (a leak would show here).
            if let n = e.connection.legacyPendingCount { o["streamPending"] = .int(Int64(n)) }
        }
        if let spec = c.stdio {
            o["transport"] = "stdio"
            o["command"] = .string(Redact.known(spec.display))
            o["pid"] = e.connection.processID.map { .int(Int64($0)) } ?? .null
            o["restarts"] = .int(Int64(e.restarts))
            if spec.idleTimeout != nil { o["idle"] = .bool(e.connection.isIdleStopped) }
            if detailed { o["stderrTail"] = .array((e.connection.stderrTail ?? []).map { .string($0) }) }
        }
        return .object(o)
    }

    func listResult() -> JSONValue {
        var lines: [String] = []
        for name in order {
            guard let c = entries[name]?.config else { continue }
            var l = "\(c.name)  \(c.status.rawValue)  \(c.enabled ? "enabled" : "disabled")  \(c.toolCount) tools  \(Redact.url(c.url))"
            if let err = c.lastError, c.status != .ready { l += "  last error: \(err)" }
            for k in entries[name]?.memberKeys ?? [] {
                guard let m = entries[k] else { continue }
                l += "\n  replica \(k)  \(m.difference != nil && m.config.status == .ready ? "inconsistent" : m.config.status.rawValue)  \(Redact.url(m.config.url))"
            }
            lines.append(l)
        }
        let text = order.isEmpty ? "No servers configured." : "\(order.count) server\(order.count == 1 ? "" : "s"):\n" + lines.joined(separator: "\n")
        return ManagementTools.result(
            text, ["servers": .array(order.compactMap { entries[$0].map { serverJSON($0, detailed: false) } })])
    }

    func healthCheckNow(_ target: String) async -> JSONValue {
        let names: [String]
        // A replicated server is checked replica by replica (`name#N`).
        if target == "all" {
            names = order.flatMap { connectionKeys($0) }
        } else {
            guard entries[target] != nil, !target.contains("#") else { return ManagementTools.failure("No server named \"\(target)\"") }
            names = connectionKeys(target)
        }
        // Ping every target at once.
        let targets = names.compactMap { n in entries[n].map { (n, $0.connection, $0.config.enabled, $0.config.status) } }
        var results: [String: (ok: Bool, ms: Double?, error: String?)] = [:]
        await withTaskGroup(of: (String, Bool, Double?, String?).self) { g in
            for (n, conn, enabled, status) in targets {
                g.addTask {
                    guard enabled else { return (n, false, nil, "disabled") }
                    if status != .ready {
                        let ok = await self.ensureReadyNow(n)
                        if !ok { return (n, false, nil, await self.config(n)?.lastError ?? "not connected") }
                    }
                    let start = monotonicNanos()
                    do {
                        _ = try await conn.call(conn.healthMethod, nil, timeoutMillis: 5_000)
                        return (n, true, Double(monotonicNanos() - start) / 1e6, nil)
                    } catch {
                        return (n, false, nil, (error as? BackendError)?.message ?? "\(error)")
                    }
                }
            }
            for await (n, ok, ms, err) in g { results[n] = (ok, ms, err) }
        }
        var lines: [String] = []
        var items: [JSONValue] = []
        for n in names {
            guard let r = results[n] else { continue }
            if r.ok {
                lines.append("\(n): ok, \((r.ms ?? 0).fixed(2)) ms")
            } else {
                lines.append("\(n): unhealthy: \(r.error ?? "unknown")")
                if r.error != "disabled" { markFailed(n, r.error ?? "ping failed") }
            }
            var o: JSONObject = ["name": .string(n), "healthy": .bool(r.ok)]
            o["latencyMs"] = r.ms.map { .double(($0 * 100).rounded() / 100) } ?? .null
            o["error"] = r.error.map { .string($0) } ?? .null
            items.append(.object(o))
        }
        let healthy = results.values.filter(\.ok).count
        return ManagementTools.result(
            "\(healthy)/\(names.count) healthy\n" + lines.joined(separator: "\n"),
            ["healthy": .int(Int64(healthy)), "total": .int(Int64(names.count)), "servers": .array(items)])
    }

    /// Like `ensureReady`, without the once-a-second limit (an explicit health check).
    func ensureReadyNow(_ name: String) async -> Bool {
        entries[name]?.lastPoke = 0
        return await ensureReady(name)
    }

    func statusResult() -> JSONValue {
        var servers: [JSONValue] = []
        var calls = removedCalls
        var errors = 0
        var ready = 0
        for name in order {
            guard let e = entries[name] else { continue }
            servers.append(serverJSON(e, detailed: true))
            let f = callFigures(name)
            calls += f.calls
            errors += f.errors
            if e.config.status == .ready { ready += 1 }
        }
        let listed = router.snapshot.listedCount
        let uptime = Double(monotonicNanos() - startNanos) / 1e9
        var o: JSONObject = [
            "version": .string(MCPXVersion.version),
            "uptimeSeconds": .double((uptime * 10).rounded() / 10),
            "clientProtocolVersion": sessions.primaryProtocolVersion.map { .string($0) } ?? .null,
            "totals": [
                "servers": .int(Int64(order.count)), "ready": .int(Int64(ready)), "toolsListed": .int(Int64(listed)),
                "calls": .int(Int64(calls)), "errors": .int(Int64(errors)),
            ],
            "settings": [
                "maxToolName": .int(Int64(settings.maxToolName)), "callTimeoutSeconds": .double(settings.callTimeout),
                "startupTimeoutSeconds": .double(settings.startupTimeout), "readOnly": .bool(settings.readOnly),
            ],
            "servers": .array(servers),
        ]
        let doors = sessions.countsByDoor
        var clients: JSONObject = [:]
        for d in [ClientSession.Door.stdio, .http] { clients[d.rawValue] = .int(Int64(doors[d] ?? 0)) }
        o["clients"] = .object(clients)
        let fds = ProcessResources.fileLimit
        o["process"] = [
            "openFds": .int(Int64(ProcessResources.openFileCount())), "fdLimit": .int(Int64(fds.soft)),
            "fdLimitHard": .int(Int64(fds.hard)), "residentBytes": .int(Int64(ProcessResources.residentBytes())),
        ]
        var warnings: [JSONValue] = []
        if let max = settings.maxTools, listed > max {
            warnings.append(.string("The client sees \(listed) tools, more than --max-tools \(max): many clients handle that many poorly; disable servers or filter tools."))
        }
        o["warnings"] = .array(warnings)
        var text = "mcpx \(MCPXVersion.version), up \(Int(uptime)) s: \(ready)/\(order.count) servers ready, \(listed) tools listed, \(calls) calls, \(errors) errors"
        for w in warnings { text += "\nwarning: \(w.stringValue ?? "")" }
        for name in order {
            guard let e = entries[name] else { continue }
            let s = e.connection.statsSnapshot
            let f = callFigures(name)
            var l = "\n\(name): \(e.config.status.rawValue), \(e.config.toolCount) tools, \(f.calls) calls, \(f.errors) errors"
            if let f = s.latencyFigures { l += ", p50 \((Double(f.p50) / 1000).fixed(2)) ms" }
            if let err = e.config.lastError { l += ", last error: \(err)" }
            if !e.memberKeys.isEmpty {
                l += " (\(e.config.loadBalancing.rawValue))"
                for k in e.memberKeys {
                    guard let m = entries[k] else { continue }
                    let ms = m.connection.statsSnapshot
                    l += "\n  \(k) \(Redact.url(m.config.url)): \(m.difference != nil && m.config.status == .ready ? "inconsistent (\(m.difference!.summary))" : m.config.status.rawValue), \(ms.calls) calls, \(ms.callErrors) errors"
                }
            }
            if let p = e.policy, p.cache != nil || p.rateLimit != nil {
                l += ", cache \(p.cacheHits.load(ordering: .relaxed)) hits / \(p.cacheMisses.load(ordering: .relaxed)) misses, \(p.rateLimited.load(ordering: .relaxed)) over the rate limit"
            }
            text += l
        }
        return ManagementTools.result(text, .object(o))
    }

    func healthSummary() -> JSONValue {
        let enabled = order.compactMap { entries[$0] }.filter { $0.config.enabled }
        let healthy = enabled.filter { $0.config.status == .ready }
        let unhealthy = enabled.filter { $0.config.status != .ready }
        // Every server by name, so a model reading the text knows what exists and what works.
        var text = "\(healthy.count)/\(enabled.count) servers healthy"
        for name in order {
            guard let c = entries[name]?.config else { continue }
            text += "\n\(c.name): \(c.enabled ? c.status.rawValue : "disabled")"
            if c.enabled && c.status != .ready, let err = c.lastError { text += ": \(err)" }
        }
        return ManagementTools.result(
            text,
            [
                "healthy": .int(Int64(healthy.count)), "total": .int(Int64(enabled.count)),
                "unhealthy": .array(
                    unhealthy.map {
                        ["name": .string($0.config.name), "status": .string($0.config.status.rawValue),
                         "error": $0.config.lastError.map { .string($0) } ?? .null]
                    }),
            ])
    }

    /// Writes the server set to the state file, if there is one (see `StateFile`).
    func persist() {
        stateSaver?(order.compactMap { entries[$0]?.config })
    }

    /// `manage flush_cache`: forgets the cached results of one server, or of all.
    func flushCache(_ target: String) -> JSONValue {
        if target != "all" {
            guard let e = entries[target], !target.contains("#") else {
                return ManagementTools.failure("No server named \"\(target)\". Servers: \(order.joined(separator: ", "))")
            }
            let n = cache.flush(server: target)
            let note = e.policy?.cache == nil ? " (it has no \"cache\" in its configuration)" : ""
            return ManagementTools.result("Flushed \(n) cached result\(n == 1 ? "" : "s") of \"\(target)\"\(note)", ["server": .string(target), "flushed": .int(Int64(n))])
        }
        let n = cache.flush(server: nil)
        return ManagementTools.result("Flushed \(n) cached result\(n == 1 ? "" : "s") of every server", ["server": "all", "flushed": .int(Int64(n))])
    }

    /// `manage history`: the latest changes of the server set (of one server with `name`).
    func historyResult(server: String?, limit: Int) -> JSONValue {
        let all = history.all.filter { server == nil || $0.server == server }
        let shown = Array(all.suffix(max(1, min(limit, 1_000))))
        let text = shown.isEmpty
            ? "No changes recorded\(server.map { " for \"\($0)\"" } ?? "")."
            : shown.map(\.line).joined(separator: "\n")
        return ManagementTools.result(text, ["entries": .array(shown.map(\.json)), "total": .int(Int64(all.count))])
    }

    /// `manage rollback`: the server set as it was right after history entry `to` (each server
    /// changed since is put back as it was then); every step is recorded as a `rollback`.
    func rollback(to: Int, actor: History.Actor) async -> JSONValue {
        let all = history.all
        guard all.contains(where: { $0.id == to }) else {
            return ManagementTools.failure("No history entry \(to); see manage history (entries \(all.first?.id ?? 0) to \(all.last?.id ?? 0))")
        }
        // Going back from now: each later change undone gives the entry the server had then.
        var target: [String: JSONValue?] = [:]
        for e in all.reversed() where e.id > to { target[e.server] = .some(e.before) }
        var steps: [String] = []
        var failures: [String] = []
        for (server, wanted) in target.sorted(by: { $0.key < $1.key }) {
            let current = entries[server].map(\.config)
            switch (current, wanted) {
            case (nil, nil): continue
            case (let c?, nil):
                _ = await remove(c.name, actor: actor, action: "rollback", rollbackTo: to)
                steps.append("removed \(server)")
            case (let c, let w?):
                guard let config = Self.config(fromHistory: w, fallback: c) else {
                    failures.append("\(server): its entry cannot be re-created")
                    continue
                }
                if let c, History.describe(c)?["url"] == w["url"], History.describe(c)?["urls"] == w["urls"], History.describe(c)?["command"] == w["command"] {
                    if c.enabled != config.enabled {
                        _ = await setEnabled(server, config.enabled, actor: actor, action: "rollback", rollbackTo: to)
                        steps.append("\(config.enabled ? "enabled" : "disabled") \(server)")
                    }
                    continue
                }
                if c != nil { _ = await remove(server, actor: actor, action: "rollback", rollbackTo: to) }
                let r = await add(config, actor: actor, action: "rollback", rollbackTo: to)
                if r["isError"]?.boolValue == true {
                    failures.append("\(server): \(r["content"]?.arrayValue?.first?["text"]?.stringValue ?? "could not be added")")
                } else {
                    if !config.enabled { _ = await setEnabled(server, false, actor: actor, action: "rollback", rollbackTo: to) }
                    steps.append("\(c == nil ? "re-added" : "restored") \(server)")
                }
            }
        }
        let text = "Rolled back to history entry \(to): " + (steps.isEmpty ? "nothing to change" : steps.joined(separator: ", "))
            + (failures.isEmpty ? "" : ". Not restored: " + failures.joined(separator: "; "))
        let structured: JSONValue = ["to": .int(Int64(to)), "steps": .array(steps.map { .string($0) }), "failures": .array(failures.map { .string($0) })]
        return failures.isEmpty ? ManagementTools.result(text, structured) : ManagementTools.failure(text)
    }

    /// A server to add back from its history entry; a configured server's own entry (with its
    /// headers) when it is still known.
    static func config(fromHistory w: JSONValue, fallback: ServerConfig?) -> ServerConfig? {
        guard case .string(let name)? = w["name"] else { return nil }
        var c: ServerConfig
        if let urls = w["urls"]?.arrayValue?.compactMap(\.stringValue), !urls.isEmpty {
            c = ServerConfig(name: name, url: urls[0])
            c.setReplicas(urls.map { ServerConfig.Replica(url: $0) })
            if let lb = w["loadBalancing"]?.stringValue.flatMap(ServerConfig.LoadBalancing.init(rawValue:)) { c.loadBalancing = lb }
        } else if let url = w["url"]?.stringValue {
            c = ServerConfig(name: name, url: url)
        } else if let command = w["command"]?.stringValue {
            var spec = ServerConfig.StdioSpec(command: command, args: w["args"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            spec.cwd = w["cwd"]?.stringValue
            c = ServerConfig(name: name, stdio: spec)
        } else {
            return nil
        }
        if let f = fallback, f.url == c.url { c.headers = f.headers }
        c.enabled = w["enabled"]?.boolValue ?? true
        return c
    }

    // MARK: Admin API

    /// `POST /admin/servers`: a config-shaped entry, checked as a config file entry is, then with
    /// the allow-lists of `manage add` (`--allow-url`, `--allow-command`).
    public func adminAdd(name: String, entry: JSONObject) async -> JSONValue {
        let config: ServerConfig
        do {
            let file = JSONValue.object(["mcpServers": .object([name: .object(entry)])]).serialized()
            let loaded = try ConfigFile.parse(file, file: "request", environment: [:])
            guard let c = loaded.entries.first?.config else { return ManagementTools.failure("no server in the request") }
            config = c
        } catch {
            return ManagementTools.failure("Cannot add \"\(name)\": \(error.message)")
        }
        if let problem = checkAllowed(config) { return ManagementTools.failure("Cannot add \"\(name)\": \(problem)") }
        return await add(config, actor: .admin)
    }

    /// `PUT /admin/servers/{name}`: enable/disable, and/or new instances (URL, URLs, replicas with
    /// weights), keeping the rest of the entry.
    public func adminChange(name: String, change: JSONObject) async -> JSONValue {
        guard let e = entries[name], !name.contains("#") else { return ManagementTools.failure("No server named \"\(name)\"") }
        var result: JSONValue = ManagementTools.result("\"\(name)\" unchanged", ["server": .string(name)])
        if change["url"] != nil || change["urls"] != nil || change["replicas"] != nil || change["loadBalancing"] != nil {
            var entry: JSONObject = [:]
            for k in ["url", "urls", "replicas", "loadBalancing"] where change[k] != nil { entry[k] = change[k] }
            if entry["url"] == nil && entry["urls"] == nil && entry["replicas"] == nil {
                entry["urls"] = .array(e.config.instances.map { .string($0.url) })
            }
            let parsed: ServerConfig
            do {
                let file = JSONValue.object(["mcpServers": .object([name: .object(entry)])]).serialized()
                guard let c = try ConfigFile.parse(file, file: "request", environment: [:]).entries.first?.config else {
                    return ManagementTools.failure("no server in the request")
                }
                parsed = c
            } catch {
                return ManagementTools.failure("Cannot change \"\(name)\": \(error.message)")
            }
            if let problem = checkAllowed(parsed) { return ManagementTools.failure("Cannot change \"\(name)\": \(problem)") }
            var next = e.config
            next.url = parsed.url
            next.stdio = parsed.stdio
            next.transport = parsed.transport
            next.replicas = parsed.replicas
            if change["loadBalancing"] != nil { next.loadBalancing = parsed.loadBalancing }
            if !e.config.headers.isEmpty && e.config.url != next.url { next.headers = [] }
            let wasEnabled = e.config.enabled
            next.enabled = true
            next.status = .connecting
            _ = await remove(name, actor: .admin, action: "change")
            result = await add(next, actor: .admin, action: "change")
            if result["isError"]?.boolValue == true { return result }
            if !wasEnabled && change["enabled"]?.boolValue != true { result = await setEnabled(name, false, actor: .admin) }
        }
        if case .bool(let enabled)? = change["enabled"] {
            if entries[name]?.config.enabled != enabled { result = await setEnabled(name, enabled, actor: .admin) }
        } else if let v = change["enabled"] {
            return ManagementTools.failure("\"enabled\" must be true or false, not \(v.jsonString.prefix(40))")
        }
        return result
    }

    /// What `manage add` would refuse: a URL not allowed, a command not allowed.
    func checkAllowed(_ c: ServerConfig) -> String? {
        for r in c.instances {
            if let spec = r.stdio {
                if case .failure(let e) = stdioSpec(spec.command, [:]) { return e.message }
            } else if let problem = validateURL(r.url) {
                return problem
            }
        }
        return nil
    }
}
