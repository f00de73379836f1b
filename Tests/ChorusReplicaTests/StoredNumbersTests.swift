import XCTest
import SQLiteKit
@testable import ChorusReplica

/// Numbers of names in a table of their own (`StoredNumbers`): whatever order names are asked
/// for in (the one before, the one met after it, any other), each gets the number its row has.
final class StoredNumbersTests: XCTestCase {
    var database: Database!

    override func setUpWithError() throws {
        database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE fields(no INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        try database.execute("INSERT INTO fields(no, name) VALUES (7, 'title'), (3, 'name'), (12, 'office')")
    }

    private func stored(_ name: String) throws -> Int64? {
        try database.queryScalarInteger("SELECT no FROM fields WHERE name = ?", name)
    }

    func test_names_inChangingOrders_getTheirRowsNumbers() throws {
        var numbers = StoredNumbers.fields()
        let orders = [["name", "title", "office"], ["name", "title", "office"], ["office", "name", "title"],
                      ["title", "title", "name", "squad", "office", "name"], ["squad", "office", "name", "title"]]
        for order in orders {
            for name in order {
                let no = try numbers.number(of: ExactName(name), in: database, create: true)
                XCTAssertEqual(no, try stored(name), name)
                XCTAssertEqual(try numbers.name(no!, in: database), ExactName(name))
            }
        }
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM fields"), 4, "squad made once")
    }

    func test_aNameWithoutARow_hasNoNumber_unlessMade() throws {
        var numbers = StoredNumbers.fields()
        XCTAssertEqual(try numbers.number(of: ExactName("title"), in: database, create: false), 7)
        XCTAssertNil(try numbers.number(of: ExactName("guild"), in: database, create: false))
        XCTAssertEqual(try numbers.number(of: ExactName("name"), in: database, create: false), 3)
        XCTAssertNil(try numbers.number(of: ExactName("guild"), in: database, create: false))
    }

    func test_canonicallyEquivalentNames_areTwoNames() throws {
        var numbers = StoredNumbers.fields()
        let composed = try numbers.number(of: ExactName("caf\u{E9}"), in: database, create: true)
        let decomposed = try numbers.number(of: ExactName("cafe\u{301}"), in: database, create: true)
        XCTAssertNotEqual(composed, decomposed)
        XCTAssertEqual(try numbers.number(of: ExactName("caf\u{E9}"), in: database, create: true), composed)
        XCTAssertEqual(try numbers.number(of: ExactName("cafe\u{301}"), in: database, create: true), decomposed)
    }
}
