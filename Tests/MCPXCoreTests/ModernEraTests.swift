@testable import MCPXCore
import MCPXJSON
import Testing

private func message(_ s: String) throws -> IncomingMessage { try IncomingMessage(bytes: Array(s.utf8)) }

@Suite struct ModernEraTests {
    @Test func envelopeIsReadOnlyWhenItNamesAVersion() throws {
        if case .none = ModernEra.envelope(of: try message(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)) {} else { Issue.record("no envelope") }
        let ok = try message(#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}},"io.modelcontextprotocol/logLevel":"warning"}}}"#)
        guard case .modern(let e) = ModernEra.envelope(of: ok) else { Issue.record("modern"); return }
        #expect(e.version == "2026-07-28" && e.capabilities["sampling"] != nil && e.logLevel == .warning)
        let noCaps = try message(#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#)
        guard case .invalid(let err) = ModernEra.envelope(of: noCaps) else { Issue.record("invalid"); return }
        #expect(err.code == .invalidParams)
        #expect(ModernEra.unsupported("2030-01-01").code == .unsupportedVersion)
    }

    @Test func stampAddsResultTypeAndCacheHintsOnce() {
        let plain = ModernEra.stamp(Array(#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#.utf8), method: "tools/list")
        #expect(String(decoding: plain, as: UTF8.self) == #"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","ttlMs":0,"cacheScope":"private","tools":[]}}"#)
        let empty = ModernEra.stamp(Array(#"{"jsonrpc":"2.0","id":1,"result":{}}"#.utf8), method: "tools/call")
        #expect(String(decoding: empty, as: UTF8.self) == #"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}}"#)
        let already = Array(#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","requestState":"x"}}"#.utf8)
        #expect(ModernEra.stamp(already, method: "tools/call") == already)
        let notFound = ModernEra.stamp(Array(#"{"jsonrpc":"2.0","id":3,"error":{"code":-32002,"message":"Resource not found"}}"#.utf8), method: "resources/read")
        #expect(String(decoding: notFound, as: UTF8.self).contains("-32602"))
    }

    @Test func callBodySplicesTheEnvelopeIntoMeta() throws {
        let env = Array(#""io.modelcontextprotocol/protocolVersion":"2026-07-28""#.utf8)
        let withMeta = try RawObject(Array(#"{"name":"x__t","arguments":{"a":1},"_meta":{"progressToken":7}}"#.utf8))
        let a = Dispatcher.callBody(backendID: 5, tool: "t", params: withMeta, envelope: env)
        let va = try JSONParser.parse(a)
        #expect(va["params"]?["_meta"]?["progressToken"]?.intValue == 7)
        #expect(va["params"]?["_meta"]?["io.modelcontextprotocol/protocolVersion"]?.stringValue == "2026-07-28")
        let bare = try RawObject(Array(#"{"name":"x__t"}"#.utf8))
        let vb = try JSONParser.parse(Dispatcher.callBody(backendID: 6, tool: "t", params: bare, envelope: env))
        #expect(vb["params"]?["_meta"]?["io.modelcontextprotocol/protocolVersion"]?.stringValue == "2026-07-28")
        let emptyMeta = try RawObject(Array(#"{"name":"x__t","_meta":{ }}"#.utf8))
        #expect((try? JSONParser.parse(Dispatcher.callBody(backendID: 7, tool: "t", params: emptyMeta, envelope: env))) != nil)
    }

    @Test func headerValuesAndBase64() {
        #expect(BackendConnection.headerValue("get_page") == "get_page")
        #expect(BackendConnection.headerValue("héllo") == "=?base64?aMOpbGxv?=")
        #expect(Base64.encode(Array("ab".utf8)) == "YWI=")
        #expect(HTTPDoor.decodeHeader("=?base64?aMOpbGxv?=") == "héllo")
    }
}
