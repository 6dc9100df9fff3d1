import MCPXJSON

/// Servers with several instances (replicas).
///
/// Each replica has an entry of its own under the key `name#N` (not in `order`, so not listed as
/// a server): its connection, supervisor, health checks, backoff and figures, exactly like a
/// server with one instance. The server's entry (`name`, in `order`) only groups them: its tools
/// are built from the tool set most of its ready replicas list, its status is `ready` while one of
/// them is usable, and its `connection` is its lead replica's (the first usable one), which
/// carries what stays on one replica (prompts, resources and their subscriptions, completion).
/// Calls pick a replica per call (`ReplicaBalancer`) from the router.
extension MultiServerProxy {
    /// The entry key of replica `index` (0-based) of `name`. `#` is not allowed in server names.
    nonisolated static func replicaKey(_ name: String, _ index: Int) -> String { "\(name)#\(index + 1)" }

    /// The server an entry key belongs to (the key itself for a server's own entry).
    nonisolated static func serverName(ofKey key: String) -> String {
        key.firstIndex(of: "#").map { String(key[..<$0]) } ?? key
    }

    /// What a replica lists that its server's tool set does not, or lacks, or defines otherwise.
    struct ReplicaDifference: Equatable {
        var missing: [String]
        var extra: [String]
        var changed: [String]

        var json: JSONValue {
            ["missing": .array(missing.map { .string($0) }), "extra": .array(extra.map { .string($0) }),
             "changed": .array(changed.map { .string($0) })]
        }

        var summary: String {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("lacks \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", ..." : "")") }
            if !extra.isEmpty { parts.append("also lists \(extra.prefix(5).joined(separator: ", "))\(extra.count > 5 ? ", ..." : "")") }
            if !changed.isEmpty { parts.append("defines \(changed.prefix(5).joined(separator: ", "))\(changed.count > 5 ? ", ..." : "") otherwise") }
            return parts.joined(separator: "; ")
        }

