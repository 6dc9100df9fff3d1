/// A problem with how mcpx was started (flags, config file): reported on stderr, exit code 2.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
