import Glibc
import MCPXJSON

/// One keep-alive HTTP/1.1 connection to a Streamable HTTP MCP endpoint on 127.0.0.1, raw POSIX
/// sockets: requests with Content-Length, answers read by Content-Length (JSON answers only, which is
/// what the example server sends for these requests).
final class HTTPClientConnection {
    struct Answer {
        let status: Int
        let sessionID: String?
        let body: [UInt8]
    }

    let fd: Int32
    let port: Int
    let path: String
    var sessionID: String? {
        didSet { rebuildHead() }
    }

    /// Everything of a POST's head up to the Content-Length value.
    private var head: [UInt8] = []
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity = 256 * 1024
    private var start = 0
    private var end = 0
    /// Scratch space for one request.
    var out: [UInt8] = []
    var body: [UInt8] = []

    init(port: Int, path: String) throws(BenchError) {
        self.port = port
        self.path = path
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        fd = sock
        guard sock >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(sock, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(sock)
            throw BenchError("connect 127.0.0.1:\(port): \(reason)")
        }
        buffer = .allocate(capacity: capacity)  // from here on deinit cleans up
        out.reserveCapacity(1024)
        body.reserveCapacity(512)
        rebuildHead()
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    private func rebuildHead() {
        var h = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        h += "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: \(StdioClient.protocolVersion)\r\n"
        if let sessionID { h += "Mcp-Session-Id: \(sessionID)\r\n" }
        h += "Content-Length: "
        head = Array(h.utf8)
    }

    // MARK: Hot path

    /// Builds the POST for `body` in `out`.
    @inline(__always)
    func buildPost() {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: head)
        Bytes.appendInt(Int64(body.count), to: &out)
        out.append(contentsOf: [13, 10, 13, 10])
        out.append(contentsOf: body)
    }

    /// Builds an echo call with id `id` and text `m<id>` and sends it.
    @inline(__always)
    func sendEcho(id: Int64) throws(BenchError) {
        body.removeAll(keepingCapacity: true)
        body.append(contentsOf: Self.echoHead)
        Bytes.appendInt(id, to: &body)
        body.append(contentsOf: echoMiddle)
        Bytes.appendInt(id, to: &body)
        body.append(contentsOf: Self.echoTail)
        buildPost()
        try sendOut()
    }

