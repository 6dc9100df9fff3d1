#if os(Linux)
import CCurl
import Glibc

/// mcpx's own HTTP/1.1 client for POSTs to plain-HTTP loopback backends (`LoopbackEndpoint`), on
/// the loop thread and in the same epoll set as curl's sockets.
///
/// A request is written with one `sendmsg` (head and body) on a kept-alive connection as soon as it
/// is read from stdin, and its answer is parsed straight from the receive buffer by
/// `HTTPResponseReader` into the transfer's usual callbacks (`headerLine`, `onData`, `onDone`), so
/// everything above the transfer is the same as with curl. A connection stays registered in epoll
/// for its whole life: no `epoll_ctl` per request.
extension CurlLoop {
    /// Idle connections kept per backend: enough for a burst of concurrent calls to be answered
    /// on kept-alive connections, not so many that one backend holds the descriptors of all.
    static let loopbackIdlePerEndpoint = 48
    /// Idle connections older than this are closed (curl's default for its own, `MAXAGE_CONN`).
    static let loopbackMaxIdleNanos: UInt64 = 118_000_000_000
    /// How much of a response mcpx reads after its exchange is done with it (and for how long) to
    /// keep the connection; a longer rest closes it.
    static let loopbackDrainBytes = 64 << 10
    static let loopbackDrainNanos: UInt64 = 2_000_000_000

    func startLoopback(_ t: HTTPTransfer, _ endpoint: LoopbackEndpoint) {
        let key = ObjectIdentifier(endpoint)
        let now = monotonicNanos()
        while let c = loopbackIdle[key]?.popLast() {
            loopbackIdleCount -= 1
            if now - c.idleSince > Self.loopbackMaxIdleNanos {
                closeLoopback(c)
                continue
            }
            c.state = .sending
            c.begin(t)
            armDeadline(c, t, now: now, connecting: false)
            sendLoopback(c)
            return
        }
        connectLoopback(t, endpoint, from: 0, now: now, lastError: nil)
    }

    /// Opens a connection to the first address from `from` that does not refuse at once, and starts `t` on it.
    private func connectLoopback(_ t: HTTPTransfer, _ endpoint: LoopbackEndpoint, from: Int, now: UInt64, lastError: HTTPError?) {
        var failure = lastError ?? HTTPError(.connectionRefused, "connection refused")
        var index = from
        while index < endpoint.addresses.count {
            let address = endpoint.addresses[index]
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                failure = HTTPError(.other, "socket: \(String(cString: strerror(errno)))")
                break
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc = address.bytes.withUnsafeBytes { b in
                connect(fd, b.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(b.count))
            }
            let err = rc == 0 ? 0 : errno
            if rc == 0 || err == EINPROGRESS {
                // Tags from 2^31 up are the pipes' (`CurlLoop+Pipes.swift`).
                loopbackTags = loopbackTags >= Self.pipeTagBit - 1 ? 1 : loopbackTags + 1
                let c = LoopbackConnection(fd: fd, tag: loopbackTags, endpoint: endpoint, addressIndex: index, connected: rc == 0)
                let i = Int(fd)
                if i >= loopbackByFD.count { loopbackByFD.append(contentsOf: repeatElement(nil, count: i + 1 - loopbackByFD.count)) }
                loopbackByFD[i] = c
                c.watchingOut = rc != 0
                var ev = epoll_event()
                ev.events = UInt32(EPOLLIN.rawValue) | (rc != 0 ? UInt32(EPOLLOUT.rawValue) : 0)
                ev.data.u64 = UInt64(UInt32(bitPattern: fd)) | UInt64(c.tag) << 32
                epoll_ctl(epollFD, Int32(EPOLL_CTL_ADD), fd, &ev)
                c.begin(t)
                armDeadline(c, t, now: now, connecting: rc != 0)
                if rc == 0 { sendLoopback(c) }
                return
            }
            close(fd)
            failure = Self.connectError(err)
            index += 1
        }
        if t.resentAfterLoss { failure = HTTPError(.connectionLost, "connection lost, then \(failure.detail) on a new one") }
        finish(t, failure)
    }