        init(_ mine: [String: UInt64], reference: [String: UInt64]) {
            missing = reference.keys.filter { mine[$0] == nil }.sorted()
            extra = mine.keys.filter { reference[$0] == nil }.sorted()
            changed = mine.compactMap { k, v in reference[k].map { $0 != v ? k : nil } ?? nil }.sorted()
        }
    }

    /// Each tool's name and a hash of its definition in canonical JSON.
    nonisolated static func toolSignature(_ raw: [JSONValue]) -> [String: UInt64] {
        var sig: [String: UInt64] = [:]
        for t in raw {
            guard case .string(let name)? = t["name"] else { continue }
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in t.canonical {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01b3
            }
            sig[name] = h
        }
        return sig
    }

    /// The entries of `s`: one, or the server's and one per replica.
    nonisolated static func makeEntries(_ s: ServerConfig, loop: CurlLoop, log: Logger, events: BackendEvents) -> [(key: String, entry: Entry)] {
        let policy = CallPolicy.isNeeded(s) ? CallPolicy(server: s.name, cache: s.cache, rateLimit: s.rateLimit, retryTools: s.retryTools) : nil
        guard s.replicas.count > 1 else {
            var e = Entry(config: s, connection: makeConnection(s, loop: loop, log: log, events: events))
            e.policy = policy
            return [(s.name, e)]
        }
        var out: [(key: String, entry: Entry)] = []
        for (i, r) in s.replicas.enumerated() {
            var c = s
            c.name = replicaKey(s.name, i)
            c.url = r.url
            c.stdio = r.stdio
            c.transport = r.stdio != nil ? .stdio : (s.transport == .stdio ? .auto : s.transport)
            c.replicas = []
            c.replicaOf = s.name
            var m = Entry(config: c, connection: makeConnection(c, loop: loop, log: log, events: events))
            m.weight = r.weight
            out.append((c.name, m))
        }
        var g = Entry(config: s, connection: out[0].entry.connection)
        g.memberKeys = out.map(\.key)
        g.balancer = ReplicaBalancer(strategy: s.loadBalancing)
        g.policy = policy
        return [(s.name, g)] + out
    }

    /// Adds the entries of `s` (see `makeEntries`).
    func addEntries(_ s: ServerConfig) {
        for (k, e) in Self.makeEntries(s, loop: loop, log: log, events: events) { entries[k] = e }
    }

    /// Removes a server's entries (its replicas' too) and returns them.
    func removeEntries(_ name: String) -> [Entry] {
        guard let e = entries.removeValue(forKey: name) else { return [] }
        return [e] + e.memberKeys.compactMap { entries.removeValue(forKey: $0) }
    }

    func isReplicated(_ name: String) -> Bool { entries[name]?.memberKeys.isEmpty == false }

    /// The keys of the entries that have connections: the replicas', or the server's own.
    func connectionKeys(_ name: String) -> [String] {
        guard let e = entries[name] else { return [] }
        return e.memberKeys.isEmpty ? [name] : e.memberKeys
    }

    /// Whether a server's first connection attempt is over (for a replicated one: one replica is
    /// usable, or every replica has had its first attempt).
    func firstAttemptOver(_ name: String) -> Bool {
        guard let e = entries[name] else { return true }
        if !e.config.enabled { return true }
        if e.memberKeys.isEmpty { return e.firstAttemptDone }
        return e.config.status == .ready || e.memberKeys.allSatisfy { entries[$0]?.firstAttemptDone ?? true }
    }

    /// A replica listed its tools: keep them; the server's tool set is decided at the next publish.
    func setReplicaTools(_ key: String, _ raw: [JSONValue]) {
        entries[key]?.rawTools = raw
        entries[key]?.signature = Self.toolSignature(raw)
        publish()
    }

    /// Decides a replicated server's tool set (the one most of its ready replicas list; on a tie,
    /// the earliest replica's), which replicas are inconsistent with it, its status and its lead.
    func recomputeGroup(_ name: String) {
        guard let g = entries[name], !g.memberKeys.isEmpty else { return }
        let keys = g.memberKeys
        let ready = keys.filter { entries[$0]?.config.enabled == true && entries[$0]?.config.status == .ready }
        var reference: [String: UInt64]?
        var referenceKey: String?
        var bestCount = 0
        for k in ready {
            let sig = entries[k]!.signature
            let n = ready.filter { entries[$0]!.signature == sig }.count
            if n > bestCount {
                bestCount = n
                reference = sig
                referenceKey = k
            }
        }
        var usable: [String] = []
        for k in keys {
            guard entries[k] != nil else { continue }
            if let reference, ready.contains(k), entries[k]!.signature != reference {
                let d = ReplicaDifference(entries[k]!.signature, reference: reference)
                if entries[k]!.difference != d { log.warning("\(k): inconsistent with the other replicas of \(name) (\(d.summary)): it gets no calls") }
                entries[k]!.difference = d
            } else {
                if entries[k]!.difference != nil { log.info("\(k): consistent with \(name) again") }
                entries[k]!.difference = nil
                if ready.contains(k) { usable.append(k) }
            }
        }
        if let reference, let referenceKey, g.referenceSignature != reference {
            entries[name]!.referenceSignature = reference
            buildTools(name, entries[referenceKey]!.rawTools, taken: [:])
        }
        entries[name]!.usableKeys = usable
        if !g.config.enabled {
            entries[name]!.config.status = .disabled
        } else if let lead = usable.first, let le = entries[lead] {
            entries[name]!.config.status = .ready
            entries[name]!.config.lastError = nil
            entries[name]!.config.protocolVersion = le.config.protocolVersion
            entries[name]!.config.serverName = le.config.serverName
            if entries[name]!.config.lastConnectedAt == nil { entries[name]!.config.lastConnectedAt = le.config.lastConnectedAt }
            if g.connection !== le.connection || !g.catalogFromLead {
                // What stays on one replica (prompts, resources) comes from the lead.
                entries[name]!.connection = le.connection
                entries[name]!.catalogFromLead = true
                let conn = le.connection
                Task { [weak self] in
                    await self?.fetchCatalog(name, conn)
                    await self?.catalogFetched(name)
                }
            }
        } else {
            let anyConnecting = keys.contains { entries[$0]?.config.status == .connecting }
            entries[name]!.config.status = anyConnecting && !firstAttemptOver(name) ? .connecting : .failed
            let errors = keys.compactMap { k in entries[k].flatMap { e in e.difference.map { "\(k): inconsistent (\($0.summary))" } ?? e.config.lastError.map { "\(k): \($0)" } } }
            entries[name]!.config.lastError = errors.isEmpty ? "no replica is ready" : errors.joined(separator: "; ")
            entries[name]!.catalogFromLead = false
            if firstAttemptOver(name) { catalogFetched(name) }
        }
    }

    /// Connects every replica of a server at once; true when one is ready.
    func attemptConnectReplicas(_ name: String) async -> Bool {
        let keys = connectionKeys(name)
        await withTaskGroup(of: Void.self) { group in
            for k in keys { group.addTask { _ = await self.attemptConnect(k) } }
        }
        publishNow()
        return entries[name]?.config.status == .ready
    }

    /// Supervises each replica after `attemptConnectReplicas`: health loops for the ready ones,
    /// reconnecting for the others.
    func superviseReplicasAfterConnect(_ name: String) {
        for k in connectionKeys(name) {
            if entries[k]?.config.status == .ready { startSupervisorAfterConnect(k) } else { startSupervisor(k) }
        }
    }

    /// For a call to a replicated server with no usable replica: try each failed one again now.
    func ensureReplicasReady(_ name: String) async -> Bool {
        let keys = connectionKeys(name)
        await withTaskGroup(of: Void.self) { group in
            for k in keys { group.addTask { _ = await self.ensureReady(k) } }
        }
        publishNow()
        return entries[name]?.config.status == .ready
    }

    /// Sums of a server's replicas' figures (the server's own for one instance).
    func callFigures(_ name: String) -> (calls: Int, errors: Int, inFlight: Int) {
        var out = (calls: 0, errors: 0, inFlight: 0)
        for k in connectionKeys(name) {
            guard let c = entries[k]?.connection else { continue }
            let s = c.statsSnapshot
            out.calls += s.calls
            out.errors += s.errors
            out.inFlight += max(0, c.inFlight.load(ordering: .relaxed))
        }
        return out
    }

    /// `replicas` in status and `manage list`.
    func replicasJSON(_ name: String, detailed: Bool) -> JSONValue? {
        guard let g = entries[name], !g.memberKeys.isEmpty else { return nil }
        var out: [JSONValue] = []
        for k in g.memberKeys {
            guard let e = entries[k] else { continue }
            var o: JSONObject = [
                "replica": .string(k), "url": .string(Redact.url(e.config.url)),
                "status": .string(e.difference != nil && e.config.status == .ready ? "inconsistent" : e.config.status.rawValue),
                "weight": .int(Int64(e.weight)), "toolCount": .int(Int64(e.signature.count)),
            ]
            if let d = e.difference { o["difference"] = d.json }
            o["lastError"] = e.config.lastError.map { .string($0) } ?? .null
            if detailed {
                let s = e.connection.statsSnapshot
                o["calls"] = .int(Int64(s.calls))
                o["errors"] = .int(Int64(s.callErrors))
                o["inFlight"] = .int(Int64(max(0, e.connection.inFlight.load(ordering: .relaxed))))
                let f = s.latencyFigures
                o["p50Ms"] = f.map { .double(Double($0.p50) / 1000) } ?? .null
                o["p99Ms"] = f.map { .double(Double($0.p99) / 1000) } ?? .null
                o["errorRate"] = .double((s.healthErrorRate() * 1000).rounded() / 1000)
                o["connectAttempts"] = .int(Int64(e.config.connectAttempts))
                if let spec = e.config.stdio {
                    o["command"] = .string(Redact.known(spec.display))
                    o["pid"] = e.connection.processID.map { .int(Int64($0)) } ?? .null
                }
            }
            out.append(.object(o))
        }
        return .array(out)
    }
}
