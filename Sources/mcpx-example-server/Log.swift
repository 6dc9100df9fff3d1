import Glibc

/// Diagnostics on stderr and the announcement line on stdout. Each message goes out in one write(2),
/// unbuffered, so lines from different connection threads never interleave and nothing waits in a buffer.
enum Log {
    static func info(_ message: String) {
        write(to: 2, "mcpx-example-server: " + message + "\n")
    }

    /// The single stdout line tests read the port from.
    static func announce(_ line: String) {
        write(to: 1, line + "\n")
    }

    private static func write(to fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
