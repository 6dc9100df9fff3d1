import Foundation
import Glibc

/// The server's shared state and its accept loop: one thread per connection, each serving keep-alive
/// requests until the peer closes.
final class ExampleServer: Sendable {
    let options: Options
    let catalog: ToolCatalog
    let sessions: SessionStore
    let content: ExampleContent

    init(options: Options) {
        self.options = options
        catalog = ToolCatalog(options: options)
        sessions = SessionStore()
        content = ExampleContent(name: options.name)
    }

    func run() throws(SocketError) {
        let (listener, port) = try Socket.listen(host: options.host, port: options.port)
        let shownHost = options.host.contains(":") ? "[\(options.host)]" : options.host
        Log.announce("listening on http://\(shownHost):\(port)\(options.path)")
        Log.info(
            "'\(options.name)' serving \(catalog.count) tools on \(shownHost):\(port)\(options.path)"
                + (options.sse ? " (SSE answers)" : "") + (options.getStream ? "" : " (no GET stream)"))
        while true {
            guard let fd = Socket.accept(listener) else { continue }
            Socket.setNoDelay(fd)
            let thread = Thread { [self] in
                let connection = HTTPConnection(fd: fd, server: self)
                connection.run()
            }
            thread.stackSize = 2 << 20
            thread.start()
        }
    }
}
