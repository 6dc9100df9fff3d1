/// Live configuration: the server set read again (SIGHUP, or `--watch` seeing a config file
/// change) is applied as a difference. Servers that are gone are removed, new ones added (and
/// connected in the background: a server that cannot be reached yet stays, failed and retried),
/// changed ones (URL, headers, replicas, filters, transport, policies) reconnected; unchanged servers
/// keep their sessions and their calls in flight. Clients get one `list_changed`.
extension MultiServerProxy {
    /// Applies `servers` (the whole configured set); returns what changed, for the log.
    @discardableResult
    public func reload(_ servers: [ServerConfig]) async -> (added: [String], removed: [String], changed: [String]) {
        var added: [String] = []
        var removed: [String] = []
        var changed: [String] = []
        let wanted = servers.map { s -> ServerConfig in
            var s = s
            if s.protocolChoice == .auto { s.protocolChoice = settings.backendProtocol }
            return s
        }
        let names = Set(wanted.map(\.name))
        holdPublish = true
        var closing: [BackendConnection] = []
        for name in order where !names.contains(name) {
            guard let e = entries[name] else { continue }
            closing += dropServer(name)
            history.record(.config, action: "remove", server: name, before: History.describe(e.config), after: nil)
            removed.append(name)
        }
        for s in wanted {
            if let e = entries[s.name] {
                if Self.sameDefinition(e.config, s) { continue }
                closing += dropServer(s.name)
                addConfigured(s)
                history.record(.config, action: "change", server: s.name, before: History.describe(e.config), after: History.describe(s))
                changed.append(s.name)
            } else {
                addConfigured(s)
                history.record(.config, action: "add", server: s.name, before: nil, after: History.describe(s))
                added.append(s.name)
            }
        }
        // New and changed servers get their first attempt (bounded) before the one rebuild, so
        // clients get one list_changed with their tools in it.
        let fresh = added + changed
        await withTaskGroup(of: Void.self) { group in
            for name in fresh where entries[name]?.config.enabled == true {
                group.addTask { _ = await self.attemptConnect(name) }
            }
        }
        for name in fresh where entries[name]?.config.enabled == true {
            if entries[name]?.config.status == .ready { startSupervisorAfterConnect(name) } else { startSupervisor(name) }
        }
        holdPublish = false
        publishNow()  // one rebuild, one list_changed
        persist()
        for c in closing { await c.close() }
        return (added, removed, changed)
    }

    /// Takes a server out (supervisors stopped, cache flushed); returns its connections to close.
    func dropServer(_ name: String) -> [BackendConnection] {
        removedCalls += callFigures(name).calls
        let gone = removeEntries(name)
        for x in gone {
            x.supervisor?.cancel()
            bridge.forget(server: x.config.name)
            for c in x.attemptWaiters { c.resume() }
        }
        order.removeAll { $0 == name }
        cache.flush(server: name)
        return gone.filter { $0.memberKeys.isEmpty }.map(\.connection)
    }

    /// Adds a configured server and connects it in the background.
    func addConfigured(_ s: ServerConfig) {
        addEntries(s)
        order.append(s.name)
    }

    /// Whether two entries of one server would connect and behave the same.
    static func sameDefinition(_ a: ServerConfig, _ b: ServerConfig) -> Bool {
        a.url == b.url && a.stdio == b.stdio && a.transport == b.transport && a.enabled == b.enabled
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
            && a.timeoutSeconds == b.timeoutSeconds && a.allowTools == b.allowTools && a.denyTools == b.denyTools
            && a.replicas == b.replicas && a.loadBalancing == b.loadBalancing && a.retryTools == b.retryTools
            && a.cache == b.cache && a.rateLimit == b.rateLimit && a.protocolChoice == b.protocolChoice
    }
}
