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

    /// Bytes of the database file itself, beside its write-ahead log.
    func fileBytes(_ name: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? NSNumber)?.intValue ?? -1
    }

    /// A source of about 12 MB (the names' unique index holds each name again): more pages than a
    /// due checkpoint's 1,000.
    func largeSource() throws -> Database {
        let source = try source([])
        try source.transaction {
            for index in 0..<1_500 { try source.run("INSERT INTO t(name) VALUES (?)", String(index) + String(repeating: "x", count: 4_000)) }
        }
        return source
    }

    func test_aDueCheckpoint_passed_isNotRunByTheNextStatement_andLaterOnesStillRun() throws {
        let source = try largeSource()
        // Control: a copy leaves a checkpoint due, which the next statement runs.
        let control = try Database(path: folder + "/control.sqlite")
        try control.execute("CREATE TABLE old(x)")
        try control.replaceContents(with: source)
        let controlBefore = try fileBytes("control.sqlite")
        XCTAssertEqual(try control.queryScalarInteger("SELECT count(*) FROM t"), 1_500)
        XCTAssertGreaterThan(try fileBytes("control.sqlite"), controlBefore + 5_000_000, "the next statement (its preparation, reading the new schema, included) checkpointed")

        let destination = try Database(path: folder + "/destination.sqlite")
        try destination.execute("CREATE TABLE old(x)")
        try destination.replaceContents(with: source)
        let before = try fileBytes("destination.sqlite")
        destination.passDueCheckpoint()
        XCTAssertEqual(try destination.queryScalarInteger("SELECT count(*) FROM t"), 1_500)
        XCTAssertEqual(try fileBytes("destination.sqlite"), before, "passed: no statement since copied the log into the file")
        // Automatic checkpoints are back on: a large commit is checkpointed when it ends.
        try destination.transaction {
            for _ in 0..<1_200 { try destination.run("INSERT INTO t(name) VALUES (?)", UUID().uuidString + String(repeating: "z", count: 4_000)) }
        }
        XCTAssertGreaterThan(try fileBytes("destination.sqlite"), before + 10_000_000, "the commit checkpointed the copy and itself")
    }

    /// With automatic checkpoints off, commits leave the log growing, its length reported after
    /// each; turned back on, the next long commit is checkpointed when it ends.
    func test_automaticCheckpointsOff_leaveTheLogToTheCaller_andBackOn_checkpointAgain() throws {
        let database = try Database(path: folder + "/database.sqlite")
        try database.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        let empty = try fileBytes("database.sqlite")
        database.automaticCheckpoints(false)
        XCTAssertEqual(database.logPagesAfterCommit, 0)
        var lengths: [Int] = []
        for commit in 0..<3 {
            try database.transaction {
                for index in 0..<600 { try database.run("INSERT INTO t(name) VALUES (?)", "\(commit)-\(index)" + String(repeating: "x", count: 4_000)) }
            }
            lengths.append(database.logPagesAfterCommit)
        }
        XCTAssertEqual(lengths, lengths.sorted(), "the log only grows: \(lengths)")
        XCTAssertGreaterThan(lengths.last!, 1_000 * 3 / 2, "past the automatic checkpoint's 1,000 pages, none ran: \(lengths)")
        XCTAssertEqual(try fileBytes("database.sqlite"), empty, "nothing was copied into the file")
        XCTAssertTrue(try BackgroundCheckpoint(path: folder + "/database.sqlite").wait(), "the caller's checkpoint copies the whole log")
        let checkpointed = try fileBytes("database.sqlite")
        XCTAssertGreaterThan(checkpointed, empty + 5_000_000)

        database.automaticCheckpoints(true)
        try database.transaction {
            for index in 0..<1_200 { try database.run("INSERT INTO t(name) VALUES (?)", "on-\(index)" + String(repeating: "z", count: 4_000)) }
        }
        XCTAssertGreaterThan(try fileBytes("database.sqlite"), checkpointed + 4_000_000, "back on: the long commit was checkpointed when it ended")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM t"), 3_000)
    }

    func test_replaceContents_checkpointingInBackground_leavesTheFileWhole_onceItIsDone() throws {
        let destination = try Database(path: folder + "/destination.sqlite")
        try destination.execute("CREATE TABLE old(x); INSERT INTO old VALUES (1)")
        let source = try largeSource()
        let checkpoint = try XCTUnwrap(try destination.replaceContents(with: source, checkpointInBackground: true))
        XCTAssertEqual(try destination.queryScalarInteger("SELECT count(*) FROM t"), 1_500, "readable at once, from the log")
        XCTAssertTrue(try checkpoint.wait(), "no reader held it back: the whole log was copied")
        let pages = try XCTUnwrap(try destination.queryScalarInteger("PRAGMA page_count"))
        XCTAssertEqual(try fileBytes("destination.sqlite"), Int(pages) * 4_096, "the file holds every page")
        // The file alone, its log gone, is the copy.
        try destination.checkpointTruncate()
        let copy = folder + "/alone.sqlite"
        try FileManager.default.copyItem(atPath: folder + "/destination.sqlite", toPath: copy)
        XCTAssertEqual(try Database(path: copy).queryScalarInteger("SELECT count(*) FROM t"), 1_500)
        XCTAssertNil(try destination.replaceContents(with: source), "no checkpoint asked for, none started")
    }

    /// A reader still on the state before the copy holds the log back: the passive checkpoint
    /// copies what it may and says it did not finish; a later one, the reader gone, finishes.
    func test_backgroundCheckpoint_saysWhenAReaderHeldPartOfTheLogBack() throws {
        let destination = try Database(path: folder + "/destination.sqlite")
        try destination.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE); INSERT INTO t(name) VALUES ('before')")
        let reader = try Database(path: folder + "/destination.sqlite")
        try reader.execute("BEGIN")
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM t"), 1)
        let checkpoint = try XCTUnwrap(try destination.replaceContents(with: try largeSource(), checkpointInBackground: true))
        XCTAssertFalse(try checkpoint.wait(), "the reader's older state keeps the copy's pages in the log")
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM t"), 1, "and the reader still sees it")
        try reader.execute("COMMIT")
        XCTAssertTrue(try BackgroundCheckpoint(path: folder + "/destination.sqlite").wait())
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM t"), 1_500)
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
