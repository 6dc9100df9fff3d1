import CSupport
import Dispatch
import Synchronization
import MCPXJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mcpx [--stdio] [--http HOST:PORT]`: serve MCP through the doors asked for, over one core.
///
/// With stdio, it runs until stdin ends (or SIGTERM, SIGINT, SIGHUP); with `--http` alone, until
/// SIGTERM or SIGINT. Then it shuts down cleanly: calls in flight get a moment to finish, HTTP
/// sessions end, backend sessions are closed.
public enum ServeCommand {
    /// What backends are told the client can do when HTTP clients come and go: everything a client
    /// may offer; each request is then refused for a session that did not declare it.
    static let doorCapabilities: JSONValue = ["roots": ["listChanged": true], "sampling": .object([:]), "elicitation": .object([:])]

    public static func run(_ options: Options, servers: [ServerConfig], stateFile: StateFile?, log: Logger) async -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // SIGTERM, SIGINT and SIGHUP (the terminal or the client went away) end mcpx cleanly. Their
        // handler is in place before anything else (a signal right after "listening" is not lost):
        // it writes the signal's number to a pipe the loop reads.
        let termination = TerminationSignals()
        let limits = ProcessResources.raiseFileLimit()
        let loop = CurlLoop()
        let proxy = MultiServerProxy(settings: options.settings, servers: servers, loop: loop, log: log)
        var git: GitMemory?
        if let file = stateFile {
            await proxy.setStateSaver { file.save($0) }
            let history = History(statePath: file.path, log: log)
            if options.stateGit {
                do {
                    let g = try GitMemory(statePath: file.path, log: log)
                    history.onRecord { g.commit($0) }
                    git = g
                } catch {
                    log.error("\(error)")
                    loop.shutdown()
                    return 2
                }
            }
            await proxy.setHistory(history)
        }
        defer { git?.flush() }
        let dispatcher = Dispatcher(proxy: proxy, log: log, maxMessageBytes: options.maxLineBytes)
        let deadlines = Task { await dispatcher.runDeadlines() }
        defer { deadlines.cancel() }

        var http: HTTPDoor?
        var housekeeping: Task<Void, Never>?
        if let settings = options.http {
            do {
                http = try HTTPDoor(settings: settings, dispatcher: dispatcher, loop: loop, log: log)
            } catch {
                log.error("\(error)")
                loop.shutdown()
                return 1
            }
        }
        defer { housekeeping?.cancel() }
        let doors = [options.servesStdio ? "stdio" : nil, http.map { _ in "http" }].compactMap { $0 }.joined(separator: " and ")
        log.info("\(MCPXVersion.full) serving \(doors) with \(servers.count) server\(servers.count == 1 ? "" : "s")")
        log.debug("file descriptors: soft limit \(limits.soft), hard limit \(limits.hard)")
        log.debug(loop.ownsLoopbackHTTP ? "HTTP: own HTTP/1.1 client for plain-HTTP loopback backends, libcurl for the rest"
            : "HTTP: libcurl for every request")
        if let http {
            // Clients come and go: backends connect now, told what any client may offer.
            await proxy.start(clientCapabilities: doorCapabilities)
            http.start()
            housekeeping = Task { await http.runHousekeeping() }
        }

        // With config files, SIGHUP (and, with --watch, a change of one of them) reloads them.
        let reloader = options.configPaths.isEmpty ? nil : ConfigReloader(options: options, proxy: proxy, stateFile: stateFile, log: log)
        var watching: Task<Void, Never>?
        if options.watchConfig, let reloader { watching = Task { await reloader.watchFiles() } }
        defer { watching?.cancel() }

        // Wait for stdin EOF (when serving stdio) or a signal, whichever comes first.
        let reason: String = await withCheckedContinuation { c in
            let once = Mutex(false)
            let finish: @Sendable (String) -> Void = { r in
                let first = once.withLock { done -> Bool in
                    defer { done = true }
                    return !done
                }
                if first { c.resume(returning: r) }
            }
            var hangup: (@Sendable () -> Void)?
            if let reloader { hangup = { Task { await reloader.reload(why: "SIGHUP") } } }
            termination.watch(loop, hangup: hangup, finish)
            if options.servesStdio {
                let writer = StdoutWriter()
                loop.observePasses(writer)  // answers read in one pass of the loop leave in one write
                let door = StdioDoor(dispatcher: dispatcher, writer: writer)
                let stdin = StdinSource(
                    maxLineBytes: options.maxLineBytes, onLine: { door.handle(line: $0) }, onEOF: { finish("end of input") })
                loop.watch(fd: 0) { stdin.readable() }
            }
        }
        log.info("shutting down (\(reason))")
        await dispatcher.drain(graceSeconds: 2)
        await http?.stop()
        await proxy.shutdown()
        loop.shutdown()
        return 0
    }
}

/// SIGTERM, SIGINT and SIGHUP as bytes on a pipe (handler installed at once, see `mcpx_signal_pipe`),
/// read by the event loop; elsewhere, dispatch signal sources.
struct TerminationSignals {
    static let all: [(Int32, String)] = [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGHUP, "SIGHUP")]
    let readFD: Int32

    init() {
        #if os(Linux)
        var fd: Int32 = -1
        // A SIGHUP the parent made us ignore (`nohup mcpx --http ...`) stays ignored.
        let sigs = Self.all.map(\.0).filter { $0 != SIGHUP || mcpx_signal_ignored(SIGHUP) == 0 }
        readFD = mcpx_signal_pipe(sigs, Int32(sigs.count), &fd) == 0 ? fd : -1
        #else
        readFD = -1
        #endif
    }

    /// Calls `finish` with the signal's name when one arrives (or arrived already); SIGHUP calls
    /// `hangup` instead when there is one (reload the configuration).
    func watch(_ loop: CurlLoop, hangup: (@Sendable () -> Void)? = nil, _ finish: @escaping @Sendable (String) -> Void) {
        #if os(Linux)
        if readFD >= 0 {
            let fd = readFD
            loop.addWatch(FDWatch(fd: fd, onReadable: {
                var b: UInt8 = 0
                if read(fd, &b, 1) == 1 {
                    if Int32(b) == SIGHUP, let hangup {
                        hangup()
                    } else {
                        finish(Self.all.first { $0.0 == Int32(b) }?.1 ?? "signal \(b)")
                    }
                }
            }))
            return
        }
        #endif
        for (sig, name) in Self.all {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { if sig == SIGHUP, let hangup { hangup() } else { finish(name) } }
            src.resume()
            SignalSources.keep(src)
        }
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: any DispatchSourceSignal) { sources.append(s) }
}
