import MCPXJSON

/// The Streamable HTTP endpoint: POST carries JSON-RPC messages, GET opens the session's stream for
/// server-initiated messages, DELETE ends the session.
struct MCPEndpoint {
    let server: ExampleServer
    private var dispatcher: MCPDispatcher { MCPDispatcher(server: server) }

    func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        var label = ""
        defer {
            if server.options.logRequests {
                Log.info("\(request.method) \(request.target)\(label.isEmpty ? "" : " " + label) -> \(connection.lastStatus)")
            }
        }
        guard request.path == server.options.path[...] else {
            connection.sendText(status: 404, "Not Found")
            return
        }
        if let origin = request.header("origin"), !isAllowedOrigin(origin) {
            connection.sendText(status: 403, "Forbidden: origin \(origin) is not allowed")
            return
        }
        switch request.method {
        case "POST":
            label = post(request, connection)
        case "GET":
            get(request, connection)
        case "DELETE":
            delete(request, connection)
        default:
            connection.sendText(
                status: 405, "Method Not Allowed",
                headers: [("Allow", server.options.getStream ? "GET, POST, DELETE" : "POST, DELETE")])
        }
    }

    // MARK: POST

    /// Answers one POST; returns a label for the request log.
    private func post(_ request: HTTPRequest, _ connection: HTTPConnection) -> String {
        if let type = request.header("content-type"), !type.lowercased().hasPrefix("application/json") {
            connection.sendText(status: 415, "Content-Type must be application/json")
            return ""
        }
        let message: JSONValue
        do {
            message = try JSONParser.parse(request.body)
        } catch {
            let parseError = RPCError(code: RPCError.parseErrorCode, message: "Parse error: \(error.description)")
            connection.sendJSON(status: 400, RPC.error(id: .null, parseError))
            return "(parse error)"
        }
        if case .array(let batch) = message {
            postBatch(batch, request, connection)
            return "batch of \(batch.count)"
        }

        let incoming = Incoming(message)
        var label = ""
        var id: JSONValue = .null
        switch incoming {
        case .invalid(let badID, let reason):
            connection.sendJSON(status: 400, RPC.error(id: badID, .invalidRequest(reason)))
            return "(invalid)"
        case .request(let requestID, let method, let params):
            if method == "initialize" {
                initialize(id: requestID, params: params, request, connection)
                return method
            }
            id = requestID
            label = method
        case .notification(let method, _):
            label = method
        case .response:
            label = "(response)"
        }

        if server.options.modern, request.header("mcp-protocol-version") == "2026-07-28" {
            modern(incoming, request, connection)
            return label
        }
        guard let session = session(for: request, connection, id: id), versionHeaderIsValid(request, connection, id: id)
        else { return label }

        switch incoming {
        case .request(let id, let method, let params):
            let channel = ResponseChannel(connection: connection, request: request, forceStream: server.options.sse)
            let object: JSONObject
            do throws(RPCError) {
                object = try MCPDispatcher.object(params)
            } catch {
                channel.reply(RPC.error(id: id, error))
                return label
            }
            let ctx = RequestContext(
                server: server, session: session, id: id, method: method, params: object, channel: channel)
            if let answer = dispatcher.answer(ctx) {
                channel.reply(answer)
            } else {
                channel.abandon()
            }
        case .notification(let method, let params):
            dispatcher.notification(method, params: params, session: session)
            connection.sendEmpty(status: 202)
        case .response, .invalid:
            connection.sendEmpty(status: 202)
        }
        return label
    }

    /// A 2026-07-28 request (with `--modern`): no session; `server/discover`; `resultType` on results.
    private func modern(_ incoming: Incoming, _ request: HTTPRequest, _ connection: HTTPConnection) {
        guard case .request(let id, let method, let params) = incoming else {
            connection.sendEmpty(status: 202)
            return
        }
        let channel = ResponseChannel(connection: connection, request: request, forceStream: server.options.sse)
        let object: JSONObject
        do throws(RPCError) {
            object = try MCPDispatcher.object(params)
        } catch {
            channel.reply(RPC.error(id: id, error))
            return
        }
        guard object["_meta"]?["io.modelcontextprotocol/protocolVersion"]?.stringValue == "2026-07-28" else {
            connection.sendJSON(status: 400, RPC.error(id: id, .invalidParams("params._meta must carry io.modelcontextprotocol/protocolVersion and clientCapabilities")))
            return
        }
        if request.header("mcp-method") != method {
            connection.sendJSON(status: 400, RPC.error(id: id, RPCError(code: -32020, message: "Mcp-Method header does not match the body")))
            return
        }
        if method == "server/discover" {
            channel.reply(RPC.result(id: id, [
                "resultType": "complete", "supportedVersions": ["2026-07-28"], "ttlMs": 0, "cacheScope": "private",
                "capabilities": ["tools": ["listChanged": true], "resources": [:], "prompts": [:], "completions": [:]],
                "_meta": ["io.modelcontextprotocol/serverInfo": ["name": .string(server.options.name), "version": "1.0.0"]],
            ]))
            return
        }
        if ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"].contains(method) {
            connection.sendJSON(status: 404, RPC.error(id: id, .methodNotFound(method)))
            return
        }
        let ctx = RequestContext(server: server, session: server.stateless, id: id, method: method, params: object, channel: channel)
        guard var answer = dispatcher.answer(ctx) else {
            channel.abandon()
            return
        }
        if case .object(var top) = answer, case .object(var r)? = top["result"], r["resultType"] == nil {
            r["resultType"] = "complete"
            top["result"] = .object(r)
            answer = .object(top)
        }
        channel.reply(answer)
    }

    private func initialize(id: JSONValue, params: JSONValue?, _ request: HTTPRequest, _ connection: HTTPConnection) {
        let channel = ResponseChannel(connection: connection, request: request, forceStream: server.options.sse)
        do throws(RPCError) {
            let (session, result) = try dispatcher.initialize(params: params)
            channel.extraHeaders = [("Mcp-Session-Id", session.id)]
            channel.reply(RPC.result(id: id, result))
        } catch {
            channel.reply(RPC.error(id: id, error))
        }
    }

    /// A JSON-RPC batch (2025-03-26): answered with an array of responses, or 202 if it held none.
    private func postBatch(_ batch: [JSONValue], _ request: HTTPRequest, _ connection: HTTPConnection) {
        guard !batch.isEmpty else {
            connection.sendJSON(status: 400, RPC.error(id: .null, .invalidRequest("empty batch")))
            return
        }
        guard let session = session(for: request, connection, id: .null),
            versionHeaderIsValid(request, connection, id: .null)
        else { return }
        let channel = ResponseChannel(connection: connection, request: request, forceStream: server.options.sse)
        var requests = 0
        for element in batch {
            switch Incoming(element) {
            case .invalid(let id, let reason):
                requests += 1
                channel.batchReply(RPC.error(id: id, .invalidRequest(reason)))
            case .notification(let method, let params):
                dispatcher.notification(method, params: params, session: session)
            case .response:
                break
            case .request(let id, let method, let params):
                requests += 1
                if method == "initialize" {
                    channel.batchReply(RPC.error(id: id, .invalidRequest("initialize must not be part of a batch")))
                    continue
                }
                do throws(RPCError) {
                    let object = try MCPDispatcher.object(params)
                    let ctx = RequestContext(
                        server: server, session: session, id: id, method: method, params: object, channel: channel)
                    if let answer = dispatcher.answer(ctx) { channel.batchReply(answer) }
                } catch {
                    channel.batchReply(RPC.error(id: id, error))
                }
            }
        }
        if requests == 0 {
            connection.sendEmpty(status: 202)
        } else {
            channel.finishBatch()
        }
    }

    // MARK: GET and DELETE

    private func get(_ request: HTTPRequest, _ connection: HTTPConnection) {
        guard server.options.getStream else {
            connection.sendText(status: 405, "Method Not Allowed: no GET stream", headers: [("Allow", "POST, DELETE")])
            return
        }
        guard request.accepts("text/event-stream") else {
            connection.sendText(status: 406, "Not Acceptable: GET needs Accept: text/event-stream")
            return
        }
        guard let session = session(for: request, connection, id: .null),
            versionHeaderIsValid(request, connection, id: .null)
        else { return }

        let chunked = connection.chunkedAllowed
        connection.closeAfterResponse = true  // the stream lasts as long as the connection
        var head: [UInt8] = []
        connection.appendHead(status: 200, headers: SSE.headers(chunked: chunked), to: &head)
        guard connection.write(head) else { return }
        Socket.setSendTimeout(connection.fd, seconds: 10)
        let stream = EventStream(fd: connection.fd, chunked: chunked)
        if session.addStream(stream) {
            connection.waitForPeerClose()
            session.removeStream(stream)
        }
        stream.detach()
    }

    private func delete(_ request: HTTPRequest, _ connection: HTTPConnection) {
        guard let id = request.header("mcp-session-id"), !id.isEmpty else {
            connection.sendJSON(status: 400, RPC.error(id: .null, .invalidRequest("Bad Request: missing Mcp-Session-Id header")))
            return
        }
        guard server.sessions.remove(id) != nil else {
            connection.sendJSON(status: 404, RPC.error(id: .null, Self.sessionNotFound))
            return
        }
        connection.sendEmpty(status: 200)
    }

    // MARK: Checks

    private static let sessionNotFound = RPCError(code: RPCError.sessionNotFoundCode, message: "Session not found")

    /// The session named by the request's `Mcp-Session-Id`; answers 400 (missing) or 404 (unknown) otherwise.
    private func session(for request: HTTPRequest, _ connection: HTTPConnection, id: JSONValue) -> Session? {
        guard let sessionID = request.header("mcp-session-id"), !sessionID.isEmpty else {
            connection.sendJSON(status: 400, RPC.error(id: id, .invalidRequest("Bad Request: missing Mcp-Session-Id header")))
            return nil
        }
        guard let session = server.sessions.lookup(sessionID) else {
            connection.sendJSON(status: 404, RPC.error(id: id, Self.sessionNotFound))
            return nil
        }
        return session
    }

    /// A present but unsupported `MCP-Protocol-Version` header is a 400.
    private func versionHeaderIsValid(_ request: HTTPRequest, _ connection: HTTPConnection, id: JSONValue) -> Bool {
        guard let version = request.header("mcp-protocol-version") else { return true }
        if MCPDispatcher.supportedVersions.contains(version) { return true }
        connection.sendJSON(
            status: 400, RPC.error(id: id, .invalidRequest("Bad Request: unsupported MCP-Protocol-Version \(version)")))
        return false
    }

    /// Browsers' cross-site requests are refused (DNS-rebinding protection): only local origins pass.
    private func isAllowedOrigin(_ origin: String) -> Bool {
        guard let schemeEnd = origin.range(of: "://") else { return false }
        var host = origin[schemeEnd.upperBound...]
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.firstIndex(where: { $0 == ":" || $0 == "/" }) {
            host = host[..<colon]
        }
        let lower = host.lowercased()
        return lower == "localhost" || lower.hasPrefix("127.") || lower == "::1" || lower == server.options.host.lowercased()
    }
}
