import MCPXJSON
import Synchronization

/// Handles what backends send on their own: notifications and requests to the client.
///
/// Runs on the curl thread. Progress goes straight to the client; list changes are handed to the
/// proxy actor, which re-fetches the backend's list.
final class BackendEvents: Sendable {
    let client: ClientChannel?
    let log: Logger
    private let proxy = Mutex<WeakProxy>(WeakProxy())

    struct WeakProxy { weak var value: MultiServerProxy? }

    init(client: ClientChannel?, log: Logger) {
        self.client = client
        self.log = log
    }

    func attach(_ p: MultiServerProxy) { proxy.withLock { $0.value = p } }

    var owner: MultiServerProxy? { proxy.withLock { $0.value } }

    func handle(server: String, _ msg: IncomingMessage) {
        switch msg.kind {
        case .notification(let method):
            notification(server: server, method: method, msg)
        case .request(let id, let method):
            log.debug("\(server): request \(method) from backend")
            Task { await self.owner?.answerBackendRequest(server: server, id: id, method: method, msg) }
        case .response, .errorResponse:
            break
        }
    }

    func notification(server: String, method: String, _ msg: IncomingMessage) {
        switch method {
        case "notifications/progress":
            // The token is the client's own: mcpx passes `_meta` through untouched.
            client?.send(msg.raw.bytes)
        case "notifications/message":
            guard var params = msg.params?.objectValue else { return }
            if case .string(let l)? = params["logger"] {
                params["logger"] = .string("\(server)/\(l)")
            } else {
                params["logger"] = .string(server)
            }
            client?.send(Message.notification(method: method, params: .object(params)))
        case "notifications/tools/list_changed":
            Task { await self.owner?.refreshTools(server) }
        default:
            Task { await self.owner?.backendNotification(server: server, method: method, msg) }
        }
    }
}
