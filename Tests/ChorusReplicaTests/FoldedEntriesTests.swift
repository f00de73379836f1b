import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

/// A record's entries folded into one value (`FoldedEntries`): what goes in comes out, exactly and
/// in primary-key order; a damaged body is refused with a storage error, never read past.
final class FoldedEntriesTests: XCTestCase {
    func randomEntries(_ random: inout SeededGenerator) -> [FoldedEntries.Entry] {
        let extremes: [Int64] = [0, 1, -1, Int64.max, Int64.min]
        func number(_ range: ClosedRange<Int64>) -> Int64 {
            random.chance(0.05) ? extremes[Int(random.next() % 5)] : Int64.random(in: range, using: &random)
        }
        var seen = Set<String>()
        // Most bodies have a few origins; some have more than the decoder keeps in its short list
        // (`OriginCounters.listedMax`, 16), where a dictionary takes over.
        let (count, origins): (UInt64, ClosedRange<Int64>) = random.chance(0.2) ? (150, 1...60) : (30, 1...4)
        return (0..<Int(random.next() % count)).compactMap { _ in
            let key = random.chance(0.6) ? "" : ["a", "b", "é", "skill:swift", "🎵"][Int(random.next() % 5)]
            var entry = FoldedEntries.Entry(field: number(1...12), key: key, origin: number(origins), counter: number(1...1_000_000),
                                            wall: number(1_790_000_000_000...1_790_000_100_000), logical: number(0...3),
                                            kind: Int64(random.next() % 5), value: random.chance(0.2) ? nil : "\"v \(random.next() % 1000)\"",
                                            seq: number(1...2_000_000))
            // The primary key is unique.
            guard seen.insert("\(entry.field)|\(entry.key)|\(entry.origin)|\(entry.counter)").inserted else { return nil }
            // A register's value may be kept in its typed column (format 2): decoded without it.
            if entry.kind == 0, entry.key.isEmpty, entry.value != nil, random.chance(0.5) { entry.valueInColumn = true }
            return entry
        }
    }

    func test_foldedEntries_decodeToTheSameInKeyOrder_andEveryDamagedBodyIsRefusedOrReadInBounds() throws {
        for seed in testSeeds(count: 200, base: 0xF01D) {
            var random = SeededGenerator(seed: seed)
            let entries = randomEntries(&random)
            let body = FoldedEntries.encode(entries.shuffled(using: &random))
            var decoded = try FoldedEntries.decode(body, record: 1)
            XCTAssertEqual(body.first, entries.contains(where: \.valueInColumn) ? 2 : 1, "seed \(seed): the format says whether values are in columns")
            XCTAssertEqual(decoded, entries.sorted(by: <).map { entry in
                var entry = entry
                if entry.valueInColumn { entry.value = nil }
                return entry
            }, "seed \(seed)")
            // The typed row gives the values back (by field: a record's register has one value
            // per field, the column's; the rest stay in the body).
            let columns = Dictionary(entries.filter(\.valueInColumn).map { ($0.field, $0.value!) }, uniquingKeysWith: { a, _ in a })
            let consistent = entries.filter(\.valueInColumn).allSatisfy { columns[$0.field] == $0.value }
            if consistent {
                try FoldedEntries.resolve(&decoded, columns: columns, record: 1)
                XCTAssertEqual(decoded, entries.sorted(by: <), "seed \(seed): resolved")
            }
            if let flagged = entries.first(where: \.valueInColumn) {
                var unresolved = try FoldedEntries.decode(body, record: 1)
                XCTAssertThrowsError(try FoldedEntries.resolve(&unresolved, columns: columns.filter { $0.key != flagged.field }, record: 1),
                                     "seed \(seed): a typed row without the column")
            }

            var damaged = body
            if random.chance(0.5) {
                damaged.removeLast(Int(random.next() % UInt64(damaged.count)) + 1)
            } else {
                damaged[Int(random.next() % UInt64(damaged.count))] ^= UInt8(random.next() % 255 + 1)
            }
            do {
                _ = try FoldedEntries.decode(damaged, record: 1)
            } catch let error as ChorusError {
                XCTAssertEqual(error.code, .storage, "seed \(seed)")
                XCTAssertTrue(error.message.contains("record 1"), "seed \(seed): \(error.message)")
            }
        }
    }

