/// An incremental `text/event-stream` parser (WHATWG rules), fed arbitrary chunks.
///
/// Bytes are kept until a line ends, so an event split anywhere (even inside a UTF-8 character)
/// comes out whole.
public struct SSEParser: Sendable {
    public struct Event: Sendable, Equatable {
        public var event: String = "message"
        public var data: [UInt8] = []
        public var id: String?
        public var retryMillis: Int?
    }

    /// Largest event (data bytes) accepted; a larger one is an error (a hostile or broken stream).
    public let maxEventBytes: Int
    var line: [UInt8] = []
    var dataBuf: [UInt8] = []
    var hasData = false
    var eventType: String?
    var lastID: String?
    var retry: Int?
    var lastWasCR = false
    var sawBOMCheck = false
    public private(set) var overflowed = false

    public init(maxEventBytes: Int = 64 << 20) { self.maxEventBytes = maxEventBytes }

    /// The last event id seen (for `Last-Event-ID` on reconnect).
    public var lastEventID: String? { lastID }

    /// Feeds a chunk; returns the events it completes. Events with empty data are still returned
    /// (priming events); callers skip them.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [Event] {
        var events: [Event] = []
        for b in chunk {
            if overflowed { break }
            if b == 0x0A {
                if lastWasCR {
                    lastWasCR = false
                    continue
                }
                endLine(&events)
            } else if b == 0x0D {
                lastWasCR = true
                endLine(&events)
            } else {
                lastWasCR = false
                line.append(b)
                if line.count > maxEventBytes { overflowed = true }
            }
        }
        return events
    }

    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        bytes.withUnsafeBytes { feed($0) }
    }

    mutating func endLine(_ events: inout [Event]) {
        defer { line.removeAll(keepingCapacity: true) }
        if !sawBOMCheck {
            sawBOMCheck = true
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        if line.isEmpty {
            // Dispatch.
            if hasData || eventType != nil {
                var e = Event()
                e.event = eventType ?? "message"
                e.data = dataBuf
                e.id = lastID
                e.retryMillis = retry
                events.append(e)
            }
            dataBuf.removeAll(keepingCapacity: true)
            hasData = false
            eventType = nil
            return
        }
        if line[0] == UInt8(ascii: ":") { return }  // comment
        var field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == 0x20 { value = value.dropFirst() }
        } else {
            field = line[...]
            value = []
        }
        switch String(decoding: field, as: UTF8.self) {
        case "data":
            if hasData { dataBuf.append(0x0A) }
            dataBuf.append(contentsOf: value)
            hasData = true
            if dataBuf.count > maxEventBytes { overflowed = true }
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "id":
            if !value.contains(0) { lastID = String(decoding: value, as: UTF8.self) }
        case "retry":
            if let r = Int(String(decoding: value, as: UTF8.self)) { retry = r }
        default:
            break
        }
    }
}