    private static func connectError(_ err: Int32) -> HTTPError {
        if err == ECONNREFUSED { return HTTPError(.connectionRefused, "connection refused") }
        return HTTPError(.connectionRefused, "could not connect: \(String(cString: strerror(err)))")
    }

    /// The exchange's deadline: the connect timeout while connecting, then the transfer's own.
    private func armDeadline(_ c: LoopbackConnection, _ t: HTTPTransfer, now: UInt64, connecting: Bool) {
        var d: UInt64 = t.timeoutMillis > 0 ? now + UInt64(t.timeoutMillis) * 1_000_000 : 0
        if connecting && t.connectTimeoutMillis > 0 {
            let cd = now + UInt64(t.connectTimeoutMillis) * 1_000_000
            d = d == 0 ? cd : min(d, cd)
        }
        setDeadline(c, d)
    }

    private func setDeadline(_ c: LoopbackConnection, _ d: UInt64) {
        if c.deadline == 0 && d != 0 { loopbackTimed += 1 }
        if c.deadline != 0 && d == 0 { loopbackTimed -= 1 }
        c.deadline = d
    }

    /// An epoll event whose data carries a connection's tag (curl's sockets carry none).
    func loopbackEvent(_ data: UInt64, _ events: UInt32) {
        let fd = Int(UInt32(truncatingIfNeeded: data))
        guard fd < loopbackByFD.count, let c = loopbackByFD[fd], c.tag == UInt32(data >> 32) else { return }
        switch c.state {
        case .connecting:
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err == 0 && events & (UInt32(EPOLLOUT.rawValue) | UInt32(EPOLLERR.rawValue) | UInt32(EPOLLHUP.rawValue)) == 0 {
                return  // not done yet
            }
            guard err == 0, let t = c.transfer else {
                // Refused (or cancelled meanwhile): the next address, if the transfer still waits.
                let t = c.release()
                closeLoopback(c)
                if let t { connectLoopback(t, c.endpoint, from: c.addressIndex + 1, now: monotonicNanos(), lastError: Self.connectError(err)) }
                return
            }
            c.state = .sending
            armDeadline(c, t, now: monotonicNanos(), connecting: false)
            sendLoopback(c)
        case .sending:
            if events & UInt32(EPOLLIN.rawValue) != 0 {
                receiveLoopback(c)
                if c.state != .sending { return }
            }
            if events & (UInt32(EPOLLOUT.rawValue) | UInt32(EPOLLERR.rawValue) | UInt32(EPOLLHUP.rawValue)) != 0 { sendLoopback(c) }
        case .receiving, .draining:
            receiveLoopback(c)
        case .idle:
            // The backend closed a kept-alive connection, or sent something nobody asked for.
            if var list = loopbackIdle[ObjectIdentifier(c.endpoint)], let k = list.firstIndex(where: { $0 === c }) {
                list.remove(at: k)
                loopbackIdle[ObjectIdentifier(c.endpoint)] = list
                loopbackIdleCount -= 1
            }
            closeLoopback(c)
        }
    }

    private func watchOut(_ c: LoopbackConnection, _ on: Bool) {
        if c.watchingOut == on { return }
        c.watchingOut = on
        var ev = epoll_event()
        ev.events = UInt32(EPOLLIN.rawValue) | (on ? UInt32(EPOLLOUT.rawValue) : 0)
        ev.data.u64 = UInt64(UInt32(bitPattern: c.fd)) | UInt64(c.tag) << 32
        epoll_ctl(epollFD, Int32(EPOLL_CTL_MOD), c.fd, &ev)
    }

