import Foundation
import Glibc
import MCPXJSON

/// `--stdio`: the same MCP server on stdin/stdout, one JSON-RPC message per line, for mcpx's stdio
/// backends (demo, tests, bench). Requests run on threads of their own (tools sleep and stream
/// progress); every line on stdout is written whole under one lock.
struct StdioServe {
    let server: ExampleServer

    func run() -> Never {
        let out = EventStream(fd: 1, chunked: false, lines: true)
        let dispatcher = MCPDispatcher(server: server)
        var session: Session?
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[..<n])
            while let nl = buffer.firstIndex(of: 10) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                handle(line, dispatcher: dispatcher, session: &session, out: out)
            }
        }
        session?.close()
        exit(0)
    }

    private func handle(_ line: [UInt8], dispatcher: MCPDispatcher, session: inout Session?, out: EventStream) {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return }
        guard let message = try? JSONParser.parse(line) else {
            _ = out.send(RPC.error(id: .null, RPCError(code: -32700, message: "Parse error")))
            return
        }
        switch Incoming(message) {
        case .request(let id, "initialize", let params):
            do throws(RPCError) {
                let (s, result) = try dispatcher.initialize(params: params)
                session?.close()
                _ = s.addStream(out)  // list changes and resource updates go out on stdout too
                session = s
                _ = out.send(RPC.result(id: id, result))
            } catch {
                _ = out.send(RPC.error(id: id, error))
            }
        case .request(let id, let method, let params):
            guard let s = session else {
                _ = out.send(RPC.error(id: id, .invalidRequest("initialize first")))
                return
            }
            let object: JSONObject
            do throws(RPCError) {
                object = try MCPDispatcher.object(params)
            } catch {
                _ = out.send(RPC.error(id: id, error))
                return
            }
            let work = Work(ctx: RequestContext(
                server: server, session: s, id: id, method: method, params: object, channel: ResponseChannel(lines: out)))
            let thread = Thread {
                if let answer = dispatcher.answer(work.ctx) { _ = out.send(answer) }
            }
            thread.stackSize = 2 << 20
            thread.start()
        case .notification(let method, let params):
            if let s = session { dispatcher.notification(method, params: params, session: s) }
        case .response:
            break
        case .invalid(let id, let reason):
            _ = out.send(RPC.error(id: id, .invalidRequest(reason)))
        }
    }

    /// A request handed to its thread (which alone uses it from then on).
    final class Work: @unchecked Sendable {
        let ctx: RequestContext
        init(ctx: RequestContext) { self.ctx = ctx }
    }

    /// Writes all of `bytes` to `fd`; false when the reader is gone.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }
}
