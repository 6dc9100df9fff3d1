import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The HTTP door's socket calls, in one place: listen, accept, read, write, close. Descriptors are
/// non-blocking; the loop's epoll set says when they are ready.
public enum ServerSocket {
    /// Where to listen: `HOST:PORT`, `[v6]:PORT`.
    public struct Address: Sendable, Equatable {
        public var host: String
        public var port: Int

        /// Parses `HOST:PORT` (`127.0.0.1:0`, `localhost:8080`, `[::1]:9000`, `0.0.0.0:80`).
        static func parse(_ s: String) throws(ConfigError) -> Address {
            let host: Substring
            let portText: Substring
            if s.hasPrefix("[") {
                guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else {
                    throw ConfigError("--http: expected HOST:PORT, got \(s)")
                }
                host = s[s.index(after: s.startIndex)..<close]
                portText = s[s.index(close, offsetBy: 2)...]
            } else {
                guard let colon = s.lastIndex(of: ":") else { throw ConfigError("--http: expected HOST:PORT (for example 127.0.0.1:8080), got \(s)") }
                host = s[..<colon]
                portText = s[s.index(after: colon)...]
            }
            guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
                throw ConfigError("--http: expected HOST:PORT with a port from 0 to 65535, got \(s)")
            }
            return Address(host: String(host), port: port)
        }

        /// Whether the host is this machine only (127.0.0.0/8, ::1, localhost).
        public var isLoopback: Bool {
            let h = host.lowercased()
            return h == "localhost" || h == "::1" || HTTPDoor.isIPv4Loopback(Substring(h))
        }

        /// For URLs: `[v6]` in brackets.
        var urlHost: String { host.contains(":") ? "[\(host)]" : host }
    }

    struct Failure: Error { var message: String }

    /// A listening socket bound to `address`; returns it and the port it got (for port 0).
    static func listenOn(_ address: Address, backlog: Int32 = 512) throws(Failure) -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = mcpx_sock_stream()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw Failure(message: "cannot resolve \(address.host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd < 0 { lastError = String(cString: strerror(errno)); continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 || listen(fd, backlog) != 0 {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            setNonBlocking(fd)
            return (fd, boundPort(fd))
        }
        throw Failure(message: "cannot listen on \(address.urlHost):\(address.port): \(lastError)")
    }

    static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { return 0 }
        if Int32(storage.ss_family) == AF_INET {
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        }
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    enum Accepted {
        case connection(Int32)
        /// None waiting (or a connection that went away before it was taken).
        case none
        /// The process or the system is out of file descriptors.
        case outOfDescriptors
    }

    /// The next pending connection (non-blocking, close-on-exec, no Nagle delay).
    static func acceptNext(_ listener: Int32) -> Accepted {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return errno == EMFILE || errno == ENFILE ? .outOfDescriptors : .none }
        setNonBlocking(fd)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return .connection(fd)
    }

    enum ReadResult {
        case bytes(Int)
        case wouldBlock
        case closed
    }

    static func readSome(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? .wouldBlock : .closed
        }
    }

    /// Writes what it can; returns how many bytes it wrote (0 when the socket is full), nil when the peer is gone.
    static func writeSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int? {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, mcpx_msg_nosignal())
            if n >= 0 { return n }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
        }
    }

    static func closeFD(_ fd: Int32) { _ = close(fd) }
}
