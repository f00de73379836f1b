import XCTest
import ChorusCore
import ChorusTesting

final class OperationCodecTests: XCTestCase {
    let codec = OperationCodec()

    /// Every vector in Protocol/vectors/operations.json decodes and re-encodes to its canonical bytes.
    func test_protocolVectors_canonicalEncoding() throws {
        let vectors = try ProtocolVectors.load("operations.json")
        XCTAssertGreaterThanOrEqual(vectors.count, 12)
        for vector in vectors {
            let name = vector["name"]?.stringValue ?? "?"
            let operation: ChorusCore.Operation
            if let text = vector["text"]?.stringValue {
                operation = try codec.decode(text: text)
            } else {
                operation = try codec.decode(try XCTUnwrap(vector["operation"]))
            }
            XCTAssertEqual(codec.canonicalText(operation), vector["canonical"]?.stringValue, name)
            XCTAssertEqual(try codec.decode(text: codec.canonicalText(operation)), operation, "\(name): round trip")
            if let hash = vector["recordHash"]?.stringValue {
                XCTAssertEqual(Hex.encode(operation.recordHash), hash, "\(name): record hash")
            }
        }
    }

    /// The direct writer behind `canonicalText` produces canonical JSON (what the general encoder
    /// makes of the same JSON: keys sorted by bytes, minimal escapes) that decodes back to the same
    /// operation, for every action, with and without author, escapes, duplicate and unsorted ids.
    func test_canonicalText_isCanonicalJSON_andRoundTrips_forRandomOperations() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let texts = ["p-1", "naïve \"quoted\" \\ back", "tab\there", "", "ü🎵", "line\nbreak\u{01}"]
        func text() -> String { texts.randomElement(using: &rng)! }
        func ids() -> [OperationID] {
            (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                OperationID(replica: ReplicaID.random(using: &rng), counter: UInt64.random(in: 1...3, using: &rng))
            }
        }
        let values: [JSONValue] = [.string("x\"y"), .integer(-4), .double(2.5), .bool(true), .null,
                                   .array([.integer(1), .string("é")]), .object(["b": .integer(1), "a": .string("z")])]
        for round in 0..<2_000 {
            let value = values.randomElement(using: &rng)!
            let actions: [Action] = [
                .set(value: value, supersedes: ids()), .add(element: text()), .remove(element: text(), supersedes: ids()),
                .mapSet(key: text(), value: value, supersedes: ids()), .mapRemove(key: text(), supersedes: ids()),
                .increment(by: Int64.random(in: -9...9, using: &rng)), .append(value: value), .retract(supersedes: ids()),
                .delete(observed: ids()), .restore(supersedes: ids()), .erase(recordHash: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }),
            ]
            let action = actions.randomElement(using: &rng)!
            let op = ChorusCore.Operation(id: OperationID(replica: ReplicaID.random(using: &rng), counter: UInt64.random(in: 1...1_000_000, using: &rng)),
                               timestamp: HybridTimestamp(wall: UInt64.random(in: 0...1_900_000_000_000, using: &rng),
                                                          logical: UInt32.random(in: 0...5, using: &rng)),
                               collection: text(), record: text(), field: Bool.random(using: &rng) ? text() : nil, action: action,
                               author: Bool.random(using: &rng) ? text() : nil)
            XCTAssertEqual(codec.canonicalText(op), codec.encode(op).canonicalText, "seed \(seed), round \(round)")
            if let decoded = try? codec.decode(text: codec.canonicalText(op)) {
                XCTAssertEqual(codec.canonicalText(decoded), codec.canonicalText(op), "seed \(seed), round \(round): round trip")
            }
        }
    }

    /// The canonical bytes are written into storage sized beforehand: the worst cases (every byte
    /// escaped as `\u00XX`, the widest integers, long id lists) fit, and read as canonical JSON.
    func test_canonicalBytes_fitTheirBound_inTheWorstCases() throws {
        let escaped = String(repeating: "\u{01}", count: 300)
        let replica = try XCTUnwrap(ReplicaID(bytes: Array(repeating: 0xFF, count: 16)))
        let widest = OperationID(replica: replica, counter: UInt64(Int64.max))
        let many = (1...40).map { OperationID(replica: replica, counter: UInt64($0) * 1_000_000_007) }
        let actions: [Action] = [
            .set(value: .string(escaped), supersedes: many), .add(element: escaped), .remove(element: escaped, supersedes: many),
            .mapSet(key: escaped, value: .integer(Int64.min), supersedes: many), .mapRemove(key: escaped, supersedes: many),
            .increment(by: Int64.min), .append(value: .array([.string(escaped), .double(-2.2250738585072014e-308)])),
            .retract(supersedes: many), .delete(observed: many), .restore(supersedes: many), .erase(recordHash: Array(repeating: 0xAB, count: 32)),
        ]
        for action in actions {
            let op = ChorusCore.Operation(id: widest, timestamp: HybridTimestamp(wall: UInt64(Int64.max), logical: UInt32.max),
                                          collection: escaped, record: escaped, field: escaped, action: action, author: escaped)
            let bytes = codec.canonicalBytes(op, valueText: action.value?.canonicalText)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), codec.encode(op).canonicalText, action.name)
            XCTAssertEqual(bytes, codec.canonicalBytes(op, valueText: nil), "\(action.name): with the value's text given or made")
        }
    }

    /// Operation ids parse from `REPLICAHEX:COUNTER` exactly as the protocol writes them, and
    /// nothing looser.
    func test_operationID_parsing_acceptsTheProtocolForm_only() {
        let hex = "0123456789abcdef0123456789ABCDEF"
        XCTAssertEqual(OperationID("\(hex):1")?.counter, 1)
        XCTAssertEqual(OperationID("\(hex):1")?.replica.hex, hex.lowercased())
        XCTAssertEqual(OperationID("\(hex):\(Int64.max)")?.counter, UInt64(Int64.max))
        for bad in ["\(hex):0", "\(hex):01", "\(hex):+1", "\(hex):-1", "\(hex):", "\(hex)", "\(hex):1:2", "\(hex)0:1",
                    "\(hex.dropLast()):1", "\(hex.dropLast())g:1", "\(hex):9223372036854775808", "\(hex):99999999999999999999",
                    "\(hex): 1", "", ":1"] {
            XCTAssertNil(OperationID(bad), bad)
        }
    }

    /// Every vector in Protocol/vectors/invalid-operations.json is refused.
    func test_protocolVectors_invalidOperationsAreRefused() throws {
        for vector in try ProtocolVectors.load("invalid-operations.json") {
            let text = try XCTUnwrap(vector["text"]?.stringValue)
            XCTAssertThrowsError(try codec.decode(text: text), vector["name"]?.stringValue ?? "?")
        }
        // Two of them are whole operations but for the one thing they test: without it, taken.
        let vectors = try ProtocolVectors.load("invalid-operations.json")
        let reserved = try XCTUnwrap(vectors.first { $0["name"]?.stringValue?.hasPrefix("field name starting with #") == true }?["text"]?.stringValue)
        XCTAssertNoThrow(try codec.decode(text: reserved.replacingOccurrences(of: "#record", with: "title")))
        XCTAssertNoThrow(try codec.decode(text: reserved.replacingOccurrences(of: "#record", with: "title#")), "a # further in is a name like any")
        let twice = try XCTUnwrap(vectors.first { $0["name"]?.stringValue?.hasPrefix("duplicate JSON key") == true }?["text"]?.stringValue)
        XCTAssertNoThrow(try codec.decode(text: twice.replacingOccurrences(of: #""record":"p-2","#, with: "")))
        let deep = try XCTUnwrap(vectors.first { $0["name"]?.stringValue?.hasPrefix("value of depth 33") == true }?["text"]?.stringValue)
        XCTAssertNoThrow(try codec.decode(text: deep.replacingOccurrences(of: "[1]", with: "1")), "depth 32 is taken")
    }

    func test_limits_defaultsAreConsistent_andBrokenRelationsAreCaught() throws {
        XCTAssertNoThrow(try Limits.default.validate())
        var broken = Limits()
        broken.valueBytesMax = broken.operationBytesMax
        XCTAssertThrowsError(try broken.validate())
        broken = Limits()
        broken.operationsPerBatchMax = 0
        XCTAssertThrowsError(try broken.validate())
    }

    func test_operationID_parsing() {
        let text = String(repeating: "ab", count: 16) + ":42"
        XCTAssertEqual(OperationID(text)?.description, text)
        for bad in ["", ":1", String(repeating: "ab", count: 16), String(repeating: "ab", count: 16) + ":0",
                    String(repeating: "ab", count: 16) + ":01", String(repeating: "zz", count: 16) + ":1",
                    String(repeating: "ab", count: 16) + ":-1", String(repeating: "ab", count: 16) + ":1:2"] {
            XCTAssertNil(OperationID(bad), bad)
        }
    }

    /// The value limit is on the canonical encoding's size, exactly: a value of `valueBytesMax`
    /// encoded bytes passes and one byte more is refused, whether its strings need escapes (which
    /// the quick bound counts at their longest) or not, in any nesting.
    func test_valueLimit_isTheCanonicalSize_exactlyAtTheBoundary() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        var limits = Limits()
        limits.valueBytesMax = 256
        let codec = OperationCodec(limits: limits)
        let pieces = ["x", "\u{1}", "\n", "\"", "é", "☃", "\\"]
        for round in 0..<300 {
            // A string padded to an exact canonical size, alone or inside an array or object.
            let wrap = rng.int(3)
            let overhead = [0, 2, 8][wrap]  // around the quoted string: nothing; [ and ]; {"key": and }
            var text = ""
            while JSONValue.string(text).canonicalBytes.count + overhead < limits.valueBytesMax - 6 {
                text += pieces[rng.int(pieces.count)]
            }
            while JSONValue.string(text).canonicalBytes.count + overhead < limits.valueBytesMax { text += "x" }
            func wrapped(_ s: String) -> JSONValue { [JSONValue.string(s), .array([.string(s)]), .object(["key": .string(s)])][wrap] }
            let atLimit = wrapped(text), over = wrapped(text + "x")
            XCTAssertEqual(atLimit.canonicalBytes.count, limits.valueBytesMax, "seed \(seed), round \(round)")
            XCTAssertNoThrow(try codec.checkValue(atLimit, context: "v"), "seed \(seed), round \(round): \(atLimit.canonicalText)")
            XCTAssertThrowsError(try codec.checkValue(over, context: "v"), "seed \(seed), round \(round)") { error in
                XCTAssertTrue("\(error)".contains("\(limits.valueBytesMax + 1) bytes, over valueBytesMax"), "\(error)")
            }
        }
        // Numbers and literals count exactly as they are written; object keys as escaped.
        XCTAssertNoThrow(try codec.checkValue(.array(Array(repeating: .integer(-1234567), count: 28)), context: "v"))  // 28 * 9 + 1 = 253 bytes
        XCTAssertThrowsError(try codec.checkValue(.array(Array(repeating: .integer(Int64.min), count: 13)), context: "v"))  // 13 * 21 + 1 = 274
        XCTAssertNoThrow(try codec.checkValue(.array(Array(repeating: .integer(Int64.min), count: 12)), context: "v"))  // 12 * 21 + 1 = 253
        let escapedKeys = JSONValue.object(Dictionary(uniqueKeysWithValues: (0..<20).map { ("\u{1}\"\($0)", JSONValue.null) }))
        XCTAssertGreaterThan(escapedKeys.canonicalBytes.count, limits.valueBytesMax)
        XCTAssertThrowsError(try codec.checkValue(escapedKeys, context: "v"))
        XCTAssertThrowsError(try codec.checkValue(.array(Array(repeating: .double(-2.2250738585072014e-308), count: 11)), context: "v"))
    }

    /// A list of ids names its first fault in the list's order: an item that is not an id, or the
    /// first id given twice, short lists (searched) and long ones (hashed) alike.
    func test_idLists_reportTheirFirstFault_inTheirOrder() {
        let a = String(repeating: "a", count: 32), b = String(repeating: "b", count: 32)
        func refusal(_ supersedes: String) -> String {
            let text = #"{"action":"set","collection":"people","field":"title","id":"\#(a):99","logical":0,"record":"p1","supersedes":\#(supersedes),"value":1,"wall":5}"#
            do { _ = try OperationCodec().decode(text: text); return "accepted" } catch { return error.message }
        }
        XCTAssertTrue(refusal(#"["\#(a):1","\#(a):1",7]"#).hasSuffix("supersedes lists \(a):1 twice"), refusal(#"["\#(a):1","\#(a):1",7]"#))
        XCTAssertTrue(refusal(#"["\#(b):1","\#(b):1","\#(a):1","\#(a):1"]"#).hasSuffix("lists \(b):1 twice"))
        XCTAssertTrue(refusal(#"[7,"\#(a):1","\#(a):1"]"#).hasSuffix("holds something that is not an operation id"))
        let long = (1...12).map { #""\#(b):\#($0)""# } + [#""\#(b):3""#, #""\#(a):1""#, #""\#(a):1""#]
        XCTAssertTrue(refusal("[" + long.joined(separator: ",") + "]").hasSuffix("lists \(b):3 twice"))
        XCTAssertEqual(refusal(#"["\#(b):2","\#(a):1"]"#), "accepted")
    }

    func test_schema_everyFieldHasAKind_andJSONShape() throws {
        let json = PeopleSchema.current.jsonDescription
        let collections = try XCTUnwrap(json["collections"]?.arrayValue)
        XCTAssertEqual(collections.compactMap { $0["name"]?.stringValue },
                       ["people", "teams", "feedback", "badges", "objectives", "opportunities", "abilities", "observations", "resolutions"])
        for collection in collections {
            XCTAssertNotNil(collection["deletePolicy"]?.stringValue)
            for field in collection["fields"]?.arrayValue ?? [] {
                XCTAssertNotNil(FieldKind(rawValue: field["kind"]?.stringValue ?? ""))
            }
        }
        XCTAssertEqual(PeopleSchema.current.fieldKind(collection: "people", field: "skills"), .map)
        XCTAssertEqual(PeopleSchema.current.fieldKind(collection: "people", field: "guilds"), .set)
        XCTAssertEqual(PeopleSchema.current.fieldKind(collection: "feedback", field: "comments"), .log)
        XCTAssertEqual(PeopleSchema.current.fieldKind(collection: "feedback", field: "highFives"), .counter)
    }

    /// The kind table finds every declared field with its kind, and nothing else: not a field of
    /// another collection, not a name split differently between collection and field.
    func test_fieldKind_findsEveryDeclaredField_andNothingElse() {
        let schema = PeopleSchema.current
        var declared = 0
        for collection in schema.collections {
            for field in collection.fields {
                XCTAssertEqual(schema.fieldKind(collection: collection.name, field: field.name), field.kind, "\(collection.name).\(field.name)")
                XCTAssertNil(schema.fieldKind(collection: collection.name + "x", field: field.name))
                XCTAssertNil(schema.fieldKind(collection: collection.name, field: field.name + "\u{0}"))
                XCTAssertNil(schema.fieldKind(collection: String(collection.name.dropLast()), field: String(collection.name.last!) + field.name))
                declared += 1
            }
        }
        XCTAssertGreaterThan(declared, 50)
        XCTAssertNil(schema.fieldKind(collection: "people", field: ""))
        XCTAssertNil(schema.fieldKind(collection: "", field: "name"))
        XCTAssertEqual(schema.fieldKind(collection: "people", field: "name"), .register)
        XCTAssertEqual(schema.fieldKind(collection: "objectives", field: "ownerKind"), .register)
        XCTAssertNil(schema.fieldKind(collection: "objectives", field: "owner\u{212A}ind"),
                     "a Kelvin sign is not a K to storage, though Swift strings compare them equal")
    }

    /// Encoding is a pure function of any operation, even one no check has seen: a wall and a
    /// counter past `Int64.max` are written as the unsigned numbers they are (decoding refuses them).
    func test_unsignedFieldsPastInt64Max_areEncodedExactly_andRefusedWhenDecoded() throws {
        let id = OperationID(replica: try XCTUnwrap(ReplicaID(hex: "00112233445566778899aabbccddeeff")), counter: UInt64.max)
        let op = ChorusCore.Operation(id: id, timestamp: HybridTimestamp(wall: UInt64.max, logical: 0),
                                      collection: "people", record: "p-1", field: "title", action: .set(value: .string("x"), supersedes: []))
        let text = codec.canonicalText(op)
        XCTAssertTrue(text.contains("\"wall\":18446744073709551615"), text)
        XCTAssertTrue(text.contains(":18446744073709551615\""), text)
        XCTAssertThrowsError(try codec.decode(text: text))
    }
}
