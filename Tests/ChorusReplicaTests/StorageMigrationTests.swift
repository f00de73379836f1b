import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting
import SQLiteKit

/// Migrations `0005_lean_log_and_entries`, `0006_log_without_record_index` and `0007_display_derived`
/// rebuild the log and the entries table of a replica that already holds data: nothing is lost, the
/// state digest is unchanged (the displayed flag it frames is now derived, not stored), log cursors
/// continue, and erasure still finds a record's operations without the index.
final class StorageMigrationTests: XCTestCase {
    func test_leanLogAndEntries_onAPopulatedReplica_keepsEverything_andCursorsContinue() throws {
        let fixture = try Fixture(seed: 5)
        defer { fixture.folder.remove() }
        let (folder, clock, configuration, other) = (fixture.folder, fixture.clock, fixture.configuration, fixture.other)
        var digestBefore: SHA256.Digest
        var sequenceBefore: Int64
        var conflictBefore: Conflict
        var recordBefore: RecordSnapshot?
        do {
            let replica = try fixture.createReplica()
            try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada"), .add(field: "guilds", element: "g-swift")])
            try other.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L.")])
            try replica.applyRemote(try other.log(limit: 100).compactMap(\.operation))
            clock.advance(by: 10)
            try replica.write(collection: "people", record: "p2", [.put(field: "title", value: "Engineer")])
            XCTAssertEqual(try replica.conflicts().count, 1)
            conflictBefore = try replica.conflicts()[0]
            recordBefore = try replica.get(collection: "people", record: "p1")
            digestBefore = try replica.digest()
            sequenceBefore = try replica.latestSequence()
        }

        // Put the two tables back in their earlier shape (AUTOINCREMENT log, entries keyed without
        // `key` plus an index, with a stored `displayed` flag), as a replica written before these
        // migrations has them. The flags are left wrong on purpose: nothing may read them any more.
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.transaction {
            try Self.entriesAsTable(database)
            try Self.logAsRows(database)
            try database.execute("""
                CREATE TABLE oplog_old(seq INTEGER PRIMARY KEY AUTOINCREMENT, replica BLOB NOT NULL, counter INTEGER NOT NULL,
                    rid INTEGER, payload TEXT, source TEXT, received_wall INTEGER, UNIQUE(replica, counter));
                INSERT INTO oplog_old SELECT seq, replica, counter, rid, payload, source, received_wall FROM oplog;
                DROP TABLE oplog;
                ALTER TABLE oplog_old RENAME TO oplog;
                CREATE INDEX oplog_rid ON oplog(rid) WHERE rid IS NOT NULL;
                CREATE TABLE entries_old(rid INTEGER NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, replica BLOB NOT NULL,
                    counter INTEGER NOT NULL, wall INTEGER NOT NULL, logical INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT,
                    seq INTEGER NOT NULL, displayed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(rid, field, replica, counter)) WITHOUT ROWID;
                INSERT INTO entries_old SELECT rid, field, key, replica, counter, wall, logical, kind, value, seq, 0 FROM entries;
                DROP TABLE entries;
                ALTER TABLE entries_old RENAME TO entries;
                CREATE INDEX entries_key ON entries(rid, field, key);
                DROP TABLE log_ids;
                ALTER TABLE deletes DROP COLUMN seq;
                DELETE FROM schema_migrations WHERE name IN ('0005_lean_log_and_entries', '0006_log_without_record_index', '0007_display_derived',
                                                             '0009_log_ids_as_intervals', '0010_log_in_blocks');
                """)
        }
        XCTAssertNotNil(try database.queryScalarText("SELECT sql FROM sqlite_master WHERE name = 'oplog' AND sql LIKE '%AUTOINCREMENT%'"))

        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertEqual(try migrated.appliedMigrations().suffix(21),
                       ["0005_lean_log_and_entries", "0006_log_without_record_index", "0007_display_derived", "0008_conflict_index_repair",
                        "0009_log_ids_as_intervals", "0010_log_in_blocks", "0011_conflicts_by_record", "0012_log_compaction", "0013_lean_entries",
                        "0014_records_hash_prefix", "0015_field_numbers", "0016_folded_entries",
                        "0017_folded_values", "0018_typed_rows_by_rid", "0019_records_hash_prefix_4",
                        "0020_upstream_pull_operation", "0021_log_latest", "0022_upstream_acknowledged",
                        "0023_person_bound_replicas", "0024_set_aside", "0025_kept_authors"])
        XCTAssertEqual(try migrated.digest(), digestBefore, "the same state after the rebuild")
        XCTAssertEqual(try migrated.latestSequence(), sequenceBefore)
        XCTAssertEqual(try migrated.integrityCheck(), [])
        XCTAssertEqual(try migrated.invariantViolations(), [])
        // 0019: 4 bytes of each record's hash.
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM records WHERE length(hash_prefix) != 4"), 0)
        // 0018: every typed table keyed by its rid, with its indexes as they were.
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM people WHERE rowid != _rid"), 0)
        XCTAssertGreaterThan(try database.queryScalarInteger("SELECT count(*) FROM people") ?? 0, 0)
        XCTAssertEqual(try database.query("""
            SELECT m.name FROM sqlite_schema m WHERE m.type = 'table' AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = '_rid' AND pk = 0)
            """).count, 0, "no typed table keeps a row id apart from its rid")
        XCTAssertEqual(try database.query("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'people' AND sql IS NOT NULL ORDER BY name")
                       .compactMap { $0.text(0) }, ["people_by_email", "people_by_squad", "people_by_tribe"])
        XCTAssertEqual(try migrated.get(collection: "people", record: "p1")?.fields["guilds"], .array([.string("g-swift")]))
        XCTAssertEqual(try migrated.conflicts(), [conflictBefore], "the same sibling displays")
        XCTAssertEqual(try migrated.get(collection: "people", record: "p1"), recordBefore)
        try migrated.write(collection: "people", record: "p2", [.put(field: "title", value: "Staff engineer")])
        XCTAssertEqual(try migrated.log(after: sequenceBefore).map(\.sequence), [sequenceBefore + 1], "the next cursor follows the last")
        XCTAssertNil(try database.queryScalarText("SELECT name FROM sqlite_master WHERE name = 'oplog'"), "the log is in blocks")
        XCTAssertNil(try database.queryScalarText("SELECT name FROM sqlite_master WHERE name = 'entries_key'"))
        XCTAssertNil(try database.queryScalarText("SELECT name FROM sqlite_master WHERE name = 'oplog_rid'"))
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM pragma_table_info('entry_rows') WHERE name = 'displayed'"), 0)

        try migrated.write(collection: "people", record: "p1", [.erase])
        XCTAssertFalse(try migrated.log(after: 0, limit: 1000).contains { $0.operation?.record == "p1" && $0.operation?.action.name != "erase" },
                       "erasing scans the log and clears every payload of the record")
        XCTAssertEqual(try Self.payloads(database).filter { $0.contains("Ada") }, [], "not a byte of them left in the blocks")
        XCTAssertEqual(try migrated.invariantViolations(), [])
    }

