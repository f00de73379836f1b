import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// A merge of more operations than `EncodingAhead.chunk` encodes them up to `chunksAhead` chunks
/// ahead, one chunk at a time on threads of their own, with each new record's hash: what it leaves is exactly what encoding each operation as
/// it merges leaves, in the log, the records' hashes and the merged state.
final class EncodingAheadTests: XCTestCase {
    /// People written, each a record: about 6,000 operations, six chunks, more than are prepared
    /// ahead at once.
    static let people = 1_200
    var clock: ManualClock!
    var stockholm: Replica!

    override func setUpWithError() throws {
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        stockholm = try ReplicaFactory.memory(name: "stockholm", clock: clock, seed: 11)
        // Records of uneven runs (7 or 3 operations), so record runs straddle the chunks' edges.
        for index in 0..<EncodingAheadTests.people {
            var changes: [Change] = [.put(field: "name", value: .string("Person \(index)")), .add(field: "developmentGoals", element: "swift")]
            if index % 2 == 0 {
                changes += [.put(field: "title", value: "Engineer"), .add(field: "developmentGoals", element: "sql"),
                            .put(field: "openToMentoring", value: .bool(true)), .put(field: "squad", value: .string("squad-\(index % 7)")),
                            .remove(field: "developmentGoals", element: "swift")]
            } else {
                changes += [.put(field: "title", value: "Designer")]
            }
            try stockholm.write(collection: "people", record: "p\(index)", changes)
            clock.advance(by: 1)
        }
    }

    private func operations(_ replica: Replica) throws -> [Op] {
        try replica.log(after: 0, limit: 100_000).compactMap(\.operation)
    }

    /// Every logged operation's canonical text, in log order.
    private func logTexts(_ replica: Replica) throws -> [String] {
        try operations(replica).map { OperationCodec().canonicalText($0) }
    }

    /// Each record with the hash prefix `records` keeps for it.
    private func hashPrefixes(_ replica: Replica) throws -> [String: [UInt8]] {
        try replica.withDatabase { db in
            var prefixes: [String: [UInt8]] = [:]
            for row in try db.query("SELECT collection, record, hash_prefix FROM records") {
                prefixes[row.text(0)! + "/" + row.text(1)!] = row.blob(2)
            }
            return prefixes
        }
    }

    /// Names the first operation that differs, not the thousands that agree.
    private func assertSameLog(_ a: [String], _ b: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.count, b.count, "logged operations", file: file, line: line)
        if let index = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) {
            XCTFail("operation \(index) differs: \(a[index]) against \(b[index])", file: file, line: line)
        }
    }

    func test_aMergeOfSeveralChunks_leavesWhatMergingInChunksEncodedAsTheyMergeLeaves() throws {
        let all = try operations(stockholm)
        XCTAssertGreaterThan(all.count, (EncodingAhead<Op>.chunksAhead + 2) * EncodingAhead<Op>.chunk,
                             "the merge spans more chunks than the first and those prepared ahead at once")
        let ahead = try ReplicaFactory.memory(name: "ahead", clock: clock, seed: 22)
        XCTAssertEqual(try ahead.applyRemote(all).applied, all.count)

        // No call longer than a chunk: every operation encoded on the merging thread.
        let asItMerges = try ReplicaFactory.memory(name: "as-it-merges", clock: clock, seed: 33)
        for start in stride(from: 0, to: all.count, by: EncodingAhead<Op>.chunk) {
            try asItMerges.applyRemote(Array(all[start..<min(start + EncodingAhead<Op>.chunk, all.count)]))
        }

        try assertSameLog(try logTexts(ahead), try logTexts(asItMerges))
        try assertSameLog(try logTexts(ahead), all.map { OperationCodec().canonicalText($0) })
        XCTAssertEqual(try ahead.digest(), try asItMerges.digest())
        XCTAssertEqual(try ahead.digest(), try stockholm.digest())
        XCTAssertEqual(try ahead.invariantViolations(), [])
    }

    func test_recordsCreatedFromOperationsEncodedAhead_keepTheirOwnHash_andCanBeErased() throws {
        let ahead = try ReplicaFactory.memory(name: "ahead", clock: clock, seed: 22)
        try ahead.applyRemote(try operations(stockholm))
        let prefixes = try hashPrefixes(ahead)
        XCTAssertEqual(prefixes.count, EncodingAheadTests.people)
        for (name, prefix) in prefixes {
            let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
            XCTAssertEqual(prefix, Replica.hashPrefix(Op.recordHash(collection: parts[0], record: parts[1])), name)
        }

        // The last records were created from the last chunk, encoded ahead.
        let before = try stockholm.log(after: 0, limit: 100_000).last!.sequence
        try stockholm.write(collection: "people", record: "p1199", [.erase])
        try stockholm.write(collection: "people", record: "p1198", [.erase])
        try ahead.applyRemote(try stockholm.log(after: before, limit: 10).compactMap(\.operation))
        XCTAssertNil(try ahead.get(collection: "people", record: "p1199"))
        XCTAssertNil(try ahead.get(collection: "people", record: "p1198"))
        XCTAssertNotNil(try ahead.get(collection: "people", record: "p1197"))
        XCTAssertEqual(try ahead.digest(), try stockholm.digest())
    }

    func test_operationsThatCamePrepared_areNotPreparedAgain() throws {
        let all = try operations(stockholm)
        let prepared = PreparedOperation.prepare(all)
        // The first of each record's run carries its record's hash; the rest none.
        XCTAssertEqual(prepared.filter { $0.recordHash != nil }.count, EncodingAheadTests.people)
        XCTAssertEqual(prepared.first?.recordHash, Op.recordHash(collection: "people", record: "p0"))
        let merged = try ReplicaFactory.memory(name: "prepared", clock: clock, seed: 44)
        try merged.applyRemote(prepared)
        XCTAssertEqual(try merged.digest(), try stockholm.digest())
        XCTAssertFalse(PreparedOperation.isEncodedWhenMerged)
        XCTAssertTrue(Op.isEncodedWhenMerged)
    }
}
