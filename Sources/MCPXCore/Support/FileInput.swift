#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole reads of small files (config and state files), without Foundation's `FileManager`.
enum FileInput {
    /// The file's bytes, or nil if it cannot be opened or read (see `PathKind` for why).
    static func readAll(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(Int(st.st_size), 0) + 1)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<n])
        }
    }
}

/// The process environment, without Foundation's `ProcessInfo`.
enum ProcessEnvironment {
    /// Every variable; for a name given twice, the first (as `getenv` finds it).
    static func all() -> [String: String] {
        #if canImport(Darwin)
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = _NSGetEnviron().pointee
        #else
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        #endif
        var out: [String: String] = [:]
        while let p = entry?.pointee {
            let s = String(cString: p)
            if let eq = s.firstIndex(of: "="), out[String(s[..<eq])] == nil {
                out[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            entry = entry?.successor()
        }
        return out
    }

    /// One variable, nil when it is not set.
    static func get(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}
