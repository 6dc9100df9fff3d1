import MCPXJSON

/// The operator's endpoints: plain HTTP and JSON, read from the same core the MCP doors use.
extension HTTPDoor {
    /// Answers on the loop thread once `body` (run in a task, it may ask the actor) is done.
    func answerLater(_ ex: HTTPExchange, _ body: @escaping @Sendable () async -> (Int, String, [UInt8])) {
        let loop = self.loop
        Task {
            let (status, type, bytes) = await body()
            loop.onLoop { ex.respond(status, contentType: type, bytes) }
        }
    }

    func operatorGet(_ r: HTTPRequest, _ ex: HTTPExchange) {
        let proxy = self.proxy
        let json = "application/json"
        switch r.path {
        case "/health":
            answerLater(ex) { (200, json, await proxy.healthJSON().serialized()) }
        case "/servers/count":
            answerLater(ex) { (200, json, await proxy.serverCountJSON().serialized()) }
        case "/status":
            answerLater(ex) { (200, json, Self.structured(await proxy.callManagementTool("proxy_status", arguments: nil))) }
        case "/servers":
            answerLater(ex) { (200, json, Self.structured(await proxy.callManagementTool("manage", arguments: ["action": "list"]))) }
        case "/tools":
            let router = proxy.router
            answerLater(ex) {
                await proxy.waitForStartup()
                var out: [UInt8] = []
                router.snapshot.writeToolsListResult(to: &out)
                return (200, json, out)
            }
        case "/metrics":
            let metrics = self.metrics
            let clients = dispatcher.sessions.countsByDoor
            let log = self.log
            answerLater(ex) {
                let t0 = monotonicNanos()
                let text = await metrics.render(clients: clients)
                log.debug("http: /metrics rendered in \(Double(monotonicNanos() - t0) / 1e6) ms (\(text.count) bytes)")
                return (200, Metrics.contentType, text)
            }
        default:  // "/", "/dashboard"
            ex.respond(200, contentType: "text/html; charset=utf-8", Dashboard.page, headers: [
                ("Cache-Control", "no-store"),
                // Nothing but this origin: no external script, style, font or image can load.
                ("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"),
            ])
        }
    }

    /// A management tool's `structuredContent`.
    static func structured(_ result: JSONValue) -> [UInt8] {
        (result["structuredContent"] ?? result).serialized()
    }

    /// `POST /call` with `{"name": "server__tool", "arguments": {...}}`: the tool's result as JSON.
    func restCall(_ r: HTTPRequest, _ ex: HTTPExchange) {
        // JSON only: a browser can send text/plain or a form from any page without asking first.
        guard let ct = r.header("content-type")?.lowercased(), ct == "application/json" || ct.hasPrefix("application/json;") else {
            ex.respondJSON(415, JSONValueBytes(.object(["error": "the body must be sent as Content-Type: application/json"])))
            return
        }
        guard case .object(let body)? = try? JSONParser.parse(r.body) else {
            ex.respondJSON(400, JSONValueBytes(.object(["error": "the body must be a JSON object: {\"name\": \"server__tool\", \"arguments\": {...}}"])))
            return
        }
        guard case .string(let name)? = body["name"] else {
            ex.respondJSON(400, JSONValueBytes(.object(["error": "name (a string) is required: {\"name\": \"server__tool\", \"arguments\": {...}}"])))
            return
        }
        let arguments = body["arguments"]
        if let a = arguments, a.objectValue == nil, !a.isNull {
            ex.respondJSON(400, JSONValueBytes(.object(["error": "arguments must be an object"])))
            return
        }
        let dispatcher = self.dispatcher
        answerLater(ex) {
            switch await dispatcher.callTool(name, arguments: arguments, door: .rest) {
            case .result(let result):
                return (200, "application/json", result.serialized())
            case .rpcError(let e):
                let message = e["message"]?.stringValue ?? "error"
                let status = message.hasPrefix("Unknown tool") ? 404 : e["code"]?.intValue == -32602 ? 400 : 502
                return (status, "application/json", JSONValue.object(["error": e]).serialized())
            }
        }
    }
}
