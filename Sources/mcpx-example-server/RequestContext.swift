import MCPXJSON

/// Everything a handler needs for one JSON-RPC request: the server, the session, the request's id and
/// params, and the channel its notifications and answer go out on.
final class RequestContext {
    let server: ExampleServer
    let session: Session
    let id: JSONValue
    let method: String
    let params: JSONObject
    let channel: ResponseChannel

    init(
        server: ExampleServer, session: Session, id: JSONValue, method: String, params: JSONObject,
        channel: ResponseChannel
    ) {
        self.server = server
        self.session = session
        self.id = id
        self.method = method
        self.params = params
        self.channel = channel
    }

    /// `params._meta.progressToken`, if the client asked for progress.
    var progressToken: JSONValue? {
        guard let token = params["_meta"]?["progressToken"] else { return nil }
        switch token {
        case .string, .int: return token
        default: return nil
        }
    }

    /// Sends a notification on this request's answer stream.
    func notify(_ method: String, _ params: JSONValue) {
        channel.notify(RPC.notification(method, params))
    }

    /// Sends `notifications/message` if the session's threshold lets `level` through.
    func log(_ level: LogLevel, _ data: JSONValue) {
        guard level >= session.logLevel else { return }
        notify("notifications/message", [
            "level": .string(level.name), "logger": .string(server.options.name), "data": data,
        ])
    }

    /// Runs `body` as a cancellable request: `notifications/cancelled` for this id (or the session
    /// ending) cancels the flight it is given.
    func cancellable<T, E: Error>(_ body: (InFlight) throws(E) -> T) throws(E) -> T {
        let flight = session.begin(requestID: id)
        defer { session.end(requestID: id) }
        return try body(flight)
    }
}
