public import MCPXJSON

/// A JSON-RPC request id: a string or an integer (MCP forbids null).
public enum RPCID: Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    public init?(_ v: JSONValue) {
        switch v {
        case .int(let i): self = .int(i)
        case .string(let s): self = .string(s)
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: self = .int(Int64(d))
        default: return nil
        }
    }

    public var json: JSONValue {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .string(let s): JSONValue.writeString(s, to: &out)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return "\"\(s)\""
        }
    }
}