    /// Migration `0009_log_ids_as_intervals` replaces the log's unique index on operation ids with
    /// `log_ids`, intervals of each origin's counters: on a replica whose log has gaps (operations
    /// that arrived out of order), the intervals it builds are the ones the merge had kept, the log
    /// keeps every row, duplicates are still found, and a conflict's authors still read back.
    func test_logIDsAsIntervals_onALogWithGaps_buildsTheSameIntervals_andDuplicatesStayDuplicates() throws {
        let fixture = try Fixture(seed: 9)
        defer { fixture.folder.remove() }
        let (folder, configuration, other) = (fixture.folder, fixture.configuration, fixture.other)
        var remote: [ChorusCore.Operation] = []
        var intervalsBefore: [[Int64]]
        var detailBefore: JSONValue
        var digestBefore: SHA256.Digest
        do {
            let replica = try fixture.createReplica()
            try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")], by: "ada@example.com")
            for index in 1...6 {
                try other.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("Name \(index)"))], by: "grace@example.com")
            }
            try other.write(collection: "people", record: "p3", [.delete])
            remote = try other.log(limit: 100).compactMap(\.operation)
            XCTAssertEqual(remote.count, 7)
            // Counters 1, 2, 5 and 7 of the other replica, then 1 again: two gaps, one duplicate.
            XCTAssertEqual(try replica.applyRemote([remote[0], remote[1], remote[4], remote[6], remote[0]]).duplicates, 1)
            intervalsBefore = try Self.intervals(in: folder)
            XCTAssertEqual(intervalsBefore.filter { $0[0] == 0 }.map { Array($0[1...2]) }, [[1, 2], [5, 5], [7, 7]],
                           "the other replica's counters as three intervals")
            let conflict = try XCTUnwrap(try replica.conflicts().first { $0.record == "p1" })
            detailBefore = try replica.conflictDetail(conflict)
            XCTAssertEqual(detailBefore["siblings"]?.arrayValue?.compactMap { $0["author"]?.stringValue }.sorted(),
                           ["ada@example.com", "grace@example.com"])
            digestBefore = try replica.digest()
        }

        // Back to the shape before `0009`: a unique index on the log's ids, no intervals, no
        // sequence on deletes.
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.transaction {
            try Self.logAsRows(database)
            try database.execute("""
                CREATE TABLE oplog_old(seq INTEGER PRIMARY KEY, replica BLOB NOT NULL, counter INTEGER NOT NULL,
                    rid INTEGER, payload TEXT, source TEXT, received_wall INTEGER, UNIQUE(replica, counter));
                INSERT INTO oplog_old SELECT seq, replica, counter, rid, payload, source, received_wall FROM oplog;
                DROP TABLE oplog;
                ALTER TABLE oplog_old RENAME TO oplog;
                DROP TABLE log_ids;
                ALTER TABLE deletes DROP COLUMN seq;
                DELETE FROM schema_migrations WHERE name IN ('0009_log_ids_as_intervals', '0010_log_in_blocks');
                """)
        }
        let rowsBefore = try database.queryScalarInteger("SELECT count(*) FROM oplog")
        let payloadsBefore = try database.query("SELECT payload FROM oplog ORDER BY seq").map { $0.text(0) }

        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertEqual(try migrated.appliedMigrations().suffix(17),
                       ["0009_log_ids_as_intervals", "0010_log_in_blocks", "0011_conflicts_by_record", "0012_log_compaction", "0013_lean_entries",
                        "0014_records_hash_prefix", "0015_field_numbers", "0016_folded_entries",
                        "0017_folded_values", "0018_typed_rows_by_rid", "0019_records_hash_prefix_4",
                        "0020_upstream_pull_operation", "0021_log_latest", "0022_upstream_acknowledged",
                        "0023_person_bound_replicas", "0024_set_aside", "0025_kept_authors"])
        XCTAssertEqual(try Self.intervals(in: folder), intervalsBefore, "the intervals the merge kept, received times included")
        XCTAssertEqual(try migrated.statistics().operations, rowsBefore)
        XCTAssertEqual(try migrated.log(after: 0, limit: 1000).map { $0.operation.map(OperationCodec().canonicalText) }, payloadsBefore,
                       "every operation in its place in the blocks")
        XCTAssertEqual(try migrated.invariantViolations(), [])
        XCTAssertEqual(try migrated.digest(), digestBefore)
        let conflict = try XCTUnwrap(try migrated.conflicts().first { $0.record == "p1" })
        XCTAssertEqual(try migrated.conflictDetail(conflict), detailBefore, "authors read back by log sequence")
        XCTAssertEqual(try migrated.hasOperation(remote[4].id), true)
        XCTAssertEqual(try migrated.hasOperation(remote[3].id), false)

        let report = try migrated.applyRemote(remote)
        XCTAssertEqual(report.duplicates, 4, "counters 1, 2, 5 and 7 were logged before the migration")
        XCTAssertEqual(report.applied, 3)
        XCTAssertEqual(try Self.intervals(in: folder).filter { $0[0] == 0 }.map { Array($0[1...2]) }, [[1, 7]],
                       "the gaps filled: one interval")
        XCTAssertEqual(try migrated.invariantViolations(), [])
        XCTAssertEqual(try migrated.applyRemote(remote).duplicates, 7)
    }

    /// Puts the entries back in their shape before `0016_folded_entries` (a replica never
    /// compacted has no folded entries): no `folded_entries`, and `entries` over `entry_rows` alone.
    private static func entriesUnfoldable(_ database: Database) throws {
        let kindName = "CASE e.kind WHEN 0 THEN 'register' WHEN 1 THEN 'map' WHEN 2 THEN 'set' WHEN 3 THEN 'log' WHEN 4 THEN 'counter' END"
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM folded_entries"), 0)
        try database.execute("""
            DROP VIEW entries;
            DROP VIEW live_entry_rows;
            DROP TABLE folded_entries;
            CREATE VIEW entries(rid, field, key, replica, counter, wall, logical, kind, value, seq) AS
                SELECT e.rid, f.name, e.key, o.replica, e.counter, e.wall, e.logical, \(kindName), e.value, e.seq
                FROM entry_rows e LEFT JOIN fields f ON f.no = e.field LEFT JOIN origins o ON o.no = e.origin;
            DELETE FROM schema_migrations WHERE name = '0016_folded_entries';
            """)
    }

    /// Puts the entries back in their shape before `0013_lean_entries`: a table holding each
    /// entry's replica id, field name and kind name, with no `origins` and no `fields`.
    private static func entriesAsTable(_ database: Database) throws {
        try entriesUnfoldable(database)
        try database.execute("""
            CREATE TABLE entries_table(rid INTEGER NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, replica BLOB NOT NULL,
                counter INTEGER NOT NULL, wall INTEGER NOT NULL, logical INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT,
                seq INTEGER NOT NULL, PRIMARY KEY(rid, field, key, replica, counter)) WITHOUT ROWID;
            INSERT INTO entries_table SELECT rid, field, key, replica, counter, wall, logical, kind, value, seq FROM entries;
            DROP VIEW entries;
            DROP TABLE entry_rows;
            DROP TABLE origins;
            DROP TABLE fields;
            ALTER TABLE entries_table RENAME TO entries;
            DELETE FROM schema_migrations WHERE name IN ('0013_lean_entries', '0015_field_numbers');
            """)
    }

    /// Puts the log back in its shape before `0010_log_in_blocks`, a row per operation (as `0009`
    /// left it), from the blocks, which it drops.
    private static func logAsRows(_ database: Database) throws {
        var rows: [[SQLiteBindable]] = []
        try database.forEachRow("SELECT first_seq, last_seq, source, received_wall, body FROM log_blocks ORDER BY last_seq") { row in
            let first = row.integer(0)!, body = row.blob(4) ?? []
            _ = try body.withUnsafeBytes { bytes in
                try LogBlock.forEach(in: bytes, block: row.integer(1)!) { index, entry in
                    rows.append([first + Int64(index), Array(entry.replica), Int64(entry.counter), entry.rid, entry.payloadText,
                                 row.text(2), row.integer(3)])
                    return true
                }
            }
        }
        try database.execute("""
            CREATE TABLE oplog(seq INTEGER PRIMARY KEY, replica BLOB NOT NULL, counter INTEGER NOT NULL, rid INTEGER, payload TEXT,
                source TEXT, received_wall INTEGER);
            DROP TABLE log_blocks;
            """)
        for row in rows {
            try database.run("INSERT INTO oplog(seq, replica, counter, rid, payload, source, received_wall) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             parameters: row)
        }
    }

    /// Every payload the log's blocks hold.
    private static func payloads(_ database: Database) throws -> [String] {
        var payloads: [String] = []
        try database.forEachRow("SELECT last_seq, body FROM log_blocks") { row in
            let body = row.blob(1) ?? []
            _ = try body.withUnsafeBytes { bytes in
                try LogBlock.forEach(in: bytes, block: row.integer(0)!) { _, entry in
                    if let text = entry.payloadText { payloads.append(text) }
                    return true
                }
            }
        }
        return payloads
    }

    /// `log_ids` rows as [is this replica (1) or the other (0), first, last, received_wall].
    private static func intervals(in folder: TemporaryDirectory) throws -> [[Int64]] {
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        return try database.query("""
            SELECT hex(replica) = upper((SELECT value FROM meta WHERE key = 'replica_id')), first, last, received_wall
            FROM log_ids ORDER BY replica, first
            """).map { [$0.integer(0)!, $0.integer(1)!, $0.integer(2)!, $0.integer(3) ?? -1] }
    }

    /// Migration `0011_conflicts_by_record` moves the value conflicts from the per-key index to
    /// the per-record one, building it from the entries: a stale per-key row (a key with one live
    /// value) does not survive, and the conflicts read afterwards are the ones before.
    func test_conflictsByRecord_buildsTheIndexFromTheEntries_andKeepsEditedWhileDeleted() throws {
        let fixture = try Fixture(seed: 8)
        defer { fixture.folder.remove() }
        let (folder, configuration, other) = (fixture.folder, fixture.configuration, fixture.other)
        var conflictsBefore: [Conflict]
        var snapshotBefore: RecordSnapshot?
        do {
            let replica = try fixture.createReplica()
            try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada"), .put(field: "title", value: "Lead")])
            try replica.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")])
            try other.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L."), .put(field: "title", value: "Head")])
            try replica.applyRemote(try other.log(limit: 100).compactMap(\.operation))
            try replica.applyRemote(try other.log(limit: 100).compactMap(\.operation))
            try other.applyRemote(try replica.log(limit: 100).compactMap(\.operation))
            try other.write(collection: "people", record: "p2", [.delete])
            try replica.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace H.")])
            try replica.applyRemote(try other.log(limit: 100).compactMap(\.operation))
            conflictsBefore = try replica.conflicts()
            snapshotBefore = try replica.get(collection: "people", record: "p1")
            XCTAssertEqual(conflictsBefore.map(\.kind), [.register, .register, .editedWhileDeleted], "two keys of p1, then p2")
            XCTAssertEqual(snapshotBefore?.conflicts, ["name", "title"])
        }
        // The index as builds before `0011` kept it: a row per key, here with a stale one for `email`.
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.execute("""
            DROP TABLE conflicted_records;
            INSERT INTO conflicts(rid, field, key, kind) SELECT rid, 'name', '', 'register' FROM records WHERE record = 'p1';
            INSERT INTO conflicts(rid, field, key, kind) SELECT rid, 'title', '', 'register' FROM records WHERE record = 'p1';
            INSERT INTO conflicts(rid, field, key, kind) SELECT rid, 'email', '', 'register' FROM records WHERE record = 'p1';
            DELETE FROM schema_migrations WHERE name = '0011_conflicts_by_record';
            """)
        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0011_conflicts_by_record"))
        XCTAssertEqual(try migrated.invariantViolations(), [])
        XCTAssertEqual(try migrated.conflicts(), conflictsBefore)
        XCTAssertEqual(try migrated.get(collection: "people", record: "p1")?.conflicts, ["name", "title"])
        XCTAssertEqual(try migrated.statistics().conflicts, 3)
    }
}

