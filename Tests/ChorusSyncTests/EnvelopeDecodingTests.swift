import XCTest
import ChorusCore
import ChorusSync
import ChorusTesting

/// Pull and push bodies are parsed with their operations straight into fields
/// (`JSONParser.parseEnvelope`). They must be accepted and refused exactly as the general parser
/// followed by `OperationCodec.decode(JSONValue)` accepts and refuses them, with the same messages:
/// checked here against that reference on realistic pages and on thousands of damaged ones.
final class EnvelopeDecodingTests: XCTestCase {
    private let limits = Limits.default
    private var codec: OperationCodec { OperationCodec(limits: limits) }
    private let server = ServerStamp(replica: ReplicaID(hex: "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a")!, name: "hub",
                                     clock: HybridTimestamp(wall: 1_790_000_000_000, logical: 2), wall: 1_790_000_000_001)

    // MARK: The reference: the general parser, then the codec on each JSON value

    private func referencePull(_ body: [UInt8]) throws(ChorusError) -> PullResponse {
        let json: JSONValue
        do {
            json = try JSONParser(depthMax: limits.jsonDepthMax + 4, bytesMax: limits.pullPageBytesMax + 1024 * 1024).parse(body)
        } catch {
            throw ChorusError(.malformedInput, "pull response: \(error)", isRetryable: true)
        }
        guard case .array(let items)? = json["operations"], case .integer(let next)? = json["next"], next >= 0,
              case .bool(let hasMore)? = json["hasMore"] else {
            throw ChorusError(.malformedInput, "pull response is malformed")
        }
        var operations: [ChorusCore.Operation] = []
        for item in items { operations.append(try codec.decode(item)) }
        // Protocol 4.3: a client refuses a page giving one id to two operations of other content.
        for (index, operation) in operations.enumerated() {
            if let first = operations[..<index].firstIndex(where: { $0.id == operation.id }), operations[first] != operation {
                throw ChorusError(.invalidState, "pull response: operations \(first) and \(index) carry the same id \(operation.id) with other content, and one would be dropped as a duplicate; nothing of the page was applied",
                                  hint: "the upstream gives one id to two operations: its software is faulty, or a replica below it reused ids; tell its operator")
            }
        }
        let stamp = json["server"]
        guard let stamp, case .string(let hex)? = stamp["replica"], let replica = ReplicaID(hex: hex),
              case .string(let name)? = stamp["name"], !name.isEmpty, name.utf8.count <= Limits.default.replicaNameBytesMax,
              case .integer(let wall)? = stamp["wall"], wall >= 0,
              case .integer(let clockWall)? = stamp["clock"]?["wall"], case .integer(let logical)? = stamp["clock"]?["logical"],
              clockWall >= 0, logical >= 0, logical <= Int64(UInt32.max) else {
            throw ChorusError(.malformedInput, "response has no valid \"server\" stamp")
        }
        return PullResponse(operations: operations, next: next, hasMore: hasMore,
                            server: ServerStamp(replica: replica, name: name, clock: HybridTimestamp(wall: UInt64(clockWall), logical: UInt32(logical)),
                                                wall: UInt64(wall)))
    }

    /// One operation's text: the general parser, then the codec on its JSON value.
    private func referenceOperation(_ bytes: [UInt8]) throws(ChorusError) -> ChorusCore.Operation {
        guard bytes.count <= limits.operationBytesMax else {
            throw ChorusError(.limitExceeded, "operation is \(bytes.count) bytes, over operationBytesMax (\(limits.operationBytesMax))")
        }
        let value: JSONValue
        do {
            value = try JSONParser(depthMax: limits.jsonDepthMax + 2, bytesMax: limits.operationBytesMax).parse(bytes)
        } catch {
            throw ChorusError(.malformedInput, "operation: \(error)")
        }
        return try codec.decode(value)
    }

