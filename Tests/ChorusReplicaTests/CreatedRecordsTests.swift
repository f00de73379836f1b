import XCTest
import Foundation
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// A long merge into a replica that holds no records skips the lookup of each record it meets
/// for the first time while the records it created are the only ones (`CreatedRecords`), and
/// looks every record up as before once anything else could have added one: another
/// connection's commit, or a record this connection inserted between the merge's batches.
/// Whatever path a merge takes, it leaves what a merge of one short call at a time leaves.
final class CreatedRecordsTests: XCTestCase {
    var folder: TemporaryDirectory!
    var clock: ManualClock!

    /// People in the operations below; each is met twice, in batches far apart.
    private let people = 600

    override func setUpWithError() throws {
        folder = try TemporaryDirectory(prefix: "chorus-created-records")
        clock = ManualClock(milliseconds: 1_790_000_000_000)
    }

    override func tearDown() {
        folder.remove()
        super.tearDown()
    }

    /// Batches of 200 operations, so the merges below are six batches each.
    private var configuration: Replica.Configuration {
        var configuration = ReplicaFactory.configuration(clock: clock, synchronous: .normal)
        configuration.limits.operationsPerBatchMax = 200
        return configuration
    }

    private func replica(_ name: String, seed: UInt64) throws -> Replica {
        try ReplicaFactory.durable(at: folder.appending(name), name: name, configuration: configuration, seed: seed)
    }

