import XCTest
import ChorusCore
@testable import ChorusReplica
import SQLiteKit

/// The check that typed columns hold only what JSON could have given (`EntryRows.unreadableSQL`),
/// asked of a row by as many calls of a function in C as its columns need: a blob or an infinity
/// in any column is found, the first as the last, however many columns there are.
final class UnreadableColumnsTests: XCTestCase {
    func test_everyColumn_isAsked_inCallsOfAtMostTheArgumentLimit() throws {
        for count in [0, 1, Database.argumentsPerCallMax - 1, Database.argumentsPerCallMax, Database.argumentsPerCallMax + 1, 2 * Database.argumentsPerCallMax + 3] {
            let names = (0..<count).map { "c\($0)" }
            let sql = EntryRows.unreadableSQL(names, of: "t")
            let calls = sql.components(separatedBy: " OR ")
            XCTAssertEqual(calls.count, max(1, (count + Database.argumentsPerCallMax - 1) / Database.argumentsPerCallMax), "\(count) columns")
            XCTAssertEqual(calls.map { $0.components(separatedBy: "t.\"").count - 1 }.reduce(0, +), count, "\(count) columns: each asked once")
            guard count > 0 else { XCTAssertEqual(sql, "0"); continue }

            let db = try Database(path: ":memory:")
            try Replica.registerFunctions(on: db)
            // No declared type: a TEXT column would turn an infinity into the text 'Inf'.
            try db.execute("CREATE TABLE t(\(names.map { "\"\($0)\"" }.joined(separator: ", ")))")
            let readable = names.map { _ in "'a'" }
            try db.execute("INSERT INTO t VALUES (\(readable.joined(separator: ", ")))")
            for (place, bad) in [(0, "x'00'"), (count - 1, "x''"), (count / 2, "9e999"), (count - 1, "-9e999")] {
                var values = readable
                values[place] = bad
                try db.execute("INSERT INTO t VALUES (\(values.joined(separator: ", ")))")
            }
            XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM t WHERE \(sql)"), 4, "\(count) columns: every unreadable row, whichever column")
        }
    }
}
