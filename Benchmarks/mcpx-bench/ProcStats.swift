import Glibc

/// Linux /proc accounting of one process (all its threads).
enum ProcStats {
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime in microseconds (clock-tick resolution), nil if the process is gone.
    static func cpuMicros(_ pid: pid_t) -> Double? {
        guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) else {
            return nil
        }
        // After "pid (comm)": state is field 0, utime field 11, stime field 12.
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 12, let utime = Int(String(decoding: fields[11], as: UTF8.self)),
            let stime = Int(String(decoding: fields[12], as: UTF8.self))
        else { return nil }
        return Double(utime + stime) / ticksPerSecond * 1e6
    }

    /// CPU time the hypervisor gave to others while this machine wanted it (the `steal` column of
    /// /proc/stat, all CPUs), microseconds. 0 where it is not reported.
    static func stealMicros() -> Double {
        guard let stat = readFile("/proc/stat"), let end = stat.firstIndex(of: UInt8(ascii: "\n")) else { return 0 }
        // "cpu  user nice system idle iowait irq softirq steal ..."
        let fields = stat[..<end].split(separator: UInt8(ascii: " "))
        guard fields.count > 8, let steal = Int(String(decoding: fields[8], as: UTF8.self)) else { return 0 }
        return Double(steal) / ticksPerSecond * 1e6
    }

    /// VmRSS in MB (MiB), nil if the process is gone.
    static func rssMB(_ pid: pid_t) -> Double? {
        guard let status = readFile("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: UInt8(ascii: "\n")) where line.starts(with: "VmRSS:".utf8) {
            let digits = line.filter { $0 >= 48 && $0 <= 57 }
            guard let kb = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
            return Double(kb) / 1024
        }
        return nil
    }

    /// The bench's own CPU (all threads), microseconds.
    static func selfCPUMicros() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let user = Double(usage.ru_utime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec)
        let system = Double(usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_stime.tv_usec)
        return user + system
    }

    /// A whole (small or large) file; nil if it cannot be opened.
    static func readFile(_ path: String, limit: Int = 64 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                out.append(contentsOf: chunk[0..<n])
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return out
    }
}
