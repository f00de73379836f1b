import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// A batch of remote operations gives the records it creates their row ids itself and inserts
/// them, and their typed rows, many to a statement (`NewRecords`, `MaterialisedSQL.insertRows`).
/// What it leaves is what inserting each record on its own leaves: the same row ids (never one an
/// erased record had), the same typed rows, and an erasure in the same batch still finds the record.
final class NewRecordsTests: XCTestCase {
    var clock: ManualClock!
    var lisbon: Replica!

    override func setUpWithError() throws {
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        lisbon = try ReplicaFactory.memory(name: "lisbon", clock: clock, seed: 5)
    }

    private func operations(_ replica: Replica) throws -> [Op] {
        try replica.log(after: 0, limit: 100_000).compactMap(\.operation)
    }

    /// Every row of `records`, in row-id order, as text.
    private func recordRows(_ replica: Replica) throws -> [String] {
        try replica.withDatabase { db in
            try db.query("SELECT rid, collection, record, hex(hash_prefix), deleted, visible FROM records ORDER BY rid").map { row in
                "\(row.integer(0)!) \(row.text(1)!)/\(row.text(2)!) \(row.text(3)!) \(row.integer(4)!) \(row.integer(5)!)"
            }
        }
    }

    /// Every typed row of `table`, all columns, in row-id order, as text.
    private func typedRows(_ replica: Replica, _ table: String) throws -> [String] {
        try replica.withDatabase { db in
            try db.query("SELECT * FROM \(table) ORDER BY _rid").map { row in
                row.values.map { "\($0)" }.joined(separator: "|")
            }
        }
    }

    private func rid(_ replica: Replica, _ collection: String, _ record: String) throws -> Int64? {
        try replica.withDatabase { db in
            try db.queryScalarInteger("SELECT rid FROM records WHERE collection = ? AND record = ?", collection, record)
        }
    }

    func test_newRecordsMergedInOneBatch_getTheRowIDsAndTypedRowsOfRecordsMergedOneByOne() throws {
        // Runs of people longer than one statement's rows, broken by teams, and one short run, so
        // both the many-row and the one-row statements are used, for two tables.
        var index = 0
        for run in [70, 3, 40] {
            for _ in 0..<run {
                try lisbon.write(collection: "people", record: "p\(index)", [
                    .put(field: "name", value: .string("Person \(index)")),
                    .put(field: "title", value: index % 3 == 0 ? .string("Engineer") : .null),
                    .put(field: "squad", value: .string("squad-\(index % 5)")),
                ])
                index += 1
                clock.advance(by: 1)
            }
            // Teams share field names (and so numbers) with people, at other columns, and have their own.
            try lisbon.write(collection: "teams", record: "t\(index)", [
                .put(field: "name", value: .string("Team \(index)")), .put(field: "mission", value: .string("Mission \(index)")),
            ])
        }
        let all = try operations(lisbon)
        XCTAssertGreaterThan(70, 2 * MaterialisedSQL.rowsPerInsertMax, "a run spans two many-row statements")
        XCTAssertGreaterThan(70, 1 * NewRecords.perStatementMax)

        let together = try ReplicaFactory.memory(name: "together", clock: clock, seed: 6)
        XCTAssertEqual(try together.applyRemote(all).applied, all.count)
        // One record a batch: every record and typed row inserted by a statement of its own.
        let oneByOne = try ReplicaFactory.memory(name: "one-by-one", clock: clock, seed: 7)
        var start = 0
        while start < all.count {
            var end = start + 1
            while end < all.count && all[end].record == all[start].record && all[end].collection == all[start].collection { end += 1 }
            try oneByOne.applyRemote(Array(all[start..<end]))
            start = end
        }

        XCTAssertEqual(try recordRows(together).count, 113 + 3)
        XCTAssertEqual(try recordRows(together), try recordRows(oneByOne))
        XCTAssertEqual(try typedRows(together, "people"), try typedRows(oneByOne, "people"))
        XCTAssertEqual(try typedRows(together, "teams"), try typedRows(oneByOne, "teams"))
        XCTAssertEqual(try together.digest(), try oneByOne.digest())
        XCTAssertEqual(try together.digest(), try lisbon.digest())
        XCTAssertEqual(try together.invariantViolations(), [])
        // The values are the written ones, at the right record.
        let p71 = try XCTUnwrap(together.get(collection: "people", record: "p71"))
        XCTAssertEqual(p71.fields["name"], .string("Person 71"))
        XCTAssertEqual(p71.fields["squad"], .string("squad-1"))
        XCTAssertEqual(try together.withDatabase { try $0.queryScalarText("SELECT mission FROM teams WHERE id = 't73'") }, "Mission 73")
    }

    func test_aRecordCreatedAndErasedInOneBatch_isErased() throws {
        for index in 0..<5 {
            try lisbon.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("Person \(index)"))])
        }
        // Erasing drops p3's operations from lisbon's log: the batch gets them as they were, then the erasure.
        let creates = try operations(lisbon)
        try lisbon.write(collection: "people", record: "p3", [.erase])
        let erasure = try operations(lisbon).filter { op in !creates.contains { $0.id == op.id } }
        XCTAssertEqual(erasure.count, 1)
        let all = creates + erasure

        let target = try ReplicaFactory.memory(name: "target", clock: clock, seed: 8)
        XCTAssertEqual(try target.applyRemote(all).applied, all.count)
        XCTAssertNil(try rid(target, "people", "p3"), "the erasure found the record the batch created")
        XCTAssertNil(try target.get(collection: "people", record: "p3"))
        XCTAssertEqual(try target.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM people WHERE id = 'p3'") }, 0)
        XCTAssertNotNil(try target.get(collection: "people", record: "p4"))
        XCTAssertEqual(try target.digest(), try lisbon.digest())
        XCTAssertEqual(try target.invariantViolations(), [])
    }

    func test_aRecordCreatedAfterTheNewestWasErased_neverGetsItsRowID() throws {
        let target = try ReplicaFactory.memory(name: "target", clock: clock, seed: 9)
        try lisbon.write(collection: "people", record: "a", [.put(field: "name", value: "A")])
        try lisbon.write(collection: "people", record: "b", [.put(field: "name", value: "B")])
        try target.applyRemote(try operations(lisbon))
        let b = try XCTUnwrap(try rid(target, "people", "b"))
        XCTAssertEqual(try rid(target, "people", "a"), b - 1)

        // The newest record erased: its row is gone, so the largest row id held is a's.
        // (Erasing drops b's operations from lisbon's log, so what came later is told by id.)
        let seen = Set(try operations(lisbon).map(\.id))
        try lisbon.write(collection: "people", record: "b", [.erase])
        try lisbon.write(collection: "people", record: "c", [.put(field: "name", value: "C")])
        let later = try operations(lisbon).filter { !seen.contains($0.id) }
        XCTAssertEqual(later.count, 2)
        try target.applyRemote([later[0]])
        XCTAssertNil(try rid(target, "people", "b"))
        try target.applyRemote(Array(later[1...]))
        XCTAssertEqual(try rid(target, "people", "c"), b + 1, "b's row id is never given again")
        XCTAssertEqual(try target.digest(), try lisbon.digest())
    }
}
