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
                continue
            }
            fireTimerIfDue(&running)
            collectFinished()
            var wait: Int32 = 1000
            if let d = timerDeadline {
                let now = monotonicNanos()
                wait = d <= now ? 0 : Int32(min(1000, (d - now + 999_999) / 1_000_000))
            }
            let n = epoll_wait(epollFD, &events, Int32(events.count), wait)
            if n < 0 { continue }  // EINTR
            for i in 0..<Int(n) {
                let efd = events[i].data.fd
                let ev = events[i].events
                if efd == wakeFD {
                    var v: UInt64 = 0
                    _ = read(wakeFD, &v, 8)
                } else if efd == watchedFD, let watch {
                    if !watch.handler() {
                        watched.withLock { $0 = nil }
                    }
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
    func socketChanged(_ fd: Int32, what: Int32) {
        if what == CURL_POLL_REMOVE {
            if watchedSockets.remove(fd) != nil { epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), fd, nil) }
            return
        }
        var ev = epoll_event()
        ev.data.fd = fd
        if what & CURL_POLL_IN != 0 { ev.events |= UInt32(EPOLLIN.rawValue) }
        if what & CURL_POLL_OUT != 0 { ev.events |= UInt32(EPOLLOUT.rawValue) }
        if watchedSockets.contains(fd) {
            epoll_ctl(epollFD, Int32(EPOLL_CTL_MOD), fd, &ev)
        } else {
            watchedSockets.insert(fd)
            if epoll_ctl(epollFD, Int32(EPOLL_CTL_ADD), fd, &ev) != 0 && errno == EEXIST {
                epoll_ctl(epollFD, Int32(EPOLL_CTL_MOD), fd, &ev)
            }
        }
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

private func curlTimerCallback(_ multi: UnsafeMutableRawPointer?, _ ms: Int, _ userp: UnsafeMutableRawPointer?) -> Int32 {
    guard let userp else { return 0 }
    Unmanaged<CurlLoop>.fromOpaque(userp).takeUnretainedValue().timerChanged(ms)
    return 0
}
#endif
