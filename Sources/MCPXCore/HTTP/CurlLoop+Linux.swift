#if os(Linux)
import CCurl
import Glibc

/// The Linux loop: epoll tells which sockets are ready and `curl_multi_socket_action` advances only
/// the transfers on them, so 32 calls in flight cost no more per call than one.
extension CurlLoop {
    func runEpoll() {
        let me = Unmanaged.passUnretained(self).toOpaque()
        mcpx_multi_setopt_socketcb(multi, curlSocketCallback)
        mcpx_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        mcpx_multi_setopt_timercb(multi, curlTimerCallback)
        mcpx_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        epollAdd(wakeFD, events: UInt32(EPOLLIN.rawValue))
        var watchedFD: Int32 = -1
        var watchedAlwaysReady = false
        var running: Int32 = 0
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        var observer = beginPass()
        defer { observer?.passEnds() }
        while true {
            if drainQueue() { break }
            // stdin (or whatever `watch` names) joins the same epoll set.
            let watch = watched.withLock { $0 }
            let fd = watch?.fd ?? -1
            if fd != watchedFD {
                if watchedFD >= 0 && !watchedAlwaysReady { epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), watchedFD, nil) }
                watchedFD = fd
                // epoll refuses regular files and /dev/null (EPERM): they are always readable, so
                // read them each pass until EOF.
                watchedAlwaysReady = fd >= 0 && !epollAdd(fd, events: UInt32(EPOLLIN.rawValue)) && errno == EPERM
            }
            if watchedAlwaysReady, let watch {
                if !watch.handler() {
                    watched.withLock { $0 = nil }
                }
                observer?.passEnds()
                observer = beginPass()
                continue
            }
            fireTimerIfDue(&running)
            collectFinished()
            var wait: Int32 = 1000
            var deadline = timerDeadline
            if loopbackTimed > 0 || loopbackIdleCount > 0, let d = expireLoopback(now: monotonicNanos()) {
                deadline = min(deadline ?? d, d)
            }
            if let d = deadline {
                let now = monotonicNanos()
                wait = d <= now ? 0 : Int32(min(1000, (d - now + 999_999) / 1_000_000))
            }
            observer?.passEnds()
            let n = epoll_wait(epollFD, &events, Int32(events.count), wait)
            observer = beginPass()
            if n < 0 { continue }  // EINTR
            for i in 0..<Int(n) {
                let data = events[i].data.u64
                let ev = events[i].events
                if data >> 32 != 0 {
                    if UInt32(truncatingIfNeeded: data >> 32) & Self.pipeTagBit != 0 {
                        pipeEvent(data, ev)
                    } else {
                        loopbackEvent(data, ev)
                    }
                    continue
                }
                let efd = Int32(truncatingIfNeeded: data)
                if efd == wakeFD {
                    var v: UInt64 = 0
                    _ = read(wakeFD, &v, 8)
                } else if efd == watchedFD, let watch {
                    if !watch.handler() {
                        watched.withLock { $0 = nil }
                    }
                } else if efd >= 0 && Int(efd) < sockets.count && sockets[Int(efd)].wanted == 0 {
                    // A kept-alive connection curl is not using became readable (the backend closed
                    // it or sent something unasked): stop watching; curl checks it before reuse.
                    epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), efd, nil)
                    sockets[Int(efd)].registered = 0
                } else {
                    var mask: Int32 = 0
                    if ev & UInt32(EPOLLIN.rawValue) != 0 { mask |= CURL_CSELECT_IN }
                    if ev & UInt32(EPOLLOUT.rawValue) != 0 { mask |= CURL_CSELECT_OUT }
                    if ev & (UInt32(EPOLLERR.rawValue) | UInt32(EPOLLHUP.rawValue)) != 0 { mask |= CURL_CSELECT_ERR }
                    curl_multi_socket_action(multi, efd, mask, &running)
                }
            }
            collectFinished()
        }
        close(epollFD)
        close(wakeFD)
    }

    func fireTimerIfDue(_ running: inout Int32) {
        guard let d = timerDeadline, d <= monotonicNanos() else { return }
        timerDeadline = nil
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
    }

    @discardableResult
    func epollAdd(_ fd: Int32, events: UInt32) -> Bool {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        return epoll_ctl(epollFD, Int32(EPOLL_CTL_ADD), fd, &ev) == 0
    }

    /// curl's socket callback: watch `fd` for what curl wants, or stop watching it.
    ///
    /// curl removes a kept-alive connection's socket when a transfer ends and adds it back when the
    /// next one starts: two `epoll_ctl` calls per request. Sockets curl opened for connections (see
    /// `socketOpened`) therefore stay registered while unwanted; an event on one then removes it
    /// (in `runEpoll`), and `socketClosed` removes it before curl closes it, so a descriptor number
    /// reused later never inherits a stale registration. Other sockets (the resolver's) are
    /// removed at once.
    func socketChanged(_ fd: Int32, what: Int32) {
        guard fd >= 0 else { return }
        let i = slot(fd)
        var want: UInt32 = 0
        if what != CURL_POLL_REMOVE {
            if what & CURL_POLL_IN != 0 { want |= UInt32(EPOLLIN.rawValue) }
            if what & CURL_POLL_OUT != 0 { want |= UInt32(EPOLLOUT.rawValue) }
        }
        sockets[i].wanted = want
        let registered = sockets[i].registered
        if want == 0 {
            if registered != 0 && !sockets[i].connection {
                epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), fd, nil)
                sockets[i].registered = 0
            }
            return
        }
        if registered == want { return }
        var ev = epoll_event()
        ev.data.fd = fd
        ev.events = want
        if registered != 0 {
            if epoll_ctl(epollFD, Int32(EPOLL_CTL_MOD), fd, &ev) != 0 && errno == ENOENT {
                epoll_ctl(epollFD, Int32(EPOLL_CTL_ADD), fd, &ev)
            }
        } else if epoll_ctl(epollFD, Int32(EPOLL_CTL_ADD), fd, &ev) != 0 && errno == EEXIST {
            epoll_ctl(epollFD, Int32(EPOLL_CTL_MOD), fd, &ev)
        }
        sockets[i].registered = want
    }

    /// curl's open-socket callback: opens a connection's socket and remembers it as one.
    func socketOpened(_ address: curl_sockaddr) -> Int32 {
        let fd = socket(address.family, address.socktype | Int32(SOCK_CLOEXEC.rawValue), address.protocol)
        guard fd >= 0 else { return fd }
        sockets[slot(fd)] = SocketSlot(connection: true)
        return fd
    }

    /// The index of `fd` (not negative) in `sockets`, growing the table to hold it.
    func slot(_ fd: Int32) -> Int {
        let i = Int(fd)
        if i >= sockets.count { sockets.append(contentsOf: repeatElement(SocketSlot(), count: i + 1 - sockets.count)) }
        return i
    }

    /// curl's close-socket callback: forgets the socket (out of epoll first), then closes it.
    func socketClosed(_ fd: Int32) -> Int32 {
        let i = Int(fd)
        if i >= 0 && i < sockets.count {
            if sockets[i].registered != 0 { epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), fd, nil) }
            sockets[i] = SocketSlot()
        }
        return close(fd)
    }

    /// Sets the open/close-socket callbacks on a handle (again after `curl_easy_reset`).
    func setSocketCallbacks(_ easy: UnsafeMutableRawPointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        mcpx_easy_setopt_opensocketcb(easy, curlOpenSocket)
        mcpx_easy_setopt_ptr(easy, CURLOPT_OPENSOCKETDATA, me)
        mcpx_easy_setopt_closesocketcb(easy, curlCloseSocket)
        mcpx_easy_setopt_ptr(easy, CURLOPT_CLOSESOCKETDATA, me)
    }

    /// curl's timer callback: -1 cancels the timer, 0 means at once.
    func timerChanged(_ ms: Int) {
        timerDeadline = ms < 0 ? nil : monotonicNanos() + UInt64(ms) * 1_000_000
    }
}