    private static let echoHead = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
    /// The echo tool's name on this endpoint (`echo` on a backend, `s__echo` through mcpx).
    var echoTool = "echo" {
        didSet { echoMiddle = Self.middle(echoTool) }
    }
    private lazy var echoMiddle = Self.middle(echoTool)
    private static func middle(_ tool: String) -> [UInt8] {
        Array(#","method":"tools/call","params":{"name":"\#(tool)","arguments":{"text":"m"#.utf8)
    }
    private static let echoTail = Array(#""}}}"#.utf8)

    func sendOut() throws(BenchError) {
        // SIGPIPE is ignored (SignalGuard), so a closed peer is an error here, not a signal.
        let ok = out.withUnsafeBytes { Bytes.writeAll(fd, $0) }
        if !ok { throw BenchError("direct: send failed: \(String(cString: strerror(errno)))") }
    }

    /// One recv into the buffer; false on EOF or error.
    func receiveSome() -> Bool {
        Bytes.makeRoom(&buffer, capacity: &capacity, start: &start, end: &end, atLeast: 64 * 1024)
        while true {
            let n = recv(fd, buffer + end, capacity - end, 0)
            if n > 0 {
                end += n
                return true
            }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    /// Takes one complete answer out of the buffer and hands `(status, body)` to `body`; false if the
    /// buffer does not hold a complete one yet. Fails on chunked answers.
    @inline(__always)
    func takeAnswer(
        _ handle: (Int, UnsafePointer<UInt8>, Int) -> Void, sessionID: UnsafeMutablePointer<String?>? = nil
    ) throws(BenchError) -> Bool {
        let available = end - start
        let h = UnsafePointer(buffer + start)
        guard available >= 16, let headLength = Bytes.find(Self.headEnd, in: h, count: available) else { return false }
        // "HTTP/1.1 200 ..."
        let status = Int(LineScanner.parseInt(h + 9, 3) ?? 0)
        var contentLength = -1
        // Header lines follow the status line; each ends with CRLF, the last one at headLength.
        var i = (Bytes.offset(of: 0x0A, in: h, from: 0, to: headLength) ?? headLength) + 1
        while i < headLength {
            let lineEnd = Bytes.offset(of: 0x0D, in: h, from: i, to: headLength) ?? headLength
            let line = h + i
            let length = lineEnd - i
            i = lineEnd + 2
            if Self.hasPrefixIgnoringCase(line, length, "content-length:") {
                var j = 15
                while j < length && line[j] == 32 { j += 1 }
                contentLength = Int(LineScanner.parseInt(line + j, length - j) ?? -1)
            } else if Self.hasPrefixIgnoringCase(line, length, "transfer-encoding:") {
                throw BenchError("direct: the backend sent a chunked answer (only Content-Length is supported)")
            } else if let sessionID, Self.hasPrefixIgnoringCase(line, length, "mcp-session-id:") {
                var j = 15
                while j < length && line[j] == 32 { j += 1 }
                sessionID.pointee = String(decoding: UnsafeBufferPointer(start: line + j, count: length - j), as: UTF8.self)
            }
        }
        guard contentLength >= 0 else { throw BenchError("direct: answer without Content-Length (status \(status))") }
        let total = headLength + 4 + contentLength
        guard available >= total else { return false }
        handle(status, h + headLength + 4, contentLength)
        start += total
        if start == end {
            start = 0
            end = 0
        }
        return true
    }

    private static let headEnd: [UInt8] = [13, 10, 13, 10]

    private static func hasPrefixIgnoringCase(_ p: UnsafePointer<UInt8>, _ n: Int, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard n >= count else { return false }
        let q = prefix.utf8Start
        for k in 0..<count {
            let c = p[k] >= 65 && p[k] <= 90 ? p[k] + 32 : p[k]
            if c != q[k] { return false }
        }
        return true
    }

    // MARK: Control plane

    /// Sends one JSON-RPC message and waits for its answer (blocking).
    func exchange(_ message: JSONValue) throws(BenchError) -> Answer {
        body = message.serialized()
        buildPost()
        try sendOut()
        var status = 0
        var content: [UInt8] = []
        var session: String?
        while true {
            let got = try withUnsafeMutablePointer(to: &session) { (s) throws(BenchError) -> Bool in
                try takeAnswer({ st, p, n in
                    status = st
                    content = Array(UnsafeBufferPointer(start: p, count: n))
                }, sessionID: s)
            }
            if got { return Answer(status: status, sessionID: session, body: content) }
            guard receiveSome() else { throw BenchError("direct: the backend closed the connection") }
        }
    }

    /// `GET path` (no session header), blocking: the status and body.
    func get(_ target: String) throws(BenchError) -> Answer {
        out = Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
        try sendOut()
        var status = 0
        var content: [UInt8] = []
        while true {
            let got = try takeAnswer({ st, p, n in
                status = st
                content = Array(UnsafeBufferPointer(start: p, count: n))
            })
            if got { return Answer(status: status, sessionID: nil, body: content) }
            guard receiveSome() else { throw BenchError("GET \(target): the server closed the connection") }
        }
    }

    /// initialize → session id → notifications/initialized.
    func handshake() throws(BenchError) {
        let answer = try exchange([
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": [
                "protocolVersion": .string(StdioClient.protocolVersion), "capabilities": [:],
                "clientInfo": ["name": "mcpx-bench-direct", "version": "1.0"],
            ],
        ])
        guard answer.status == 200, let session = answer.sessionID else {
            throw BenchError("direct: initialize answered \(answer.status): \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
        }
        sessionID = session
        let ack = try exchange(["jsonrpc": "2.0", "method": "notifications/initialized"])
        guard ack.status == 202 || ack.status == 200 else { throw BenchError("direct: initialized answered \(ack.status)") }
    }

    /// The names of the endpoint's tools (all pages).
    func toolNames() throws(BenchError) -> [String] {
        var names: [String] = []
        var cursor: String?
        var id: Int64 = 2
        repeat {
            var request: JSONObject = ["jsonrpc": "2.0", "id": .int(id), "method": "tools/list"]
            if let cursor { request["params"] = ["cursor": .string(cursor)] }
            id += 1
            let answer = try exchange(.object(request))
            let message: JSONValue
            do {
                message = try JSONParser.parse(answer.body)
            } catch {
                throw BenchError("direct: tools/list answer is not JSON: \(error.description)")
            }
            guard let result = message["result"], let tools = result["tools"]?.arrayValue else {
                throw BenchError("direct: tools/list failed: \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
            }
            names += tools.compactMap { $0["name"]?.stringValue }
            cursor = result["nextCursor"]?.stringValue
        } while cursor != nil
        return names
    }
}
