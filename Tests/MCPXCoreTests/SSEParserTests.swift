@testable import MCPXCore
import MCPXJSON
import Testing

@Suite struct SSEParserTests {
    @Test func eventsSplitAnywhere() {
        let stream = Array("id: 1\nevent: message\ndata: {\"a\":\"é\"}\n\n: comment\ndata: x\ndata: y\r\n\r\nid: 7\ndata:\n\n".utf8)
        // Feed one byte at a time: an event may be split anywhere, even inside a UTF-8 character.
        var p = SSEParser()
        var events: [SSEParser.Event] = []
        for b in stream { events += p.feed([b]) }
        #expect(events.count == 3)
        #expect(String(decoding: events[0].data, as: UTF8.self) == "{\"a\":\"é\"}")
        #expect(events[0].id == "1")
        #expect(String(decoding: events[1].data, as: UTF8.self) == "x\ny")
        #expect(events[2].data.isEmpty)  // a priming event: callers skip it
        #expect(p.lastEventID == "7")
    }

    @Test func wholeStreamAtOnce() {
        var p = SSEParser()
        let events = p.feed(Array("event: endpoint\ndata: /messages?s=1\n\nretry: 3000\ndata: a\n\n".utf8))
        #expect(events.map(\.event) == ["endpoint", "message"])
        #expect(events[1].retryMillis == 3000)
    }

    @Test func overflowIsReported() {
        var p = SSEParser(maxEventBytes: 16)
        _ = p.feed(Array("data: 0123456789abcdefghij\n\n".utf8))
        #expect(p.overflowed)
    }
}

@Suite struct LineSplitterTests {
    @Test func splitsAndLimits() {
        var s = LineSplitter(maxLineBytes: 10)
        var lines: [LineSplitter.Line] = []
        Array("ab\ncd\r\n0123456789012345\nok".utf8).withUnsafeBytes { lines += s.feed($0) }
        #expect(lines.count == 3)
        #expect(lines[0] == .line(Array("ab".utf8)))
        #expect(lines[1] == .line(Array("cd".utf8)))
        if case .tooLong(let size, _) = lines[2] { #expect(size == 16) } else { Issue.record("expected tooLong") }
        #expect(s.finish() == .line(Array("ok".utf8)))
    }

    @Test func chunksAcrossLines() {
        var s = LineSplitter(maxLineBytes: 100)
        var lines: [LineSplitter.Line] = []
        for piece in ["{\"a\"", ":1}\n{", "}\n"] { Array(piece.utf8).withUnsafeBytes { lines += s.feed($0) } }
        #expect(lines == [.line(Array("{\"a\":1}".utf8)), .line(Array("{}".utf8))])
    }
}

@Suite struct ToolNamingTests {
    @Test func plainNamesStayPlain() {
        #expect(ToolNaming.exposedName(server: "main", tool: "search", max: 64) == "main__search")
    }

    @Test func longAndInvalidNamesGetStableShortForms() {
        let long = String(repeating: "x", count: 100)
        let a = ToolNaming.exposedName(server: "main", tool: long, max: 64)
        #expect(a.count == 64)
        #expect(ToolNaming.isValidExposedName(a, max: 64))
        #expect(a == ToolNaming.exposedName(server: "main", tool: long, max: 64))  // stable
        #expect(a != ToolNaming.exposedName(server: "main", tool: long + "y", max: 64))  // distinct
        let dotted = ToolNaming.exposedName(server: "s", tool: "a.b", max: 64)
        #expect(ToolNaming.isValidExposedName(dotted, max: 64))
        #expect(dotted != ToolNaming.exposedName(server: "s", tool: "a_b", max: 64))
        #expect(ToolNaming.exposedName(server: "s", tool: "ünï", max: 20).utf8.count <= 20)
        #expect(ToolNaming.exposedName(server: "s", tool: "t", max: 64, salt: 1) != "s__t")
    }

    @Test func serverNames() {
        #expect(ToolNaming.validateServerName("main-1_a") == nil)
        for bad in ["", "a__b", "has space", String(repeating: "a", count: 33), "dot.ted", "end_"] {
            #expect(ToolNaming.validateServerName(bad) != nil)
        }
    }

    @Test func filters() {
        #expect(ToolFilter.matches("read_file", pattern: "read_*"))
        #expect(ToolFilter.matches("x", pattern: "*"))
        #expect(!ToolFilter.matches("write_file", pattern: "read_*"))
        #expect(ToolFilter.allows("a", allow: [], deny: []))
        #expect(!ToolFilter.allows("a", allow: ["b*"], deny: []))
        #expect(!ToolFilter.allows("bad", allow: ["b*"], deny: ["*d"]))
    }
}

@Suite struct WireTests {
    @Test func classifiesMessages() throws {
        let req = try IncomingMessage(bytes: Array(#"{"jsonrpc":"2.0","id":"x","method":"ping"}"#.utf8))
        #expect(req.id == .string("x"))
        #expect(req.method == "ping")
        let note = try IncomingMessage(bytes: Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8))
        #expect(note.id == nil)
    }

    @Test func rejectsInvalid() {
        let cases: [(String, RPCError.Code)] = [
            ("nope", .parseError), ("42", .invalidRequest), (#"{"foo":1}"#, .invalidRequest),
            (#"{"jsonrpc":"2.0","id":1}"#, .invalidRequest), (#"{"jsonrpc":"2.0","id":1,"method":7}"#, .invalidRequest),
            (#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, .invalidRequest),
            (#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, .invalidRequest),
            (#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#, .invalidRequest),
        ]
        for (text, code) in cases {
            do {
                _ = try IncomingMessage(bytes: Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == code, "\(text)")
            }
        }
    }

    @Test func sniffsIDOfOversizedLines() {
        #expect(Dispatcher.sniffID(Array(#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"#.utf8)) == .int(42))
        #expect(Dispatcher.sniffID(Array(#"{"id" : "abc","#.utf8)) == .string("abc"))
        #expect(Dispatcher.sniffID(Array(#"{"jsonrpc":"2.0""#.utf8)) == nil)
    }

    @Test func callBodySplicesTheName() throws {
        let params = try RawObject(Array(#"{"name":"main__echo","arguments":{"text":"hi"},"_meta":{"progressToken":7}}"#.utf8))
        let body = Dispatcher.callBody(backendID: 9, tool: "echo", params: params)
        let v = try MCPXJSON.JSONParser.parse(body)
        #expect(v["id"] == .int(9))
        #expect(v["params"]?["name"] == .string("echo"))
        #expect(v["params"]?["arguments"]?["text"] == .string("hi"))
        #expect(v["params"]?["_meta"]?["progressToken"] == .int(7))
    }

    @Test func backoffIsCapped() {
        for attempt in 1...20 {
            let d = MultiServerProxy.backoff(attempt: attempt, base: 0.5, cap: 10)
            #expect(d >= 0.4 && d <= 12)
        }
    }
}
