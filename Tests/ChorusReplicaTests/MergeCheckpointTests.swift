import XCTest
import Foundation
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// A merge of many batches leaves the log to grow while it runs and checkpoints it on a thread and
/// connection of its own when it ends (`Replica.checkpointInBackground`): nothing is copied into
/// the database file on the merging thread meanwhile, the file holds everything once the
/// checkpoint is done, and the connection's automatic checkpoints are back on after the call.
final class MergeCheckpointTests: XCTestCase {
    var folder: TemporaryDirectory!
    var clock: ManualClock!

    override func setUpWithError() throws {
        folder = try TemporaryDirectory(prefix: "chorus-merge-checkpoint")
        clock = ManualClock(milliseconds: 1_790_000_000_000)
    }

    override func tearDown() {
        folder.remove()
        super.tearDown()
    }

    private var databaseFile: String { folder.appending("target/" + Replica.databaseFileName) }

    private func fileBytes(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }

    /// Durable, with batches of 200 operations, so a merge of the operations below is many batches.
    private var manyBatchConfiguration: Replica.Configuration {
        var configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        configuration.limits.operationsPerBatchMax = 200
        return configuration
    }

    /// The replica the tests merge into, in `target` under the test's folder.
    private func manyBatchTarget() throws -> Replica {
        var rng = SeededGenerator(seed: 2)
        return try Replica.create(at: .directory(folder.appending("target")), name: "target", configuration: manyBatchConfiguration, using: &rng)
    }

    /// About 8 MB of log: 1,000 people with a 4 KB register each, and a name.
    private func operations() throws -> [Op] {
        let source = try ReplicaFactory.memory(name: "source", clock: clock, seed: 1)
        for index in 0..<1_000 {
            try source.write(collection: "people", record: "p\(index)", [
                .put(field: "name", value: .string("Person \(index)")),
                .put(field: "title", value: .string(String(repeating: "t", count: 4_000) + "\(index)")),
            ])
        }
        return try source.log(after: 0, limit: 100_000).compactMap(\.operation)
    }

    func test_aMergeOfManyBatches_copiesNothingIntoTheFileWhileItRuns_andCheckpointsOnceItEnds() throws {
        let target = try manyBatchTarget()
        let all = try operations()
        let before = try fileBytes(databaseFile)
        var during: [Int] = []
        let report = try target.applyRemote(all, source: nil, inLastBatch: nil, afterBatch: { _ in during.append((try? self.fileBytes(self.databaseFile)) ?? -1) })
        XCTAssertEqual(report.applied, all.count)
        XCTAssertEqual(during.count, all.count / 200, "one report a batch")
        XCTAssertEqual(Set(during), [before], "no batch's commit copied its log into the file (8 MB, past SQLite's 1,000 pages)")

        let checkpoint = try XCTUnwrap(target.mergeCheckpoint, "the merge's checkpoint was started")
        XCTAssertTrue(try checkpoint.wait(), "it copied the whole log")
        XCTAssertGreaterThan(try fileBytes(databaseFile), before + 8_000_000, "the file holds the merge")

        // The file alone, without its log, is the merged replica.
        try target.withDatabase { db in _ = try db.checkpointTruncate() }
        let copy = folder.appending("copy")
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: databaseFile, toPath: copy + "/" + Replica.databaseFileName)
        XCTAssertEqual(try Replica.open(at: .directory(copy), configuration: manyBatchConfiguration).digest(), try target.digest())

