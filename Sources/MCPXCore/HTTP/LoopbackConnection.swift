/// One keep-alive TCP connection of mcpx's own HTTP/1.1 client to a loopback backend
/// (`LoopbackEndpoint`). Belongs to the loop thread; `CurlLoop+LoopbackHTTP.swift` drives it.
final class LoopbackConnection {
    /// `draining`: the transfer has ended, the rest of its response is read and dropped before the
    /// connection goes back to the pool.
    enum State { case connecting, sending, receiving, draining, idle }

    let fd: Int32
    /// Told apart from a later connection on the same descriptor number in epoll's events.
    let tag: UInt32
    let endpoint: LoopbackEndpoint
    /// The address of `endpoint.addresses` this connection is for.
    let addressIndex: Int
    var state: State
    /// The exchange in progress (nil while idle).
    var transfer: HTTPTransfer?
    var reader = HTTPResponseReader()
    /// The request head being sent (its capacity is kept for the next request).
    var head: [UInt8] = []
    /// Bytes of head and body sent so far.
    var sent = 0
    /// Exchanges completed on it: a connection that carried one may have been closed by the backend
    /// while idle, so a request that gets no answer at all on it is sent again on a new one.
    var exchanges = 0
    /// When the exchange (or the connect) times out, 0 for never.
    var deadline: UInt64 = 0
    /// When it went back to the pool.
    var idleSince: UInt64 = 0
    /// Bytes of body still allowed while draining.
    var drainBudget = 0
    /// Whether epoll also watches it for writability (while connecting or sending).
    var watchingOut = false

    init(fd: Int32, tag: UInt32, endpoint: LoopbackEndpoint, addressIndex: Int, connected: Bool) {
        self.fd = fd
        self.tag = tag
        self.endpoint = endpoint
        self.addressIndex = addressIndex
        self.state = connected ? .sending : .connecting
    }

    /// Prepares the request head for `t`: request line, Host, the transfer's headers, Content-Length.
    func begin(_ t: HTTPTransfer) {
        transfer = t
        t.loopback = self
        reader = HTTPResponseReader()
        sent = 0
        head.removeAll(keepingCapacity: true)
        head += endpoint.requestLine
        if !t.headers.setsHost { head += endpoint.hostLine }
        head += t.headers.wire
        head += Self.contentLength
        head.append(contentsOf: String(t.body.count).utf8)
        head += Self.endOfHead
    }

    /// Ends the tie with the transfer it carries (if any) and returns that transfer.
    func release() -> HTTPTransfer? {
        let t = transfer
        transfer = nil
        t?.loopback = nil
        return t
    }

    private static let contentLength = Array("Content-Length: ".utf8)
    private static let endOfHead: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
}
