import MCPXJSON

/// Clients of revision 2026-07-28: stateless requests, `server/discover`, `subscriptions/listen`,
/// `resultType` on every result (see `ModernEra`). A client may mix nothing: once it made a modern
/// request, `initialize` is refused; once it did the handshake, its requests are handshake-era.
extension Dispatcher {
    func modernRequest(id: RPCID, method: String, _ msg: IncomingMessage, _ envelope: ModernEra.Envelope, _ session: ClientSession, reply: @escaping Reply) {
        guard ModernEra.versions.contains(envelope.version) else {
            reply(Message.error(id: id, ModernEra.unsupported(envelope.version)))
            return
        }
        if ModernEra.removedMethods.contains(method) {
            reply(Message.error(id: id, RPCError(.methodNotFound, "Method not found: \(method) is not part of protocol \(ModernEra.version)", data: .string(method))))
            return
        }
        session.setClientName(envelope.clientInfo?["name"]?.stringValue)
        if session.markModern(capabilities: envelope.capabilities) {
            // The first modern request of this client: backends start now, told what it supports.
            let caps = envelope.capabilities
            Task { [proxy] in await proxy.start(clientCapabilities: caps) }
        }
        let stamped: Reply = { reply(ModernEra.stamp($0, method: method)) }
        switch method {
        case "server/discover":
            discover(id: id, reply: stamped)
        case "subscriptions/listen":
            listen(id: id, msg, session, reply: stamped)
        default:
            // Backends see the request without the client's envelope (a handshake-era backend
            // would refuse it; a modern one gets mcpx's own).
            let inner = Self.withoutEnvelope(msg)
            guard let level = envelope.logLevel else {
                dispatch(id: id, method: method, inner, session, reply: stamped)
                return
            }
            session.setRequestLogLevel(id, level)
            dispatch(id: id, method: method, inner, session) { bytes in
                session.setRequestLogLevel(id, nil)
                stamped(bytes)
            }
        }
    }

    /// `server/discover`: the versions mcpx speaks (both eras), what it offers, who it is.
    func discover(id: RPCID, reply: @escaping Reply) {
        Task { [proxy] in
            await proxy.waitForFirstAttempts(upTo: min(0.25, proxy.settings.startupTimeout))
            var caps = await proxy.upstreamCapabilities().objectValue ?? [:]
            // Backends' log messages reach a 2026-07-28 client for requests that ask (`logLevel`).
            caps["logging"] = .object([:])
            let result: JSONValue = [
                "supportedVersions": .array(ModernEra.allVersions.map { .string($0) }),
                "capabilities": .object(caps),
                "instructions": .string(await proxy.instructions()),
                "_meta": [ModernEra.serverInfoKey: ModernEra.serverInfo],
            ]
            reply(Message.response(id: id, result: result))
        }
    }

    /// `subscriptions/listen`: acknowledged with what mcpx will send, then list changes and
    /// resource updates tagged with this request's id, until the client cancels it (no answer
    /// then) or goes away.
    func listen(id: RPCID, _ msg: IncomingMessage, _ session: ClientSession, reply: @escaping Reply) {
        let filter = msg.params?["notifications"]?.objectValue ?? [:]
        var l = ClientSession.Listen(id: id)
        l.tools = filter["toolsListChanged"]?.boolValue == true
        l.prompts = filter["promptsListChanged"]?.boolValue == true
        l.resources = filter["resourcesListChanged"]?.boolValue == true
        var uris: [String] = []
        if let list = filter["resourceSubscriptions"]?.arrayValue {
            for v in list {
                guard let uri = v.stringValue else {
                    reply(Message.error(id: id, .invalidParams("Invalid params: notifications.resourceSubscriptions must be an array of URIs")))
                    return
                }
                uris.append(uri)
            }
        }
        guard !session.state.withLock({ $0.listens.contains { $0.id == id } }) else {
            reply(Message.error(id: id, RPCError(.invalidRequest, "Invalid Request: id \(id) is already in use by a listen stream")))
            return
        }
        l.uris = Set(uris.filter { ResourceURI.split($0) != nil })
        var honored: JSONObject = [:]
        if l.tools { honored["toolsListChanged"] = true }
        if l.prompts { honored["promptsListChanged"] = true }
        if l.resources { honored["resourcesListChanged"] = true }
        if !l.uris.isEmpty { honored["resourceSubscriptions"] = .array(uris.filter { l.uris.contains($0) }.map { .string($0) }) }
        let ack = Message.notification(method: "notifications/subscriptions/acknowledged", params: l.params(["notifications": .object(honored)]))
        // Resource updates need the backends' own subscriptions, asked once per URI whoever else
        // holds it; the acknowledgement follows them, so what comes after it is not lost.
        let fresh = l.uris.filter { !sessions.othersSubscribed(to: $0, except: session) && !session.isSubscribed($0) }
        session.addListen(l)
        guard !fresh.isEmpty else {
            session.send(ack, relatedTo: id)
            return
        }
        Task { [proxy] in
            await proxy.waitForStartup()
            await withTaskGroup(of: Void.self) { group in
                for uri in fresh {
                    guard let (server, original) = ResourceURI.split(uri) else { continue }
                    group.addTask {
                        guard let conn = await proxy.readyConnection(server), conn.serverCapabilities?["resources"]?["subscribe"]?.boolValue == true else { return }
                        if conn.isModern {
                            await proxy.listenForResource(server, original, true)
                        } else {
                            _ = try? await conn.call("resources/subscribe", ["uri": .string(original)], timeoutMillis: 10_000)
                        }
                    }
                }
            }
            session.send(ack, relatedTo: id)
        }
    }

    /// A listen stream the client cancelled: ended, with no answer; backend subscriptions no one
    /// else holds are dropped. False when `id` is not a listen stream.
    func endListen(_ id: RPCID, _ session: ClientSession) -> Bool {
        guard let l = session.removeListen(id) else { return false }
        for uri in l.uris where !sessions.othersSubscribed(to: uri, except: session) && !session.isSubscribed(uri) {
            guard let (server, original) = ResourceURI.split(uri) else { continue }
            Task { [proxy] in
                guard let conn = await proxy.readyConnection(server) else { return }
                if conn.isModern {
                    await proxy.listenForResource(server, original, false)
                    return
                }
                _ = try? await conn.call("resources/unsubscribe", ["uri": .string(original)], timeoutMillis: 5_000)
            }
        }
        return true
    }

    /// The message with the 2026-07-28 envelope keys taken out of `params._meta`: only `_meta` is
    /// parsed and written again, the rest of the bytes are copied as they are (`_meta` left empty
    /// when nothing else was in it).
    static func withoutEnvelope(_ msg: IncomingMessage) -> IncomingMessage {
        let bytes = msg.raw.bytes
        guard let pr = msg.raw.range("params"), let params = try? RawObject(bytes, range: pr), let mr = params.range("_meta"),
            case .object(var meta)? = params.value("_meta")
        else { return msg }
        for k in [ModernEra.protocolVersionKey, ModernEra.capabilitiesKey, ModernEra.clientInfoKey, ModernEra.logLevelKey] { meta[k] = nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: bytes[..<mr.lowerBound])
        JSONValue.object(meta).write(to: &out)
        out.append(contentsOf: bytes[mr.upperBound...])
        return (try? IncomingMessage(bytes: out)) ?? msg
    }
}
