import XCTest
import Foundation
import SQLiteKit

final class DatabaseTests: FolderTestCase {
    func test_open_setsEveryPragmaExplicitly() throws {
        let db = try Database(path: folder + "/a.sqlite")
        XCTAssertEqual(try db.queryScalarText("PRAGMA journal_mode"), "wal")
        XCTAssertEqual(try db.queryScalarInteger("PRAGMA synchronous"), 2, "FULL")
        XCTAssertEqual(try db.queryScalarInteger("PRAGMA secure_delete"), 1)
        XCTAssertEqual(try db.queryScalarInteger("PRAGMA busy_timeout"), 5000)
    }

    func test_cacheKibibytes_setsThePageCache_andNilKeepsSQLitesDefault() throws {
        XCTAssertEqual(try Database(path: folder + "/a.sqlite").queryScalarInteger("PRAGMA cache_size"), -2000)
        var options = Database.Options()
        options.cacheKibibytes = 32_768
        XCTAssertEqual(try Database(path: folder + "/a.sqlite", options: options).queryScalarInteger("PRAGMA cache_size"), -32_768)
        options.isReadOnly = true
        options.isUntrusted = true
        XCTAssertEqual(try Database(path: folder + "/a.sqlite", options: options).queryScalarInteger("PRAGMA cache_size"), -32_768, "read-only and hardened too")
    }

    func test_runRows_insertsEveryRowInOrder_inWholeStatementsThenOneByOne() throws {
        let db = try Database(path: folder + "/a.sqlite")
        try db.execute("CREATE TABLE t(n INTEGER PRIMARY KEY, label TEXT NOT NULL)")
        let values = "(?, ?)"
        for count in [0, 1, 31, 32, 33, 70] {
            try db.execute("DELETE FROM t")
            let rows = (0..<count).map { (n: Int64($0), label: "row \($0)") }
            try db.run(rows: rows, perStatement: 32, manySQL: "INSERT INTO t(n, label) VALUES " + Array(repeating: values, count: 32).joined(separator: ", "),
                       oneSQL: "INSERT INTO t(n, label) VALUES " + values, parametersPerRow: 2) { writer, row in
                writer.integer(row.n)
                writer.text(row.label)
            }
            let stored = try db.query("SELECT n, label FROM t ORDER BY n").map { "\($0.integer(0)!) \($0.text(1)!)" }
            XCTAssertEqual(stored, rows.map { "\($0.n) \($0.label)" }, "\(count) rows")
        }
    }

    func test_transaction_commitsOnReturn_rollsBackOnThrow() throws {
        let db = try Database(path: folder + "/a.sqlite")
        try db.execute("CREATE TABLE t(x INTEGER)")
        try db.transaction { try db.run("INSERT INTO t VALUES (?)", 1) }
        struct Boom: Error {}
        XCTAssertThrowsError(try db.transaction {
            try db.run("INSERT INTO t VALUES (?)", 2)
            throw Boom()
        })
        XCTAssertEqual(try db.queryScalarInteger("SELECT sum(x) FROM t"), 1)
        XCTAssertFalse(db.isInTransaction)
    }

