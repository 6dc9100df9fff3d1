import CCurl
import Foundation

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

    public subscript(name: String) -> String? {
        let n = name.lowercased()
        for f in fields where f.name == n { return f.value }
        return nil
    }
}

/// A prebuilt `curl_slist` of request headers, shared by the transfers that use it and freed with it.
public final class HeaderList: @unchecked Sendable {
    let list: UnsafeMutablePointer<curl_slist>?

    public init(_ lines: [String]) {
        var l: UnsafeMutablePointer<curl_slist>?
        for line in lines { l = curl_slist_append(l, line) }
        list = l
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

    /// Return false to abort the transfer.
    let onHead: (Int, HTTPHeaders) -> Bool
    /// Return false to abort the transfer.
    let onData: (UnsafeRawBufferPointer) -> Bool
    let onDone: (HTTPError?) -> Void

    // Loop-thread state.
    var easy: UnsafeMutableRawPointer?
    var extraList: UnsafeMutablePointer<curl_slist>?
    var status = 0
    var responseHeaders = HTTPHeaders()
    var headDelivered = false
    var abortReason: HTTPError?
    var finished = false

    public init(
        method: Method, url: String, headers: HeaderList, extraHeaders: [String] = [], body: [UInt8] = [],
        timeoutMillis: Int, connectTimeoutMillis: Int = 10_000,
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

    func headerLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D) { end -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new response head (after a 1xx, or the first one).
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            responseHeaders = HTTPHeaders()
            return true
        }
        if line.isEmpty {
            if status >= 200 { return deliverHead() }
            return true
        }
        if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if responseHeaders.fields.count < 200 { responseHeaders.fields.append((name: name, value: value)) }
        }
        return true
    }
}