        // Automatic checkpoints are back on for the connection: a call of one batch whose log
        // passes 1,000 pages (150 values of 40 KB) is checkpointed when its commit ends.
        let afterMerge = try fileBytes(databaseFile)
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 3)
        for index in 0..<150 {
            try other.write(collection: "people", record: "q\(index)", [.put(field: "title", value: .string(String(repeating: "u", count: 40_000)))])
        }
        let one = try other.log(after: 0, limit: 100_000).compactMap(\.operation)
        XCTAssertLessThanOrEqual(one.count, 200, "one batch")
        try target.applyRemote(one)
        XCTAssertGreaterThan(try fileBytes(databaseFile), afterMerge + 4_000_000, "its commit was checkpointed when it ended")
    }

    /// The log file a long merge grew is cut back to `Database.Options.logBytesKept` once its
    /// checkpoint is done and the next commit starts the log again, not kept at the merge's size.
    func test_theLogFileALongMergeGrewIsCutBack_atTheNextCommitAfterItsCheckpoint() throws {
        let target = try manyBatchTarget()
        try target.applyRemote(try operations())
        let log = databaseFile + "-wal"
        XCTAssertGreaterThan(try fileBytes(log), 8_000_000, "the merge's log, about 8 MB")
        XCTAssertTrue(try XCTUnwrap(target.mergeCheckpoint).wait())

        try target.write(collection: "people", record: "after", [.put(field: "name", value: .string("After"))])
        XCTAssertLessThanOrEqual(try fileBytes(log), Int(Database.Options().logBytesKept), "the file is cut back to the size kept")
        XCTAssertEqual(try target.get(collection: "people", record: "after")?.fields["name"], .string("After"))
    }

    /// A bundle's `until` and a snapshot's `through` are handed out only once what they cover is
    /// durable: another connection's batches committed without a sync (a large import's) are
    /// synced first, so a power cut cannot take back and renumber operations a bundle says it holds.
    func test_anExport_syncsTheLog_beforeItsUntilIsHandedOut() throws {
        let target = try manyBatchTarget()
        try target.write(collection: "people", record: "p-1", [.put(field: "name", value: .string("Ada"))])
        let before = try target.withDatabase { $0.logSyncs }
        var bytes: [UInt8] = []
        let header = try target.exportBundle { bytes += $0 }
        XCTAssertEqual(header.operations, 1)
        XCTAssertEqual(try target.withDatabase { $0.logSyncs }, before + 1, "the log was synced in the export's read")
    }

    /// A merge of many batches syncs the log at its last commit only (`Database.syncsEachCommit`):
    /// the batches before it commit at `synchronous=NORMAL`, the last one at FULL, whose sync makes
    /// them all durable; and the connection is back at FULL after the call, a failed one too.
    func test_aMergeOfManyBatches_syncsAtItsLastCommitOnly_andLeavesTheConnectionSyncingEachCommit() throws {
        let target = try manyBatchTarget()
        func synchronous() throws -> Int64? { try target.withDatabase { try $0.queryScalarInteger("PRAGMA synchronous") } }
        XCTAssertEqual(try synchronous(), 2, "FULL before the merge")

        let all = try operations()
        var afterEachBatch: [Int64?] = []
        var inTheLastBatch: Int64?
        let report = try target.applyRemote(all, source: nil, inLastBatch: { inTheLastBatch = try synchronous() },
                                            afterBatch: { _ in afterEachBatch.append(try? synchronous()) })
        XCTAssertEqual(report.applied, all.count)
        XCTAssertEqual(inTheLastBatch, 2, "the last batch commits at FULL")
        XCTAssertEqual(Array(afterEachBatch.dropLast()), Array(repeating: 1, count: all.count / 200 - 1), "the batches before it at NORMAL")
        XCTAssertEqual(try synchronous(), 2, "FULL again after the call")
        XCTAssertEqual(try target.withDatabase { $0.logSyncs }, 0, "the last commit wrote to the log and synced it: no sync of the call's own")
        XCTAssertEqual(try target.get(collection: "people", record: "p999")?.fields["name"], .string("Person 999"))

        // A call whose last batch fails, after the batches before it committed at NORMAL, leaves
        // the connection at FULL too.
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 4)
        for index in 0..<600 { try other.write(collection: "people", record: "q\(index)", [.put(field: "name", value: .string("Q\(index)"))]) }
        let more = try other.log(after: 0, limit: 100_000).compactMap(\.operation)
        XCTAssertGreaterThan(more.count, 400, "three batches or more")
        struct Refused: Error {}
        let syncsBefore = try target.withDatabase { $0.logSyncs }
        XCTAssertThrowsError(try target.applyRemote(more, source: nil, inLastBatch: { throw Refused() })) { XCTAssertTrue($0 is Refused) }
        XCTAssertEqual(try target.withDatabase { $0.logSyncs }, syncsBefore + 1, "the batches it committed before failing are synced")
        XCTAssertEqual(try synchronous(), 2, "FULL after a failed call")

        // So does one refused in its first batch, which ran at NORMAL: an operation from an hour
        // ahead fails the checks, and no batch commits.
        let third = try ReplicaFactory.memory(name: "third", clock: clock, seed: 5)
        // Past `Replica.checksSplitMin` operations, checked while the batches merge.
        for index in 0..<2_100 {
            try third.write(collection: "people", record: "r\(index)", [.put(field: "name", value: .string("R\(index)")), .put(field: "title", value: "T")])
        }
        let skewed = try ReplicaFactory.memory(name: "skewed", clock: OffsetClock(base: clock, offsetMilliseconds: 3_600_000), seed: 6)
        let future = try skewed.write(collection: "people", record: "late", [.put(field: "name", value: "Late")])
        let checkedWhileMerging = try third.log(after: 0, limit: 100_000).compactMap(\.operation) + future
        XCTAssertGreaterThanOrEqual(checkedWhileMerging.count, Replica.checksSplitMin)
        XCTAssertThrowsError(try target.applyRemote(checkedWhileMerging)) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .clockSkew)
        }
        XCTAssertEqual(try synchronous(), 2, "FULL after a call refused mid-batch")
        XCTAssertNil(try target.get(collection: "people", record: "r0"), "nothing of it applied")
    }

    /// A merge whose last batch changes nothing (its operations all merged already) writes no
    /// frame to the log, so its commit syncs nothing: the call syncs the log itself before it
    /// returns, or the batches before it, committed without a sync, would not be durable.
    func test_aMergeWhoseLastBatchChangesNothing_stillSyncsTheLogBeforeItReturns() throws {
        let target = try manyBatchTarget()
        let all = try operations()
        XCTAssertEqual(all.count % 200, 0, "whole batches, so the duplicate below is a batch of its own")
        let syncsBefore = try target.withDatabase { $0.logSyncs }
        let report = try target.applyRemote(all + [all[0]])
        XCTAssertEqual(report.applied, all.count)
        XCTAssertEqual(report.duplicates, 1, "the last batch is one operation already merged")
        XCTAssertEqual(try target.withDatabase { $0.logSyncs }, syncsBefore + 1, "the call synced the log before it returned")

        // A call of one batch commits at FULL and needs no sync of its own.
        try target.applyRemote([all[1]])
        XCTAssertEqual(try target.withDatabase { $0.logSyncs }, syncsBefore + 1)
    }
}