    /// Every person's name, then every person's title: the titles' batches meet records the
    /// names' batches created.
    private func operations() throws -> [Op] {
        let source = try ReplicaFactory.memory(name: "source", clock: clock, seed: 1)
        for index in 0..<people {
            try source.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("Person \(index)"))])
        }
        for index in 0..<people {
            try source.write(collection: "people", record: "p\(index)", [.put(field: "title", value: .string("Title \(index)"))])
        }
        let all = try source.log(after: 0, limit: 100_000).compactMap(\.operation)
        XCTAssertEqual(all.count, 2 * people)
        XCTAssertGreaterThanOrEqual(all.count, CreatedRecords.callOperationsMin, "long enough to take the path")
        return all
    }

    /// The same operations merged a few at a time, in calls too short to skip any lookup.
    private func mergedInShortCalls(_ all: [Op]) throws -> Replica {
        let reference = try replica("reference", seed: 9)
        var start = 0
        while start < all.count {
            let end = min(start + 150, all.count)
            try reference.applyRemote(Array(all[start..<end]))
            start = end
        }
        XCTAssertEqual(reference.recordLookupsSkipped, 0)
        return reference
    }

    /// Merges `all` into `target` in one call, running `between` once, after its first batch.
    private func merge(_ all: [Op], into target: Replica, afterTheFirstBatch between: @escaping () throws -> Void) throws -> ApplyReport {
        var batches = 0
        return try target.applyRemote(all, source: nil, inLastBatch: nil, afterBatch: { _ in
            batches += 1
            guard batches == 1 else { return }
            do { try between() } catch { XCTFail("\(error)") }
        })
    }

    /// What a merge of `all` into `target` leaves when the last person's name was merged after
    /// its first batch: the skipping ended there, and the call found that person.
    private func assertTheLastPersonMergedBetweenBatches(_ report: ApplyReport, _ all: [Op], _ target: Replica,
                                                         file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(report.applied, all.count - 1, file: file, line: line)
        XCTAssertEqual(target.recordLookupsSkipped, 200, "only the first batch's records", file: file, line: line)
        XCTAssertEqual(try recordCount(target), Int64(people), file: file, line: line)
        XCTAssertEqual(try target.digest(), try mergedInShortCalls(all).digest(), file: file, line: line)
    }

    private func recordCount(_ replica: Replica) throws -> Int64? {
        try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM records") }
    }

    func test_aLongMergeIntoAnEmptyReplica_skipsEachNewRecordsLookup_andFindsTheRecordsItCreatedInEarlierBatches() throws {
        let all = try operations()
        let target = try replica("target", seed: 2)
        XCTAssertEqual(try target.applyRemote(all).applied, all.count)
        XCTAssertEqual(target.recordLookupsSkipped, people, "each person's lookup skipped once, when the names' batches created them")
        XCTAssertEqual(try recordCount(target), Int64(people), "the titles' batches found the records, and created none again")
        XCTAssertEqual(try target.digest(), try mergedInShortCalls(all).digest())
    }

    func test_preparedOperations_whoseHashesComeAheadOnlyForTheFirstOfARun_skipTheSameLookups() throws {
        let all = try operations()
        let target = try replica("target", seed: 2)
        XCTAssertEqual(try target.applyRemote(PreparedOperation.prepare(all)).applied, all.count)
        XCTAssertEqual(target.recordLookupsSkipped, people)
        XCTAssertEqual(try recordCount(target), Int64(people))
        XCTAssertEqual(try target.digest(), try mergedInShortCalls(all).digest())
    }

    /// The last person created is erased in a later batch: the largest row id falls below the
    /// last the call gave, the skipping ends, and the erased person's title is dropped.
    func test_anErasureInALongMerge_ofTheLastRecordItCreated_isKept() throws {
        let source = try ReplicaFactory.memory(name: "source", clock: clock, seed: 1)
        for index in 0..<people {
            try source.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("Person \(index)"))])
        }
        try source.write(collection: "people", record: "p\(people - 1)", [.erase])
        for index in 0..<people - 1 {
            try source.write(collection: "people", record: "p\(index)", [.put(field: "title", value: .string("Title \(index)"))])
        }
        let all = try source.log(after: 0, limit: 100_000).compactMap(\.operation)
        // The title written on the source before its erasure arrived.
        let late = try ReplicaFactory.memory(name: "late", clock: clock, seed: 3)
        try late.write(collection: "people", record: "p\(people - 1)", [.put(field: "title", value: .string("Late"))])
        let ops = all + (try late.log(after: 0, limit: 10).compactMap(\.operation))
        let target = try replica("target", seed: 2)
        let report = try target.applyRemote(ops)
        XCTAssertEqual(report.droppedForErasedRecords, 1, "the erased person's late title")
        XCTAssertEqual(target.recordLookupsSkipped, people)
        XCTAssertEqual(try recordCount(target), Int64(people - 1))
        XCTAssertEqual(try target.digest(), try mergedInShortCalls(ops).digest())
    }

    func test_aReplicaThatHoldsARecord_looksUpEveryRecordItMeets() throws {
        let all = try operations()
        let target = try replica("target", seed: 2)
        try target.applyRemote([all[people - 1]])
        XCTAssertEqual(try target.applyRemote(all).duplicates, 1)
        XCTAssertEqual(target.recordLookupsSkipped, 0, "records was not empty when the call began")
        XCTAssertEqual(try recordCount(target), Int64(people))
        XCTAssertEqual(try target.digest(), try mergedInShortCalls(all).digest())
    }

    /// After the first batch, another connection merges the last person's name; the call meets
    /// that person in its third batch. Skipping the lookup would insert the record a second time
    /// (and fail on `records`' unique names). Both `data_version` and the largest row id move.
    func test_anotherConnectionsCommitBetweenBatches_endsTheSkipping() throws {
        let all = try operations()
        let target = try replica("target", seed: 2)
        let other = try Replica.open(at: .directory(folder.appending("target")), configuration: configuration)
        let report = try merge(all, into: target) { try other.applyRemote([all[self.people - 1]]) }
        try assertTheLastPersonMergedBetweenBatches(report, all, target)
    }

    /// The same, with the record merged on the merge's own connection between its batches:
    /// `data_version` does not move for it, the largest row id in `records` does.
    func test_aRecordThisConnectionInsertsBetweenBatches_endsTheSkipping() throws {
        let all = try operations()
        let target = try replica("target", seed: 2)
        let report = try merge(all, into: target) { try target.applyRemote([all[self.people - 1]]) }
        try assertTheLastPersonMergedBetweenBatches(report, all, target)
    }

    /// After the first batch, another connection rewrites `records` without moving its largest
    /// row id: the last record the call created gives its row id to the last person, whom the
    /// call meets in its third batch. Only `data_version` says so. (A snapshot adopted on the
    /// merge's own connection moves neither: `Replica.snapshotsAdopted` does, below.)
    func test_anotherConnectionsRewriteThatKeepsTheLargestRowID_endsTheSkipping() throws {
        let all = try operations()
        let target = try replica("target", seed: 2)
        let other = try Replica.open(at: .directory(folder.appending("target")), configuration: configuration)
        let report = try merge(all, into: target) {
            try other.withDatabase { db in
                try db.run("UPDATE records SET record = 'p\(self.people - 1)' WHERE rid = 200")
                try db.run("UPDATE people SET id = 'p\(self.people - 1)' WHERE _rid = 200")
            }
        }
        XCTAssertEqual(report.applied, all.count)
        XCTAssertEqual(target.recordLookupsSkipped, 200, "only the first batch's records")
        let named = try target.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM records WHERE record = 'p\(self.people - 1)'") }
        XCTAssertEqual(named, 1, "the last person's record was found, not made again")
    }

    func test_theCreatedRecords_stopHoldingWhenRecordsIsNotWhatTheCallMade_orPastTheirBound() throws {
        let target = try replica("target", seed: 2)
        let created = CreatedRecords()
        try target.withDatabase { db in
            XCTAssertTrue(try created.stillHolds(in: db, dataVersion: 7, snapshotsAdopted: 0), "records is empty")
            let hash = Operation.recordHash(collection: "people", record: "p1")
            XCTAssertTrue(created.certainlyAbsent(hash: hash))
            created.created(rid: 1, hash: hash)
            XCTAssertFalse(created.certainlyAbsent(hash: hash), "created by the call: looked up")
            XCTAssertTrue(created.certainlyAbsent(hash: Operation.recordHash(collection: "people", record: "p2")))
            XCTAssertFalse(try created.stillHolds(in: db, dataVersion: 7, snapshotsAdopted: 0), "records has no row 1: not what the call created")
            XCTAssertFalse(created.certainlyAbsent(hash: Operation.recordHash(collection: "people", record: "p2")), "never again in the call")
        }
        for (dataVersion, snapshotsAdopted) in [(8 as Int64, 0), (7 as Int64, 1)] {
            let later = CreatedRecords()
            try target.withDatabase { db in
                XCTAssertTrue(try later.stillHolds(in: db, dataVersion: 7, snapshotsAdopted: 0))
                XCTAssertFalse(try later.stillHolds(in: db, dataVersion: dataVersion, snapshotsAdopted: snapshotsAdopted),
                               "another connection committed, or this one adopted a snapshot")
            }
        }
        let bounded = CreatedRecords(countMax: 2)
        try target.withDatabase { db in XCTAssertTrue(try bounded.stillHolds(in: db, dataVersion: 7, snapshotsAdopted: 0)) }
        let hashes = (0..<3).map { Operation.recordHash(collection: "people", record: "p\($0)") }
        bounded.created(rid: 1, hash: hashes[0])
        bounded.created(rid: 2, hash: hashes[1])
        XCTAssertTrue(bounded.holds)
        XCTAssertTrue(bounded.certainlyAbsent(hash: hashes[2]))
        bounded.created(rid: 3, hash: hashes[2])
        XCTAssertFalse(bounded.holds, "a third record is past the bound")
        XCTAssertFalse(bounded.certainlyAbsent(hash: Operation.recordHash(collection: "people", record: "p9")))
        XCTAssertEqual(CreatedRecords.prefix([1, 2, 3, 4, 5, 6, 7, 8, 9]), 0x0102_0304_0506_0708)
        XCTAssertEqual(CreatedRecords.prefix([0xff]), 0xff00_0000_0000_0000)
    }
}
