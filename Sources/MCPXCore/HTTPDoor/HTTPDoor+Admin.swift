import MCPXJSON

/// The admin API, on with `--admin-token` (off, 404, without): servers register, change and leave
/// over HTTP, with the validation and allow-lists of `manage add`, recorded with actor `admin`.
///
/// - `GET /admin/servers`: the servers (as `manage list`).
/// - `POST /admin/servers`: a server entry (the shape of a config entry, plus `"name"`) → 201.
/// - `PUT /admin/servers/{name}`: `{"enabled": bool}` and/or new instances (`"url"`, `"urls"`,
///   `"replicas"` with weights) → 200.
/// - `DELETE /admin/servers/{name}` → 200.
extension HTTPDoor {
    func admin(_ r: HTTPRequest, _ ex: HTTPExchange) {
        let json = "application/json"
        guard let token = settings.adminToken else {
            ex.respondJSON(404, JSONValueBytes(.object(["error": .string("no such endpoint: \(r.path) (the admin API needs --admin-token)")])))
            return
        }
        guard Self.bearerMatches(r, token: token, allowQuery: false) else {
            ex.respondJSON(401, JSONValueBytes(["error": "missing or wrong admin bearer token"]), headers: [("WWW-Authenticate", "Bearer")])
            return
        }
        let proxy = self.proxy
        let name = r.path.hasPrefix("/admin/servers/") ? String(r.path.dropFirst("/admin/servers/".count)) : nil
        let body = r.body
        switch (r.method, name) {
        case ("GET", nil):
            answerLater(ex) { (200, json, Self.structured(await proxy.callManagementTool("manage", arguments: ["action": "list"], actor: .admin))) }
        case ("POST", nil):
            guard case .object(var entry)? = try? JSONParser.parse(body), case .string(let n)? = entry["name"] else {
                ex.respondJSON(400, JSONValueBytes(["error": "the body must be a JSON server entry with \"name\" (and \"url\", \"urls\", \"replicas\" or \"command\")"]))
                return
            }
            entry["name"] = nil
            let fields = entry
            answerLater(ex) { Self.adminAnswer(await proxy.adminAdd(name: n, entry: fields), created: true) }
        case ("PUT", let n?):
            guard case .object(let change)? = try? JSONParser.parse(body) else {
                ex.respondJSON(400, JSONValueBytes(["error": "the body must be a JSON object: {\"enabled\": false}, or new \"url\"/\"urls\"/\"replicas\""]))
                return
            }
            answerLater(ex) { Self.adminAnswer(await proxy.adminChange(name: n, change: change), created: false) }
        case ("DELETE", let n?):
            answerLater(ex) { Self.adminAnswer(await proxy.callManagementTool("manage", arguments: ["action": "remove", "name": .string(n)], actor: .admin), created: false) }
        default:
            methodNotAllowed(ex, name == nil ? "GET, POST" : "PUT, DELETE")
        }
    }

    /// A management result as an HTTP answer: its structured content, 200/201, or 400/404/409 with
    /// the error text.
    static func adminAnswer(_ result: JSONValue, created: Bool) -> (Int, String, [UInt8]) {
        let text = result["content"]?.arrayValue?.first?["text"]?.stringValue ?? ""
        if result["isError"]?.boolValue == true {
            let status = text.hasPrefix("No server named") ? 404 : text.contains("already exists") ? 409 : 400
            return (status, "application/json", JSONValue.object(["error": .string(text)]).serialized())
        }
        return (created ? 201 : 200, "application/json", structured(result))
    }
}
