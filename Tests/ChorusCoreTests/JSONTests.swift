import XCTest
import ChorusCore
import ChorusTesting

final class JSONTests: XCTestCase {
    func test_canonicalText_sortsKeysByBytes_andHasNoWhitespace() throws {
        let value = try JSONParser().parse(#" { "b" : [1, 2.5, true, null], "a": {"z": "x", "Z": "y"}, "é": "" } "#)
        XCTAssertEqual(value.canonicalText, #"{"a":{"Z":"y","z":"x"},"b":[1,2.5,true,null],"é":""}"#)
    }

    /// An object written from its members gives the bytes the dictionary form gives, and the key
    /// order is plain byte order (seeded; the seed is printed on failure).
    func test_canonicalObjectText_isTheObjectsCanonicalText_andKeysSortByBytes() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let alphabet = ["a", "B", "z", "é", "e\u{301}", "日", "🙂", "\u{0}", " ", "~", "aa", ""]
        for _ in 0..<300 {
            var members: [String: JSONValue] = [:]
            for _ in 0..<rng.int(9) {
                let key = (0..<rng.int(4)).map { _ in rng.pick(alphabet) }.joined()
                members[key] = rng.chance(0.5) ? .integer(Int64(bitPattern: rng.next())) : .string(key)
            }
            let pairs = members.map { (key: $0.key, value: $0.value) }
            XCTAssertEqual(JSONValue.canonicalObjectText(pairs), JSONValue.object(members).canonicalText, "seed \(seed)")
            let keys = Array(members.keys)
            for a in keys { for b in keys {
                XCTAssertEqual(JSONValue.utf8Less(a, b), Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)), "seed \(seed): \(a) < \(b)")
            } }
        }
    }

    func test_roundTrip_isStable() throws {
        for text in [#""line\nbreak \"quoted\" \\ tab\t \u0001""#, "-0.0", "1e+20", "123456789012345678", "[]", "{}", #""😀""#] {
            let once = try JSONParser().parse(text).canonicalText
            XCTAssertEqual(try JSONParser().parse(once).canonicalText, once, text)
        }
        XCTAssertEqual(try JSONParser().parse(#""\ud83d\ude00""#), .string("😀"), "surrogate pairs decode")
    }

    func test_decimalText_spellsIntegersAsSwiftDoes_includingTheExtremes() throws {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_732_200_000_000, Int64.max, Int64.min, Int64.min + 1]
        // Every length, at its edges, odd and even (the digits are written two at a time).
        var power: Int64 = 1
        while power <= Int64.max / 10 {
            power *= 10
            values += [power - 1, power, power + 1, -power, -(power - 1)]
        }
        var generator = SeededGenerator(seed: 0xD1617)
        values += (0..<500).map { _ in Int64.random(in: Int64.min...Int64.max, using: &generator) >> Int64.random(in: 0...62, using: &generator) }
        for value in values {
            var bytes: [UInt8] = [UInt8(ascii: "x")]
            DecimalText.append(value, to: &bytes)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "x" + String(value))
            XCTAssertEqual(DecimalText.count(value), String(value).utf8.count, "\(value)")
            XCTAssertEqual(try JSONParser().parse(JSONValue.integer(value).canonicalText), .integer(value))
        }
    }

    func test_integersAndDoublesKeepTheirKind() throws {
        XCTAssertEqual(try JSONParser().parse("4"), .integer(4))
        XCTAssertEqual(try JSONParser().parse("4.0"), .double(4))
        XCTAssertEqual(try JSONParser().parse("99999999999999999999"), .double(1e20), "too big for 64 bits becomes a double")
    }

    func test_strictness_refusesWhatRFC8259Refuses() {
        let bad = ["", "[1,]", "{\"a\":1,}", "{\"a\":1,\"a\":2}", "01", "1.", ".5", "NaN", "Infinity", "[1] x",
                   "\"\u{01}\"", #""\ud800""#, #""\udc00""#, "{a:1}", "'a'", "tru", "[", "\"abc", #""\x""#, "1e999"]
        for text in bad {
            XCTAssertThrowsError(try JSONParser().parse(text), "should refuse \(text)")
        }
        XCTAssertThrowsError(try JSONParser().parse([0x22, 0xff, 0x22]), "invalid UTF-8")
    }

    func test_depthAndSizeLimits() {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        XCTAssertThrowsError(try JSONParser(depthMax: 32).parse(deep)) { error in
            XCTAssertTrue("\(error)".contains("deeper than 32"))
        }
        XCTAssertNoThrow(try JSONParser(depthMax: 40).parse(deep))
        XCTAssertThrowsError(try JSONParser(bytesMax: 10).parse("\"01234567890\""))
    }

    func test_errorsCarryTheByteOffset() {
        XCTAssertThrowsError(try JSONParser().parse("[1, 2, x]")) { error in
            XCTAssertEqual((error as? JSONParseError)?.offset, 7)
        }
    }
}
