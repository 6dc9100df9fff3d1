import Foundation
import Glibc

/// The machine and the binaries a run measured, for the report.
struct Machine {
    var cpus = 0
    var cpuModel = "?"
    var kernel = "?"
    var memoryGB = 0.0
    var host = "?"
    var date = "?"
    var mcpxVersion = "?"
    var swiftVersion = "?"

    static func describe(mcpx: String) -> Machine {
        var m = Machine()
        m.cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if let info = ProcStats.readFile("/proc/cpuinfo") {
            let text = String(decoding: info, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
                let colon = line.firstIndex(of: ":")
            {
                m.cpuModel = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var names = utsname()
        if uname(&names) == 0 {
            func field<T>(_ value: T) -> String {
                withUnsafeBytes(of: value) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
            }
            m.kernel = "\(field(names.sysname)) \(field(names.release)) \(field(names.machine))"
            m.host = field(names.nodename)
        }
        if let meminfo = ProcStats.readFile("/proc/meminfo") {
            let text = String(decoding: meminfo, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
                let kb = Double(line.filter(\.isNumber))
            {
                m.memoryGB = kb / 1024 / 1024
            }
        }
        m.date = ISO8601DateFormatter().string(from: Date())
        m.swiftVersion = swiftVersion(ofBinary: mcpx) ?? "?"
        m.mcpxVersion = capture([mcpx, "--version"]) ?? "?"
        return m
    }

    /// The compiler's "Swift version ..." string, which Swift binaries carry in their .comment section.
    private static func swiftVersion(ofBinary path: String) -> String? {
        guard let bytes = ProcStats.readFile(path, limit: 256 << 20) else { return nil }
        let marker = Array("Swift version ".utf8)
        return bytes.withUnsafeBufferPointer { buf -> String? in
            guard let base = buf.baseAddress, let at = Bytes.find(marker, in: base, count: buf.count) else { return nil }
            var end = at
            while end < buf.count && buf[end] != 0 && buf[end] != 0x0A && end - at < 120 { end += 1 }
            return String(decoding: buf[at..<end], as: UTF8.self)
        }
    }

    /// The first line a short command prints (e.g. `mcpx --version`).
    static func capture(_ argv: [String]) -> String? {
        guard let child = try? Child.spawn(argv, name: "version", logPath: "/dev/null", pipeStdin: false, pipeStdout: true)
        else { return nil }
        defer { child.stop(grace: 0.5) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = Clock.nanos() + 2_000_000_000
        while Clock.nanos() < deadline && !bytes.contains(0x0A) {
            var pfd = pollfd(fd: child.stdoutFD, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) >= 0 else { break }
            if pfd.revents == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(child.stdoutFD, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let line = String(decoding: bytes.prefix { $0 != 0x0A }, as: UTF8.self)
        return line.isEmpty ? nil : line
    }
}
