import MCPXJSON

/// `tools/call`: looks the tool up, checks its arguments and runs it.
struct ToolRunner {
    let server: ExampleServer

    /// The call's result, or nil when it was cancelled (and must not be answered).
    func call(_ ctx: RequestContext) throws(RPCError) -> JSONValue? {
        guard let name = ctx.params["name"]?.stringValue else {
            throw RPCError.invalidParams("tools/call needs a string 'name'")
        }
        guard let kind = server.catalog.kind(of: name) else {
            throw RPCError.invalidParams("Unknown tool: \(name)")
        }
        if server.options.failCalls { throw RPCError(code: RPCError.internalErrorCode, message: "\(server.options.name) fails every call (--fail-calls)") }
        if server.options.delayMillis > 0 {
            guard ctx.cancellable({ flight in flight.sleep(milliseconds: server.options.delayMillis) }) else { return nil }
        }
        do throws(ArgumentError) {
            let arguments: JSONObject
            switch ctx.params["arguments"] {
            case .none, .some(.null): arguments = [:]
            case .object(let o)?: arguments = o
            case let other?: throw ArgumentError(message: "Invalid arguments: expected an object, got \(other.typeName)")
            }
            return try run(kind, Arguments(object: arguments), ctx)
        } catch {
            // 2025-11-25 makes input-validation failures tool results the model can see; earlier
            // revisions list invalid arguments among the protocol errors.
            if ctx.session.reportsArgumentErrorsAsResults { return Self.errorResult(error.message) }
            throw RPCError.invalidParams(error.message)
        }
    }

    private func run(_ kind: ToolKind, _ args: Arguments, _ ctx: RequestContext) throws(ArgumentError) -> JSONValue? {
        switch kind {
        case .echo:
            return Self.textResult(try args.string("text"))

        case .add:
            let sum = Self.add(try args.number("a"), try args.number("b"))
            return [
                "content": [["type": "text", "text": .string(sum.jsonString)]],
                "structuredContent": ["sum": sum],
            ]

        case .sleep:
            let ms = try args.integer("ms", in: 0...600_000)
            let finished = ctx.cancellable { flight in flight.sleep(milliseconds: ms) }
            return finished ? Self.textResult("slept \(ms) ms") : .none

        case .fail:
            return Self.errorResult(try args.optionalString("message") ?? "failed on purpose")

        case .progress:
            let steps = try args.integer("steps", in: 0...100_000)
            let delay = try args.optionalInteger("delay_ms", in: 0...60_000) ?? 10
            return runProgress(steps: steps, delay: delay, ctx)

        case .log:
            let levelName = try args.optionalString("level") ?? "info"
            guard let level = LogLevel(name: levelName) else {
                throw ArgumentError(message: "Invalid arguments: unknown log level '\(levelName)'")
            }
            let message = try args.string("message")
            ctx.log(level, .string(message))
            return Self.textResult("logged")

        case .whoami:
            let name = server.options.name
            return [
                "content": [["type": "text", "text": .string(name)]],
                "structuredContent": ["name": .string(name), "session": .string(ctx.session.id)],
            ]

        case .toggle:
            let on = server.catalog.toggleEphemeral()
            server.sessions.broadcast(RPC.notification("notifications/tools/list_changed", [:]))
            return Self.textResult(on ? "on" : "off")

        case .touch:
            let uri = ExampleContent.greetingURI
            server.sessions.broadcast(RPC.notification("notifications/resources/updated", ["uri": .string(uri)])) {
                $0.isSubscribed(uri)
            }
            return Self.textResult("touched")

        case .echoArguments, .ephemeral:
            return Self.textResult(JSONValue.object(args.object).jsonString)
        }
    }

    private func runProgress(steps: Int, delay: Int, _ ctx: RequestContext) -> JSONValue? {
        let token = ctx.progressToken
        let finished = ctx.cancellable { flight in
            for step in 0..<steps {
                if step > 0 && delay > 0 {
                    if !flight.sleep(milliseconds: delay) { return false }
                } else if flight.isCancelled {
                    return false
                }
                if let token {
                    ctx.notify("notifications/progress", [
                        "progressToken": token, "progress": .int(Int64(step + 1)), "total": .int(Int64(steps)),
                        "message": .string("step \(step + 1)"),
                    ])
                }
            }
            return true
        }
        return finished ? Self.textResult("done \(steps) steps") : .none
    }

    /// a + b, exact for integers (unless it overflows), otherwise in floating point.
    static func add(_ a: JSONValue, _ b: JSONValue) -> JSONValue {
        if case .int(let x) = a, case .int(let y) = b {
            let (sum, overflow) = x.addingReportingOverflow(y)
            if !overflow { return .int(sum) }
        }
        return .double((a.doubleValue ?? 0) + (b.doubleValue ?? 0))
    }

    static func textResult(_ text: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]]]
    }

    static func errorResult(_ text: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]], "isError": true]
    }
}
