import CCurl

/// What went wrong with an HTTP exchange, below the level of MCP.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case connectionRefused
        case timeout
        case connectionLost
        case aborted
        case cancelled
        case tooLarge
        case other
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }
}

/// Response headers, names lowercased.
public struct HTTPHeaders: Sendable {
    public var fields: [(name: String, value: String)] = []

    /// `name` must be lowercase.
    public subscript(name: String) -> String? {
        for f in fields where f.name == name { return f.value }
        return nil
    }
}

/// A prebuilt `curl_slist` of request headers, shared by the transfers that use it and freed with it.
/// Also kept as the bytes mcpx's own HTTP/1.1 client writes (`wire`), with curl's conventions:
/// "Name:" with no value removes a header curl would add (so it is not sent), "Name;" sends it empty.
public final class HeaderList: @unchecked Sendable {
    let list: UnsafeMutablePointer<curl_slist>?
    /// "Name: value\r\n" for each header sent.
    let wire: [UInt8]
    /// A `Host` header is among them (it replaces the one from the URL).
    let setsHost: Bool

    public init(_ lines: [String]) {
        var l: UnsafeMutablePointer<curl_slist>?
        for line in lines { l = curl_slist_append(l, line) }
        list = l
        var wire: [UInt8] = []
        var setsHost = false
        for line in lines {
            let bytes = Array(line.utf8)
            // Header lines never carry CR or LF (they would split the request).
            if bytes.contains(where: { $0 == 0x0D || $0 == 0x0A }) { continue }
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
                if bytes[(colon + 1)...].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                if String(decoding: bytes[..<colon], as: UTF8.self).lowercased() == "host" { setsHost = true }
                wire += bytes
            } else if bytes.last == UInt8(ascii: ";") {
                wire += bytes.dropLast()
                wire.append(UInt8(ascii: ":"))
            } else {
                continue
            }
            wire += [0x0D, 0x0A]
        }
        self.wire = wire
        self.setsHost = setsHost
    }

    deinit { curl_slist_free_all(list) }
}

/// One HTTP exchange driven by the `CurlLoop` thread.
///
/// The callbacks run on that thread, in order: `onHead` once the status and headers are known,
/// `onData` for each body chunk as it arrives, `onDone` exactly once at the end.
/// Everything else in here belongs to the loop thread.
public final class HTTPTransfer: @unchecked Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST", delete = "DELETE" }

    public let method: Method
    public let url: String
    public let headers: HeaderList
    /// Extra per-request header lines (for example `Last-Event-ID`), on top of `headers`.
    public let extraHeaders: [String]
    public let body: [UInt8]
    public let timeoutMillis: Int
    public let connectTimeoutMillis: Int
    /// The URL is on this machine (`HTTPTransfer.isLoopback`): never through a proxy.
    public let direct: Bool
    /// `url` parsed once (by its backend connection): curl then skips parsing it per request.
    let parsedURL: CurlURL?
    /// Set for a plain-HTTP loopback backend's POSTs: mcpx's own HTTP/1.1 client carries them.
    let loopbackEndpoint: LoopbackEndpoint?

    /// Return false to abort the transfer.
    let onHead: (Int, HTTPHeaders) -> Bool
    /// Return false to abort the transfer.
    let onData: (UnsafeRawBufferPointer) -> Bool
    let onDone: (HTTPError?) -> Void

    // Loop-thread state.
    var easy: UnsafeMutableRawPointer?
    /// The connection of mcpx's own client carrying it (instead of `easy`).
    var loopback: LoopbackConnection?
    var extraList: UnsafeMutablePointer<curl_slist>?
    var status = 0
    var responseHeaders = HTTPHeaders()
    var headDelivered = false
    var abortReason: HTTPError?
    /// Sent again on a new connection after the one it went out on broke with no answer: it may
    /// have reached the backend, so a failure now is a lost connection, never "refused".
    var resentAfterLoss = false
    var finished = false

    public init(
        method: Method, url: String, headers: HeaderList, extraHeaders: [String] = [], body: [UInt8] = [],
        timeoutMillis: Int, connectTimeoutMillis: Int = 10_000, direct: Bool = false, parsedURL: CurlURL? = nil,
        loopbackEndpoint: LoopbackEndpoint? = nil,
        onHead: @escaping (Int, HTTPHeaders) -> Bool,
        onData: @escaping (UnsafeRawBufferPointer) -> Bool,
        onDone: @escaping (HTTPError?) -> Void
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.extraHeaders = extraHeaders
        self.body = body
        self.timeoutMillis = timeoutMillis
        self.connectTimeoutMillis = connectTimeoutMillis
        self.direct = direct
        self.parsedURL = parsedURL
        self.loopbackEndpoint = loopbackEndpoint
        self.onHead = onHead
        self.onData = onData
        self.onDone = onDone
    }

    /// Called by the loop when the response head is complete (or data starts).
    func deliverHead() -> Bool {
        if headDelivered { return true }
        headDelivered = true
        return onHead(status, responseHeaders)
    }

    /// The response headers mcpx reads; others are skipped without building strings.
    static let keptHeaders: [(name: [UInt8], key: String)] = ["content-type", "mcp-session-id", "www-authenticate", "retry-after"]
        .map { (Array($0.utf8), $0) }

    func headerLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D) { end -= 1 }
        if end == 0 {
            if status >= 200 { return deliverHead() }
            return true
        }
        // "HTTP/1.1 200 OK": a new response head (after a 1xx, or the first one).
        if end >= 12 && bytes[0] == UInt8(ascii: "H") && bytes[1] == UInt8(ascii: "T") && bytes[4] == UInt8(ascii: "/") {
            var i = 5
            while i < end && bytes[i] != 0x20 { i += 1 }
            var code = 0
            i += 1
            while i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39 {
                code = code * 10 + Int(bytes[i] - 0x30)
                i += 1
            }
            status = code
            responseHeaders = HTTPHeaders()
            return true
        }
        guard let colon = (0..<end).first(where: { bytes[$0] == UInt8(ascii: ":") }) else { return true }
        for h in Self.keptHeaders where h.name.count == colon {
            var same = true
            for k in 0..<colon where h.name[k] != (bytes[k] | 0x20) {
                same = false
                break
            }
            guard same else { continue }
            var v = colon + 1
            while v < end && (bytes[v] == 0x20 || bytes[v] == 0x09) { v += 1 }
            var e = end
            while e > v && (bytes[e - 1] == 0x20 || bytes[e - 1] == 0x09) { e -= 1 }
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[v..<e]), as: UTF8.self)
            if responseHeaders.fields.count < 16 { responseHeaders.fields.append((name: h.key, value: value)) }
            break
        }
        return true
    }
}
