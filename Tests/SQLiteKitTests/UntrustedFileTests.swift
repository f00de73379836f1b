import XCTest
import Foundation
import SQLiteKit

/// A database file from elsewhere (a sync snapshot) opened with `Options.isUntrusted`: what it
/// defines cannot run, and its damage is found before it is read.
final class UntrustedFileTests: FolderTestCase {
    override var folderPrefix: String { "sqlitekit-untrusted" }

    func untrusted(_ path: String) throws -> Database {
        var options = Database.Options()
        options.isUntrusted = true
        options.journalModeWAL = false
        return try Database(path: path, options: options)
    }

    /// A new file with a rollback journal: settings in its header (auto-vacuum) come before any
    /// write-ahead log's, and its bytes are all in the file once it is closed, ready to tamper with.
    func rollbackJournal(_ path: String) throws -> Database {
        var options = Database.Options()
        options.journalModeWAL = false
        return try Database(path: path, options: options)
    }

    func test_untrustedFile_runsNoTriggerAndNoView_andIsNeverCreated() throws {
        let path = folder + "/crafted.sqlite"
        try Database(path: path).execute("""
            CREATE TABLE t(x); CREATE TABLE log(x);
            CREATE TRIGGER t_insert AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('trigger ran'); END;
            CREATE VIEW v AS SELECT 1;
            """)
        let db = try untrusted(path)
        try db.execute("INSERT INTO t VALUES (1)")
        XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM log"), 0, "the file's trigger did not run")
        XCTAssertThrowsError(try db.query("SELECT * FROM v"), "its view cannot be read")
        XCTAssertThrowsError(try db.execute("PRAGMA writable_schema=ON; DELETE FROM sqlite_schema"), "defensive: the schema is not writable")
        XCTAssertThrowsError(try untrusted(folder + "/missing.sqlite"), "never created")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/missing.sqlite"))
    }

    func test_quickCheck_findsDamage_thatOpeningDoesNot() throws {
        let path = folder + "/damaged.sqlite"
        do {
            let db = try rollbackJournal(path)
            try db.execute("CREATE TABLE t(x TEXT); CREATE INDEX t_x ON t(x);")
            try db.transaction { for index in 0..<2_000 { try db.run("INSERT INTO t VALUES (?)", "row \(index) " + String(repeating: "x", count: 40)) } }
            XCTAssertEqual(try db.quickCheck(), [])
        }
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        for page in stride(from: 3, to: bytes.count / 4096, by: 5) {   // interior bytes of some pages, not page 1
            for offset in 0..<12 { bytes[page * 4096 + offset] = 0xFF }
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        let db = try untrusted(path)
        // Found either way: listed as problems, or so bad that the check itself stops (SQLITE_CORRUPT).
        let found: Bool
        do { found = try !db.quickCheck().isEmpty } catch { found = "\(error)".contains("malformed") }
        XCTAssertTrue(found, "the damage is found")
    }

    /// A page no table, index or freelist holds is found whatever the schema: SQLite's own
    /// `integrity_check` skips its page accounting when a view heads its list of roots.
    func test_integrityCheck_findsAPageNothingHolds_evenWhenSQLiteSkipsItsOwnAccounting() throws {
        var sqliteMissedOne = false
        for views in 0...4 {
            let path = folder + "/orphan-\(views).sqlite"
            do {
                let db = try rollbackJournal(path)
                try db.execute("CREATE TABLE t(a); INSERT INTO t VALUES (1);")
                for view in 0..<views { try db.execute("CREATE VIEW v\(view)x AS SELECT a FROM t") }
                XCTAssertEqual(try db.integrityCheck(), [], "\(views) views: sound before")
                XCTAssertEqual(try db.unaccountedPages(), 0)
            }
            // One page appended, and the header's page count raised to take it in.
            var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
            let pages = bytes[28..<32].reduce(0) { $0 << 8 | Int($1) }
            bytes.append(0x0D)
            bytes.append(contentsOf: [UInt8](repeating: 0, count: 4095))
            for index in 0..<4 { bytes[28 + index] = UInt8(truncatingIfNeeded: (pages + 1) >> (24 - 8 * index)) }
            try bytes.write(to: URL(fileURLWithPath: path))

            let db = try untrusted(path)
            let sqliteSays = try db.query("PRAGMA integrity_check").compactMap { $0.text(0) }
            if sqliteSays == ["ok"] { sqliteMissedOne = true }
            XCTAssertEqual(try db.unaccountedPages(), 1, "\(views) views")
            let problems = try db.integrityCheck()
            XCTAssertEqual(problems.count, 1, "\(views) views: \(problems)")
            XCTAssertTrue(problems.first?.contains("never used") == true || problems.first?.contains("in no table") == true, "\(problems)")
        }
        // What this test is for; on a SQLite that never skips, the check above still holds.
        if !sqliteMissedOne { print("note: this SQLite found the appended page itself whatever the schema") }
    }

    /// Where `dbstat` cannot count every page, the count says so (nil) rather than a number: with
    /// auto-vacuum (its pointer-map pages are in no b-tree), or a table of that name in the way.
    func test_unaccountedPages_isNil_whereDbstatCannotCountEveryPage() throws {
        let vacuumed = try rollbackJournal(folder + "/auto-vacuum.sqlite")
        try vacuumed.execute("PRAGMA auto_vacuum=FULL; CREATE TABLE t(a); INSERT INTO t VALUES (1);")
        XCTAssertEqual(try vacuumed.queryScalarInteger("PRAGMA auto_vacuum"), 1)
        XCTAssertNil(try vacuumed.unaccountedPages())
        XCTAssertEqual(try vacuumed.integrityCheck(), [], "no false damage")
        let shadowed = try Database(path: folder + "/shadowed.sqlite")
        try shadowed.execute("CREATE TABLE dbstat(x); INSERT INTO dbstat VALUES (1), (2), (3);")
        XCTAssertNil(try shadowed.unaccountedPages())
        XCTAssertEqual(try shadowed.integrityCheck(), [])
        let plain = try Database(path: folder + "/plain.sqlite")
        try plain.execute("CREATE TABLE t(a); INSERT INTO t SELECT zeroblob(5000) FROM (SELECT 1 UNION SELECT 2); DELETE FROM t WHERE rowid = 1;")
        XCTAssertEqual(try plain.unaccountedPages(), 0, "overflow pages and the freelist counted")
    }

    func test_schemaRows_listEveryObject_inNameOrder() throws {
        let db = try Database(path: folder + "/s.sqlite")
        try db.execute("CREATE TABLE b(x); CREATE TABLE a(y); CREATE INDEX a_y ON a(y);")
        XCTAssertEqual(try db.schemaRows().map { $0[1] ?? "" }, ["a", "a_y", "b"])
        XCTAssertEqual(try db.schemaRows().first?[3], "CREATE TABLE a(y)")
    }
}
