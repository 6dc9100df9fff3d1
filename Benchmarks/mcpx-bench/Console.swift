import Glibc

/// Progress and errors on stderr, one write(2) per message (the figures go to stdout).
enum Console {
    static func note(_ message: String) {
        let line = "# " + message + "\n"
        let bytes = Array(line.utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(2, raw.baseAddress! + offset, raw.count - offset)
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