    /// `Protocol/vectors/folded-entries.json`: the encoding another implementation must read and write.
    func test_protocolVectors_encodeToTheirBody_andDecodeInKeyOrder() throws {
        let vectors = try ProtocolVectors.load("folded-entries.json")
        XCTAssertGreaterThanOrEqual(vectors.count, 5)
        for vector in vectors {
            let name = vector["name"]?.stringValue ?? "?"
            guard case .array(let items)? = vector["entries"], let hex = vector["body"]?.stringValue else { return XCTFail("\(name): malformed vector") }
            let entries = try items.map { item -> FoldedEntries.Entry in
                func number(_ key: String) throws -> Int64 { try XCTUnwrap(item[key]?.integerValue, "\(name): \(key)") }
                return FoldedEntries.Entry(field: try number("field"), key: item["key"]?.stringValue ?? "", origin: try number("origin"),
                                           counter: try number("counter"), wall: try number("wall"), logical: try number("logical"),
                                           kind: try number("kind"), value: item["value"]?.stringValue, seq: try number("seq"),
                                           valueInColumn: item["valueInColumn"]?.boolValue ?? false)
            }
            XCTAssertEqual(Hex.encode(FoldedEntries.encode(entries)), hex, name)
            let body = stride(from: 0, to: hex.utf8.count, by: 2).map { offset -> UInt8 in
                let digits = Array(hex.utf8)[offset..<offset + 2]
                return UInt8(String(decoding: digits, as: UTF8.self), radix: 16)!
            }
            XCTAssertEqual(try FoldedEntries.decode(body, record: nil), entries.sorted(by: <), name)
        }
    }

    func test_aBodyWithAnotherFormat_orClaimingMoreEntriesThanItHolds_isRefused() {
        XCTAssertThrowsError(try FoldedEntries.decode([], record: 7))
        XCTAssertThrowsError(try FoldedEntries.decode([3, 0], record: 7))
        // Bit 6 (the value is the typed column's) only in format 2, and only on a register's value.
        let kept = FoldedEntries.Entry(field: 1, key: "", origin: 1, counter: 1, wall: 5, logical: 0, kind: 0, value: nil, seq: 1, valueInColumn: true)
        let body = FoldedEntries.encode([kept])
        XCTAssertEqual(try FoldedEntries.decode(body, record: 7), [kept])
        XCTAssertThrowsError(try FoldedEntries.decode([1] + body.dropFirst(), record: 7), "bit 6 in format 1")
        XCTAssertThrowsError(try FoldedEntries.decode(body.enumerated().map { $0.offset == 2 ? $0.element | 0x01 : $0.element }, record: 7),
                             "bit 6 on a map key")
        XCTAssertThrowsError(try FoldedEntries.decode(body.enumerated().map { $0.offset == 2 ? $0.element | 0x80 : $0.element }, record: 7),
                             "bit 6 with bit 7 (NULL)")
        XCTAssertThrowsError(try FoldedEntries.decode([1, 0xFF, 0xFF, 0xFF, 0x7F], record: 7), "four billion entries in five bytes")
        XCTAssertThrowsError(try FoldedEntries.decode(FoldedEntries.encode([]) + [0], record: 7), "bytes after the last entry")
        XCTAssertEqual(try FoldedEntries.decode(FoldedEntries.encode([]), record: 7), [])
    }

    /// Keys and values are UTF-8: ASCII, and anything else the standard library validates; a
    /// body whose text is not is refused, however it is read.
    func test_textsThatAreNotUTF8_areRefused_andOthersReadBackExactly() throws {
        let entry = FoldedEntries.Entry(field: 2, key: "é", origin: 1, counter: 1, wall: 5, logical: 0, kind: 2, value: "\"🎵 ok\"", seq: 1)
        let body = FoldedEntries.encode([entry])
        XCTAssertEqual(try FoldedEntries.decode(body, record: 7), [entry])
        let keyStart = try XCTUnwrap(body.firstIndex(of: 0xC3), "é's first byte")
        for (name, damaged) in [("a lone continuation byte", 0x80), ("a byte UTF-8 never uses", 0xFF)] as [(String, UInt8)] {
            var bytes = body
            bytes[keyStart] = damaged
            XCTAssertThrowsError(try FoldedEntries.decode(bytes, record: 7), name) { error in
                XCTAssertTrue((error as? ChorusError)?.message.contains("not UTF-8") ?? false, "\(name): \(error)")
            }
            XCTAssertThrowsError(try FoldedEntries.scan(bytes, record: 7) { _ in }, "\(name), scanned")
        }
    }

    func test_theTableFunction_readsABodyAsEntryRows() throws {
        let db = try Database(path: ":memory:")
        try db.register(FoldedEntries.tableFunction(columns: RegisterColumns(schema: PeopleSchema.current)))
        let entry = FoldedEntries.Entry(field: 3, key: "", origin: 2, counter: 41, wall: 1_790_000_000_123, logical: 4, kind: 0, value: "\"x\"", seq: 99)
        try db.execute("CREATE TABLE f(rid INTEGER PRIMARY KEY, body BLOB)")
        try db.run("INSERT INTO f VALUES (5, ?)", FoldedEntries.encode([entry]))
        let row = try XCTUnwrap(db.queryRow("SELECT f.rid, e.field, e.key, e.origin, e.counter, e.wall, e.logical, e.kind, e.value, e.seq FROM f, chorus_folded_entries(f.body) e"))
        XCTAssertEqual((0..<10).map { row.integer($0).map(String.init) ?? row.text($0) ?? "NULL" },
                       ["5", "3", "", "2", "41", "1790000000123", "4", "0", "\"x\"", "99"])
        XCTAssertThrowsError(try db.query("SELECT * FROM chorus_folded_entries(x'0203')"))
    }
}
