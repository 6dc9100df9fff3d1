import MCPXJSON
import Testing

@Suite struct JSONTests {
    @Test func roundTrip() throws {
        let text = #"{"a":1,"b":[true,false,null],"c":"x\ny\"\u00e9\ud83d\ude00","d":1.5,"e":{}}"#
        let v = try JSONParser.parse(text)
        #expect(v["a"] == .int(1))
        #expect(v["c"] == .string("x\ny\"é😀"))
        let again = try JSONParser.parse(v.serialized())
        #expect(again == v)
    }

    @Test func rejectsBadInput() {
        for bad in ["", "{", "{\"a\":}", "[1,]", "01", "\"\\x\"", "tru", "{} x", "\"\u{01}\"", "-", "1.", "\"\\ud800\""] {
            #expect(throws: JSONParseError.self) { try JSONParser.parse(bad) }
        }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func rawObjectRanges() throws {
        let bytes = Array(#" {"jsonrpc":"2.0","id":7,"result":{"x":[1,2]}} "#.utf8)
        let raw = try RawObject(bytes)
        #expect(raw.value("id") == .int(7))
        #expect(String(decoding: raw.raw("result")!, as: UTF8.self) == #"{"x":[1,2]}"#)
        #expect(try RawObject(Array("{}".utf8)).members.isEmpty)
        #expect(throws: JSONParseError.self) { try RawObject(Array("{\"a\":1".utf8)) }
    }

    @Test func rawObjectValidatesWhatItSkips() {
        // Values mcpx passes through as bytes must be valid JSON too: escapes, surrogates, UTF-8.
        let bad: [[UInt8]] = [
            Array(#"{"a":"\q"}"#.utf8), Array(#"{"a":"\u12"}"#.utf8), Array(#"{"a":"\ud800"}"#.utf8),
            Array(#"{"a":"\udc00"}"#.utf8), [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D],
            [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D], [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D],
        ]
        for b in bad { #expect(throws: JSONParseError.self) { try RawObject(b) } }
        #expect((try? RawObject(Array(#"{"a":"é😀\ud83d\ude00\n"}"#.utf8))) != nil)
    }
}
