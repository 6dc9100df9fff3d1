import MCPXJSON

/// The resources, resource template, prompt and completions the server offers.
struct ExampleContent: Sendable {
    let name: String

    static let greetingURI = "example://greeting"
    static let dataURI = "example://data.json"
    static let echoTemplate = "example://echo/{text}"
    private static let echoPrefix = "example://echo/"

    // MARK: Resources

    func listResources() -> JSONValue {
        [
            "resources": [
                [
                    "uri": .string(Self.greetingURI), "name": "greeting", "title": "Greeting",
                    "description": "A short greeting from this server.", "mimeType": "text/plain",
                ],
                [
                    "uri": .string(Self.dataURI), "name": "data", "title": "Example data",
                    "description": "A small JSON document.", "mimeType": "application/json",
                ],
            ]
        ]
    }

    func listTemplates() -> JSONValue {
        [
            "resourceTemplates": [
                [
                    "uriTemplate": .string(Self.echoTemplate), "name": "echo", "title": "Echo resource",
                    "description": "Reads back the text in the URI.", "mimeType": "text/plain",
                ]
            ]
        ]
    }

    /// Whether `uri` names something `resources/read` can serve.
    func exists(_ uri: String) -> Bool {
        uri == Self.greetingURI || uri == Self.dataURI || echoText(uri) != nil
    }

    func read(_ uri: String) throws(RPCError) -> JSONValue {
        let mimeType: String
        let text: String
        if uri == Self.greetingURI {
            mimeType = "text/plain"
            text = "hello from \(name)"
        } else if uri == Self.dataURI {
            mimeType = "application/json"
            let data: JSONValue = ["server": .string(name), "numbers": [1, 2, 3], "nested": ["ok": true]]
            text = data.jsonString
        } else if let echoed = echoText(uri) {
            mimeType = "text/plain"
            text = echoed
        } else {
            throw RPCError(code: RPCError.resourceNotFoundCode, message: "Resource not found", data: ["uri": .string(uri)])
        }
        return ["contents": [["uri": .string(uri), "mimeType": .string(mimeType), "text": .string(text)]]]
    }

    /// The percent-decoded `{text}` of an `example://echo/{text}` URI.
    private func echoText(_ uri: String) -> String? {
        guard uri.hasPrefix(Self.echoPrefix) else { return nil }
        let raw = Array(uri.utf8.dropFirst(Self.echoPrefix.utf8.count))
        guard !raw.isEmpty else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "%"), i + 2 < raw.count, let hi = Self.hexValue(raw[i + 1]),
                let lo = Self.hexValue(raw[i + 2])
            {
                bytes.append(hi << 4 | lo)
                i += 3
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    // MARK: Prompts

    func listPrompts() -> JSONValue {
        [
            "prompts": [
                [
                    "name": "greet", "title": "Greet someone", "description": "Asks the model to greet a person.",
                    "arguments": [["name": "name", "description": "Who to greet", "required": true]],
                ]
            ]
        ]
    }

    func getPrompt(_ params: JSONObject) throws(RPCError) -> JSONValue {
        guard let prompt = params["name"]?.stringValue else {
            throw RPCError.invalidParams("prompts/get needs a string 'name'")
        }
        guard prompt == "greet" else { throw RPCError.invalidParams("Unknown prompt: \(prompt)") }
        guard let who = params["arguments"]?["name"]?.stringValue else {
            throw RPCError.invalidParams("Missing required argument 'name' for prompt greet")
        }
        return [
            "description": .string("Greeting for \(who)"),
            "messages": [["role": "user", "content": ["type": "text", "text": .string("Hello, \(who)!")]]],
        ]
    }

    // MARK: Completion

    func complete(_ params: JSONObject) throws(RPCError) -> JSONValue {
        guard let ref = params["ref"]?.objectValue, let type = ref["type"]?.stringValue else {
            throw RPCError.invalidParams("completion/complete needs a 'ref' with a 'type'")
        }
        guard let argument = params["argument"]?.objectValue, let argumentName = argument["name"]?.stringValue
        else {
            throw RPCError.invalidParams("completion/complete needs an 'argument' with a 'name'")
        }
        let typed = argument["value"]?.stringValue ?? ""
        var values: [String] = []
        switch type {
        case "ref/prompt":
            guard let promptName = ref["name"]?.stringValue else { throw RPCError.invalidParams("ref/prompt needs a 'name'") }
            if promptName == "greet" && argumentName == "name" {
                values = ["alice", "bob", "carol"].filter { $0.hasPrefix(typed) }
            }
        case "ref/resource":
            guard let uri = ref["uri"]?.stringValue else { throw RPCError.invalidParams("ref/resource needs a 'uri'") }
            if uri == Self.echoTemplate && argumentName == "text" {
                values = ["hello", "world"]
            }
        default:
            throw RPCError.invalidParams("Unknown reference type: \(type)")
        }
        return [
            "completion": [
                "values": .array(values.map { .string($0) }), "total": .int(Int64(values.count)), "hasMore": false,
            ]
        ]
    }
}
