import Foundation
import MCPXJSON

/// What a tool does; several names may share a behaviour.
enum ToolKind: Sendable {
    case echo, add, sleep, fail, progress, log, whoami, toggle, touch, echoArguments, ephemeral
}

/// The tool set: fixed definitions built once, plus the `ephemeral` tool `toggle_tool` switches on and
/// off. Serves `tools/list` pages.
final class ToolCatalog: @unchecked Sendable {
    private let definitions: [JSONValue]
    private let kinds: [String: ToolKind]
    private let pageSize: Int?
    private let lock = NSLock()
    private var ephemeralOn = false

    init(options: Options) {
        var definitions = Self.baseTools()
        if options.weirdNames {
            for name in Self.weirdNames {
                definitions.append(Self.tool(
                    name, title: nil, description: "Echoes the given text (a tool with an awkward name).",
                    input: Self.schema(["text": ["type": "string", "description": "Text to echo back"]],
                                       required: ["text"])))
            }
        }
        for i in 0..<options.extraTools {
            definitions.append(Self.tool(
                "tool_\(i)", title: nil, description: "Extra tool #\(i): echoes its arguments as JSON text.",
                input: Self.schema(["text": ["type": "string", "description": "Anything"]], required: [])))
        }
        var kinds: [String: ToolKind] = [:]
        kinds.reserveCapacity(definitions.count)
        for definition in definitions {
            let name = definition["name"]!.stringValue!
            kinds[name] = Self.baseKinds[name] ?? (Self.weirdNames.contains(name) ? .echo : .echoArguments)
        }
        self.definitions = definitions
        self.kinds = kinds
        pageSize = options.pageSize
    }

    var count: Int { definitions.count }

    func kind(of name: String) -> ToolKind? {
        if let kind = kinds[name] { return kind }
        if name == "ephemeral" && lock.withLock({ ephemeralOn }) { return .ephemeral }
        return nil
    }

    /// Switches the `ephemeral` tool; returns whether it is now listed.
    func toggleEphemeral() -> Bool {
        lock.withLock {
            ephemeralOn.toggle()
            return ephemeralOn
        }
    }

    /// One `tools/list` page. Cursors are opaque strings naming the offset of the next page.
    func list(cursor: String?) throws(RPCError) -> JSONValue {
        var tools = definitions
        if lock.withLock({ ephemeralOn }) { tools.append(Self.ephemeralTool) }
        guard let pageSize else {
            if cursor != nil { throw RPCError.invalidParams("Invalid cursor") }
            return ["tools": .array(tools)]
        }
        var offset = 0
        if let cursor {
            guard cursor.hasPrefix("page-"), let n = Int(cursor.dropFirst(5), radix: 36), n > 0, n <= tools.count
            else { throw RPCError.invalidParams("Invalid cursor") }
            offset = n
        }
        let endIndex = min(offset + pageSize, tools.count)
        var result: JSONObject = ["tools": .array(Array(tools[offset..<endIndex]))]
        if endIndex < tools.count { result["nextCursor"] = .string("page-" + String(endIndex, radix: 36)) }
        return .object(result)
    }

    // MARK: Definitions

    static let weirdNames = [
        "dotted.tool.name",
        "a_very_long_tool_name_that_goes_on_and_on_well_past_the_sixty_four_character_limit_of_clients",
    ]

    private static let baseKinds: [String: ToolKind] = [
        "echo": .echo, "add": .add, "sleep": .sleep, "fail": .fail, "progress": .progress, "log": .log,
        "whoami": .whoami, "toggle_tool": .toggle, "touch": .touch,
    ]

    private static func schema(_ properties: JSONObject, required: [String]) -> JSONValue {
        var o: JSONObject = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { o["required"] = .array(required.map { .string($0) }) }
        return .object(o)
    }

    private static func tool(
        _ name: String, title: String?, description: String, input: JSONValue, output: JSONValue? = nil,
        annotations: JSONValue? = nil
    ) -> JSONValue {
        var o: JSONObject = ["name": .string(name)]
        if let title { o["title"] = .string(title) }
        o["description"] = .string(description)
        o["inputSchema"] = input
        if let output { o["outputSchema"] = output }
        if let annotations { o["annotations"] = annotations }
        return .object(o)
    }

    private static let ephemeralTool = tool(
        "ephemeral", title: "Ephemeral", description: "Exists only while toggle_tool has switched it on; echoes its arguments.",
        input: schema([:], required: []))

    private static func baseTools() -> [JSONValue] {
        let readOnly: JSONValue = ["readOnlyHint": true]
        let text: JSONObject = ["text": ["type": "string", "description": "Text to echo back"]]
        let addInput: JSONObject = [
            "a": ["type": "number", "description": "First addend"],
            "b": ["type": "number", "description": "Second addend"],
        ]
        let addOutput = schema(["sum": ["type": "number"]], required: ["sum"])
        let sleepInput: JSONObject = ["ms": ["type": "integer", "minimum": 0, "maximum": 600_000,
                                             "description": "Milliseconds to wait"]]
        let failInput: JSONObject = ["message": ["type": "string", "description": "Error text to return"]]
        let progressInput: JSONObject = [
            "steps": ["type": "integer", "minimum": 0, "maximum": 100_000, "description": "Number of progress steps"],
            "delay_ms": ["type": "integer", "minimum": 0, "maximum": 60_000,
                         "description": "Pause between steps (default 10)"],
        ]
        let logInput: JSONObject = [
            "level": ["type": "string", "enum": .array(LogLevel.names.map { .string($0) }),
                      "description": "Log level (default info)"],
            "message": ["type": "string", "description": "Text of the log message"],
        ]
        let whoamiOutput = schema(["name": ["type": "string"], "session": ["type": "string"]],
                                  required: ["name", "session"])
        return [
            tool("echo", title: "Echo", description: "Returns the given text unchanged.",
                 input: schema(text, required: ["text"]), annotations: readOnly),
            tool("add", title: "Add two numbers", description: "Adds a and b; the sum also comes as structured content.",
                 input: schema(addInput, required: ["a", "b"]), output: addOutput, annotations: readOnly),
            tool("sleep", title: "Sleep", description: "Waits the given number of milliseconds, then answers.",
                 input: schema(sleepInput, required: ["ms"]), annotations: readOnly),
            tool("fail", title: "Fail", description: "Always fails: returns a tool result with isError set.",
                 input: schema(failInput, required: [])),
            tool("progress", title: "Progress",
                 description: "Reports progress for the given number of steps (when a progressToken is given), then answers.",
                 input: schema(progressInput, required: ["steps"])),
            tool("log", title: "Log", description: "Emits a log message notification on the response stream.",
                 input: schema(logInput, required: ["message"])),
            tool("whoami", title: "Who am I", description: "Returns this server's name and the session id.",
                 input: schema([:], required: []), output: whoamiOutput, annotations: readOnly),
            tool("toggle_tool", title: "Toggle tool",
                 description: "Adds or removes the 'ephemeral' tool and announces tools/list_changed.",
                 input: schema([:], required: [])),
            tool("touch", title: "Touch greeting",
                 description: "Marks example://greeting as updated (notifies subscribed sessions).",
                 input: schema([:], required: [])),
        ]
    }
}
