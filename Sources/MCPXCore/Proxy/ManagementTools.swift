public import MCPXJSON

/// mcpx's own tools: `manage`, `proxy_status`, `proxy_health` (not namespaced).
public enum ManagementTools {
    public static let manage = "manage"
    public static let status = "proxy_status"
    public static let health = "proxy_health"
    /// Whether `name` is one of these (asked for every tools/call: comparisons, no hashing).
    public static func isOwn(_ name: String) -> Bool { name == manage || name == status || name == health }

    public static func definitions(readOnly: Bool) -> [JSONValue] {
        let actions: [JSONValue] = readOnly
            ? ["list", "health", "flush_cache", "history", "search_registry"]
            : ["add", "remove", "list", "enable", "disable", "health", "flush_cache", "history", "rollback", "search_registry", "install"]
        let manageTool: JSONValue = [
            "name": "manage",
            "title": "Manage MCP servers",
            "description": .string(
                "Manage the MCP servers behind this proxy. Actions: "
                    + (readOnly
                        ? "list (every server with URL, status, tool count, last error), health (ping now; name or \"all\"), flush_cache (forget cached results; name or \"all\"). Changes are disabled (read-only)."
                        : "add (name + url: connect a new server and expose its tools; or name + command [+ args, env, cwd]: start a local stdio server, only for commands the user allowed with --allow-command), remove (name), list (every server with URL, status, tool count, last error), enable / disable (name), health (ping now and report latency; name or \"all\"), flush_cache (forget cached tool results; name or \"all\"), history (the latest changes of the server set, who made them; name and limit optional), rollback (to: a history entry id: put the server set back as it was right after it), search_registry (query: servers in the configured MCP registries, with how they would run), install (registry_name [+ name, version, values]: add a registry server; packages need --allow-command). A server may have several instances: add with urls (a list) instead of url, and optionally loadBalancing.")),
            "inputSchema": [
                "type": "object",
                "properties": [
                    "action": ["type": "string", "enum": .array(actions), "description": "What to do."],
                    "name": [
                        "type": "string",
                        "description": "Server name: 1-32 characters of A-Z a-z 0-9 _ -. For health, a name or \"all\" (the default).",
                    ],
                    "url": ["type": "string", "description": "For add: the server's MCP endpoint, an http:// or https:// URL."],
                    "urls": [
                        "type": "array", "items": ["type": "string"],
                        "description": "For add, instead of url: the endpoints of several instances (replicas) of one server; each call goes to one of them.",
                    ],
                    "limit": ["type": "integer", "description": "For history: how many of the latest entries (default 20)."],
                    "query": ["type": "string", "description": "For search_registry: what to look for."],
                    "registry_name": ["type": "string", "description": "For install: the server's name in the registry (from search_registry)."],
                    "version": ["type": "string", "description": "For install: a version (default: the latest)."],
                    "values": [
                        "type": "object", "additionalProperties": ["type": "string"],
                        "description": "For install: values of the entry's variables, environment variables and headers, by name.",
                    ],
                    "to": ["type": "integer", "description": "For rollback: the id of the history entry to go back to."],
                    "loadBalancing": [
                        "type": "string", "enum": ["round-robin", "least-connections", "weighted", "health", "random"],
                        "description": "For add with urls: how a call picks a replica (default least-connections).",
                    ],
                    "command": ["type": "string", "description": "For add, instead of url: the program of a stdio server (allowed only by --allow-command)."],
                    "args": ["type": "array", "items": ["type": "string"], "description": "For add with command: its arguments."],
                    "env": ["type": "object", "additionalProperties": ["type": "string"], "description": "For add with command: extra environment variables."],
                    "cwd": ["type": "string", "description": "For add with command: the working directory."],
                ],
                "required": ["action"],
                "additionalProperties": false,
            ],
            "annotations": ["title": "Manage MCP servers", "destructiveHint": true, "openWorldHint": true],
        ]
        let statusTool: JSONValue = [
            "name": "proxy_status",
            "title": "Proxy status",
            "description": "Everything mcpx knows about its servers: status, protocol version, tool count, calls, errors, latency, last error; plus uptime and totals.",
            "inputSchema": ["type": "object", "properties": [:], "additionalProperties": false],
            "annotations": ["title": "Proxy status", "readOnlyHint": true, "openWorldHint": false],
        ]
        let healthTool: JSONValue = [
            "name": "proxy_health",
            "title": "Proxy health",
            "description": "One-line health summary (healthy / total servers) and the unhealthy servers with their errors.",
            "inputSchema": ["type": "object", "properties": [:], "additionalProperties": false],
            "annotations": ["title": "Proxy health", "readOnlyHint": true, "openWorldHint": false],
        ]
        return [manageTool, statusTool, healthTool].map(alwaysLoad)
    }

