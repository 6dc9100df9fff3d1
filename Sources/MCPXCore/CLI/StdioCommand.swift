import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mcpx --stdio`: serve MCP on stdin/stdout until EOF, SIGTERM, SIGINT or SIGHUP, then shut down cleanly.
public enum StdioCommand {
    public static func run(_ options: Options, servers: [ServerConfig], stateFile: StateFile?, log: Logger) async -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // SIGHUP (the terminal or the client went away) ends mcpx as cleanly as SIGTERM does: it
        // is ignored from here until its handler below is in place.
        signal(SIGHUP, SIG_IGN)
        let limits = ProcessResources.raiseFileLimit()
        let loop = CurlLoop()
        let writer = StdoutWriter()
        loop.observePasses(writer)  // answers read in one pass of the curl loop leave in one write
        let client = ClientChannel(writer: writer)
        let proxy = MultiServerProxy(settings: options.settings, servers: servers, loop: loop, log: log, client: client)
        if let file = stateFile {
            await proxy.setStateSaver { file.save($0) }
        }
        let server = StdioServer(client: client, proxy: proxy, log: log, maxLineBytes: options.maxLineBytes)
        let deadlines = Task { await server.runDeadlines() }
        defer { deadlines.cancel() }
        log.info("\(MCPXVersion.full) serving stdio with \(servers.count) server\(servers.count == 1 ? "" : "s")")
        log.debug("file descriptors: soft limit \(limits.soft), hard limit \(limits.hard)")
        log.debug(loop.ownsLoopbackHTTP ? "HTTP: own HTTP/1.1 client for plain-HTTP loopback backends, libcurl for the rest"
            : "HTTP: libcurl for every request")

        // Wait for stdin EOF or SIGTERM/SIGINT/SIGHUP, whichever comes first.
        let reason: String = await withCheckedContinuation { c in
            let once = Mutex(false)
            let finish: @Sendable (String) -> Void = { r in
                let first = once.withLock { done -> Bool in
                    defer { done = true }
                    return !done
                }
                if first { c.resume(returning: r) }
            }
            for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGHUP, "SIGHUP")] {
                signal(sig, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                src.setEventHandler { finish(name) }
                src.resume()
                SignalSources.keep(src)
            }
            let stdin = StdinSource(
                maxLineBytes: options.maxLineBytes, onLine: { server.handle(line: $0) }, onEOF: { finish("end of input") })
            loop.watch(fd: 0) { stdin.readable() }
        }
        log.info("shutting down (\(reason))")
        await server.drain(graceSeconds: 2)
        await proxy.shutdown()
        loop.shutdown()
        return 0
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: any DispatchSourceSignal) { sources.append(s) }
}
