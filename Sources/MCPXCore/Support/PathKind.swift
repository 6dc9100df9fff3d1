#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a path names, following symbolic links .
enum PathKind: Equatable {
    /// Nothing there (or it cannot be looked at: a broken link, a directory without search permission).
    case missing
    case directory
    /// A file, device, socket or pipe.
    case other

    init(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            self = .missing
            return
        }
        self = (st.st_mode & S_IFMT) == S_IFDIR ? .directory : .other
    }
}
