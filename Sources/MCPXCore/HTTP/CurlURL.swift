import CCurl

/// A URL as libcurl parses it (`curl_url`): the same parser that later fetches it, so what mcpx
/// accepts, compares and resolves is what curl will connect to.
///
/// Used where mcpx must understand a URL rather than pass it on: checking a backend URL's scheme
/// and host, resolving an HTTP+SSE `endpoint` event against the stream's URL, and handing curl a
/// backend's URL already parsed (`CURLOPT_CURLU`) so it is not parsed again for every request.
/// Sendable because a shared one is only read (curl copies it per transfer); `resolve` changes it
/// and is for a caller's own instance.
public final class CurlURL: @unchecked Sendable {
    let handle: OpaquePointer

    /// Parses an absolute URL with any scheme (the caller decides which schemes it accepts).
    init?(_ string: String) {
        guard let h = curl_url() else { return nil }
        guard curl_url_set(h, CURLUPART_URL, string, UInt32(CURLU_NON_SUPPORT_SCHEME)) == CURLUE_OK else {
            curl_url_cleanup(h)
            return nil
        }
        handle = h
    }

    deinit { curl_url_cleanup(handle) }

    enum Part {
        case url, scheme, host, port, path, query, user

        var curl: CURLUPart {
            switch self {
            case .url: CURLUPART_URL
            case .scheme: CURLUPART_SCHEME
            case .host: CURLUPART_HOST
            case .port: CURLUPART_PORT
            case .path: CURLUPART_PATH
            case .query: CURLUPART_QUERY
            case .user: CURLUPART_USER
            }
        }
    }

    /// A part of the URL; `.port` is the scheme's default when the URL names none.
    func get(_ part: Part) -> String? {
        var out: UnsafeMutablePointer<CChar>?
        let flags: UInt32 = part == .port ? UInt32(CURLU_DEFAULT_PORT) : 0
        guard curl_url_get(handle, part.curl, &out, flags) == CURLUE_OK, let out else { return nil }
        defer { curl_free(out) }
        return String(cString: out)
    }

    /// Resolves `reference` (absolute, or relative as in RFC 3986) against this URL, in place.
    func resolve(_ reference: String) -> Bool {
        curl_url_set(handle, CURLUPART_URL, reference, UInt32(CURLU_NON_SUPPORT_SCHEME)) == CURLUE_OK
    }

    /// Why `url` cannot be a backend URL (nil if it can): it must parse, with a host and an
    /// http or https scheme. `scheme` is how the caller words a wrong scheme.
    static func backendProblem(_ url: String, notValid: () -> String, scheme: (String) -> String) -> String? {
        guard let u = CurlURL(url), let s = u.get(.scheme)?.lowercased(), let host = u.get(.host), !host.isEmpty else {
            return notValid()
        }
        return s == "http" || s == "https" ? nil : scheme(s)
    }
}