extension StorageMigrationTests {
    /// Migration `0013_lean_entries` stores each live entry's origin as a number and its kind as a
    /// code. On a replica holding entries of every kind from two writers, with a value conflict:
    /// the state reads back the same, origins are numbered in replica id order, each entry row
    /// takes less space, and merging goes on (a third writer gets the next number).
    func test_leanEntries_onAPopulatedReplica_keepsTheState_andNumbersOriginsByReplicaID() throws {
        let fixture = try Fixture(seed: 13)
        defer { fixture.folder.remove() }
        let (folder, configuration, other) = (fixture.folder, fixture.configuration, fixture.other)
        let replica = try fixture.createReplica()
        let before = try fixture.populate(replica)
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.transaction { try Self.entriesAsTable(database) }
        let bytesPerRowBefore = try Self.bytesPerEntry(database, table: "entries")

        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0013_lean_entries"))
        try before.assertSame(as: migrated)
        let origins = try database.query("SELECT no, replica FROM origins ORDER BY no").map { ($0.integer(0)!, $0.blob(1)!) }
        XCTAssertEqual(origins.map(\.0), [1, 2])
        XCTAssertEqual(origins.map(\.1), [replica.id.bytes, other.id.bytes].sorted { $0.lexicographicallyPrecedes($1) }, "numbered in replica id order")
        XCTAssertEqual(try database.query("SELECT DISTINCT kind FROM entry_rows ORDER BY kind").map { $0.integer(0)! }, [0, 1, 2, 3],
                       "register, map, set and log entries, as codes")
        let bytesPerRowAfter = try Self.bytesPerEntry(database, table: "entry_rows")
        XCTAssertLessThanOrEqual(bytesPerRowAfter * 4, bytesPerRowBefore * 3,
                                 "a quarter less a row, without a 16-byte replica id and a kind name: \(bytesPerRowBefore) -> \(bytesPerRowAfter) bytes")

        let third = try ReplicaFactory.memory(name: "third", clock: fixture.clock, seed: 99)
        try third.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])
        try migrated.applyRemote(try third.log(limit: 100).compactMap(\.operation))
        try migrated.resolve(collection: "people", record: "p1", field: "name", .keep(before.conflicts[0].siblings[1].operation))
        XCTAssertEqual(try database.queryScalarInteger("SELECT no FROM origins WHERE replica = ?", third.id.bytes), 3, "the next number")
        XCTAssertEqual(try migrated.get(collection: "people", record: "p1")?.fields["title"], "Lead")
        XCTAssertEqual(try migrated.conflicts().count, 1, "one resolved, one left")
        XCTAssertEqual(try migrated.invariantViolations(), [])
    }

    /// `0020_upstream_pull_operation` on a replica that synced before it: the cursors stay, the id
    /// at the pull cursor is not known (nothing is checked until a page says it), and from then on
    /// the id moves with the cursor: kept when the cursor moves to where the id was said, forgotten
    /// when the cursor moves on without one, and never moved back.
    func test_upstreamPullOperation_onAReplicaThatSynced_keepsItsCursors_andLearnsTheIDFromAPage() throws {
        let fixture = try Fixture(seed: 20)
        defer { fixture.folder.remove() }
        let (folder, configuration) = (fixture.folder, fixture.configuration)
        do {
            let replica = try fixture.createReplica()
            try replica.setUpstream(url: "http://127.0.0.1:1", tokenFile: "/dev/null")
            try replica.recordUpstream(pullCursor: 7, pushCursor: 0)
        }
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.execute("""
            ALTER TABLE upstream DROP COLUMN pull_operation;
            DELETE FROM schema_migrations WHERE name = '0020_upstream_pull_operation';
            """)
        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0020_upstream_pull_operation"))
        XCTAssertEqual(try migrated.upstream()?.pullCursor, 7)
        XCTAssertNil(try migrated.upstream()?.pullOperation)

        let there = OperationID(replica: ReplicaID(hex: "0000000000000000000000000000000b")!, counter: 3)
        try migrated.applyPulled([], through: 7, nextOperation: there)
        XCTAssertEqual(try migrated.upstream()?.pullOperation, there, "learnt at the same cursor")
        try migrated.applyPulled([], through: 7)
        XCTAssertEqual(try migrated.upstream()?.pullOperation, there, "not forgotten when nothing moved")
        try migrated.applyPulled([], through: 5, nextOperation: OperationID(replica: there.replica, counter: 1))
        XCTAssertEqual(try migrated.upstream()?.pullCursor, 7)
        XCTAssertEqual(try migrated.upstream()?.pullOperation, there, "an older cursor's id does not replace it")
        try migrated.applyPulled([], through: 9)
        XCTAssertNil(try migrated.upstream()?.pullOperation, "moved on with no id said, the old one is forgotten")
        try migrated.applyPulled([], through: 11, nextOperation: there)
        try migrated.rewindUpstreamCursors(pullCursor: 0)
        XCTAssertEqual(try migrated.upstream()?.pullCursor, 0)
        XCTAssertNil(try migrated.upstream()?.pullOperation, "a rewind forgets it")
    }

    /// `0022_upstream_acknowledged` on a replica that had pushed before it: what its upstream had
    /// acknowledged counts as acknowledged long ago, so compaction removes it as before, and only
    /// what is acknowledged from then on is kept the week.
    func test_upstreamAcknowledged_onAReplicaThatPushed_countsWhatWasPushedAsLongAgo() throws {
        let fixture = try Fixture(seed: 22)
        defer { fixture.folder.remove() }
        let (folder, configuration) = (fixture.folder, fixture.configuration)
        do {
            let replica = try fixture.createReplica()
            _ = try fixture.populate(replica)
            try replica.setUpstream(url: "http://127.0.0.1:1", tokenFile: "/dev/null")
            try replica.recordUpstream(pushCursor: try replica.latestSequence())
        }
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.execute("""
            DROP TABLE upstream_acknowledged;
            DELETE FROM schema_migrations WHERE name = '0022_upstream_acknowledged';
            """)
        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0022_upstream_acknowledged"))
        let report = try migrated.compactLog()
        XCTAssertEqual(report.floor, try migrated.latestSequence(), "pushed before the upgrade: compacted as before")
        XCTAssertGreaterThan(report.operationsRemoved, 0)
    }

    /// `0021_log_latest` on a replica that logged before it: each origin's highest operation is
    /// read from the log with its stamp, as the batches since keep it; an origin whose highest
    /// operation no longer has its payload (its record erased) is not known, and gets a row with
    /// its next operation.
    func test_logLatest_onAPopulatedReplica_isReadFromTheLog_asBatchesKeepIt() throws {
        let fixture = try Fixture(seed: 21)
        defer { fixture.folder.remove() }
        let (folder, configuration) = (fixture.folder, fixture.configuration)
        let latestSQL = "SELECT hex(replica), counter, hash FROM log_latest ORDER BY replica"
        func latest(_ database: Database) throws -> [String] {
            try database.query(latestSQL).map { "\($0.text(0) ?? ""):\($0.integer(1) ?? 0):\($0.integer(2) ?? 0)" }
        }
        let eraser = try ReplicaFactory.memory(name: "eraser", clock: fixture.clock, seed: 99)
        _ = try eraser.write(collection: "people", record: "p-gone", [.put(field: "name", value: "Known")])
        let erasure = try eraser.write(collection: "people", record: "p-gone", [.erase])
        do {
            let replica = try fixture.createReplica()
            _ = try fixture.populate(replica)
            var workload = WorkloadGenerator(seed: 21)
            try replica.applyRemote(workload.generate(steps: 300))
            _ = try replica.write(collection: "people", record: "p-gone", [.put(field: "name", value: "Gone")])
            try replica.applyRemote(erasure)
        }
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        let kept = try latest(database)
        XCTAssertGreaterThan(kept.count, 2, "several origins")
        try database.execute("DROP TABLE log_latest; DELETE FROM schema_migrations WHERE name = '0021_log_latest';")
        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0021_log_latest"))
        let erased = try migrated.log(after: 0, limit: 100_000).filter { $0.operation == nil }.map { "\($0.id.replica.hex.uppercased()):\($0.id.counter):" }
        XCTAssertTrue(kept.contains { row in erased.contains(where: row.hasPrefix) }, "an origin's highest operation erased")
        XCTAssertEqual(try latest(database), kept.filter { row in !erased.contains(where: row.hasPrefix) },
                       "every origin as its batches kept it, but those whose highest was erased")
        XCTAssertEqual(try migrated.invariantViolations(), [])
        _ = try migrated.write(collection: "people", record: "p-next", [.put(field: "name", value: "Next")])
        XCTAssertNil(try migrated.loggedLatest(of: migrated.id), "a replica keeps no row of its own: nobody asks it about them")
        let next = try fixture.other.write(collection: "people", record: "p-next", [.put(field: "title", value: "Next")])
        try migrated.applyRemote(next)
        XCTAssertEqual(try migrated.loggedLatest(of: fixture.other.id),
                       Replica.LatestOperation(counter: next[0].id.counter, hash: Replica.LatestOperation.hash(OperationCodec().canonicalBytes(next[0], valueText: nil))))
    }

    /// A log block that cannot be read does not stop `0021_log_latest`, so the replica still
    /// opens and `chorus check` can say what is damaged.
    func test_logLatest_skipsABlockItCannotRead_andTheReplicaStillOpens() throws {
        let fixture = try Fixture(seed: 22)
        defer { fixture.folder.remove() }
        do { _ = try fixture.populate(try fixture.createReplica()) }
        let database = try Database(path: fixture.folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.execute("""
            DROP TABLE log_latest; DELETE FROM schema_migrations WHERE name = '0021_log_latest';
            UPDATE log_blocks SET body = X'FFFFFFFFFFFFFFFFFFFF' WHERE last_seq = (SELECT max(last_seq) FROM log_blocks);
            """)
        let migrated = try Replica.open(at: .directory(fixture.folder.path), configuration: fixture.configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0021_log_latest"))
        XCTAssertTrue(try migrated.invariantViolations().contains { $0.contains("damaged") || $0.contains("log block") }, "check says what is damaged")
    }

    /// Migration `0014_records_hash_prefix` keeps 8 bytes of each record's hash instead of 32 under
    /// a unique index: the state reads the same, an erasure still finds its record by hash, the
    /// ids of erased records are still never reused, and each record takes less space.
    func test_recordsHashPrefix_onAPopulatedReplica_erasureStillFindsItsRecord_andIDsAreNotReused() throws {
        let fixture = try Fixture(seed: 14)
        defer { fixture.folder.remove() }
        let (folder, configuration) = (fixture.folder, fixture.configuration)
        var digestBefore: SHA256.Digest
        do {
            let replica = try fixture.createReplica()
            for id in ["p1", "p2", "p3", "p4"] { try replica.write(collection: "people", record: id, [.put(field: "name", value: .string(id))]) }
            try replica.write(collection: "people", record: "p4", [.erase])   // the highest row id, gone
            digestBefore = try replica.digest()
        }
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.transaction { try Self.recordsWithWholeHash(database) }
        let bytesPerRecordBefore = try Self.recordBytes(database)
        XCTAssertEqual(try database.queryScalarInteger("SELECT seq FROM sqlite_sequence WHERE name = 'records'"), 4)

        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0014_records_hash_prefix"))
        XCTAssertEqual(try migrated.digest(), digestBefore)
        XCTAssertEqual(try migrated.invariantViolations(), [])
        XCTAssertEqual(try migrated.integrityCheck(), [])
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM pragma_table_info('records') WHERE name = 'hash'"), 0)
        XCTAssertEqual(try database.queryScalarInteger("SELECT seq FROM sqlite_sequence WHERE name = 'records'"), 4, "the high-water mark carried over")
        XCTAssertLessThan(try Self.recordBytes(database), bytesPerRecordBefore - 40, "24 bytes less a row, and its index entry")

        try migrated.write(collection: "people", record: "p5", [.put(field: "name", value: "p5")])
        XCTAssertEqual(try database.queryScalarInteger("SELECT rid FROM records WHERE record = 'p5'"), 5, "the erased record's id is not reused")
        try migrated.write(collection: "people", record: "p2", [.erase])
        XCTAssertTrue(try migrated.isErased(collection: "people", record: "p2"))
        XCTAssertNil(try migrated.get(collection: "people", record: "p2"), "found by its hash and erased")
        XCTAssertNotNil(try migrated.get(collection: "people", record: "p1"))
        XCTAssertEqual(try migrated.invariantViolations(), [])

        // Records sharing a kept prefix (4 bytes since 0019, so it happens): an erasure still
        // finds its own record among them, by hashing their names.
        try database.run("UPDATE records SET hash_prefix = (SELECT hash_prefix FROM records WHERE record = 'p3')")
        try migrated.write(collection: "people", record: "p3", [.erase])
        XCTAssertNil(try migrated.get(collection: "people", record: "p3"))
        XCTAssertNotNil(try migrated.get(collection: "people", record: "p1"))
        XCTAssertNotNil(try migrated.get(collection: "people", record: "p5"))
        XCTAssertTrue(try migrated.isErased(collection: "people", record: "p3"))
        XCTAssertFalse(try migrated.isErased(collection: "people", record: "p5"))
    }

    /// Migration `0015_field_numbers` stores each live entry's field as a number into `fields`. On
    /// a replica holding entries of every kind from two writers, with value conflicts: the state
    /// reads back the same, fields are numbered in byte order of their names, each entry row takes
    /// less space, and merging goes on: a field first met after the migration gets the next number,
    /// and a write that supersedes entries finds them by number.
    func test_fieldNumbers_onAPopulatedReplica_keepsTheState_andNumbersFieldsByName() throws {
        let fixture = try Fixture(seed: 15)
        defer { fixture.folder.remove() }
        let (folder, configuration) = (fixture.folder, fixture.configuration)
        let replica = try fixture.createReplica()
        // Fields met in an order other than their names' order.
        let before = try fixture.populate(replica, leadingOnP1: [.put(field: "title", value: "Engineer")])
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try Replica.registerFunctions(on: database)
        try database.transaction { try Self.entriesWithFieldNames(database) }
        let bytesPerRowBefore = try Self.bytesPerEntry(database, table: "entry_rows")

        let migrated = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try migrated.appliedMigrations().contains("0015_field_numbers"))
        try before.assertSame(as: migrated)
        let names = try database.query("SELECT name FROM fields ORDER BY no").map { $0.text(0)! }
        XCTAssertEqual(names, ["body", "comments", "guilds", "name", "skills", "title"], "numbered in byte order of their names")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM entry_rows WHERE typeof(field) != 'integer'"), 0)
        let bytesPerRowAfter = try Self.bytesPerEntry(database, table: "entry_rows")
        XCTAssertLessThan(bytesPerRowAfter, bytesPerRowBefore - 2,
                          "a field name of 4 to 8 bytes became a number of 1: \(bytesPerRowBefore) -> \(bytesPerRowAfter) bytes")

        try migrated.write(collection: "people", record: "p1", [.put(field: "email", value: "ada@example.com"), .put(field: "title", value: "Lead")])
        XCTAssertEqual(try database.queryScalarInteger("SELECT no FROM fields WHERE name = 'email'"), 7, "the next number")
        XCTAssertEqual(try database.queryScalarInteger("""
            SELECT count(*) FROM entry_rows WHERE field = (SELECT no FROM fields WHERE name = 'title')
            """), 1, "the new title superseded the old one, found by number")
        try migrated.resolve(collection: "people", record: "p1", field: "name", .keep(before.conflicts[0].siblings[1].operation))
        XCTAssertEqual(try migrated.get(collection: "people", record: "p1")?.fields["title"], "Lead")
        XCTAssertEqual(try migrated.get(collection: "people", record: "p1")?.fields["email"], "ada@example.com")
        XCTAssertEqual(try migrated.conflicts().count, 1, "one resolved, one left")
        XCTAssertEqual(try migrated.invariantViolations(), [])
    }

    /// Puts the entries back in their shape before `0015_field_numbers`: each row holds its field's
    /// name, and there is no `fields`.
    private static func entriesWithFieldNames(_ database: Database) throws {
        try entriesUnfoldable(database)
        let kindName = "CASE e.kind WHEN 0 THEN 'register' WHEN 1 THEN 'map' WHEN 2 THEN 'set' WHEN 3 THEN 'log' WHEN 4 THEN 'counter' END"
        try database.execute("""
            CREATE TABLE entry_rows_named(rid INTEGER NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, origin INTEGER NOT NULL,
                counter INTEGER NOT NULL, wall INTEGER NOT NULL, logical INTEGER NOT NULL, kind INTEGER NOT NULL, value TEXT,
                seq INTEGER NOT NULL, PRIMARY KEY(rid, field, key, origin, counter)) WITHOUT ROWID;
            INSERT INTO entry_rows_named SELECT e.rid, f.name, e.key, e.origin, e.counter, e.wall, e.logical, e.kind, e.value, e.seq
                FROM entry_rows e JOIN fields f ON f.no = e.field;
            DROP VIEW entries;
            DROP TABLE entry_rows;
            DROP TABLE fields;
            ALTER TABLE entry_rows_named RENAME TO entry_rows;
            CREATE VIEW entries(rid, field, key, replica, counter, wall, logical, kind, value, seq) AS
                SELECT e.rid, e.field, e.key, o.replica, e.counter, e.wall, e.logical, \(kindName), e.value, e.seq
                FROM entry_rows e LEFT JOIN origins o ON o.no = e.origin;
            DELETE FROM schema_migrations WHERE name = '0015_field_numbers';
            """)
    }

    /// Puts `records` back in its shape before `0014_records_hash_prefix`: the whole hash under a
    /// unique index, row ids and the AUTOINCREMENT high-water mark kept.
    private static func recordsWithWholeHash(_ database: Database) throws {
        let rows = try database.query("SELECT rid, collection, record, deleted, visible FROM records ORDER BY rid")
        let highWater = try database.queryScalarInteger("SELECT seq FROM sqlite_sequence WHERE name = 'records'") ?? 0
        try database.execute("""
            DROP TABLE records;
            CREATE TABLE records(rid INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, record TEXT NOT NULL,
                hash BLOB NOT NULL UNIQUE, deleted INTEGER NOT NULL DEFAULT 0, visible INTEGER NOT NULL DEFAULT 1, UNIQUE(collection, record));
            DELETE FROM schema_migrations WHERE name IN ('0014_records_hash_prefix', '0019_records_hash_prefix_4');
            """)
        for row in rows {
            let collection = row.text(1)!, record = row.text(2)!
            try database.run("INSERT INTO records(rid, collection, record, hash, deleted, visible) VALUES (?, ?, ?, ?, ?, ?)",
                             row.integer(0)!, collection, record, ChorusCore.Operation.recordHash(collection: collection, record: record),
                             row.integer(3)!, row.integer(4)!)
        }
        try database.run("UPDATE sqlite_sequence SET seq = ? WHERE name = 'records'", highWater)
    }

    /// Bytes of content a record takes in `records` and its indexes (`dbstat` payload).
    private static func recordBytes(_ database: Database) throws -> Int64 {
        let payload = try database.queryScalarInteger("""
            SELECT sum(d.payload) FROM dbstat d JOIN sqlite_schema m ON m.name = d.name WHERE m.tbl_name = 'records'
            """) ?? 0
        return payload / max(try database.queryScalarInteger("SELECT count(*) FROM records") ?? 1, 1)
    }

    /// Bytes of content per row of a table, from SQLite's `dbstat` (payload only, so page fill and
    /// the file's other tables do not blur it).
    private static func bytesPerEntry(_ database: Database, table: String) throws -> Int64 {
        let payload = try database.queryScalarInteger("SELECT sum(payload) FROM dbstat WHERE name = ?", table) ?? 0
        let rows = try database.queryScalarInteger("SELECT count(*) FROM \(table)") ?? 1
        return payload / max(rows, 1)
    }
}

