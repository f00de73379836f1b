import XCTest
import ChorusCore
import ChorusTesting
@testable import ChorusReplica
import SQLiteKit

/// An erasure truncates the write-ahead log, so the erased bytes leave the files; a reader that
/// holds the log (a backup tool, a `sqlite3` shell left open) keeps it from that, and later
/// batches try again without waiting for the reader: each waited the whole busy timeout (5 s)
/// on the executor, every request behind it.
final class HeldLogTests: XCTestCase {
    func test_aLogHeldByAReader_isTriedAgainByLaterWrites_withoutWaitingForIt() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 6)
        let replica = try Replica.create(at: .directory(folder.path), name: "office", using: &rng)
        _ = try replica.write(collection: "people", record: "p-1", [.put(field: "name", value: "Ada")])
        let reader = try Database(path: folder.appending(Replica.databaseFileName))
        try reader.execute("BEGIN")
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM records"), 1)
        _ = try replica.write(collection: "people", record: "p-1", [.erase])
        XCTAssertTrue(replica.needsCheckpoint, "the reader held the log back")
        for index in 2...4 {
            let started = Date()
            _ = try replica.write(collection: "people", record: "p-\(index)", [.put(field: "name", value: "Bo")])
            XCTAssertLessThan(Date().timeIntervalSince(started), 2.5, "a write waited for the reader (the busy timeout is 5 s)")
        }
        try reader.execute("COMMIT")
        _ = try replica.write(collection: "people", record: "p-5", [.put(field: "name", value: "Cy")])
        XCTAssertFalse(replica.needsCheckpoint, "tried again once the reader was gone: the log truncated")
    }
}
