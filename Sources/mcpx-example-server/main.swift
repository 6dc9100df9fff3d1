import Glibc

// mcpx-example-server: a small MCP server speaking Streamable HTTP on a hand-written HTTP/1.1 server,
// used by mcpx's demo, tests and benchmarks.

signal(SIGPIPE, SIG_IGN)
signal(SIGTERM) { _ in _exit(0) }
signal(SIGINT) { _ in _exit(0) }

let options: Options
do {
    switch try Options.parse(Array(CommandLine.arguments.dropFirst())) {
    case .run(let parsed):
        options = parsed
    case .help:
        Log.announce(Options.usage)
        exit(0)
    }
} catch {
    Log.info(error.message)
    Log.info(Options.usage)
    exit(2)
}

if options.stdio {
    StdioServe(server: ExampleServer(options: options)).run()
}

do {
    try Listener(options: options).run()
} catch {
    Log.info(error.description)
    exit(1)
}
