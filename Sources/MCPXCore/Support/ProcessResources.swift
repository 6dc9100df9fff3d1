#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's file-descriptor budget: raised at start, shown in `proxy_status`.
///
/// One backend that makes mcpx open sockets faster than it closes them must not starve the
/// others; the bounds for that live in the proxy and the HTTP loop. This only makes the budget as
/// large as the system allows, and tells how much of it is used.
public enum ProcessResources {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped where the system needs it);
    /// returns the soft and hard limits in force afterwards.
    @discardableResult
    public static func raiseFileLimit() -> (soft: Int, hard: Int) {
        var r = rlimit()
        guard getrlimit(resourceNoFile, &r) == 0 else { return (-1, -1) }
        var target = r.rlim_max
        #if canImport(Darwin)
        // macOS refuses soft limits above OPEN_MAX for RLIM_INFINITY hard limits.
        if target == RLIM_INFINITY || target > rlim_t(OPEN_MAX) { target = rlim_t(OPEN_MAX) }
        #endif
        if r.rlim_cur < target {
            var raised = r
            raised.rlim_cur = target
            if setrlimit(resourceNoFile, &raised) == 0 { r = raised }
        }
        return (clampInt(r.rlim_cur), clampInt(r.rlim_max))
    }

    /// The soft and hard `RLIMIT_NOFILE` now.
    public static var fileLimit: (soft: Int, hard: Int) {
        var r = rlimit()
        guard getrlimit(resourceNoFile, &r) == 0 else { return (-1, -1) }
        return (clampInt(r.rlim_cur), clampInt(r.rlim_max))
    }

    /// How many descriptors the process has open (-1 when it cannot be told).
    public static func openFileCount() -> Int {
        #if os(Linux)
        let dirPath = "/proc/self/fd"
        #else
        let dirPath = "/dev/fd"
        #endif
        guard let dir = opendir(dirPath) else { return -1 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { b in
                b[0] == UInt8(ascii: ".") && (b[1] == 0 || (b[1] == UInt8(ascii: ".") && b[2] == 0))
            }
            if !isDot { n += 1 }
        }
        return max(0, n - 1)  // the directory's own descriptor
    }

    /// Resident memory in bytes (Linux: /proc/self/statm; elsewhere -1).
    public static func residentBytes() -> Int {
        #if os(Linux)
        guard let text = FileInput.readAll("/proc/self/statm") else { return -1 }
        let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return -1 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return -1
        #endif
    }

    static func clampInt(_ v: rlim_t) -> Int { v > rlim_t(Int.max) ? Int.max : Int(v) }

    #if os(Linux)
    static var resourceNoFile: __rlimit_resource_t { __rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue)) }
    #else
    static var resourceNoFile: Int32 { RLIMIT_NOFILE }
    #endif
}
