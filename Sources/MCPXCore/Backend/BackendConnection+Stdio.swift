import MCPXJSON

extension BackendConnection {
    /// The longest line a stdio server may write (as for a response over HTTP).
    var maxStdioLineBytes: Int { maxResponseBytes }

    /// Starts the process and runs the initialize handshake on its pipes. The channel becomes the
    /// connection's only once the handshake is complete (`notifications/initialized` sent), so no
    /// other request reaches the process before; and only if no other handshake or `close` came
    /// since this one began (`stdioEpoch`), else this process is stopped again.
    func stdioHandshake(_ params: JSONValue, timeoutMillis: Int) async throws(BackendError) {
        guard let spec = stdioSpec else { throw BackendError(.refused, "no command to start") }
        #if !os(Linux)
        throw BackendError(.refused, "stdio servers need Linux for now (mcpx watches their pipes with epoll)")
        #else
        let epoch = session.withLock { s -> Int in
            s.stdioEpoch += 1
            return s.stdioEpoch
        }
        let process = try await ChildProcess.spawn(spec, on: loop)
        let channel = StdioChannel(
            name: name, process: process, loop: loop, log: log, maxLineBytes: maxStdioLineBytes,
            onMessage: onStreamMessage,
            onMalformed: { [weak self] in self?.stats.withLock { $0.malformedMessages += 1 } },
            onExit: { [weak self] why, lived in self?.processEnded(why, lived: lived) })
        channel.start()
        do throws(BackendError) {
            // 2026-07-28 first, on the same process (the first request decides its era).
            var modern = false
            if protocolChoice != .handshake {
                modern = try await probeModern(clientCapabilities: params["capabilities"] ?? .object([:]), timeoutMillis: timeoutMillis, via: channel)
                if !modern && protocolChoice == .modern {
                    throw BackendError(.protocolViolation, "the server does not answer server/discover at \(ModernEra.version) (\"protocol\": \"\(ModernEra.version)\" is configured)")
                }
            }
            if !modern {
                do {
                    try await stdioInitialize(channel, params, timeoutMillis: timeoutMillis)
                } catch where protocolChoice == .auto && error.message.contains(ModernEra.version) {
                    // A dual-era server slow to start read the probe late and now serves
                    // 2026-07-28 only (its refusal of initialize says so): ask it again.
                    log.debug("\(name): initialize refused after the probe timed out; probing \(ModernEra.version) again")
                    if !(try await probeModern(clientCapabilities: params["capabilities"] ?? .object([:]), timeoutMillis: timeoutMillis, via: channel)) { throw error }
                }
            }
        } catch {
            await channel.close()
            let tail = channel.stderrTail
            session.withLock { $0.lastStderr = tail }  // shown in proxy_status and mcpx check
            // What the process said on its way out is often the only clue.
            if let last = channel.stderrTail.last, !error.message.contains("last stderr") {
                throw BackendError(error.kind, "\(error.message); last stderr: \(last.prefix(300))", status: error.status)
            }
            throw error
        }
        let installed = session.withLock { s -> Bool in
            guard s.stdioEpoch == epoch, s.stdio == nil else { return false }
            s.stdio = channel
            s.idleStopped = false
            return true
        }
        if !installed {
            await channel.close()
            throw BackendError(.cancelled, "the server was stopped or restarted while starting")
        }
        #endif
    }

    #if os(Linux)
    /// The `initialize` handshake on a started process.
    func stdioInitialize(_ channel: StdioChannel, _ params: JSONValue, timeoutMillis: Int) async throws(BackendError) {
        do {
            let id = RPCID.int(makeRequestID())
            let answer = await withCheckedContinuation { c in
                channel.send(Message.request(id: id, method: "initialize", params: params), expecting: id, timeoutMillis: timeoutMillis) {
                    c.resume(returning: $0)
                }
            }
            let m: IncomingMessage
            switch answer {
            case .success(let msg?): m = msg
            case .success(nil): throw BackendError(.protocolViolation, "no answer to initialize")
            case .failure(let e): throw e
            }
            if case .errorResponse = m.kind {
                throw BackendError(.protocolViolation, "initialize failed: \(redact(m.raw.value("error")?["message"]?.stringValue ?? "error"))")
            }
            guard let result = m.raw.value("result"), case .string(let version)? = result["protocolVersion"],
                Self.supportedVersions.contains(version)
            else {
                throw BackendError(.protocolViolation, "initialize result has no supported protocolVersion")
            }
            adopt(result, version: version, sessionID: nil)
            channel.send(Message.notification(method: "notifications/initialized", params: nil), expecting: nil, timeoutMillis: 0) { _ in }
        }
    }
    #endif

