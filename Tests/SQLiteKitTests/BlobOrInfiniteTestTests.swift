import XCTest
import SQLiteKit

/// `Database.registerBlobOrInfiniteTest`: a value no JSON could have given (a blob, an infinity)
/// among any of the arguments is found, and nothing else is taken for one.
final class BlobOrInfiniteTestTests: XCTestCase {
    func database() throws -> Database {
        let database = try Database(path: ":memory:")
        try database.registerBlobOrInfiniteTest(named: "bad")
        return database
    }

    func test_findsBlobsAndInfinities_inAnyArgument_andNothingElse() throws {
        let db = try database()
        let readable = ["NULL", "0", "-7", "9223372036854775807", "1.5", "-1.7976931348623157e308", "1.7976931348623157e308", "''", "'Inf'", "'x'"]
        let unreadable = ["x''", "x'00ff'", "9e999", "-9e999"]
        for value in readable {
            XCTAssertEqual(try db.queryScalarInteger("SELECT bad(\(value))"), 0, value)
            XCTAssertEqual(try db.queryScalarInteger("SELECT bad(1, \(value), 'a', NULL)"), 0, value)
        }
        for value in unreadable {
            XCTAssertEqual(try db.queryScalarInteger("SELECT bad(\(value))"), 1, value)
            let many = (0..<(Database.argumentsPerCallMax - 1)).map { _ in "'a'" } + [value]
            XCTAssertEqual(try db.queryScalarInteger("SELECT bad(\(many.joined(separator: ", ")))"), 1, "\(value), last of \(many.count)")
        }
        XCTAssertEqual(try db.queryScalarInteger("SELECT bad()"), 0, "no argument, nothing unreadable")
    }

    func test_readsTableValuesAsStored_andCannotBeCalledFromASchema() throws {
        let db = try database()
        try db.execute("""
            CREATE TABLE t(a TEXT, b INTEGER, c);
            INSERT INTO t VALUES ('1', 2, 3.0), ('x', 9e999, NULL), (x'01', 1, 'y');
            """)
        XCTAssertEqual(try db.query("SELECT bad(a, b, c) FROM t ORDER BY rowid").map { $0.integer(0) }, [0, 1, 1],
                       "an infinity stays a real in an INTEGER column, a blob a blob in a TEXT one")
        try db.execute("CREATE VIEW v AS SELECT bad(a) AS flag FROM t")
        XCTAssertThrowsError(try db.query("SELECT * FROM v"), "direct calls only: a schema's view cannot use it")
    }
}
