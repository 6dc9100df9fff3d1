import Foundation
import MCPXJSON

/// One MCP session: negotiated version, logging threshold, resource subscriptions, its GET streams and
/// the requests of it that can be cancelled.
final class Session: @unchecked Sendable {
    let id: String
    let protocolVersion: String

    private let lock = NSLock()
    private var minimumLevel = LogLevel.debug
    private var subscriptions: Set<String> = []
    private var streams: [EventStream] = []
    private var running: [JSONValue: InFlight] = [:]
    /// Cancellations that arrived before their request started (they race on separate connections).
    private var earlyCancels: [JSONValue] = []
    private var closed = false

    init(id: String, protocolVersion: String) {
        self.id = id
        self.protocolVersion = protocolVersion
    }

    /// From 2025-11-25 on, invalid tool arguments are tool results with `isError`; before, protocol errors.
    var reportsArgumentErrorsAsResults: Bool { protocolVersion >= "2025-11-25" }

    // MARK: Logging and subscriptions

    var logLevel: LogLevel {
        get { lock.withLock { minimumLevel } }
        set { lock.withLock { minimumLevel = newValue } }
    }

    func subscribe(_ uri: String) {
        _ = lock.withLock { subscriptions.insert(uri) }
    }

    func unsubscribe(_ uri: String) {
        _ = lock.withLock { subscriptions.remove(uri) }
    }

    func isSubscribed(_ uri: String) -> Bool {
        lock.withLock { subscriptions.contains(uri) }
    }

    // MARK: GET streams

    /// Adds a stream; false if the session has already ended.
    func addStream(_ stream: EventStream) -> Bool {
        lock.withLock {
            guard !closed else { return false }
            streams.append(stream)
            return true
        }
    }

    func removeStream(_ stream: EventStream) {
        lock.withLock { streams.removeAll { $0 === stream } }
    }

    /// Sends a server-initiated message on one open GET stream (the newest that still works), as the
    /// spec asks: a message goes on exactly one stream. False if there was none.
    @discardableResult
    func sendOnStream(_ message: JSONValue) -> Bool {
        var candidates = lock.withLock { streams }
        while let stream = candidates.popLast() {
            if stream.send(message) { return true }
            removeStream(stream)
        }
        return false
    }

    // MARK: Cancellation

    /// Registers a cancellable request; the returned flight is already cancelled if the cancellation
    /// (or the end of the session) came first.
    func begin(requestID: JSONValue) -> InFlight {
        let flight = InFlight()
        lock.withLock {
            if closed {
                flight.cancel()
            } else if let index = earlyCancels.firstIndex(of: requestID) {
                earlyCancels.remove(at: index)
                flight.cancel()
            } else {
                running[requestID] = flight
            }
        }
        return flight
    }

    func end(requestID: JSONValue) {
        _ = lock.withLock { running.removeValue(forKey: requestID) }
    }

    func cancel(requestID: JSONValue) {
        let flight: InFlight? = lock.withLock {
            if let flight = running[requestID] { return flight }
            earlyCancels.append(requestID)
            if earlyCancels.count > 64 { earlyCancels.removeFirst() }
            return nil
        }
        flight?.cancel()
    }

    /// Ends the session: cancels what runs and closes its streams.
    func close() {
        let (flights, open) = lock.withLock {
            closed = true
            defer {
                running.removeAll()
                streams.removeAll()
            }
            return (Array(running.values), streams)
        }
        for flight in flights { flight.cancel() }
        for stream in open { stream.terminate() }
    }
}
