#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A backend that mcpx's own HTTP/1.1 client can reach without libcurl: plain `http`, on this
/// machine, at a literal loopback address or `localhost`, without credentials in the URL. Worked out once per backend: the addresses
/// to connect to and the request line and `Host` header every POST starts with.
///
/// libcurl does everything else (TLS, other hosts, proxies, name resolution, the GET event stream,
/// the HTTP+SSE transport); for a local backend its per-request set-up was half of what a forwarded
/// call cost mcpx (see docs/architecture.md).
public final class LoopbackEndpoint: Sendable {
    struct Address: Sendable {
        var family: Int32
        var bytes: [UInt8]
    }

    /// Tried in order until one accepts the connection (`localhost`: 127.0.0.1, then ::1).
    let addresses: [Address]
    /// "POST /path?query HTTP/1.1\r\n".
    let requestLine: [UInt8]
    /// "Host: host[:port]\r\n", as curl would send it.
    let hostLine: [UInt8]

    init?(_ url: CurlURL) {
        guard url.get(.scheme)?.lowercased() == "http", let host = url.get(.host)?.lowercased(),
            let portText = url.get(.port), let port = UInt16(portText), port != 0,
            // Credentials in the URL are curl's to send (as Basic authentication).
            url.get(.user) == nil
        else { return nil }
        var addresses: [Address] = []
        if host == "localhost" {
            addresses = [Self.ipv4(127, 0, 0, 1, port: port), Self.ipv6Loopback(port: port)]
        } else if host == "[::1]" {
            addresses = [Self.ipv6Loopback(port: port)]
        } else {
            let parts = host.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
            guard parts.count == 4, parts[0] == 127, host.split(separator: ".").count == 4 else { return nil }
            addresses = [Self.ipv4(parts[0], parts[1], parts[2], parts[3], port: port)]
        }
        self.addresses = addresses
        var path = url.get(.path) ?? "/"
        if path.isEmpty { path = "/" }
        if let q = url.get(.query), !q.isEmpty { path += "?" + q }
        // A request target is one token: anything that would break the line is not for this client.
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        requestLine = Array("POST \(path) HTTP/1.1\r\n".utf8)
        hostLine = Array("Host: \(host)\(port == 80 ? "" : ":\(port)")\r\n".utf8)
    }

    private static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> Address {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: [a, b, c, d]) }
        return Address(family: AF_INET, bytes: withUnsafeBytes(of: sa) { Array($0) })
    }

    private static func ipv6Loopback(port: UInt16) -> Address {
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sa.sin6_addr) { $0[15] = 1 }
        return Address(family: AF_INET6, bytes: withUnsafeBytes(of: sa) { Array($0) })
    }
}