    private func referencePush(_ body: [UInt8]) throws(ChorusError) -> PushRequest {
        let json: JSONValue
        do {
            json = try JSONParser(depthMax: limits.jsonDepthMax + 4, bytesMax: limits.pushBodyBytesMax).parse(body)
        } catch {
            throw ChorusError(.malformedInput, "push body: \(error)")
        }
        guard case .object(let object) = json, Set(object.keys) == ["operations", "relayed", "replica", "through"] else {
            throw ChorusError(.malformedInput, "push body must be an object with exactly operations, relayed, replica and through")
        }
        guard case .string(let hex)? = object["replica"], let replica = ReplicaID(hex: hex) else {
            throw ChorusError(.malformedInput, "push: replica must be 32 hex digits")
        }
        guard case .integer(let through)? = object["through"], through >= 0 else {
            throw ChorusError(.malformedInput, "push: through must be an integer of 0 or more")
        }
        guard case .array(let relayedJSON)? = object["relayed"], relayedJSON.count <= limits.relayedReplicasMax else {
            throw ChorusError(.malformedInput, "push: relayed must be an array of at most \(limits.relayedReplicasMax) replica ids")
        }
        var relayed: [ReplicaID] = []
        for item in relayedJSON {
            guard case .string(let text) = item, let id = ReplicaID(hex: text) else { throw ChorusError(.malformedInput, "push: relayed holds a bad replica id") }
            relayed.append(id)
        }
        guard case .array(let operationsJSON)? = object["operations"] else {
            throw ChorusError(.malformedInput, "push: operations must be an array of at most \(limits.pushPageOperationsMax)")
        }
        guard operationsJSON.count <= limits.pushPageOperationsMax else {
            throw ChorusError(.limitExceeded, "push: operations must be an array of at most \(limits.pushPageOperationsMax)")
        }
        var operations: [ChorusCore.Operation] = []
        for (index, item) in operationsJSON.enumerated() {
            do {
                operations.append(try codec.decode(item))
            } catch {
                // Over a per-operation limit is an invalid operation (400), not a page too large.
                throw ChorusError(error.code == .limitExceeded ? .invalidValue : error.code, "push: operation \(index): \(error.message)",
                                  hint: "nothing of the push was applied; the operation cannot be sent as it is (fix its data at the replica that wrote it)")
            }
        }
        // Protocol 4.3: one id given to two operations of other content in a page is refused.
        for (index, operation) in operations.enumerated() {
            if let first = operations[..<index].firstIndex(where: { $0.id == operation.id }), operations[first] != operation {
                throw ChorusError(.invalidState, "push: operations \(first) and \(index) carry the same id \(operation.id) with other content, and one would be dropped as a duplicate; nothing of the push was applied",
                                  hint: "a replica gives each id to one operation: the pushing replica's counters went back (its folder restored from a backup of itself, or copied), or its software is faulty")
            }
        }
        return PushRequest(replica: replica, through: through, relayed: relayed, operations: operations)
    }

    // MARK: Comparing outcomes

    /// What a decode came to, comparable: the operations' canonical texts and the other fields, or
    /// the error's full text.
    private func outcome<T>(_ decode: () throws -> T, _ describe: (T) -> String) -> String {
        do { return "ok " + describe(try decode()) } catch { return "error \(error)" }
    }

    private func describePull(_ response: PullResponse) -> String {
        "\(response.next) \(response.hasMore) \(response.server) " + response.operations.map(codec.canonicalText).joined(separator: "|")
    }

    private func describePush(_ request: PushRequest) -> String {
        "\(request.replica) \(request.through) \(request.relayed) " + request.operations.map(codec.canonicalText).joined(separator: "|")
    }

