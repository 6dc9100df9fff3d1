import MCPXJSON

/// A run of `total` sequential-id `tools/call`s of one echo tool with at most `window` outstanding
/// (window 1: one call at a time). The main thread sends the first window; after that the stdio
/// reader thread drives it: per answer it records the latency (arrival time of the read that completed
/// the line minus the send time), checks the echoed text, and queues the next request; after each read
/// it writes the queued requests in one write(2).
final class LoadRun: @unchecked Sendable {
    let base: Int64
    let total: Int
    let window: Int

    private let head = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
    private let middle: [UInt8]
    private let tail = Array("\"}}}\n".utf8)
    private let sendTimes: UnsafeMutablePointer<UInt64>
    private let answered: UnsafeMutablePointer<Bool>
    private let latencies: UnsafeMutablePointer<UInt64>

    // Owned by the reader thread once the run is installed; read by others only after it finished.
    private(set) var sent = 0
    private(set) var completed = 0
    private(set) var errors = 0
    /// When each wrong or failed answer arrived (Clock.nanos()).
    private(set) var errorTimes: [UInt64] = []
    private(set) var firstSend: UInt64 = 0
    private(set) var lastArrival: UInt64 = 0
    private var batch: [UInt8] = []
    private var batchFrom = 0

    // Guarded by the client's gate: what the waiting thread sees.
    var publishedCompleted = 0
    var lastProgress: UInt64 = 0

    init(tool: String, base: Int64, total: Int, window: Int) {
        self.base = base
        self.total = total
        self.window = max(1, min(window, total))
        var m = Array(#","method":"tools/call","params":{"name":"#.utf8)
        JSONValue.writeString(tool, to: &m)
        m.append(contentsOf: #","arguments":{"text":"m"#.utf8)
        middle = m
        sendTimes = .allocate(capacity: max(1, total))
        answered = .allocate(capacity: max(1, total))
        answered.initialize(repeating: false, count: max(1, total))
        latencies = .allocate(capacity: max(1, total))
        batch.reserveCapacity(self.window * 160)
    }

    deinit {
        sendTimes.deallocate()
        answered.deallocate()
        latencies.deallocate()
    }

    @inline(__always)
    func owns(_ id: Int64) -> Bool { id >= base && id < base + Int64(total) }

    @inline(__always)
    private func appendRequest(_ index: Int, to out: inout [UInt8]) {
        let id = base + Int64(index)
        out.append(contentsOf: head)
        Bytes.appendInt(id, to: &out)
        out.append(contentsOf: middle)
        Bytes.appendInt(id, to: &out)
        out.append(contentsOf: tail)
    }

    /// The first window's requests (main thread, before the run is installed); stamps their send time.
    func initialBatch() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(window * 160)
        for i in 0..<window { appendRequest(i, to: &out) }
        sent = window
        batchFrom = window
        let now = Clock.nanos()
        firstSend = now
        lastProgress = now
        for i in 0..<window { sendTimes[i] = now }
        return out
    }

    /// One answer (reader thread).
    @inline(__always)
    func complete(id: Int64, line: UnsafePointer<UInt8>, count: Int, at time: UInt64, hasError: Bool) {
        let index = Int(id - base)
        guard !answered[index] else { return }
        answered[index] = true
        latencies[completed] = time &- sendTimes[index]
        completed += 1
        lastArrival = time
        if hasError || !Bytes.echoMatches(line, count: count, id: id) {
            errors += 1
            errorTimes.append(time)
        }
        if sent < total {
            appendRequest(sent, to: &batch)
            sent += 1
        }
    }

    /// Hands the requests queued during the last read to `body` (which writes them), stamped as sent
    /// now (reader thread); does nothing if none were queued.
    @inline(__always)
    func takeBatch(_ body: ([UInt8]) -> Void) {
        guard !batch.isEmpty else { return }
        let now = Clock.nanos()
        for i in batchFrom..<sent { sendTimes[i] = now }
        batchFrom = sent
        body(batch)
        batch.removeAll(keepingCapacity: true)
    }

    var isFinished: Bool { completed >= total }

    /// Latencies in nanoseconds, in completion order (after the run).
    var latencyNanos: [UInt64] { Array(UnsafeBufferPointer(start: latencies, count: completed)) }

    /// Seconds from the first send to the last answer (after the run).
    var elapsedSeconds: Double { Double(lastArrival &- firstSend) / 1e9 }
}
