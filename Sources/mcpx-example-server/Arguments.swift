import MCPXJSON

/// Why a tool's arguments do not fit its input schema.
struct ArgumentError: Error {
    let message: String
}

/// Typed access to `tools/call` arguments, with the checks the input schemas promise.
struct Arguments {
    let object: JSONObject

    /// A member, treating an explicit null as absent.
    private func member(_ key: String) -> JSONValue? {
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws(ArgumentError) -> String {
        guard let value = try optionalString(key) else {
            throw ArgumentError(message: "Invalid arguments: '\(key)' is required (a string)")
        }
        return value
    }

    func optionalString(_ key: String) throws(ArgumentError) -> String? {
        guard let value = member(key) else { return nil }
        guard let s = value.stringValue else {
            throw ArgumentError(message: "Invalid arguments: '\(key)' must be a string, got \(value.typeName)")
        }
        return s
    }

    /// A number, kept as `.int` or `.double` as it came.
    func number(_ key: String) throws(ArgumentError) -> JSONValue {
        guard let value = member(key) else {
            throw ArgumentError(message: "Invalid arguments: '\(key)' is required (a number)")
        }
        switch value {
        case .int, .double: return value
        default: throw ArgumentError(message: "Invalid arguments: '\(key)' must be a number, got \(value.typeName)")
        }
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(ArgumentError) -> Int {
        guard let value = try optionalInteger(key, in: range) else {
            throw ArgumentError(message: "Invalid arguments: '\(key)' is required (an integer)")
        }
        return value
    }

    func optionalInteger(_ key: String, in range: ClosedRange<Int>) throws(ArgumentError) -> Int? {
        guard let value = member(key) else { return nil }
        guard let i = value.intValue else {
            throw ArgumentError(message: "Invalid arguments: '\(key)' must be an integer, got \(value.jsonString)")
        }
        guard i >= Int64(range.lowerBound) && i <= Int64(range.upperBound) else {
            throw ArgumentError(
                message: "Invalid arguments: '\(key)' must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(i)
    }
}
