import XCTest
import ChorusTesting
@testable import ChorusReplica

/// Files a client receives snapshots into: one no process holds is what a stopped download left,
/// removed at the next sync whatever its age (a node killed again and again during a large
/// bootstrap left one more each time, up to `snapshotBytesMax` each, for ten minutes); one a live
/// download holds stays.
final class IncomingSnapshotHoldTests: XCTestCase {
    func test_aFileNoProcessHolds_isRemovedAtOnce_andOneHeldStays() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let held = folder.appending(Replica.snapshotFilePrefix + "in-held.sqlite")
        let left = folder.appending(Replica.snapshotFilePrefix + "in-left.sqlite")
        let outgoing = folder.appending(Replica.snapshotFilePrefix + "out-young.sqlite")
        let hold = try IncomingSnapshotHold(held)
        for path in [left, left + "-wal", outgoing, held + "-wal"] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1]))) }
        XCTAssertTrue(IncomingSnapshotHold.isHeld(held))
        XCTAssertFalse(IncomingSnapshotHold.isHeld(left))

        Replica.removeAbandonedSnapshots(in: folder.path)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
        XCTAssertEqual(names, [Replica.snapshotFilePrefix + "in-held.sqlite", Replica.snapshotFilePrefix + "in-held.sqlite-wal",
                               Replica.snapshotFilePrefix + "out-young.sqlite"], "the left file and its log gone; the held one and a young outgoing copy kept")
        withExtendedLifetime(hold) {}
    }

    func test_aHoldEnds_withItsProcessOrItsObject() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.appending(Replica.snapshotFilePrefix + "in-x.sqlite")
        var hold: IncomingSnapshotHold? = try IncomingSnapshotHold(path)
        XCTAssertTrue(IncomingSnapshotHold.isHeld(path))
        hold = nil
        XCTAssertNil(hold)
        XCTAssertFalse(IncomingSnapshotHold.isHeld(path))
        Replica.removeIncomingSnapshots(in: folder.path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}
