import XCTest
import SQLiteKit

/// Table-valued functions written in Swift, read by SQL as rows, in joins and views.
final class TableFunctionTests: XCTestCase {
    struct Refused: Error, CustomStringConvertible { var description: String { "not a list" } }

    /// Splits "a,b,c" into rows (part, position); refuses anything but text.
    let split = TableFunction(name: "split", columns: ["part", "position"]) { argument in
        guard case .text(let text) = argument else { throw Refused() }
        return text.split(separator: ",").enumerated().map { [.text(String($0.element)), .integer(Int64($0.offset))] }
    }

    func test_rowsOfEachArgument_joinFilterAndServeAView() throws {
        let db = try Database(path: ":memory:")
        try db.register(split)
        try db.execute("""
            CREATE TABLE lists(id INTEGER PRIMARY KEY, parts TEXT);
            INSERT INTO lists VALUES (1, 'a,b,c'), (2, 'd'), (3, '');
            CREATE VIEW parts AS SELECT l.id, s.part, s.position FROM lists l, split(l.parts) s;
            """)
        let rows = try db.query("SELECT id, part, position FROM parts ORDER BY id, position").map { "\($0.integer(0)!):\($0.text(1)!):\($0.integer(2)!)" }
        XCTAssertEqual(rows, ["1:a:0", "1:b:1", "1:c:2", "2:d:0"])
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM parts WHERE id = 1"), 3, "a filter on the view reaches one list")
        XCTAssertEqual(try db.queryScalarText("SELECT group_concat(part, '') FROM split('x,y')"), "xy", "called directly")
    }

    func test_aThrowingFunction_failsTheStatementWithItsMessage_andTheConnectionGoesOn() throws {
        let db = try Database(path: ":memory:")
        try db.register(split)
        XCTAssertThrowsError(try db.query("SELECT * FROM split(42)")) { error in
            XCTAssertTrue("\(error)".contains("split: not a list"), "\(error)")
        }
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM split('p,q')"), 2)
    }

    func test_anUnregisteredConnection_doesNotKnowTheFunction() throws {
        let db = try Database(path: ":memory:")
        XCTAssertThrowsError(try db.query("SELECT * FROM split('a')"))
    }
}
