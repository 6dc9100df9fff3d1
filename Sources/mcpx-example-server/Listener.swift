import Foundation
import Glibc

/// The listening socket and its accept loop: one thread per connection, each serving keep-alive requests
/// until the peer closes. Serves one MCP server at `--path`, or with `--endpoints N` N independent ones
/// (own name, tools, sessions) at PATH/0 ... PATH/{N-1}, picked by each request's path.
final class Listener: Sendable {
    let options: Options
    /// The servers by endpoint path.
    private let routes: [String: ExampleServer]
    /// Answers requests for unknown paths (with 404, and its request log).
    private let fallback: ExampleServer

    init(options: Options) {
        self.options = options
        guard let count = options.endpoints else {
            let server = ExampleServer(options: options)
            routes = [options.path: server]
            fallback = server
            return
        }
        let base = options.path.hasSuffix("/") ? options.path : options.path + "/"
        var routes: [String: ExampleServer] = [:]
        routes.reserveCapacity(count)
        var first: ExampleServer?
        for i in 0..<count {
            var one = options
            one.name = "\(options.name)-\(i)"
            one.path = base + String(i)
            let server = ExampleServer(options: one)
            routes[one.path] = server
            if first == nil { first = server }
        }
        self.routes = routes
        fallback = first!
    }

    /// The server for a request path; unknown paths go to one that answers 404.
    func server(for path: Substring) -> ExampleServer {
        routes[String(path)] ?? fallback
    }

    func run() throws(SocketError) {
        let (listener, port) = try Socket.listen(host: options.host, port: options.port)
        let shownHost = options.host.contains(":") ? "[\(options.host)]" : options.host
        let tools = fallback.catalog.count
        let flags = (options.sse ? " (SSE answers)" : "") + (options.getStream ? "" : " (no GET stream)")
        if let count = options.endpoints {
            let base = options.path.hasSuffix("/") ? options.path : options.path + "/"
            Log.announce("listening on http://\(shownHost):\(port)\(base){0..\(count - 1)}")
            Log.info("\(count) servers '\(options.name)-0' ... serving \(tools) tools each on \(shownHost):\(port)\(base)N" + flags)
        } else {
            Log.announce("listening on http://\(shownHost):\(port)\(options.path)")
            Log.info("'\(options.name)' serving \(tools) tools on \(shownHost):\(port)\(options.path)" + flags)
        }
        while true {
            guard let fd = Socket.accept(listener) else { continue }
            Socket.setNoDelay(fd)
            let thread = Thread { [self] in
                let connection = HTTPConnection(fd: fd, listener: self)
                connection.run()
            }
            thread.stackSize = 2 << 20
            thread.start()
        }
    }
}
