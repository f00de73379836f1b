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

    /// A second argument SQL may leave out (NULL to the closure), and a closure that reads the same
    /// connection within the statement that calls it.
    func test_aSecondArgument_isOptional_andTheClosureMayQueryItsOwnConnection() throws {
        final class Weak: @unchecked Sendable { weak var db: Database? }
        let connection = Weak()
        let labelled = TableFunction(name: "labelled", columns: ["part", "label"], argumentsMax: 2) { arguments in
            guard case .text(let text) = arguments[0] else { throw Refused() }
            return try text.split(separator: ",").map { part -> [SQLiteValue] in
                guard case .integer(let owner) = arguments[1] else { return [.text(String(part)), .null] }
                let label = try connection.db?.queryScalarText("SELECT label FROM labels WHERE owner = ? AND part = ?", owner, String(part))
                return [.text(String(part)), label.map { .text($0) } ?? .null]
            }
        }
        let db = try Database(path: ":memory:")
        connection.db = db
        try db.register(labelled)
        try db.execute("""
            CREATE TABLE lists(id INTEGER PRIMARY KEY, parts TEXT);
            CREATE TABLE labels(owner INTEGER, part TEXT, label TEXT);
            INSERT INTO lists VALUES (1, 'a,b'), (2, 'a');
            INSERT INTO labels VALUES (1, 'a', 'one-a'), (2, 'a', 'two-a');
            CREATE VIEW both_arguments AS SELECT l.id, x.part, x.label FROM lists l, labelled(l.parts, l.id) x;
            CREATE VIEW first_only AS SELECT l.id, x.part, x.label FROM lists l, labelled(l.parts) x;
            """)
        func rows(_ view: String) throws -> [String] {
            try db.query("SELECT id, part, label FROM \(view) ORDER BY id, part").map { "\($0.integer(0)!):\($0.text(1)!):\($0.text(2) ?? "-")" }
        }
        XCTAssertEqual(try rows("both_arguments"), ["1:a:one-a", "1:b:-", "2:a:two-a"])
        XCTAssertEqual(try rows("first_only"), ["1:a:-", "1:b:-", "2:a:-"])
        XCTAssertEqual(try db.queryScalarText("SELECT label FROM both_arguments WHERE id = 2"), "two-a", "a filter on the view")
        // A second constraint on an argument is tested by SQLite against the argument itself.
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM labelled('a,b', 1) x WHERE x.argument0 = 'a,b' AND x.argument1 = 1"), 2)
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM labelled('a,b', 1) x WHERE x.argument1 = 2"), 0)
    }
}
