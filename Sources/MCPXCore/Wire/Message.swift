public import MCPXJSON

/// Builders for the JSON-RPC lines mcpx writes. Each returns the bytes of one message, no newline.
public enum Message {
    static let head = Array(#"{"jsonrpc":"2.0","id":"#.utf8)

    /// A response whose result is already-serialized JSON (passed through untouched).
    public static func response(id: RPCID?, rawResult: ArraySlice<UInt8>) -> [UInt8] {
        response(id: id, capacity: rawResult.count) { $0.append(contentsOf: rawResult) }
    }

    /// A response whose result `write` appends (about `capacity` bytes), built in one buffer.
    public static func response(id: RPCID?, capacity: Int, result write: (inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacity + 64)
        out.append(contentsOf: head)
        writeID(id, &out)
        out.append(contentsOf: #","result":"#.utf8)
        write(&out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func response(id: RPCID?, result: JSONValue) -> [UInt8] {
        var out = head
        writeID(id, &out)
        out.append(contentsOf: #","result":"#.utf8)
        result.write(to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func error(id: RPCID?, rawError: ArraySlice<UInt8>) -> [UInt8] {
        var out = head
        writeID(id, &out)
        out.append(contentsOf: #","error":"#.utf8)
        out.append(contentsOf: rawError)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func error(id: RPCID?, _ e: RPCError) -> [UInt8] {
        var out = head
        writeID(id, &out)
        out.append(contentsOf: #","error":"#.utf8)
        e.json.write(to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func request(id: RPCID, method: String, params: JSONValue?) -> [UInt8] {
        var out = head
        id.write(to: &out)
        out.append(UInt8(ascii: ","))
        return appendingCall(method, params, to: out)
    }

    public static func notification(method: String, params: JSONValue?) -> [UInt8] {
        appendingCall(method, params, to: Array(#"{"jsonrpc":"2.0","#.utf8))
    }

    /// `"method":…[,"params":…]}` after the envelope's start.
    private static func appendingCall(_ method: String, _ params: JSONValue?, to start: [UInt8]) -> [UInt8] {
        var out = start
        out.append(contentsOf: #""method":"#.utf8)
        JSONValue.writeString(method, to: &out)
        if let params {
            out.append(contentsOf: #","params":"#.utf8)
            params.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A tool result with one text block, the shape mcpx uses to report a failure to the model.
    public static func toolError(_ text: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(Redact.known(text))]], "isError": true]
    }

    @inline(__always)
    static func writeID(_ id: RPCID?, _ out: inout [UInt8]) {
        if let id { id.write(to: &out) } else { out.append(contentsOf: "null".utf8) }
    }
}