    /// Damages a body the ways a broken or hostile peer might: bytes changed, cut, repeated; keys
    /// renamed, repeated or added; values of the wrong type.
    private func damage(_ body: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var bytes = body
        let alphabet = Array("{}[]\":,.-+eE0123456789abnrtuflsx\\ ".utf8)
        for _ in 0..<(1 + rng.int(2)) {
            guard !bytes.isEmpty else { break }
            let at = rng.int(bytes.count)
            switch rng.int(8) {
            case 0: bytes[at] = alphabet[rng.int(alphabet.count)]
            case 1: bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.int(6)))
            case 2: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 1 + rng.int(12))], at: at)
            case 3: bytes = replacing(bytes, ["\"field\":", "\"key\":", "\"wall\":", "\"value\":", "\"id\":"],
                                     with: ["\"fielx\":", "\"element\":", "\"logical\":", "\"supersedes\":", "\"by\":",
                                            "\"actiom\":", "\"recordHasH\":", "\"supersedesx\":", "\"i\":", "\"\\u0077all\":"], &rng)
            case 4: bytes = replacing(bytes, ["{\""], with: ["{\"extra\":1,\"", "{\"wall\":1,\"", "{\"id\":\"x\",\"", "{\"operations\":[],\""], &rng)
            case 5: bytes = replacing(bytes, ["\":\"", "\":["], with: ["\":7,\"x\":\"", "\":null,\"y\":[", "\":{\"a\":[\"", "\":[[["], &rng)
            case 6: bytes = replacing(bytes, [",\""], with: [",\"\\u0069d\":\"a\",\"", ",\"caf\\u00e9\":1,\"cafe\\u0301\":2,\"", ", \"", ",\"record\":\"r\",\""], &rng)
            default: bytes = replacing(bytes, ["1", "0"], with: ["99999999999999999999", "-0", "1.5", "1e3", "-9223372036854775808", "9223372036854775807"], &rng)
            }
        }
        return bytes
    }

    /// `bytes` with one occurrence (chosen at random) of one of `patterns` replaced.
    private func replacing(_ bytes: [UInt8], _ patterns: [String], with replacements: [String], _ rng: inout SeededGenerator) -> [UInt8] {
        let pattern = Array(patterns[rng.int(patterns.count)].utf8)
        var starts: [Int] = []
        if bytes.count >= pattern.count {
            for start in 0...(bytes.count - pattern.count) where bytes[start..<start + pattern.count].elementsEqual(pattern) { starts.append(start) }
        }
        guard let start = starts.isEmpty ? nil : starts[rng.int(starts.count)] else { return bytes }
        var result = bytes
        result.replaceSubrange(start..<start + pattern.count, with: Array(replacements[rng.int(replacements.count)].utf8))
        return result
    }

    // MARK: Tests

    func test_pullAndPushBodies_decodeExactlyAsTheGeneralParser_onRealAndDamagedPages() throws {
        // A new seed each run, printed with a failure; `CHORUS_SEED=N` replays one.
        let seed = ProcessInfo.processInfo.environment["CHORUS_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        var workload = WorkloadGenerator(seed: seed)
        let texts = workload.generate(steps: 300).map(codec.canonicalText)
        let invalid = try ProtocolVectors.load("invalid-operations.json").compactMap { $0["text"]?.stringValue }
        XCTAssertGreaterThan(texts.count, 50)
        var accepted = 0, refused = 0
        for round in 0..<3_000 {
            var page = (0..<(1 + rng.int(4))).map { _ in texts[rng.int(texts.count)] }
            if rng.chance(0.1), let bad = invalid.randomElement(using: &rng) { page.insert(bad, at: rng.int(page.count + 1)) }
            let pull = PullResponse.encode(operationTexts: page, next: Int64(rng.int(1_000)), hasMore: rng.chance(0.5), server: server)
            let push = PushRequest.encode(replica: server.replica, through: Int64(rng.int(1_000)), relayed: rng.chance(0.3) ? [server.replica] : [],
                                          operationTexts: page)
            for (kind, original) in [("pull", pull), ("push", push)] {
                let body = rng.chance(0.8) ? damage(original, &rng) : original
                let (ours, reference) = kind == "pull"
                    ? (outcome({ try PullResponse.decode(body, limits: limits) }, describePull), outcome({ try referencePull(body) }, describePull))
                    : (outcome({ try PushRequest.decode(body, limits: limits) }, describePush), outcome({ try referencePush(body) }, describePush))
                XCTAssertEqual(ours, reference, "seed \(seed) (CHORUS_SEED=\(seed) replays), round \(round), \(kind) body: \(String(decoding: body, as: UTF8.self))")
                if ours.hasPrefix("ok") { accepted += 1 } else { refused += 1 }
                if ours != reference { return }
            }
        }
        // Both outcomes must be well represented, or the comparison proves little.
        XCTAssertGreaterThan(accepted, 1_000, "seed \(seed)")
        XCTAssertGreaterThan(refused, 1_000, "seed \(seed)")
    }

    /// One operation's text (a bundle line, a log payload) decodes through the same fields as a
    /// page's operations: accepted and refused exactly as the general parser then
    /// `OperationCodec.decode(JSONValue)` would, with the same messages.
    func test_oneOperationText_decodesExactlyAsTheGeneralParser_onRealAndDamagedTexts() throws {
        // A new seed each run, printed with a failure; `CHORUS_SEED=N` replays one.
        let seed = ProcessInfo.processInfo.environment["CHORUS_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        var workload = WorkloadGenerator(seed: seed)
        let texts = workload.generate(steps: 300).map(codec.canonicalText)
        let invalid = try ProtocolVectors.load("invalid-operations.json").compactMap { $0["text"]?.stringValue }
        let reference = referenceOperation
        var accepted = 0, refused = 0
        for round in 0..<4_000 {
            let original = rng.chance(0.1) ? invalid[rng.int(invalid.count)] : texts[rng.int(texts.count)]
            let bytes = rng.chance(0.7) ? damage(Array(original.utf8), &rng) : Array(original.utf8)
            let text = String(decoding: bytes, as: UTF8.self)
            let describe = { (op: ChorusCore.Operation) in self.codec.canonicalText(op) }
            // Through `text:` (the bytes as a String) and straight from the bytes, as a bundle's line.
            let ours = outcome({ try codec.decode(text: text) }, describe)
            let fromBytes = outcome({ try codec.decode(utf8: ([0x0A] + bytes + [0x0A])[1..<(bytes.count + 1)]) }, describe)
            let expected = outcome({ try reference(Array(text.utf8)) }, describe)
            XCTAssertEqual(ours, expected, "seed \(seed), round \(round), text: \(text)")
            XCTAssertEqual(fromBytes, outcome({ try reference(bytes) }, describe), "seed \(seed), round \(round), bytes of: \(text)")
            if ours.hasPrefix("ok") { accepted += 1 } else { refused += 1 }
            if ours != expected { return }
        }
        XCTAssertGreaterThan(accepted, 1_000, "seed \(seed)")
        XCTAssertGreaterThan(refused, 1_000, "seed \(seed)")
    }

    func test_fieldKeys_areTheProtocolsKeys_inCanonicalOrder() {
        let names = OperationFields.Key.allCases.map(\.name)
        XCTAssertEqual(names, ["action", "author", "by", "collection", "element", "field", "id", "key", "logical",
                               "observed", "record", "recordHash", "supersedes", "value", "wall"])
        XCTAssertEqual(names, names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "canonical (UTF-8) order")
        for key in OperationFields.Key.allCases { XCTAssertEqual(OperationFields.Key(name: key.name), key) }
        XCTAssertNil(OperationFields.Key(name: "Id"))
    }

    func test_deepAndLargeValues_andEscapedKeys_decodeAsTheGeneralParser() throws {
        let id = "0123456789abcdef0123456789abcdef:1"
        func op(_ extra: String) -> String {
            #"{"action":"set","collection":"people","field":"title","id":"\#(id)","logical":0,"record":"p1","supersedes":[],"wall":5\#(extra)}"#
        }
        let nested = { (depth: Int) in String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth) }
        let cases = [
            op(#","value":\#(nested(limits.jsonDepthMax))"#), op(#","value":\#(nested(limits.jsonDepthMax + 1))"#),
            op(#","value":\#(nested(limits.jsonDepthMax + 3))"#),
            op(#","value":"\#(String(repeating: "x", count: limits.valueBytesMax))""#),
            op(#","value":1,"\u0076alue":2"#), op(#","\u0076alue":"escaped key""#), op(#","value":1,"value":2"#),
            op(#","value":{"b":1,"a":2,"a":3}"#), op(#","value":1,"zz":1,"zz":2"#),
        ]
        // Many unknown keys in one operation: refused with the same message, and checked for
        // repeats through a set (an array scan per key made this quadratic in the key count).
        let manyKeys = (0..<30_000).map { #""k\#($0)":0"# }.joined(separator: ",")
        let allCases = cases + [op("," + manyKeys), op("," + manyKeys + #","k17":1"#)]
        for text in allCases {
            let body = PullResponse.encode(operationTexts: [text], next: 1, hasMore: false, server: server)
            XCTAssertEqual(outcome({ try PullResponse.decode(body, limits: limits) }, describePull),
                           outcome({ try referencePull(body) }, describePull), text.prefix(200).description)
            XCTAssertEqual(outcome({ try codec.decode(text: text) }, codec.canonicalText),
                           outcome({ try referenceOperation(Array(text.utf8)) }, codec.canonicalText), text.prefix(200).description)
        }
    }

    // MARK: Writing

    /// A pull page is written straight out as bytes (`PullResponse.encode`); it must be the
    /// canonical JSON of what it says, whatever the hub's name holds, and read back the same.
    func test_aPullPage_isCanonicalJSON_andReadsBackAsWritten() throws {
        for name in ["hub", "", "o\"ffice\\ \u{E9}\n\u{1}", "日本 🙂"] {
            for operations in [[], ["{\"a\":1}", "{\"b\":[2,{\"c\":null}]}"]] {
                let stamp = ServerStamp(replica: ReplicaID(hex: "0123456789abcdef0123456789abcdef")!, name: name,
                                        clock: HybridTimestamp(wall: 1_796_312_391_910, logical: 28), wall: 1_796_312_391_999)
                let body = PullResponse.encode(operationTexts: operations, next: 42, hasMore: !operations.isEmpty, server: stamp)
                let parsed = try JSONParser().parse(body)
                XCTAssertEqual(parsed.canonicalBytes, body, String(decoding: body, as: UTF8.self))
                XCTAssertEqual(parsed["server"]?["name"], .string(name))
                XCTAssertEqual(parsed["server"]?["clock"]?["logical"], .integer(28))
                XCTAssertEqual(parsed["hasMore"], .bool(!operations.isEmpty))
                guard case .array(let items)? = parsed["operations"] else { return XCTFail("no operations array") }
                XCTAssertEqual(items.map(\.canonicalText), operations)
            }
        }
    }

    // MARK: Counts bounded while reading

    /// A push of millions of empty operations (`{}`, 3 bytes each, some 400 bytes each once read)
    /// is refused as a page too large (413) at the element past the limit, not once all are read:
    /// a 16 MiB push of them once took some 2 GB before its count was checked (a read-only audit).
    /// The same for a pull page past `pullPageOperationsMax`, and for a `relayed` list past
    /// `relayedReplicasMax`. An `operations` member that is not an array is malformed (400, as the
    /// protocol says), not a page too large: no smaller page would mend it.
    func test_counts_areRefusedWhereTheyPassTheirLimit_notAfterReadingEverything() throws {
        let replica = "0123456789abcdef0123456789abcdef"
        let many = [String](repeating: "{}", count: 1_500_000).joined(separator: ",")
        let push = Array("{\"operations\":[\(many)],\"relayed\":[],\"replica\":\"\(replica)\",\"through\":0}".utf8)
        XCTAssertThrowsError(try PushRequest.decode(push, limits: limits)) { error in
            let error = error as! ChorusError
            XCTAssertEqual(error.code, .limitExceeded)
            XCTAssertEqual(error.message, "push: operations must be an array of at most \(limits.pushPageOperationsMax)")
        }
        do {
            _ = try JSONParser(depthMax: 40, bytesMax: push.count).parseEnvelope(push, operationsMax: limits.pushPageOperationsMax)
            XCTFail("taken")
        } catch {
            XCTAssertTrue(error.isOverOperationsMax)
            XCTAssertEqual(error.offset, 15 + 3 * limits.pushPageOperationsMax, "stopped at the element past the limit, not at the end (\(push.count) bytes)")
        }
        let pull = Array("{\"hasMore\":false,\"next\":1,\"operations\":[\(many)],\"server\":{}}".utf8)
        XCTAssertThrowsError(try PullResponse.decode(pull, limits: limits)) { error in
            XCTAssertTrue("\(error)".contains("more than \(limits.pullPageOperationsMax) operations"), "\(error)")
        }
        // A pull page's members outside its operations: a dozen values, with room; not millions.
        let stuffed = Array("{\"hasMore\":false,\"next\":1,\"operations\":[],\"server\":{},\"x\":[\([String](repeating: "0", count: PullResponse.valuesOutsideOperationsMax).joined(separator: ","))]}".utf8)
        XCTAssertThrowsError(try PullResponse.decode(stuffed, limits: limits)) { error in
            XCTAssertTrue("\(error)".contains("more than \(PullResponse.valuesOutsideOperationsMax) values outside the operations"), "\(error)")
        }
        let relayed = [String](repeating: "0", count: limits.relayedReplicasMax + 1).map { _ in "\"\(replica)\"" }.joined(separator: ",")
        let overRelayed = Array("{\"operations\":[],\"relayed\":[\(relayed)],\"replica\":\"\(replica)\",\"through\":0}".utf8)
        XCTAssertThrowsError(try PushRequest.decode(overRelayed, limits: limits)) { error in
            XCTAssertEqual((error as! ChorusError).code, .malformedInput)
            XCTAssertTrue("\(error)".contains("relayed must be an array of at most \(limits.relayedReplicasMax) replica ids"), "\(error)")
        }
        // Nested, spread over members, or operations given twice or as no array: one bound for
        // all but the operations (each array within it, but not all of them together).
        let nested = "[" + [String](repeating: "[" + [String](repeating: "0", count: 200).joined(separator: ",") + "]", count: 100).joined(separator: ",") + "]"
        for body in ["{\"operations\":[],\"relayed\":\(nested),\"replica\":\"\(replica)\",\"through\":0}",
                     "{\"operations\":[],\"operations\":\(nested),\"relayed\":[],\"replica\":\"\(replica)\",\"through\":0}",
                     "{\"operations\":{\"a\":\(nested)},\"relayed\":[],\"replica\":\"\(replica)\",\"through\":0}",
                     "{" + (0..<20).map { "\"x\($0)\":[" + [String](repeating: "0", count: 600).joined(separator: ",") + "]," }.joined()
                        + "\"operations\":[],\"relayed\":[],\"replica\":\"\(replica)\",\"through\":0}"] {
            XCTAssertThrowsError(try PushRequest.decode(Array(body.utf8), limits: limits)) { error in
                XCTAssertEqual((error as! ChorusError).code, .malformedInput)
                XCTAssertTrue("\(error)".contains("more than \(PushRequest.valuesOutsideOperationsMax(limits)) values outside the operations"), "\(error)")
            }
        }
        let notAnArray = Array("{\"operations\":{},\"relayed\":[],\"replica\":\"\(replica)\",\"through\":0}".utf8)
        XCTAssertThrowsError(try PushRequest.decode(notAnArray, limits: limits)) { error in
            XCTAssertEqual((error as! ChorusError).code, .malformedInput, "400, not 413")
        }
        // At the limit, taken.
        let atLimit = [String](repeating: "0", count: limits.relayedReplicasMax).map { _ in "\"\(replica)\"" }.joined(separator: ",")
        XCTAssertEqual(try PushRequest.decode(Array("{\"operations\":[],\"relayed\":[\(atLimit)],\"replica\":\"\(replica)\",\"through\":0}".utf8), limits: limits).relayed.count,
                       limits.relayedReplicasMax)
    }
}
