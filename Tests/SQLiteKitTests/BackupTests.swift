import XCTest
import Foundation
@testable import SQLiteKit

/// `Database.replaceContents`: a database takes another's pages whole, in one transaction, with
/// its write lock held from before the first page to the commit, so what is read of it meanwhile
/// is what the copy replaces; and `BackgroundIntegrityCheck` reports what `integrity_check` does.
final class BackupTests: FolderTestCase {
    override var folderPrefix: String { "sqlitekit-backup" }

    func source(_ rows: [String]) throws -> Database {
        var options = Database.Options()
        options.journalModeWAL = false
        let source = try Database(path: folder + "/source.sqlite", options: options)
        try source.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        for name in rows { try source.run("INSERT INTO t(name) VALUES (?)", name) }
        return source
    }

    func test_replaceContents_takesTheSourceWhole_andStaysWriteAheadLogged() throws {
        let destination = try Database(path: folder + "/destination.sqlite")
        try destination.execute("CREATE TABLE old(x); INSERT INTO old VALUES (1)")
        let reader = try Database(path: folder + "/destination.sqlite")
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM old"), 1)
        try destination.replaceContents(with: try source(["ada", "grace"]))
        XCTAssertEqual(try destination.query("SELECT name FROM t ORDER BY id").compactMap { $0.text(0) }, ["ada", "grace"])
        XCTAssertThrowsError(try destination.queryScalarInteger("SELECT count(*) FROM old"), "the old schema is gone")
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM t"), 2, "another open connection sees the new content")
        XCTAssertEqual(try Database(path: folder + "/destination.sqlite").queryScalarText("PRAGMA journal_mode"), "wal")
        XCTAssertEqual(try destination.integrityCheck(), [])
    }

    func test_whileLocked_noOtherConnectionCommits_andReadersSeeTheOldContent() throws {
        let destination = try Database(path: folder + "/destination.sqlite")
        try destination.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE); INSERT INTO t(name) VALUES ('before')")
        var options = Database.Options()
        options.busyTimeoutMilliseconds = 0
        let other = try Database(path: folder + "/destination.sqlite", options: options)
        let source = try source(["copied"])
        var seen: [String] = []
        try destination.replaceContents(with: source) {
            XCTAssertThrowsError(try other.execute("INSERT INTO t(name) VALUES ('lost')"), "another writer waits for the copy")
            seen = try other.query("SELECT name FROM t").compactMap { $0.text(0) }
            // Written through the source's own connection before any page is copied: copied too.
            try source.execute("INSERT INTO t(name) VALUES ('added while locked')")
        }
        XCTAssertEqual(seen, ["before"], "a reader sees the content the copy replaces")
        XCTAssertEqual(try destination.query("SELECT name FROM t ORDER BY id").compactMap { $0.text(0) }, ["copied", "added while locked"])
        try other.execute("INSERT INTO t(name) VALUES ('after')")
        XCTAssertEqual(try destination.queryScalarInteger("SELECT count(*) FROM t"), 3, "the lock goes with the copy")
    }

    func test_whenWhileLockedThrows_theDestinationIsUnchanged_andUnlocked() throws {
        let destination = try Database(path: folder + "/destination.sqlite")
        try destination.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE); INSERT INTO t(name) VALUES ('kept')")
        struct Refused: Error {}
        XCTAssertThrowsError(try destination.replaceContents(with: try source(["never"])) { throw Refused() }) { XCTAssertTrue($0 is Refused) }
        XCTAssertEqual(try destination.query("SELECT name FROM t").compactMap { $0.text(0) }, ["kept"])
        try destination.execute("INSERT INTO t(name) VALUES ('writable')")
        XCTAssertEqual(try destination.queryScalarInteger("SELECT count(*) FROM t"), 2)
    }

    func test_backgroundIntegrityCheck_findsWhatQuickCheckDoesNot() throws {
        let source = try source(["a", "b", "c"])
        try source.execute("""
            CREATE INDEX t_by_name ON t(name);
            CREATE TABLE u(id INTEGER PRIMARY KEY, label TEXT); CREATE INDEX u_by_label ON u(label);
            INSERT INTO u(label) VALUES ('x'), ('y'), ('z');
            """)
        XCTAssertEqual(try BackgroundIntegrityCheck(path: source.path, options: Database.Options()).problems(), [])
        // Each index now holds the other's entries: well formed, so quick_check passes.
        try source.execute("""
            CREATE TEMP TABLE swap AS SELECT name, rootpage FROM main.sqlite_schema WHERE name IN ('t_by_name', 'u_by_label');
            PRAGMA writable_schema=ON;
            UPDATE main.sqlite_schema AS s SET rootpage = (SELECT w.rootpage FROM temp.swap w WHERE w.name != s.name) WHERE s.name IN ('t_by_name', 'u_by_label');
            """)
        var options = Database.Options()
        options.journalModeWAL = false
        XCTAssertEqual(try Database(path: source.path, options: options).quickCheck(), [])
        let check = BackgroundIntegrityCheck(path: source.path, options: options)
        XCTAssertFalse(try check.problems().isEmpty)
        XCTAssertEqual(try check.problems(), try check.problems(), "asked again, the same answer without waiting")
        XCTAssertThrowsError(try BackgroundIntegrityCheck(path: folder + "/missing.sqlite", options: options).problems())
    }
}
