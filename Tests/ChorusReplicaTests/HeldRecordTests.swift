import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// A batch of remote operations holds the entries of each record it touches in memory and writes
/// them back folded, one row per record (`HeldRecord`): the state it leaves is the state the rows
/// gave, whatever the order and batching of what arrives.
final class HeldRecordTests: XCTestCase {
    var clock: ManualClock!
    var stockholm: Replica!
    var newYork: Replica!
    var london: Replica!

    override func setUpWithError() throws {
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        stockholm = try ReplicaFactory.memory(name: "stockholm", clock: clock, seed: 11)
        newYork = try ReplicaFactory.memory(name: "new-york", clock: clock, seed: 22)
        london = try ReplicaFactory.memory(name: "london", clock: clock, seed: 33)
    }

    private func rows(_ replica: Replica, _ table: String) throws -> Int64 {
        try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM \(table)") ?? -1 }
    }

    private func operations(_ replica: Replica, after: Int64 = 0) throws -> [Op] {
        try replica.log(after: after, limit: 100_000).compactMap(\.operation)
    }

    /// The folded body of `record`, decoded.
    private func folded(_ replica: Replica, _ record: String) throws -> [FoldedEntries.Entry] {
        try replica.withDatabase { db in
            let row = try XCTUnwrap(db.queryRow("SELECT d.rid, d.body FROM folded_entries d JOIN records r ON r.rid = d.rid WHERE r.record = ?", record))
            return try FoldedEntries.decode(row.blob(1)!, record: row.integer(0)!)
        }
    }