/// A folder for a durable replica, its configuration and clock, and an in-memory replica that
/// makes concurrent edits to exchange with it.
private struct Fixture {
    let seed: UInt64
    let folder: TemporaryDirectory
    let clock = ManualClock(milliseconds: 1_790_000_000_000)
    let configuration: Replica.Configuration
    let other: Replica

    init(seed: UInt64) throws {
        self.seed = seed
        folder = try TemporaryDirectory()
        configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        other = try ReplicaFactory.memory(name: "other", clock: clock, seed: seed + 1)
    }

    func createReplica() throws -> Replica {
        try ReplicaFactory.durable(at: folder.path, configuration: configuration, seed: seed)
    }

    /// Writes entries of every kind to `replica` (a register, a set element, a map key, a log
    /// entry, a counter) and takes `other`'s concurrent edits of p1's name and skills[swift], so a
    /// register and a map key are in conflict; `leadingOnP1` comes first in p1's write. Returns
    /// the state as it reads before a migration.
    func populate(_ replica: Replica, leadingOnP1: [Change] = []) throws -> StateBefore {
        try replica.write(collection: "people", record: "p1", leadingOnP1 + [
            .put(field: "name", value: "Ada"), .add(field: "guilds", element: "g-swift"), .mapSet(field: "skills", key: "swift", value: 4)])
        try replica.write(collection: "feedback", record: "f1", [
            .put(field: "body", value: "Thanks!"), .append(field: "comments", value: ["author": "p1", "body": "+1"]), .increment(field: "highFives", by: 2)])
        try other.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L."), .mapSet(field: "skills", key: "swift", value: 5)])
        try replica.applyRemote(try other.log(limit: 100).compactMap(\.operation))
        let before = try StateBefore(replica)
        XCTAssertEqual(before.conflicts.map(\.kind), [.register, .map], "p1's name and skills[swift] from both writers")
        return before
    }
}

/// What a replica populated by `Fixture.populate` reads before a migration.
private struct StateBefore {
    let digest: SHA256.Digest
    let conflicts: [Conflict]
    let records: [RecordSnapshot?]

    init(_ replica: Replica) throws {
        digest = try replica.digest()
        conflicts = try replica.conflicts()
        records = try StateBefore.records(replica)
    }

    private static func records(_ replica: Replica) throws -> [RecordSnapshot?] {
        [try replica.get(collection: "people", record: "p1"), try replica.get(collection: "feedback", record: "f1")]
    }

    /// The migrated replica reads the same state, framed the same, and is sound.
    func assertSame(as migrated: Replica, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try migrated.digest(), digest, "the same state, framed the same", file: file, line: line)
        XCTAssertEqual(try migrated.conflicts(), conflicts, file: file, line: line)
        XCTAssertEqual(try StateBefore.records(migrated), records, file: file, line: line)
        XCTAssertEqual(try migrated.invariantViolations(), [], file: file, line: line)
        XCTAssertEqual(try migrated.integrityCheck(), [], file: file, line: line)
    }
}