private func curlSocketCallback(
    _ easy: UnsafeMutableRawPointer?, _ fd: curl_socket_t, _ what: Int32, _ userp: UnsafeMutableRawPointer?,
    _ socketp: UnsafeMutableRawPointer?
) -> Int32 {
    guard let userp else { return 0 }
    Unmanaged<CurlLoop>.fromOpaque(userp).takeUnretainedValue().socketChanged(fd, what: what)
    return 0
}

private func curlOpenSocket(
    _ clientp: UnsafeMutableRawPointer?, _ purpose: curlsocktype, _ address: UnsafeMutablePointer<curl_sockaddr>?
) -> curl_socket_t {
    guard let clientp, let address else { return CURL_SOCKET_BAD }
    return Unmanaged<CurlLoop>.fromOpaque(clientp).takeUnretainedValue().socketOpened(address.pointee)
}

private func curlCloseSocket(_ clientp: UnsafeMutableRawPointer?, _ fd: curl_socket_t) -> Int32 {
    guard let clientp else { return close(fd) }
    return Unmanaged<CurlLoop>.fromOpaque(clientp).takeUnretainedValue().socketClosed(fd)
}

private func curlTimerCallback(_ multi: UnsafeMutableRawPointer?, _ ms: Int, _ userp: UnsafeMutableRawPointer?) -> Int32 {
    guard let userp else { return 0 }
    Unmanaged<CurlLoop>.fromOpaque(userp).takeUnretainedValue().timerChanged(ms)
    return 0
}
/// What the loop's epoll set holds for one descriptor curl uses.
struct SocketSlot {
    /// The events epoll watches for it (0: not in the set).
    var registered: UInt32 = 0
    /// The events curl wants now (0: none; it may still be registered, see `socketChanged`).
    var wanted: UInt32 = 0
    /// Opened by `socketOpened` for a connection; closed through `socketClosed`.
    var connection = false
}
#endif