    /// Writes what is left of the request (head and body in one `sendmsg`).
    func sendLoopback(_ c: LoopbackConnection) {
        guard let t = c.transfer else { return }
        let headCount = c.head.count
        let total = headCount + t.body.count
        while c.sent < total {
            let n: Int = c.head.withUnsafeMutableBytes { h in
                t.body.withUnsafeBytes { b in
                    var iov = (iovec(), iovec())
                    var count = 0
                    if c.sent < headCount {
                        iov.0 = iovec(iov_base: h.baseAddress! + c.sent, iov_len: headCount - c.sent)
                        iov.1 = iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress), iov_len: b.count)
                        count = b.isEmpty ? 1 : 2
                    } else {
                        let off = c.sent - headCount
                        iov.0 = iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress! + off), iov_len: b.count - off)
                        count = 1
                    }
                    return withUnsafeMutablePointer(to: &iov) { p in
                        p.withMemoryRebound(to: iovec.self, capacity: 2) { vec in
                            var msg = msghdr()
                            msg.msg_iov = vec
                            msg.msg_iovlen = count
                            return sendmsg(c.fd, &msg, Int32(MSG_NOSIGNAL))
                        }
                    }
                }
            }
            if n > 0 {
                c.sent += n
                continue
            }
            let err = errno
            if n < 0 && err == EINTR { continue }
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) {
                watchOut(c, true)
                return
            }
            lostLoopback(c, "connection lost: \(String(cString: strerror(err)))")
            return
        }
        watchOut(c, false)
        c.state = .receiving
    }

    /// Reads what arrived and feeds it to the response reader (or, while draining, to nobody).
    func receiveLoopback(_ c: LoopbackConnection) {
        let buffer = receiveBuffer
        // At most 16 full buffers (1 MiB) per pass: a backend streaming a huge answer as fast as
        // it can must not keep the loop from every other descriptor (epoll is level-triggered:
        // the rest is read on the next pass).
        var reads = 0
        while c.transfer != nil || c.state == .draining {
            let n = recv(c.fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                reads += 1
                if !feedLoopback(c, UnsafeRawBufferPointer(rebasing: buffer[0..<n])) || n < buffer.count || reads >= 16 { return }
                continue
            }
            if n < 0 {
                let err = errno
                if err == EINTR { continue }
                if err == EAGAIN || err == EWOULDBLOCK { return }
                lostLoopback(c, "connection lost: \(String(cString: strerror(err)))")
                return
            }
            // The backend closed the connection.
            if c.reader.endOfInput() {
                completeLoopback(c, extraBytes: true)
            } else {
                lostLoopback(c, c.reader.started ? "connection lost: the backend closed the connection mid-response"
                    : "connection lost: the backend closed the connection without answering")
            }
            return
        }
    }

    /// Feeds one read's bytes; false when the exchange (or the draining) ended with them.
    private func feedLoopback(_ c: LoopbackConnection, _ data: UnsafeRawBufferPointer) -> Bool {
        let progress: HTTPResponseReader.Progress
        do {
            if let t = c.transfer {
                progress = try c.reader.feed(
                    data, line: { t.headerLine($0) },
                    body: { piece in
                        if !t.headDelivered && !t.deliverHead() { return false }
                        return t.onData(piece)
                    })
            } else {
                progress = try c.reader.feed(
                    data, line: { _ in true },
                    body: { piece in
                        c.drainBudget -= piece.count
                        return c.drainBudget >= 0
                    })
            }
        } catch {
            failLoopback(c, HTTPError(.other, "malformed HTTP response: \(error.reason)"))
            return false
        }
        switch progress {
        case .needMore:
            return true
        case .complete(let consumed):
            completeLoopback(c, extraBytes: consumed < data.count)
            return false
        case .aborted(let consumed):
            guard let t = c.release() else {
                closeLoopback(c)  // more to drain than it is worth
                return false
            }
            // The exchange has its answer (or gave up): the transfer ends now. The rest of the
            // response is read and dropped, so that the connection can carry the next request:
            // an SSE answer usually ends right after its response event.
            if c.reader.reusable && c.state == .receiving {
                c.state = .draining
                c.drainBudget = Self.loopbackDrainBytes
                setDeadline(c, monotonicNanos() + Self.loopbackDrainNanos)
            } else {
                closeLoopback(c)
            }
            finish(t, t.abortReason ?? HTTPError(.aborted, "aborted"))
            if c.state == .draining && consumed < data.count {
                return feedLoopback(c, UnsafeRawBufferPointer(rebasing: data[consumed...]))
            }
            return c.state == .draining
        }
    }

    /// The connection failed before the answer was complete. A request that got no byte of answer on
    /// a connection that had carried others is sent again on a new one (the backend may have closed
    /// it while it was idle), as curl does.
    private func lostLoopback(_ c: LoopbackConnection, _ message: String) {
        guard c.transfer != nil else { return closeLoopback(c) }
        if c.exchanges > 0 && !c.reader.started && !(c.transfer?.resentAfterLoss ?? true), let t = c.release() {
            closeLoopback(c)
            t.resentAfterLoss = true
            connectLoopback(t, c.endpoint, from: 0, now: monotonicNanos(), lastError: nil)
            return
        }
        failLoopback(c, HTTPError(.connectionLost, message))
    }

    private func failLoopback(_ c: LoopbackConnection, _ error: HTTPError) {
        let t = c.release()
        closeLoopback(c)
        if let t { finish(t, error) }
    }

    private func completeLoopback(_ c: LoopbackConnection, extraBytes: Bool) {
        let t = c.release()
        c.exchanges += 1
        setDeadline(c, 0)
        // An answer that came before the whole request was sent leaves the connection unusable.
        if c.reader.reusable && !extraBytes && (c.state == .receiving || c.state == .draining)
            && loopbackIdleCount < idleConnectionLimit
            && (loopbackIdle[ObjectIdentifier(c.endpoint)]?.count ?? 0) < Self.loopbackIdlePerEndpoint
        {
            c.state = .idle
            c.idleSince = monotonicNanos()
            loopbackIdle[ObjectIdentifier(c.endpoint), default: []].append(c)
            loopbackIdleCount += 1
        } else {
            closeLoopback(c)
        }
        if let t { finish(t, nil) }
    }

    /// Closes a connection that is in no idle list (closing also takes it out of the epoll set).
    func closeLoopback(_ c: LoopbackConnection) {
        setDeadline(c, 0)
        let i = Int(c.fd)
        if i < loopbackByFD.count, loopbackByFD[i] === c { loopbackByFD[i] = nil }
        close(c.fd)
    }

    /// A transfer that ends before its exchange did (cancelled, timed out, shut down): its
    /// connection is in an unknown state and is closed.
    func detachLoopback(_ t: HTTPTransfer) {
        guard let c = t.loopback else { return }
        _ = c.release()
        closeLoopback(c)
    }

    /// Fails exchanges whose deadline passed; returns the next deadline (nil for none). Also closes
    /// connections idle for too long (at most every few seconds).
    func expireLoopback(now: UInt64) -> UInt64? {
        if loopbackIdleCount > 0 && now - loopbackLastSweep > 5_000_000_000 {
            loopbackLastSweep = now
            for (key, list) in loopbackIdle {
                var keep: [LoopbackConnection] = []
                for c in list {
                    if now - c.idleSince <= Self.loopbackMaxIdleNanos { keep.append(c) } else { closeLoopback(c) }
                }
                loopbackIdleCount -= list.count - keep.count
                loopbackIdle[key] = keep.isEmpty ? nil : keep
            }
        }
        guard loopbackTimed > 0 else { return nil }
        var next: UInt64?
        for case let c? in loopbackByFD where c.deadline != 0 {
            if c.deadline <= now {
                failLoopback(c, HTTPError(.timeout, "timed out"))
            } else {
                next = min(next ?? c.deadline, c.deadline)
            }
        }
        return next
    }

    /// At shutdown: every exchange ends as cancelled, every connection is closed.
    func closeAllLoopback() {
        for case let c? in loopbackByFD {
            let t = c.release()
            closeLoopback(c)
            if let t { finish(t, HTTPError(.cancelled, "mcpx is shutting down")) }
        }
        loopbackIdle = [:]
        loopbackIdleCount = 0
    }
}
#endif