    /// The process ended by itself: forget it, so the next request fails at once and the proxy
    /// restarts it (`lived`: how long it ran, in seconds).
    func processEnded(_ why: String, lived: Double) {
        let current = session.withLock { s -> Bool in
            guard let c = s.stdio, !c.isOpen else { return false }
            s.lastStderr = c.stderrTail
            s.stdio = nil
            return true
        }
        // A process that never became the connection's (its handshake failed) is the attempt's to report.
        if current { onProcessExit?(why, lived) }
    }

    /// Stops the process if it has had no request for `idleTimeout` seconds and none is waiting;
    /// its tools stay listed, and the next request starts it again (`wakeUp`). Returns whether it
    /// stopped it.
    func stopIfIdle() async -> Bool {
        guard let idle = stdioSpec?.idleTimeout else { return false }
        let quiet = Double(monotonicNanos() - lastActivity) / 1e9
        guard quiet >= idle else { return false }
        let channel = session.withLock { s -> StdioChannel? in
            // Checked again under the lock: a request noted its use just before it is sent.
            guard Double(monotonicNanos() - lastActivity) / 1e9 >= idle, let c = s.stdio, c.pendingCount == 0,
                inFlight.load(ordering: .relaxed) == 0
            else { return nil }
            s.stdio = nil
            s.idleStopped = true
            s.lastStderr = c.stderrTail
            return c
        }
        guard let channel else { return false }
        log.info("\(name): idle for \(Int(quiet)) s: stopping its process (it starts again on the next call)")
        await channel.close()
        return true
    }

    public var isIdleStopped: Bool { session.withLock { $0.idleStopped } }

    /// A request for a process stopped for being idle: start it again (once for all such
    /// requests) and send them when it is ready. False when the process is not idle-stopped.
    func wakeUp(
        _ body: [UInt8], expecting id: RPCID?, timeoutMillis: Int,
        completion: @escaping @Sendable (Result<IncomingMessage?, BackendError>) -> Void
    ) -> Bool {
        let (accepted, first, caps) = session.withLock { s -> (Bool, Bool, JSONValue) in
            guard s.idleStopped else { return (false, false, .null) }
            s.waking.append((body, id, timeoutMillis, completion))
            return (true, s.waking.count == 1, s.clientCapabilities)
        }
        guard accepted else { return false }
        lastActivityNanos.store(monotonicNanos(), ordering: .relaxed)
        if first {
            Task { [self] in
                log.info("\(name): starting its process again for a call")
                var failure: BackendError?
                do throws(BackendError) {
                    try await handshake(clientCapabilities: caps, timeoutMillis: 10_000)
                } catch {
                    failure = error
                }
                let queued = session.withLock { s -> [(body: [UInt8], id: RPCID?, timeoutMillis: Int, completion: @Sendable (Result<IncomingMessage?, BackendError>) -> Void)] in
                    defer { s.waking = [] }
                    s.idleStopped = failure != nil
                    return s.waking
                }
                for q in queued {
                    if let failure {
                        q.completion(.failure(failure))
                    } else {
                        post(q.body, expecting: q.id, timeoutMillis: q.timeoutMillis, completion: q.completion)
                    }
                }
            }
        }
        return true
    }

    /// The running process's id, its last stderr lines (both nil for HTTP backends).
    public var processID: Int32? { session.withLock { $0.stdio }.map { $0.process.pid } }
    public var stderrTail: [String]? {
        guard stdioSpec != nil else { return nil }
        let (c, last) = session.withLock { ($0.stdio, $0.lastStderr) }
        // The running process's lines; until it writes any, those of the one before (why it ended).
        if let tail = c?.stderrTail, !tail.isEmpty { return tail }
        return last
    }
}
