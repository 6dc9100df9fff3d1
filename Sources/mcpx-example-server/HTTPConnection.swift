import Glibc
import MCPXJSON

/// One accepted socket: serves its keep-alive requests one after the other (read by `HTTPReader`),
/// handing each to the MCP endpoint of the server its path names, which answers through the write
/// helpers here.
final class HTTPConnection {
    let fd: Int32
    let listener: Listener
    /// Set when the connection must close after the current exchange (client asked, HTTP/1.0, an error,
    /// an unframed stream). Responses carry `Connection: close` while it is set.
    var closeAfterResponse = false
    /// Whether the current request's client understands chunked transfer coding (HTTP/1.1).
    private(set) var chunkedAllowed = true
    /// Status of the last response head written, for request logging.
    private(set) var lastStatus = 0

    private let reader: HTTPReader

    init(fd: Int32, listener: Listener) {
        self.fd = fd
        self.listener = listener
        reader = HTTPReader(fd: fd, maxBodyBytes: listener.options.maxBodyBytes)
    }

    func run() {
        defer { close(fd) }
        while !closeAfterResponse {
            switch reader.readRequest() {
            case .closed:
                return
            case .failed(let status, let message):
                closeAfterResponse = true
                sendText(status: status, message)
                return
            case .request(let request):
                closeAfterResponse = request.wantsClose
                chunkedAllowed = request.minorVersion >= 1
                MCPEndpoint(server: listener.server(for: request.path)).handle(request, on: self)
            }
        }
    }

    /// Blocks until the peer closes or the socket is shut down (GET streams, written from other threads).
    func waitForPeerClose() {
        reader.drainUntilClosed()
    }

    // MARK: Writing

    /// Writes raw bytes; on failure the connection is marked for closing.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        if Socket.send(fd, bytes) { return true }
        closeAfterResponse = true
        return false
    }

    /// Appends a status line and headers (and the blank line) to `out`.
    func appendHead(status: Int, headers: [(String, String)], to out: inout [UInt8]) {
        lastStatus = status
        out.append(contentsOf: "HTTP/1.1 \(status) \(Self.reason(status))\r\n".utf8)
        for (name, value) in headers {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if closeAfterResponse { out.append(contentsOf: "Connection: close\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
    }

    /// A complete response with a Content-Length body.
    func sendFull(status: Int, contentType: String?, headers: [(String, String)] = [], body: [UInt8]) {
        var out: [UInt8] = []
        out.reserveCapacity(160 + body.count)
        var all = headers
        if let contentType { all.append(("Content-Type", contentType)) }
        all.append(("Content-Length", String(body.count)))
        appendHead(status: status, headers: all, to: &out)
        out.append(contentsOf: body)
        write(out)
    }

    func sendJSON(status: Int = 200, _ value: JSONValue, headers: [(String, String)] = []) {
        sendFull(status: status, contentType: "application/json", headers: headers, body: value.serialized())
    }

    func sendText(status: Int, _ text: String, headers: [(String, String)] = []) {
        sendFull(status: status, contentType: "text/plain; charset=utf-8", headers: headers,
                 body: Array((text + "\n").utf8))
    }

    /// A response with no body.
    func sendEmpty(status: Int, headers: [(String, String)] = []) {
        sendFull(status: status, contentType: nil, headers: headers, body: [])
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 431: return "Request Header Fields Too Large"
        case 501: return "Not Implemented"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
