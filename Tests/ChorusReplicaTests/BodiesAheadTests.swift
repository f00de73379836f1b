import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// A batch that changes `BodiesAhead.recordsMin` held records or more has their folded bodies
/// encoded by a thread of its own and the merging thread together (`BodiesAhead`): the bodies and
/// the state it leaves are exactly those a batch encoding each body on the merging thread leaves.
final class BodiesAheadTests: XCTestCase {
    var clock: ManualClock!
    var stockholm: Replica!
    var newYork: Replica!

    override func setUpWithError() throws {
        (clock, stockholm, newYork) = try ReplicaFactory.twoOffices()
    }

    private func operations(_ replica: Replica, after: Int64 = 0) throws -> [Op] {
        try replica.log(after: after, limit: 100_000).compactMap(\.operation)
    }

    /// Every folded body, by record name.
    private func bodies(_ replica: Replica) throws -> [String: [UInt8]] {
        try replica.withDatabase { db in
            var bodies: [String: [UInt8]] = [:]
            for row in try db.query("SELECT r.record, f.body FROM folded_entries f JOIN records r ON r.rid = f.rid") {
                bodies[row.text(0)!] = row.blob(1)
            }
            return bodies
        }
    }

    /// Names the records whose bodies differ, not the bodies.
    private func assertSameBodies(_ a: [String: [UInt8]], _ b: [String: [UInt8]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let differing = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
        XCTAssertEqual(differing, [], "\(what): the bodies of these records differ", file: file, line: line)
    }

    private func entryRows(_ replica: Replica) throws -> Int64 {
        try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM entry_rows") ?? -1 }
    }

    /// `count` people written by `writer`, each with registers, a map and a set; two of them
    /// (`pastBound`) given more set elements than a held record keeps (`HeldRecord.entriesMax`),
    /// so their entries go into rows, which the merging thread writes itself.
    private let pastBound: Set = [3, 100]

    private func writePeople(_ writer: Replica, count: Int, label: String) throws {
        for index in 0..<count {
            let changes: [Change] = [
                .put(field: "name", value: .string("\(label) \(index)")), .put(field: "title", value: .string("\(label) title")),
                .put(field: "openToMentoring", value: .bool(index % 2 == 0)), .add(field: "developmentGoals", element: "swift-\(label)"),
                .mapSet(field: "skills", key: "sql", value: .integer(Int64(index % 5 + 1))),
            ]
            try writer.write(collection: "people", record: "p\(index)", changes)
            if pastBound.contains(index) {
                let guilds: [Change] = (0...HeldRecord.entriesMax).map { .add(field: "guilds", element: "guild-\(label)-\($0)") }
                for start in stride(from: 0, to: guilds.count, by: 250) {
                    try writer.write(collection: "people", record: "p\(index)", Array(guilds[start..<min(start + 250, guilds.count)]))
                }
            }
            clock.advance(by: 1)
        }
    }

    /// Applies `operations` in calls that each change fewer held records than `BodiesAhead.recordsMin`.
    private func applyInShortCalls(_ operations: [Op], to replica: Replica) throws {
        var start = 0
        while start < operations.count {
            // The operations of fewer records than the minimum, records being written whole in turn.
            var records = Set<String>(), end = start
            while end < operations.count {
                records.insert(operations[end].record)
                if records.count == BodiesAhead.recordsMin { break }
                end += 1
            }
            try replica.applyRemote(Array(operations[start..<end]))
            start = end
        }
    }

    func test_bodiesEncodedAhead_areTheBodiesTheMergingThreadEncodes_forNewRecordsAndRecordsWithConcurrentEdits() throws {
        let people = 3 * BodiesAhead.recordsMin
        try writePeople(stockholm, count: people, label: "stockholm")
        let first = try operations(stockholm)
        try writePeople(newYork, count: people, label: "new-york")
        let concurrent = try operations(newYork)

        // New records, then the same records edited concurrently, held from their bodies.
        let ahead = try ReplicaFactory.memory(name: "ahead", clock: clock, seed: 33)
        try ahead.applyRemote(first)
        let aheadNew = try bodies(ahead)
        try ahead.applyRemote(concurrent)

        let onMergingThread = try ReplicaFactory.memory(name: "merging-thread", clock: clock, seed: 44)
        try applyInShortCalls(first, to: onMergingThread)
        assertSameBodies(aheadNew, try bodies(onMergingThread), "new records")
        try applyInShortCalls(concurrent, to: onMergingThread)

        let folded = try bodies(ahead)
        XCTAssertEqual(folded.count, people - pastBound.count, "every record but those past the bound is folded")
        assertSameBodies(folded, try bodies(onMergingThread), "after concurrent edits")
        XCTAssertEqual(try entryRows(ahead), try entryRows(onMergingThread), "records past the bound are in rows")
        XCTAssertGreaterThan(try entryRows(ahead), Int64(HeldRecord.entriesMax), "records past the bound are in rows")
        XCTAssertEqual(try ahead.digest(), try onMergingThread.digest())
        try stockholm.applyRemote(concurrent)
        XCTAssertEqual(try ahead.digest(), try stockholm.digest())
        XCTAssertEqual(try ahead.conflicts(), try onMergingThread.conflicts())
        XCTAssertEqual(try ahead.invariantViolations(), [])
    }
}