    private func assertAgree(_ a: Replica, _ b: Replica, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try a.digest(), try b.digest(), file: file, line: line)
        XCTAssertEqual(try a.conflicts(), try b.conflicts(), file: file, line: line)
        XCTAssertEqual(try a.invariantViolations(), [], file: file, line: line)
        XCTAssertEqual(try b.invariantViolations(), [], file: file, line: line)
    }

    func test_aRemoteBatch_writesTheRecordsItTouchesFolded_inTheStateTheWriterHasInRows() throws {
        for index in 1...5 {
            try stockholm.write(collection: "people", record: "p\(index)", [
                .put(field: "name", value: .string("Person \(index)")), .put(field: "title", value: "Engineer"),
                .put(field: "openToMentoring", value: .bool(index % 2 == 0)), .add(field: "developmentGoals", element: "swift"),
                .add(field: "developmentGoals", element: "sql"),
            ])
        }
        clock.advance(by: 5)
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead"), .remove(field: "developmentGoals", element: "sql")])
        try newYork.applyRemote(try operations(stockholm))
        try assertAgree(stockholm, newYork)
        XCTAssertGreaterThan(try rows(stockholm, "entry_rows"), 0, "local writes keep their rows")
        XCTAssertEqual(try rows(newYork, "entry_rows"), 0)
        XCTAssertEqual(try rows(newYork, "folded_entries"), 5, "one row per record")
        XCTAssertEqual(try newYork.get(collection: "people", record: "p1")?.fields["title"], "Lead")

        // A later batch edits what was written back: read from the body, changed, written again.
        let seen = try stockholm.latestSequence()
        clock.advance(by: 5)
        try stockholm.write(collection: "people", record: "p2", [.put(field: "title", value: "Staff"), .remove(field: "developmentGoals", element: "swift")])
        try newYork.applyRemote(try operations(stockholm, after: seen))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(try rows(newYork, "entry_rows"), 0)
        XCTAssertEqual(try rows(newYork, "folded_entries"), 5)
        XCTAssertEqual(newYork.recordsUnfolded, 0)

        // One operation a batch, newest first: edits arrive before what they supersede.
        for operation in try operations(stockholm).reversed() { try london.applyRemote([operation]) }
        try assertAgree(stockholm, london)
        XCTAssertEqual(try rows(london, "entry_rows"), 0)

        // A local write to a folded record takes its entries back into rows.
        try newYork.write(collection: "people", record: "p3", [.put(field: "office", value: "New York")])
        XCTAssertEqual(newYork.recordsUnfolded, 1)
        XCTAssertEqual(try rows(newYork, "folded_entries"), 4)
        XCTAssertEqual(try newYork.invariantViolations(), [])
    }

    /// A register value kept in its typed column alone must move into the body when a concurrent
    /// value takes the column, and the value that loses stays readable as a sibling.
    func test_aNewRecordsEntriesMadeOutOfOrder_areFoldedInPrimaryKeyOrder() throws {
        // p1 numbers name before title; p2's operations then come title first, and its map keys
        // out of byte order: what the batch made for p2 is not in primary-key order.
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "A"), .put(field: "title", value: "Engineer")])
        try stockholm.write(collection: "people", record: "p2", [
            .put(field: "title", value: "Designer"), .put(field: "name", value: "B"),
            .mapSet(field: "skills", key: "swift", value: .integer(3)), .mapSet(field: "skills", key: "figma", value: .integer(4)),
        ])
        try newYork.applyRemote(try operations(stockholm))
        let body = try folded(newYork, "p2")
        XCTAssertEqual(body.count, 4)
        XCTAssertEqual(body, body.sorted(by: <), "folded in primary-key order")
        // A later batch finds p2's older entries where the order says they are.
        clock.advance(by: 5)
        try london.applyRemote(try operations(stockholm))
        try london.write(collection: "people", record: "p2", [.put(field: "name", value: "B2"), .mapSet(field: "skills", key: "figma", value: .integer(5))])
        try stockholm.write(collection: "people", record: "p2", [.put(field: "name", value: "B3")])
        try newYork.applyRemote(try operations(london))
        try london.applyRemote(try operations(stockholm))
        try stockholm.applyRemote(try operations(london))
        try newYork.applyRemote(try operations(stockholm))
        try assertAgree(newYork, london)
        try assertAgree(newYork, stockholm)
        XCTAssertEqual(try newYork.get(collection: "people", record: "p2")?.conflicts, ["name"])
    }

    func test_aValueKeptInItsColumn_movesIntoTheBody_whenAConcurrentValueTakesTheColumn() throws {
        let ada = try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada"), .put(field: "title", value: "Engineer")])
        try newYork.applyRemote(ada)
        let kept = try folded(newYork, "p1").filter(\.valueInColumn)
        XCTAssertEqual(kept.count, 2, "both values are the typed row's: kept there alone")
        clock.advance(by: 10)
        let grace = try london.write(collection: "people", record: "p1", [.put(field: "name", value: "Grace")])
        try newYork.applyRemote(grace)
        XCTAssertEqual(try newYork.get(collection: "people", record: "p1")?.fields["name"], "Grace")
        let name = try folded(newYork, "p1").filter { $0.key.isEmpty && ($0.value == "\"Ada\"" || $0.value == "\"Grace\"" || $0.valueInColumn) }
        XCTAssertTrue(name.contains { $0.value == "\"Ada\"" && !$0.valueInColumn }, "the losing value moved into the body: \(name)")
        XCTAssertEqual(name.filter(\.valueInColumn).count, 2, "the title stays in its column, the new name joins it")
        let conflicts = try newYork.conflicts()
        XCTAssertEqual(conflicts.count, 1)
        XCTAssertEqual(Set(conflicts[0].siblings.map(\.operation)), [ada[0].id, grace[0].id])

        // The same operations, received whole by a replica of its own and by one in two other batches.
        try stockholm.applyRemote(grace)
        try assertAgree(stockholm, newYork)
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 44)
        try other.applyRemote(grace)
        try other.applyRemote(ada)
        try assertAgree(stockholm, other)
        // A value that loses at once leaves the column, and the body's flags, as they were.
        let early = try ReplicaFactory.memory(name: "early", clock: ManualClock(milliseconds: 1_789_000_000_000), seed: 55)
        let late = try early.write(collection: "people", record: "p1", [.put(field: "title", value: "Intern")])
        try newYork.applyRemote(late)
        XCTAssertEqual(try newYork.get(collection: "people", record: "p1")?.fields["title"], "Engineer")
        try stockholm.applyRemote(late)
        try assertAgree(stockholm, newYork)
    }

    /// A value its column converts (an integer in a TEXT register, a numeric text in an INTEGER
    /// one, an integral real) is never kept in the column alone: read back, it would be another
    /// value (found by `MergeAlgebraTests`, seed 5929611948: `1` read back as `"1"`).
    func test_aValueItsColumnWouldConvert_staysInTheBody() throws {
        let origin = try XCTUnwrap(ReplicaID(hex: "0123456789abcdef0123456789abcdef"))
        let values: [(collection: String, field: String, value: JSONValue, kept: Bool)] = [
            ("people", "title", .integer(1), false), ("people", "hoursPerWeekAvailable", .string("7"), false),
            ("people", "hoursPerWeekAvailable", .double(2.0), false), ("people", "title", .string("kept"), true),
            // A REAL column stores -0.0 as the integer 0, read back as 0.0 (found by a review).
            ("objectives", "progress", .double(-0.0), false), ("objectives", "progress", .double(2.5), true),
        ]
        let operations = values.enumerated().map { index, write in
            Op(id: OperationID(replica: origin, counter: UInt64(index + 1)), timestamp: HybridTimestamp(wall: 1_790_000_000_000, logical: UInt32(index)),
               collection: write.collection, record: "p\(index)", field: write.field, action: .set(value: write.value, supersedes: []))
        }
        try newYork.applyRemote(operations)
        for (index, write) in values.enumerated() {
            let entry = try XCTUnwrap(try folded(newYork, "p\(index)").first)
            XCTAssertEqual(entry.valueInColumn, write.kept, "\(write)")
            let read = try newYork.withDatabase { db in
                try db.queryScalarText("SELECT e.value FROM entries e JOIN records r ON r.rid = e.rid WHERE r.record = ?", "p\(index)")
            }
            XCTAssertEqual(read, write.value.canonicalText)
        }
        for operation in operations.reversed() { try london.applyRemote([operation]) }
        try assertAgree(newYork, london)
    }

    /// A held record whose value is kept in its typed column, grown past `HeldRecord.entriesMax`
    /// in one batch, goes into rows with that value read back (found by a review: written NULL).
    func test_aHeldRecordGrownPastTheBound_takesItsKeptValuesIntoRows() throws {
        try stockholm.write(collection: "people", record: "grows", [.put(field: "name", value: "Kept"), .add(field: "developmentGoals", element: "first")])
        try newYork.applyRemote(try operations(stockholm))
        XCTAssertTrue(try folded(newYork, "grows").contains(where: \.valueInColumn))
        let seen = try stockholm.latestSequence()
        for index in 0..<HeldRecord.entriesMax {
            try stockholm.write(collection: "people", record: "grows", [.add(field: "developmentGoals", element: "skill-\(index)")])
        }
        try newYork.applyRemote(try operations(stockholm, after: seen))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(try rows(newYork, "folded_entries"), 0)
        let name = try newYork.withDatabase { db in
            try db.queryScalarText("SELECT e.value FROM entries e JOIN records r ON r.rid = e.rid WHERE r.record = 'grows' AND e.field = 'name'")
        }
        XCTAssertEqual(name, "\"Kept\"")
    }

    /// A record past `HeldRecord.entriesMax` live entries is written in rows of its own, and a
    /// batch that meets it there merges it as rows.
    func test_aRecordPastTheHeldBound_isWrittenAsRows() throws {
        let elements = HeldRecord.entriesMax + 10
        for index in 0..<elements {
            try stockholm.write(collection: "people", record: "big", [.add(field: "developmentGoals", element: "skill-\(index)")])
        }
        try stockholm.write(collection: "people", record: "small", [.put(field: "name", value: "Small")])
        try newYork.applyRemote(try operations(stockholm))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(try rows(newYork, "entry_rows"), Int64(elements))
        XCTAssertEqual(try rows(newYork, "folded_entries"), 1, "the small record is folded")
        let seen = try stockholm.latestSequence()
        try stockholm.write(collection: "people", record: "big", [.remove(field: "developmentGoals", element: "skill-0")])
        try newYork.applyRemote(try operations(stockholm, after: seen))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(try rows(newYork, "entry_rows"), Int64(elements - 1))
    }

    /// A batch materialises its keys record by record. Operations that come back and forth between
    /// records, and edits that supersede what the same batch made, leave the state the writer has.
    func test_aBatchThatComesBackToARecord_andSupersedesWhatItMade_leavesTheWritersState() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ann")])
        try stockholm.write(collection: "people", record: "p2", [.put(field: "name", value: "Bo")])
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Engineer")])
        try stockholm.write(collection: "people", record: "p3", [.add(field: "developmentGoals", element: "swift")])
        clock.advance(by: 5)
        try stockholm.write(collection: "people", record: "p2", [.put(field: "name", value: "Bodil"), .put(field: "title", value: "Lead")])
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Staff"), .put(field: "name", value: "Anna")])
        try stockholm.write(collection: "people", record: "p3", [.remove(field: "developmentGoals", element: "swift")])

        try newYork.applyRemote(try operations(stockholm))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(try newYork.get(collection: "people", record: "p1")?.fields["title"], "Staff")
        XCTAssertEqual(try newYork.get(collection: "people", record: "p1")?.fields["name"], "Anna")
        XCTAssertEqual(try newYork.get(collection: "people", record: "p2")?.fields["name"], "Bodil")
        XCTAssertEqual(try rows(newYork, "entry_rows"), 0)
        // Superseded in the batch that made them: only the last values are live.
        XCTAssertEqual(try folded(newYork, "p1").map(\.valueInColumn), [true, true], "both kept in their TEXT columns alone")
        XCTAssertEqual(try folded(newYork, "p2").count, 2)
    }

    /// A record whose body passes `HeldRecord.bodyBytesMax` is written in rows of its own, however
    /// few its entries; one folded past it (as compaction folds any record) is unfolded by the
    /// next batch that meets it, not held.
    func test_aRecordPastTheHeldBodyBytes_isWrittenAsRows_andAFoldedOneIsUnfolded() throws {
        let large = String(repeating: "x", count: 60_000)
        let entries = HeldRecord.bodyBytesMax / large.utf8.count + 1
        XCTAssertLessThan(entries, HeldRecord.entriesMax, "past the bytes, far below the entries")
        for index in 0..<entries {
            try stockholm.write(collection: "people", record: "wide", [.mapSet(field: "experience", key: "e\(index)", value: .object(["title": .string(large)]))])
        }
        try stockholm.write(collection: "people", record: "small", [.put(field: "name", value: "Small")])
        try newYork.applyRemote(try operations(stockholm))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(try rows(newYork, "entry_rows"), Int64(entries), "grown past the bound in one batch: rows")
        XCTAssertEqual(try rows(newYork, "folded_entries"), 1, "the small record is folded")

        let rid = try XCTUnwrap(newYork.withDatabase { try $0.queryScalarInteger("SELECT rid FROM records WHERE record = 'wide'") })
        _ = try newYork.withDatabase { _ in try newYork.fold(rid) }
        XCTAssertEqual(try rows(newYork, "entry_rows"), 0)
        XCTAssertGreaterThan(try newYork.withDatabase { try $0.queryScalarInteger("SELECT length(body) FROM folded_entries WHERE rid = ?", rid) } ?? 0,
                             Int64(HeldRecord.bodyBytesMax))
        let seen = try stockholm.latestSequence()
        try stockholm.write(collection: "people", record: "wide", [.put(field: "name", value: "Wide")])
        let unfolded = newYork.recordsUnfolded
        try newYork.applyRemote(try operations(stockholm, after: seen))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(newYork.recordsUnfolded, unfolded + 1, "unfolded, not held")
        XCTAssertEqual(try rows(newYork, "entry_rows"), Int64(entries + 1))
    }

    /// A batch holds at most `HeldRecord.batchBodyBytesMax` of bodies read (lowered here): the
    /// records it meets past that are merged in rows, with the same result.
    func test_aBatchPastItsHeldBytes_mergesTheRecordsItMeetsNextInRows() throws {
        for record in ["a", "b", "c"] {
            try stockholm.write(collection: "people", record: record, [.put(field: "name", value: .string("Name \(record)")), .add(field: "guilds", element: "g")])
        }
        try newYork.applyRemote(try operations(stockholm))
        XCTAssertEqual(try rows(newYork, "folded_entries"), 3)
        let body = try XCTUnwrap(newYork.withDatabase { try $0.queryScalarInteger("SELECT max(length(body)) FROM folded_entries") })
        newYork.heldBodyBytesMax = Int(body) * 2

        let seen = try stockholm.latestSequence()
        clock.advance(by: 5)
        for record in ["a", "b", "c"] { try stockholm.write(collection: "people", record: record, [.add(field: "guilds", element: "h")]) }
        let unfolded = newYork.recordsUnfolded
        try newYork.applyRemote(try operations(stockholm, after: seen))
        try assertAgree(stockholm, newYork)
        XCTAssertEqual(newYork.recordsUnfolded, unfolded + 1, "two held, the third past the batch's bytes")
        XCTAssertEqual(try rows(newYork, "folded_entries"), 2)
    }
}
