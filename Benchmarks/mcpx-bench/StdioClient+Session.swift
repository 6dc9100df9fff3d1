import MCPXJSON

/// What spawn → complete tools/list took.
struct StartupFigures {
    /// Spawn to the arrival of the first complete tools/list answer.
    let startupMs: Double
    /// Spawn to the initialize answer.
    let initializeMs: Double
    /// Tools in that list (mcpx's own included) and those of the backends.
    let toolsListed: Int
    let backendTools: Int
    /// tools/list rounds it took (more than 1 when mcpx answered before every backend was in).
    let listRounds: Int
}

/// One complete tools/list (all pages).
struct ToolList {
    let names: [String]
    let sentAt: UInt64
    /// Arrival of the last page.
    let arrivedAt: UInt64
}

extension StdioClient {
    static let protocolVersion = "2025-11-25"

    /// Sends initialize, notifications/initialized and tools/list in one write right after spawn, then
    /// repeats tools/list until it holds every backend tool.
    func startUp(expect: ToolExpectation, timeout: Double) throws(BenchError) -> StartupFigures {
        let initialize = requestLine("initialize", [
            "protocolVersion": .string(Self.protocolVersion), "capabilities": [:],
            "clientInfo": ["name": "mcpx-bench", "version": "1.0"],
        ])
        let list = requestLine("tools/list")
        write(initialize.line + Self.notificationLine("notifications/initialized") + list.line)

        let deadline = Clock.nanos() + UInt64(timeout * 1e9)
        var result = try collectPages(first: list.id, sentAt: spawnTime, timeout: timeout)
        var rounds = 1
        var backendTools = expect.backendTools(in: result.names)
        while backendTools < expect.expected {
            guard Clock.nanos() < deadline else {
                throw BenchError(
                    "tools/list held \(backendTools) of \(expect.expected) backend tools after \(timeout) s")
            }
            Clock.sleep(milliseconds: 2)
            result = try listTools(timeout: timeout)
            rounds += 1
            backendTools = expect.backendTools(in: result.names)
        }
        let initAnswer = try wait(for: initialize.id, timeout: timeout)
        if initAnswer.isError {
            throw BenchError("initialize failed: \(String(decoding: initAnswer.bytes.prefix(300), as: UTF8.self))")
        }
        return StartupFigures(
            startupMs: Double(result.arrivedAt - spawnTime) / 1e6,
            initializeMs: Double(initAnswer.time - spawnTime) / 1e6,
            toolsListed: result.names.count, backendTools: backendTools, listRounds: rounds)
    }

    /// One tools/list, following nextCursor through every page.
    func listTools(timeout: Double) throws(BenchError) -> ToolList {
        let request = requestLine("tools/list")
        let sentAt = Clock.nanos()
        write(request.line)
        return try collectPages(first: request.id, sentAt: sentAt, timeout: timeout)
    }

    private func collectPages(first id: Int64, sentAt: UInt64, timeout: Double) throws(BenchError) -> ToolList {
        var names: [String] = []
        var answer = try wait(for: id, timeout: timeout)
        while true {
            let (pageNames, cursor) = try Self.parseToolsPage(answer)
            names += pageNames
            guard let cursor else { break }
            let next = requestLine("tools/list", ["cursor": .string(cursor)])
            write(next.line)
            answer = try wait(for: next.id, timeout: timeout)
        }
        return ToolList(names: names, sentAt: sentAt, arrivedAt: answer.time)
    }

    private static func parseToolsPage(_ answer: Response) throws(BenchError) -> ([String], String?) {
        let message: JSONValue
        do {
            message = try JSONParser.parse(answer.bytes)
        } catch {
            throw BenchError("tools/list answer is not JSON: \(error.description)")
        }
        guard let result = message["result"], let tools = result["tools"]?.arrayValue else {
            throw BenchError("tools/list failed: \(String(decoding: answer.bytes.prefix(300), as: UTF8.self))")
        }
        return (tools.compactMap { $0["name"]?.stringValue }, result["nextCursor"]?.stringValue)
    }
}
