import MCPXJSON

extension BackendConnection {
    /// The longest line a stdio server may write (as for a response over HTTP).
    var maxStdioLineBytes: Int { maxResponseBytes }

    /// Starts the process and runs the initialize handshake on its pipes.
    func stdioHandshake(_ params: JSONValue, timeoutMillis: Int) async throws(BackendError) {
        guard let spec = stdioSpec else { throw BackendError(.refused, "no command to start") }
        let process = try ChildProcess.spawn(spec)
        let channel = StdioChannel(
            name: name, process: process, loop: loop, log: log, maxLineBytes: maxStdioLineBytes,
            onMessage: onMessage,
            onMalformed: { [weak self] in self?.stats.withLock { $0.malformedMessages += 1 } },
            onExit: { [weak self] why in self?.processEnded(why) })
        channel.start()
        session.withLock { $0.stdio = channel }
        do throws(BackendError) {
            let result = try await call("initialize", params, timeoutMillis: timeoutMillis)
            guard case .string(let version)? = result["protocolVersion"], Self.supportedVersions.contains(version) else {
                throw BackendError(.protocolViolation, "initialize result has no supported protocolVersion")
            }
            adopt(result, version: version, sessionID: nil)
        } catch {
            session.withLock { if $0.stdio === channel { $0.stdio = nil } }
            await channel.close()
            // What the process said on its way out is often the only clue.
            if let last = channel.stderrTail.last, !error.message.contains("last stderr") {
                throw BackendError(error.kind, "\(error.message); last stderr: \(last.prefix(300))", status: error.status)
            }
            throw error
        }
        await sendInitialized(timeoutMillis: timeoutMillis)
    }

    /// The process ended by itself: forget it, so the next request fails at once and the proxy
    /// restarts it.
    func processEnded(_ why: String) {
        session.withLock { s in
            if let c = s.stdio, !c.isOpen {
                s.lastStderr = c.stderrTail
                s.stdio = nil
            }
        }
        onProcessExit?(why)
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