    func test_nestedTransaction_isASavepoint() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE t(x INTEGER)")
        struct Boom: Error {}
        try db.transaction {
            try db.run("INSERT INTO t VALUES (1)")
            try? db.transaction {
                try db.run("INSERT INTO t VALUES (2)")
                throw Boom()
            }
            try db.run("INSERT INTO t VALUES (3)")
        }
        XCTAssertEqual(try db.query("SELECT x FROM t ORDER BY x").map { $0.integer(0) }, [1, 3])
    }

    func test_migrations_runOnceInOrder_andAreRecorded() throws {
        let path = folder + "/m.sqlite"
        var migrator = Migrator()
        migrator.register("0001_a") { try $0.execute("CREATE TABLE a(x)") }
        migrator.register("0002_b") { try $0.execute("CREATE TABLE b(x)") }
        XCTAssertEqual(try migrator.migrate(try Database(path: path)), ["0001_a", "0002_b"])
        XCTAssertEqual(try migrator.migrate(try Database(path: path)), [])
        XCTAssertEqual(try Migrator.appliedMigrations(try Database(path: path)), ["0001_a", "0002_b"])
    }

    func test_failedMigration_leavesNothingBehind() throws {
        let db = try Database(path: ":memory:")
        var migrator = Migrator()
        migrator.register("0001_broken") { db in
            try db.execute("CREATE TABLE half(x)")
            try db.execute("THIS IS NOT SQL")
        }
        XCTAssertThrowsError(try migrator.migrate(db))
        XCTAssertNil(try db.queryScalarInteger("SELECT 1 FROM sqlite_master WHERE name = 'half'"))
        XCTAssertEqual(try Migrator.appliedMigrations(db), [])
    }

    func test_databaseFromANewerVersion_isRefused() throws {
        let db = try Database(path: ":memory:")
        var newer = Migrator()
        newer.register("0001_a") { _ in }
        newer.register("0002_future") { _ in }
        try newer.migrate(db)
        var older = Migrator()
        older.register("0001_a") { _ in }
        XCTAssertThrowsError(try older.migrate(db)) { XCTAssertEqual($0 as? MigrationError, .unknownMigration("0002_future")) }
    }

    func test_corruptFile_givesACorruptionError() throws {
        let path = folder + "/junk.sqlite"
        _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 8192))
        XCTAssertThrowsError(try Database(path: path)) { error in
            XCTAssertTrue((error as? SQLiteError)?.isCorruption ?? false, "\(error)")
        }
    }

    /// A full disk (here a page limit, which SQLite answers as it does a full disk) is an error
    /// to retry once space is freed, with a hint that says so; a directory where the database
    /// should be says what to check.
    func test_aFullDisk_isRetryableLater_andAnIOErrorSaysWhatToCheck() throws {
        let db = try Database(path: folder + "/full.sqlite")
        try db.execute("CREATE TABLE t(x); PRAGMA max_page_count = 8")
        var full: SQLiteError?
        for _ in 0..<100 where full == nil {
            do { try db.run("INSERT INTO t VALUES (?)", String(repeating: "x", count: 2000)) } catch let error as SQLiteError { full = error }
        }
        let error = try XCTUnwrap(full, "the page limit was never reached")
        XCTAssertTrue(error.isDiskFull, "\(error)")
        XCTAssertFalse(error.isRetryable, "not a lock: retrying at once does not help")
        XCTAssertEqual(error.hint, "the disk is full; free space and retry")
        XCTAssertTrue(SQLiteError(code: 10, message: "disk I/O error").hint.contains("chorus.sqlite is a plain file"))
    }

    func test_valuesRoundTrip_throughEveryStorageClass() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE v(a, b, c, d, e)")
        try db.run("INSERT INTO v VALUES (?, ?, ?, ?, ?)", SQLiteValue.null, 42, 2.5, "text ✓", [UInt8]([0, 1, 255]))
        let row = try XCTUnwrap(try db.queryRow("SELECT a, b, c, d, e FROM v"))
        XCTAssertEqual(row.values, [.null, .integer(42), .real(2.5), .text("text ✓"), .blob([0, 1, 255])])
    }

    /// Texts and blobs are bound from memory the statement reuses: empty values stay empty (not
    /// NULL), a value larger than any before grows that memory, and each execution sees its own values.
    /// Both ways of binding (an array of values, and the `ParameterWriter` of hot statements) hold to it.
    func test_boundTextsAndBlobs_emptyLargeAndReused_arriveIntact() throws {
        let large = String(repeating: "é", count: 40_000)
        let largeBlob = [UInt8](repeating: 7, count: 70_000)
        // A short text fits the small arena, then the blob does not: it grows between parameters.
        let otherBlob = [UInt8]((0..<70_000).map { UInt8($0 % 251) })
        let binders: [(String, (Database, Int64, String, [UInt8]) throws -> Void)] = [
            ("array", { db, n, t, b in try db.run("INSERT INTO v VALUES (?, ?, ?)", n, t, b) }),
            ("writer", { db, n, t, b in
                try db.run("INSERT INTO v VALUES (?, ?, ?)", count: 3) { row in
                    row.integer(n)
                    row.text(t)
                    row.blob(b)
                }
            }),
            ("writer, text as bytes and values", { db, n, t, b in
                try db.run("INSERT INTO v VALUES (?, ?, ?)", count: 3) { row in
                    row.value(.integer(n))
                    row.text(utf8: Array(t.utf8))
                    row.value(.blob(b))
                }
            }),
        ]
        for (form, insert) in binders {
            let db = try Database(path: ":memory:")
            try db.execute("CREATE TABLE v(n INTEGER, t TEXT, b BLOB)")
            try insert(db, 0, "", [])
            try insert(db, 1, "short", [1, 2])
            try insert(db, 2, large, largeBlob)
            try insert(db, 3, "after ✓", [9])  // the grown arena is given back here
            try insert(db, 4, "tiny ✓", otherBlob)
            let rows = try db.query("SELECT t, b, t IS NULL, b IS NULL FROM v ORDER BY n")
            XCTAssertEqual(rows.map { $0[0] }, [.text(""), .text("short"), .text(large), .text("after ✓"), .text("tiny ✓")], form)
            XCTAssertEqual(rows.map { $0[1] }, [.blob([]), .blob([1, 2]), .blob(largeBlob), .blob([9]), .blob(otherBlob)], form)
            XCTAssertEqual(rows.map { $0.integer(2) }, [0, 0, 0, 0, 0], "an empty text is not NULL (\(form))")
            XCTAssertEqual(rows.map { $0.integer(3) }, [0, 0, 0, 0, 0], "an empty blob is not NULL (\(form))")
        }
    }

    func test_parameterWriter_bindsNullsAndReals_andReportsSQLiteErrors() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE v(n INTEGER UNIQUE, t TEXT, r REAL)")
        try db.run("INSERT INTO v VALUES (?, ?, ?)", count: 3) { row in
            row.integer(Int64?.none)
            row.text(String?.none)
            row.value(.real(2.5))
        }
        try db.run("INSERT INTO v VALUES (?, ?, ?)", count: 3) { row in
            row.integer(Int64?.some(1))
            row.text(utf8: nil)
            row.value(.null)
        }
        let rows = try db.query("SELECT n, t, r FROM v ORDER BY rowid")
        XCTAssertEqual(rows.map(\.values), [[.null, .null, .real(2.5)], [.integer(1), .null, .null]])
        XCTAssertThrowsError(try db.run("INSERT INTO v VALUES (?, ?, ?)", count: 3) { row in
            row.integer(1)
            row.text("duplicate")
            row.null()
        }) { error in
            XCTAssertTrue("\(error)".contains("UNIQUE"), "\(error)")
        }
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM v"), 2, "the failed insert changed nothing")
    }

    func test_columnReader_readsInPlace_nullsAsNil_andComparesText() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE v(n INTEGER, t TEXT, b BLOB); INSERT INTO v VALUES (7, 'ünï', x'0102'), (NULL, NULL, NULL), (0, '', x'')")
        var seen: [String] = []
        try db.forEachColumns("SELECT n, t, b FROM v ORDER BY rowid") { row in
            seen.append("\(row.isNull(0) ? "null" : String(row.integer(0))) \(row.text(1) ?? "nil") \(row.blob(2).map { "\($0)" } ?? "nil") "
                        + "\(row.textEquals(1, "ünï")) \(row.textEquals(1, ""))")
        }
        XCTAssertEqual(seen, ["7 ünï [1, 2] true false", "null nil nil false false", "0  [] false true"])
    }

    /// `compareText` orders as SQLite's BINARY collation does, so a reader can walk rows in
    /// `ORDER BY` order beside its own sorted names (the merge's whole-record read relies on it).
    func test_compareText_ordersAsOrderByDoes() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE v(t TEXT)")
        let texts = ["", "a", "ab", "abc", "b", "B", "é", "e\u{301}", "e", "ü", "zz", "z", "日本", "🙂", "a b"]
        for text in texts { try db.run("INSERT INTO v VALUES (?)", text) }
        let sorted = try db.query("SELECT t FROM v ORDER BY t").map { $0.text(0)! }
        var position = 0
        try db.forEachColumns("SELECT t FROM v ORDER BY t") { row in
            for (other, text) in sorted.enumerated() {
                let order = row.compareText(0, text)
                XCTAssertEqual(order.signum(), (position - other).signum(), "\(sorted[position]) against \(text)")
            }
            position += 1
        }
        XCTAssertEqual(position, texts.count)
        XCTAssertEqual(sorted.first, "", "the empty text first")
        XCTAssertTrue(sorted.firstIndex(of: "a")! < sorted.firstIndex(of: "ab")!, "a prefix before what extends it")
    }

    func test_contentVersion_movesOnEveryCommit_ofThisConnectionOrAnother_andNotOnReads() throws {
        let db = try Database(path: folder + "/a.sqlite")
        let other = try Database(path: folder + "/a.sqlite")
        try db.execute("CREATE TABLE t(x INTEGER)")
        try db.run("INSERT INTO t VALUES (1)")
        let start = try db.contentVersion()
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM t"), 1)
        XCTAssertEqual(try db.contentVersion(), start, "reading changes nothing")
        try db.run("UPDATE t SET x = 2")
        let afterOwn = try db.contentVersion()
        XCTAssertNotEqual(afterOwn, start, "this connection's commit")
        try other.run("INSERT INTO t VALUES (3)")
        XCTAssertNotEqual(try db.contentVersion(), afterOwn, "another connection's commit")
    }

    func test_readTransaction_seesOneSnapshot_whileAnotherConnectionCommits() throws {
        let db = try Database(path: folder + "/a.sqlite")
        let other = try Database(path: folder + "/a.sqlite")
        try db.execute("CREATE TABLE t(x INTEGER)")
        try db.run("INSERT INTO t VALUES (1)")
        let (before, after) = try db.readTransaction { () -> (Int64?, Int64?) in
            let before = try db.queryScalarInteger("SELECT count(*) FROM t")
            try other.run("INSERT INTO t VALUES (2)")
            return (before, try db.queryScalarInteger("SELECT count(*) FROM t"))
        }
        XCTAssertEqual(before, 1)
        XCTAssertEqual(after, 1, "the other commit is after this snapshot")
        XCTAssertFalse(db.isInTransaction)
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM t"), 2)
    }

    func test_checkpointTruncate_emptiesTheLog() throws {
        let path = folder + "/w.sqlite"
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(10000))")
        XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0, 0)
        XCTAssertTrue(try db.checkpointTruncate())
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int, 0)
    }

    /// `syncsEachCommit(false)` lets a write-ahead-logged FULL connection commit without syncing
    /// (NORMAL) until set back; a connection opened otherwise is left as it was opened.
    func test_syncsEachCommit_switchesAFullLoggedConnectionToNormalAndBack_andLeavesOthersAlone() throws {
        let db = try Database(path: folder + "/s.sqlite")
        try db.execute("CREATE TABLE t(x)")
        try db.syncsEachCommit(false)
        XCTAssertEqual(try db.queryScalarInteger("PRAGMA synchronous"), 1, "NORMAL")
        try db.transaction { try db.run("INSERT INTO t VALUES (1)") }
        try db.syncsEachCommit(true)
        XCTAssertEqual(try db.queryScalarInteger("PRAGMA synchronous"), 2, "FULL again")
        XCTAssertEqual(try Database(path: folder + "/s.sqlite").queryScalarInteger("SELECT count(*) FROM t"), 1, "the commit made at NORMAL is there")

        var off = Database.Options()
        off.synchronous = .off
        let simulation = try Database(path: folder + "/o.sqlite", options: off)
        try simulation.syncsEachCommit(true)
        XCTAssertEqual(try simulation.queryScalarInteger("PRAGMA synchronous"), 0, "OFF stays OFF")
        var rollback = Database.Options()
        rollback.journalModeWAL = false
        let notLogged = try Database(path: folder + "/r.sqlite", options: rollback)
        try notLogged.syncsEachCommit(false)
        XCTAssertEqual(try notLogged.queryScalarInteger("PRAGMA synchronous"), 2, "a rollback journal keeps FULL")
    }

    /// A sync of the log on another thread ends, whether the log file is there or not, and
    /// changes nothing the connection sees.
    func test_backgroundLogSync_endsWithOrWithoutALogFile() throws {
        let path = folder + "/l.sqlite"
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(10000))")
        let sync = BackgroundLogSync(databasePath: path)
        sync.wait()
        XCTAssertTrue(sync.isFinished)
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM t"), 1)
        let missing = BackgroundLogSync(databasePath: folder + "/none.sqlite")
        missing.wait()
        XCTAssertTrue(missing.isFinished)
    }

    /// `syncLog` syncs a logged connection's log file on the calling thread, and is nothing to
    /// do without one.
    func test_syncLog_syncsTheLogFile_andIsNothingWithoutOne() throws {
        let path = folder + "/y.sqlite"
        let db = try Database(path: path)
        try db.syncsEachCommit(false)
        try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-wal"))
        try db.syncLog()
        XCTAssertEqual(db.logSyncs, 1)
        XCTAssertTrue(try db.checkpointTruncate())
        try db.syncLog()
        XCTAssertEqual(db.logSyncs, 2, "an empty log synced too")
        var rollback = Database.Options()
        rollback.journalModeWAL = false
        let notLogged = try Database(path: folder + "/z.sqlite", options: rollback)
        try notLogged.syncLog()
        XCTAssertEqual(notLogged.logSyncs, 0, "no log to sync")
    }
}
