import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting
import SQLiteKit

/// `invariantViolations` (what `chorus check` runs) finds a materialised table that disagrees with
/// the merge state, whether the record's entries are in rows (written here) or folded (merged
/// from elsewhere, read through a table of the check's own since the crash sweep timed 18 s).
final class InvariantChecksTests: XCTestCase {
    var clock: ManualClock!
    var stockholm: Replica!
    var newYork: Replica!

    override func setUpWithError() throws {
        (clock, stockholm, newYork) = try ReplicaFactory.twoOffices()
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada"), .put(field: "title", value: "Lead"),
                                                                 .mapSet(field: "skills", key: "swift", value: 4), .mapSet(field: "skills", key: "sql", value: 2)])
        try newYork.applyRemote(try stockholm.log(limit: 100).compactMap(\.operation))
        XCTAssertEqual(try stockholm.invariantViolations(), [])
        XCTAssertEqual(try newYork.invariantViolations(), [])
        XCTAssertEqual(try newYork.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM folded_entries") }, 1, "merged: folded")
        XCTAssertEqual(try stockholm.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM folded_entries") }, 0, "written here: rows")
    }

    func test_aRegisterColumnChangedBehindTheMerge_isFound() throws {
        try stockholm.withDatabase { try $0.run("UPDATE people SET title = 'Boss' WHERE id = 'p1'") }
        XCTAssertEqual(try stockholm.invariantViolations(), ["people.title column disagrees with the displayed value (1)"])
    }

    func test_aMapValueChangedOrLost_isFound_inRowsAndFolded() throws {
        for replica in [stockholm!, newYork!] {
            try replica.withDatabase { try $0.run("UPDATE \"people__skills\" SET value = 5 WHERE id = 'p1' AND key = 'swift'") }
            XCTAssertEqual(try replica.invariantViolations(), ["people.skills map values that disagree with the displayed ones (1)"], replica.name)
            try replica.withDatabase { try $0.run("DELETE FROM \"people__skills\" WHERE id = 'p1'") }
            XCTAssertEqual(try replica.invariantViolations(), ["people.skills live map keys missing from their table (2)"], replica.name)
        }
    }

    /// The check's table is its own: gone after the check, and a second check reads afresh.
    func test_theChecksTable_isDroppedAfterward() throws {
        XCTAssertEqual(try newYork.invariantViolations(), [])
        XCTAssertNil(try newYork.withDatabase { try $0.queryScalarInteger("SELECT 1 FROM temp.sqlite_master WHERE name = 'check_entries'") })
    }
}