    /// `_meta: {"anthropic/alwaysLoad": true}`: clients that defer tools keep mcpx's own loaded.
    static func alwaysLoad(_ def: JSONValue) -> JSONValue {
        guard case .object(var o) = def else { return def }
        o["_meta"] = ["anthropic/alwaysLoad": true]
        return .object(o)
    }

    // MARK: Search mode

    public static let searchTools = "search_tools"
    public static let describeTools = "describe_tools"
    public static let callTool = "call_tool"

    /// Whether `name` is one of the search tools (answered by mcpx in every mode, listed in search mode).
    public static func isSearchTool(_ name: String) -> Bool { name == searchTools || name == describeTools || name == callTool }

    public static func searchDefinitions() -> [JSONValue] {
        let search: JSONValue = [
            "name": "search_tools",
            "title": "Search tools",
            "description": "Find the tools that can do a task, among every tool of every MCP server behind mcpx (most are not listed). Describe the task in plain words; each hit gives the tool's name, what it does and its parameters. Then call it with call_tool (use describe_tools first for its full input schema).",
            "inputSchema": [
                "type": "object",
                "properties": [
                    "query": ["type": "string", "description": "The task, in plain words (\"show the last lines of a log file\")."],
                    "server": ["type": "string", "description": "Only tools of this server."],
                    "limit": ["type": "integer", "minimum": 1, "maximum": 50, "description": "How many tools (default 8, at most 50)."],
                ],
                "required": ["query"],
                "additionalProperties": false,
            ],
            "annotations": ["title": "Search tools", "readOnlyHint": true, "openWorldHint": false],
        ]
        let describe: JSONValue = [
            "name": "describe_tools",
            "title": "Describe tools",
            "description": "The full definitions (input schema, output schema, annotations) of tools found with search_tools, by name.",
            "inputSchema": [
                "type": "object",
                "properties": ["names": ["type": "array", "items": ["type": "string"], "description": "Tool names as search_tools gives them (server__tool)."]],
                "required": ["names"],
                "additionalProperties": false,
            ],
            "annotations": ["title": "Describe tools", "readOnlyHint": true, "openWorldHint": false],
        ]
        let call: JSONValue = [
            "name": "call_tool",
            "title": "Call a tool",
            "description": "Call any tool of the servers behind mcpx by name, listed or not (as search_tools gives it), with its arguments. The answer is exactly the tool's own result.",
            "inputSchema": [
                "type": "object",
                "properties": [
                    "name": ["type": "string", "description": "The tool's name (server__tool)."],
                    "arguments": ["type": "object", "description": "The tool's arguments, as its input schema says."],
                ],
                "required": ["name"],
                "additionalProperties": false,
            ],
            "annotations": ["title": "Call a tool", "openWorldHint": true],
        ]
        return [search, describe, call].map(alwaysLoad)
    }

    /// A tool result with text and structured content.
    static func result(_ text: String, _ structured: JSONValue, isError: Bool = false) -> JSONValue {
        // Texts may quote what backends said (last errors): no configured secret leaves in them.
        var o: JSONObject = ["content": [["type": "text", "text": .string(Redact.known(text))]], "structuredContent": Redact.value(structured)]
        if isError { o["isError"] = true }
        return .object(o)
    }

    static func failure(_ text: String) -> JSONValue {
        result(text, ["error": .string(text)], isError: true)
    }
}
