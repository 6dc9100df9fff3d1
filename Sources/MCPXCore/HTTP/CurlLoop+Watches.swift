import Synchronization
#if os(Linux)
import CCurl
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A descriptor the loop watches besides curl's sockets: a child process's pipe (its stdout or
/// stderr to read, its stdin while mcpx has bytes waiting for it), the HTTP door's listening
/// socket and its client connections. The callbacks run on the loop thread.
public final class FDWatch: @unchecked Sendable {
    let fd: Int32
    /// Runs when the pipe can be read (or reached EOF / failed: a read tells).
    let onReadable: (@Sendable () -> Void)?
    /// Runs when a full pipe can take bytes again.
    let onWritable: (@Sendable () -> Void)?
    /// Loop thread only.
    var tag: UInt32 = 0
    var wantsWrite = false
    /// Reading paused (a peer that closed its side, a listener out of descriptors).
    var readPaused = false
    var registered = false

    init(fd: Int32, onReadable: (@Sendable () -> Void)? = nil, onWritable: (@Sendable () -> Void)? = nil) {
        self.fd = fd
        self.onReadable = onReadable
        self.onWritable = onWritable
    }
}

/// Child processes' pipes and the HTTP door's sockets in the loop's epoll set, beside curl's
/// sockets and the own HTTP client's connections: no thread per child or per client. Each pipe carries a tag with the top bit set in the event's
/// upper 32 bits (the own client's tags stay below it).
extension CurlLoop {
    static let pipeTagBit: UInt32 = 0x8000_0000

    /// Starts watching `w` (from any thread).
    public func addWatch(_ w: FDWatch) {
        onLoop { [self] in
            #if os(Linux)
            pipeTags = pipeTags >= Self.pipeTagBit - 1 ? 1 : pipeTags + 1
            w.tag = Self.pipeTagBit | pipeTags
            pipes[w.tag] = w
            w.registered = epollPipe(w, op: Int32(EPOLL_CTL_ADD))
            #endif
        }
    }

    /// Asks to be told (once) when `w` can take bytes again (from the loop thread).
    public func wantWritable(_ w: FDWatch, _ want: Bool) {
        setInterest(w, \.wantsWrite, want)
    }

    /// Stops or resumes telling when `w` is readable (from the loop thread).
    public func pauseReading(_ w: FDWatch, _ paused: Bool) {
        setInterest(w, \.readPaused, paused)
    }

    private func setInterest(_ w: FDWatch, _ flag: ReferenceWritableKeyPath<FDWatch, Bool>, _ value: Bool) {
        #if os(Linux)
        guard w.registered, w[keyPath: flag] != value else { return }
        w[keyPath: flag] = value
        _ = epollPipe(w, op: Int32(EPOLL_CTL_MOD))
        #endif
    }

    /// Stops watching `w` (from any thread); the caller closes the descriptor afterwards.
    public func removeWatch(_ w: FDWatch, then: (@Sendable () -> Void)? = nil) {
        onLoop { [self] in
            #if os(Linux)
            if w.registered { epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), w.fd, nil) }
            w.registered = false
            pipes[w.tag] = nil
            #endif
            then?()
        }
    }

    #if os(Linux)
    private func epollPipe(_ w: FDWatch, op: Int32) -> Bool {
        var ev = epoll_event()
        ev.events = (w.onReadable != nil && !w.readPaused ? UInt32(EPOLLIN.rawValue) : 0) | (w.wantsWrite ? UInt32(EPOLLOUT.rawValue) : 0)
        ev.data.u64 = UInt64(UInt32(bitPattern: w.fd)) | UInt64(w.tag) << 32
        return epoll_ctl(epollFD, op, w.fd, &ev) == 0
    }

    func pipeEvent(_ data: UInt64, _ events: UInt32) {
        guard let w = pipes[UInt32(truncatingIfNeeded: data >> 32)] else { return }
        let broken = events & (UInt32(EPOLLHUP.rawValue) | UInt32(EPOLLERR.rawValue)) != 0
        if w.onReadable == nil && broken {
            // The reader of a pipe mcpx writes went away: epoll would report it on every pass.
            epoll_ctl(epollFD, Int32(EPOLL_CTL_DEL), w.fd, nil)
            w.registered = false
            pipes[w.tag] = nil
            w.onWritable?()
            return
        }
        if events & UInt32(EPOLLIN.rawValue) != 0 || broken {
            w.onReadable?()
        }
        if events & (UInt32(EPOLLOUT.rawValue) | UInt32(EPOLLERR.rawValue)) != 0, w.wantsWrite {
            wantWritable(w, false)
            w.onWritable?()
        }
    }
    #endif
}
