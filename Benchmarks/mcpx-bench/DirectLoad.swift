import Glibc

/// The `direct` baseline: the bench itself calls the backend's echo tool over keep-alive HTTP, so the
/// table shows what a hop through mcpx adds.
enum DirectLoad {
    struct Outcome {
        var latencies: [UInt64] = []
        var errors = 0
        var elapsedSeconds = 0.0
    }

    /// One call at a time on one connection; ids start at `firstID`.
    static func sequential(_ conn: HTTPClientConnection, calls: Int, firstID: Int64, timeout: Double) throws(BenchError)
        -> Outcome
    {
        var outcome = Outcome()
        outcome.latencies.reserveCapacity(calls)
        setReceiveTimeout(conn.fd, seconds: timeout)
        let t0 = Clock.nanos()
        for k in 0..<calls {
            let id = firstID + Int64(k)
            let sentAt = Clock.nanos()
            try conn.sendEcho(id: id)
            var ok = false
            while true {
                let got = try conn.takeAnswer { status, p, n in
                    ok = status == 200 && Bytes.echoMatches(p, count: n, id: id)
                }
                if got { break }
                guard conn.receiveSome() else { throw BenchError("direct: no answer (connection closed or timed out)") }
            }
            outcome.latencies.append(Clock.nanos() - sentAt)
            if !ok { outcome.errors += 1 }
        }
        outcome.elapsedSeconds = Double(Clock.nanos() - t0) / 1e9
        return outcome
    }

    /// `total` calls with one outstanding per connection (so `connections.count` in flight), all
    /// connections served by one poll(2) loop.
    static func concurrent(_ connections: [HTTPClientConnection], total: Int, firstID: Int64, timeout: Double)
        throws(BenchError) -> Outcome
    {
        var outcome = Outcome()
        outcome.latencies.reserveCapacity(total)
        var fds = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        var currentID = [Int64](repeating: 0, count: connections.count)
        var sentAt = [UInt64](repeating: 0, count: connections.count)
        var sent = 0
        var completed = 0
        let t0 = Clock.nanos()
        var lastAnswer = t0
        for index in connections.indices where sent < total {
            currentID[index] = firstID + Int64(sent)
            sentAt[index] = Clock.nanos()
            try connections[index].sendEcho(id: currentID[index])
            sent += 1
        }
        let timeoutMs = Int32(timeout * 1000)
        while completed < sent {
            let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMs) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchError("direct: calls stalled at \(completed)/\(total)") }
            let now = Clock.nanos()
            for index in fds.indices where fds[index].revents != 0 {
                fds[index].revents = 0
                let conn = connections[index]
                guard conn.receiveSome() else { throw BenchError("direct: the backend closed a connection") }
                var ok = false
                let id = currentID[index]
                while try conn.takeAnswer({ status, p, count in
                    ok = status == 200 && Bytes.echoMatches(p, count: count, id: id)
                }) {
                    outcome.latencies.append(now - sentAt[index])
                    if !ok { outcome.errors += 1 }
                    completed += 1
                    lastAnswer = now
                    if sent < total {
                        currentID[index] = firstID + Int64(sent)
                        sentAt[index] = Clock.nanos()
                        try conn.sendEcho(id: currentID[index])
                        sent += 1
                    }
                }
            }
        }
        outcome.elapsedSeconds = Double(lastAnswer - t0) / 1e9
        return outcome
    }

    private static func setReceiveTimeout(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}
