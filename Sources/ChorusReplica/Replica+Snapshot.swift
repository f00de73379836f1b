import ChorusCore
import Foundation
import SQLiteKit

/// Snapshot bootstrap (protocol section 4.6): an upstream copies its replicated tables into a new
/// database file, and a new replica takes the copy's state and log in one transaction instead of
/// replaying every operation through the merge (P3 in `Docs/performance.md`: replay is bound by
/// the merge, about 30,000 instructions an operation; a snapshot moves rows without merging them).
///
/// The client trusts its upstream with the content, as it does with every operation it pulls, but
/// not with the file's structure: the copy is opened hardened, must pass `quick_check`, and must
/// have exactly this build's schema (so it can hold no trigger or extra table, and only this build's
/// views, which its hardened connection will not run) before any of it is read into the replica.
/// A new replica takes its pages as they are, so it also checks that every index agrees with its
/// table and every constraint holds (`integrity_check`, on another core while the rest is checked);
/// a replica starting again reads it row by row, so every index is rebuilt and every constraint
/// enforced.
extension Replica {
    /// Tables that stay with their replica: identity and clock (`meta`), the replicas registered
    /// here and their tokens, the upstream's address, cursors and acknowledgements, and the
    /// migrations record, and the writes set aside (`set_aside`, never synced). Every
    /// other table is replicated state and travels in a snapshot. A test pins the full table list,
    /// so a new table has to be sorted into one or the other.
    public static let snapshotLocalTables: Set<String> = ["meta", "peers", "peer_relayed", "upstream", "upstream_acknowledged", "schema_migrations", "set_aside"]

    /// The file name prefix of snapshots being written or received in a replica's folder.
    public static let snapshotFilePrefix = ".chorus-snapshot-"

    /// What a written snapshot covers.
    public struct SnapshotFile: Sendable {
        /// The file, in the replica's folder; the caller opens it and deletes it (`SnapshotCopy`).
        public let path: String
        /// The log sequence the snapshot reaches: the client pulls after it.
        public let through: Int64
        public let bytes: Int64
        /// XXH64 of the file's bytes, sent with it so the client catches damage in transit.
        public let checksum: UInt64
    }

    /// What adopting a snapshot brought.
    public struct SnapshotAdoption: Sendable {
        /// The upstream's log sequence the snapshot reaches, now this replica's pull cursor.
        public let through: Int64
        /// Operations whose effect it brought: the upstream's log through `through`, whether the
        /// log still holds them or compaction removed them (their effect is in the state).
        public let operations: Int64
        /// Whether the file's pages became the replica's as they were (a new replica, its file's
        /// header one this build's databases have), rather than its rows inserted anew.
        public let tookPages: Bool
    }

    /// The storage version a snapshot must match: the last migration this build applies. The
    /// client sends it and the upstream refuses a snapshot of another version (409).
    public var storageVersion: String { StorageSchema.migrator(schema: configuration.schema).migrations.last?.name ?? "" }

    /// Writes a snapshot of the replica at `location` (whose storage follows `schema`) into its
    /// folder. Static: it reads from a connection of its own and touches no replica's connection,
    /// so the replica's serial queue is not held while it copies.
    ///
    /// The copy is a new database made by this build's migrations, filled in one read transaction
    /// of the replica with its replicated tables only (record for record: SQLite's transfer
    /// optimisation, no row decoded), so nothing private to the replica is ever written to it, not
    /// even in a free page: not its registered replicas or their tokens' hashes, not its upstream,
    /// and not where or when each block of its log arrived (`log_blocks.source`, `received_wall`
    /// and `log_ids.received_wall` are left empty).
    ///
    /// The copy leaves the log's history out: its log is compacted through its end, as
    /// `compactLog` would compact a log no one else reads (`log_compaction.through_seq` is the
    /// replica's last sequence). Of its blocks it holds those with a value of an open conflict, so
    /// the new replica's admins still see who wrote each, and every block after the settled
    /// sequence (`settledSequenceSQL`: what each replica that has synced has committed, and what
    /// went to the upstream), whose values a replica may yet write concurrently with: the
    /// conflict would then form on the new replica too, and name both authors. A new replica needs
    /// the state, not how it came about: every operation's effect is in the merge state and its id
    /// in `log_ids`, so a duplicate is still refused. The history stays in this replica's log for
    /// the replicas that pull it. Why: the log was most of a copy (about 22 of 29.6 MB for 100,000 values,
    /// P3 in `Docs/performance.md`), and a new replica took it only to hold it.
    ///
    /// With `template`, the empty database is a copy of the one it keeps (`EmptyStorageTemplate`:
    /// made as the node started, or by the first snapshot), rather than migrated again from
    /// nothing; while the template is still being made, this waits for it.
    ///
    /// - Throws: `invalidState` for an in-memory replica (no file to copy), or when the replica's
    ///   schema is not the one this build's migrations make (clients then pull the log).
    public static func writeSnapshot(of location: Location, schema: Schema, template: EmptyStorageTemplate? = nil) throws -> SnapshotFile {
        guard case .directory(let folder) = location else {
            throw ChorusError(.invalidState, "an in-memory replica cannot serve snapshots", hint: "clients pull the log instead")
        }
        Replica.removeAbandonedSnapshots(in: folder)
        let path = (folder as NSString).appendingPathComponent("\(Replica.snapshotFilePrefix)out-\(UUID().uuidString).sqlite")
        do {
            return try Replica.wrapStorage {
                let copy = try Replica.emptySnapshotDatabase(at: path, schema: schema, from: template?.kept, keep: template.map { $0.keep })
                try copy.run("ATTACH DATABASE ? AS source", Replica.databasePath(location))
                defer { try? copy.execute("DETACH DATABASE source") }
                // Deferred, not `transaction`'s IMMEDIATE, which would take the write lock of every
                // attached database, the replica's too, and hold up its writers while this copies.
                // Reading first, the replica gets one read snapshot: the copy is what it had
                // committed at one instant. Only the copy, a file no one else opens, is written.
                try copy.execute("BEGIN DEFERRED")
                defer { if copy.isInTransaction { try? copy.execute("ROLLBACK") } }
                do {
                    guard try comparableSchema(copy.schemaRows("source")) == copy.schemaRows("main") else {
                        throw ChorusError(.invalidState, "this replica's schema differs from the one this build's migrations make",
                                          hint: "clients pull the log instead; `chorus check` shows whether the replica is sound")
                    }
                    // The read began with the schema's; it may see batches committed without a
                    // sync (a large import's, all but its last): synced before the copy's
                    // `through` is handed out, so a power cut cannot take back, and renumber,
                    // operations the client was told it holds (a read-only audit).
                    try Database.syncLogFile(ofDatabaseAt: Replica.databasePath(location))
                    let tables = try replicatedTables(copy, "main")
                    for table in tables where table != "log_blocks" && table != "log_ids" {
                        let quoted = StorageSchema.quote(table)
                        try copy.execute("INSERT INTO main.\(quoted) SELECT * FROM source.\(quoted)")
                    }
                    // The history left out (above): the state copied, the blocks that name an open
                    // conflict's values are found in the copy's own merge state, and the blocks a
                    // replica may still write concurrently with travel whole.
                    let latest = try copy.queryScalarInteger(Replica.latestSequenceSQL(schema: "source")) ?? 0
                    let settled = min(latest, try copy.queryScalarInteger(Replica.settledSequenceSQL(schema: "source")) ?? latest)
                    let insertBlock = """
                        INSERT INTO main.log_blocks(last_seq, first_seq, source, received_wall, live, body)
                            SELECT last_seq, first_seq, NULL, NULL, live, body FROM source.log_blocks
                        """
                    // A conflict's block may end after the settled sequence: the second statement
                    // copies it then, and only once (`last_seq` is the key).
                    for block in try Replica.conflictBlocks(in: copy, logBlocks: "source.log_blocks", through: settled).sorted() where block <= settled {
                        try copy.run(insertBlock + " WHERE last_seq = ?", block)
                    }
                    try copy.run(insertBlock + " WHERE last_seq > ?", settled)
                    // The authors of live values among the history left out, as compaction keeps
                    // them (`KeptAuthors`): a conflict that forms later at the new replica names
                    // their writers. The copy's own state says which values are live.
                    let leftOut = try copy.query("""
                        SELECT last_seq FROM source.log_blocks WHERE last_seq <= ? AND last_seq NOT IN (SELECT last_seq FROM main.log_blocks) ORDER BY last_seq
                        """, settled).compactMap { $0.integer(0) }
                    _ = try KeptAuthors.keep(in: copy, logBlocks: "source.log_blocks", lasts: leftOut, codec: OperationCodec())
                    if latest > 0 {
                        try copy.run("""
                            INSERT INTO main.log_compaction(id, through_seq) VALUES (1, ?)
                            ON CONFLICT(id) DO UPDATE SET through_seq = excluded.through_seq
                            """, latest)
                    }
                    try copy.execute("""
                        INSERT INTO main.log_ids(replica, first, last, received_wall) SELECT replica, first, last, NULL FROM source.log_ids;
                        INSERT INTO main.meta(key, value) SELECT key, value FROM source.meta;
                        DELETE FROM main.sqlite_sequence WHERE name IN (\(sqlList(tables)));
                        INSERT INTO main.sqlite_sequence(name, seq) SELECT name, seq FROM source.sqlite_sequence WHERE name IN (\(sqlList(tables)));
                        COMMIT;
                        """)
                }
                let through = try copy.queryScalarInteger(Replica.latestSequenceSQL) ?? 0
                let (bytes, checksum) = try Replica.checksum(ofFile: path)
                return SnapshotFile(path: path, through: through, bytes: bytes, checksum: checksum)
            }
        } catch {
            Replica.removeSnapshotFile(path)
            throw error
        }
    }

    /// A new snapshot database at `path`, which must not exist, as this build's migrations make it
    /// for `schema`: written from `empty`, the bytes of one made before (`EmptyStorageTemplate`),
    /// or else migrated from nothing and its bytes given to `keep`, when there is one. A scratch
    /// file, sent and then deleted: no write-ahead log, no sync, its rollback journal in memory.
    static func emptySnapshotDatabase(at path: String, schema: Schema, from empty: Data?, keep: ((Data) -> Void)?) throws -> Database {
        var options = Database.Options()
        options.journalModeWAL = false
        options.synchronous = .off
        if let empty, !FileManager.default.createFile(atPath: path, contents: empty) {
            throw ChorusError(.storage, "cannot create the snapshot file \(path)", hint: "check the replica folder's permissions and free space")
        }
        let copy = try Database(path: path, options: options)
        try Replica.registerFunctions(on: copy, schema: schema)
        try copy.execute("PRAGMA journal_mode=MEMORY")
        // On the template's bytes, none is left to apply: a safety net, not a cost.
        if try !StorageSchema.migrator(schema: schema).migrate(copy).isEmpty {
            // The migrations' rebuilds leave free pages; a client takes a copy's pages as
            // they are only when it has none (`headerAllowsPageCopy`).
            try copy.execute("VACUUM")
            // Committed with the rollback journal in memory: the file holds all of it.
            if let keep { keep(try Data(contentsOf: URL(fileURLWithPath: path))) }
        }
        return copy
    }

    /// The replicated tables of the database `schemaName` of `database`: every table but
    /// `snapshotLocalTables` and SQLite's own.
    static func replicatedTables(_ database: Database, _ schemaName: String) throws -> [String] {
        try database.query("SELECT name FROM \(schemaName).sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .compactMap { $0.text(0) }.filter { !snapshotLocalTables.contains($0) }
    }

    /// Table names as an SQL list of string literals.
    static func sqlList(_ names: [String]) -> String {
        names.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" }.joined(separator: ", ")
    }

    /// Whether this replica, though it holds data, may start again from its upstream's snapshot
    /// (`adoptSnapshot(replacing: true)`): what a replica does when the upstream's log is compacted
    /// past its pull cursor (it wrote before its first sync, or was restored from an old backup),
    /// since it cannot pull what it lacks. Only with nothing waiting to be pushed (the snapshot must
    /// hold all it has) and no replica or relay registered below it, whose cursors count this log's
    /// sequences, which the snapshot renumbers.
    public func canReplaceWithSnapshot() throws -> Bool { try whyNotReplaceableWithSnapshot() == nil }

    /// Why this replica may not start again from its upstream's snapshot (`canReplaceWithSnapshot`),
    /// in words; nil when it may.
    public func whyNotReplaceableWithSnapshot() throws -> String? {
        guard case .directory = location else { return "it is held in memory" }
        return try Replica.wrapStorage { try database.readTransaction { try replaceRefusal(keptAside: nil) } }
    }

    /// What of this replica itself keeps it from being replaced by a snapshot, in words: replicas
    /// registered below it, or operations of its own not pushed yet (but those in `keptAside`).
    private func replaceRefusal(keptAside: Set<UInt64>?) throws -> String? {
        if try database.queryScalarInteger("SELECT count(*) FROM peers WHERE revoked = 0 AND role != 'admin'") ?? 0 > 0 {
            return "replicas are registered below it, and their cursors count its log"
        }
        if keptAside == nil, try countLive(after: try pushCursor(), excludingSource: "upstream").count > 0 {
            return "it has operations not pushed yet"
        }
        return nil
    }

    /// Throws unless this replica may be replaced by a snapshot (`canReplaceWithSnapshot`); with
    /// `snapshotLogIDs` (an attached snapshot's `log_ids`), also unless that holds every operation
    /// id this replica has logged (but those of records it erased before pushing them) and none of
    /// its own replica id that it lacks. Inside a transaction. `keptAside`: the counters of its own
    /// operations waiting to go up, kept in `set_aside` (`keepWaitingWrites`), which the snapshot
    /// may lack.
    private func checkReplaceable(bySnapshotLogIDs snapshotLogIDs: String?, lostOwnChecked: Bool = false, keptAside: Set<UInt64>? = nil) throws {
        let refuse = { (why: String) in
            ChorusError(.invalidState, "this replica cannot start again from the upstream's snapshot: \(why)",
                        hint: "sync again once that is done, or join a new, empty folder to the upstream and retire this one")
        }
        if let why = try replaceRefusal(keptAside: keptAside) { throw refuse(why) }
        guard let snapshotLogIDs else { return }
        let snapshot = try Replica.loggedIDRows(database, table: snapshotLogIDs).mapValues(CounterRanges.init(sortedRows:))
        let own = try Replica.loggedIDRows(database, table: "main.log_ids").mapValues(CounterRanges.init(sortedRows:))
        // The upstream holds operations of this replica's own that this replica does not: it was
        // restored from an older copy, so writes it made since may carry ids the upstream already
        // holds with other content (and took as duplicates). Starting again would lose them.
        // Unless the sync found that before it pushed, and found none of its writes since reusing an
        // id (`lostOwnChecked`, `Replica+OwnOperations`): then the snapshot gives them back.
        if !lostOwnChecked, let missing = own[id, default: CounterRanges()].firstMissing(of: snapshot[id] ?? CounterRanges()) {
            throw refuse("the upstream holds its operation \(id.hex):\(missing), which it does not (was it restored from an older backup?), so its writes since may not have reached the upstream")
        }
        // Operations whose record was erased here before they were pushed never go up (only the
        // erase does): their ids are excused. Any other operation the snapshot lacks exists only
        // here (imported from a bundle, say), and starting again would lose it.
        var erasedHere: Set<OperationID>?
        func isExcused(_ origin: ReplicaID, _ counter: UInt64) throws -> Bool {
            if origin == id, keptAside?.contains(counter) == true { return true }
            if erasedHere == nil {
                var found = Set<OperationID>()
                try forEachLogged(after: 0) { logged in
                    if logged.entry.payload == nil { found.insert(OperationID(replica: logged.entry.replicaID, counter: logged.entry.counter)) }
                    return true
                }
                erasedHere = found
            }
            return erasedHere!.contains(OperationID(replica: origin, counter: counter))
        }
        for (origin, held) in own.sorted(by: { $0.key < $1.key }) {
            var failure: Error?
            let missing = (snapshot[origin] ?? CounterRanges()).firstMissing(of: held) { counter in
                do { return try isExcused(origin, counter) } catch { failure = error; return false }
            }
            if let failure { throw failure }
            if let missing {
                throw refuse("the upstream's copy lacks its operation \(origin.hex):\(missing), which only it holds (imported from a bundle, or from a replica no longer registered)")
            }
        }
    }

    /// Every origin's intervals in a `log_ids` table (this replica's, or an attached copy's), as
    /// stored, in order; rows whose replica is not a replica id are left out.
    static func loggedIDRows(_ database: Database, table: String = "log_ids") throws -> [ReplicaID: [(first: UInt64, last: UInt64)]] {
        var rows: [ReplicaID: [(first: UInt64, last: UInt64)]] = [:]
        try database.forEachRow("SELECT replica, first, last FROM \(table) ORDER BY replica, first") { row in
            guard let origin = row.blob(0).flatMap(ReplicaID.init(bytes:)) else { return }
            rows[origin, default: []].append((UInt64(bitPattern: row.integer(1) ?? 0), UInt64(bitPattern: row.integer(2) ?? 0)))
        }
        return rows
    }

    /// Changes each time `adoptSnapshot(replacing: true)` renumbers the log, so what was derived
    /// from the log by sequence (the people search index) knows to start again.
    public func logGeneration() throws -> Int64 {
        try Replica.wrapStorage { try database.queryScalarInteger("SELECT value FROM meta WHERE key = 'log_generation'") ?? 0 }
    }

    /// Whether this replica may take a snapshot: it has never logged an operation nor pulled.
    public func canAdoptSnapshot() throws -> Bool {
        guard case .directory = location else { return false }
        return try Replica.wrapStorage {
            try latestLoggedSequence() == 0 && (try database.queryScalarInteger("SELECT pull_cursor FROM upstream WHERE id = 1") ?? 0) == 0
        }
    }

    /// Takes a snapshot received from the upstream `upstream` into this (new) replica, in one
    /// transaction: its replicated tables, its log (marked as come from upstream, so none of it is
    /// pushed back) and the pull cursor `through`. This replica's identity, registered replicas
    /// and upstream stay as they are; its clock observes the snapshot's, and its counter moves past
    /// any operation of its own id the snapshot holds (a replica joined again after losing its
    /// folder must not reuse an id).
    ///
    /// - Throws: `corruptBundle` when the file is damaged, has another schema, comes from another
    ///   replica or says another sequence; `clockSkew` when its clock is too far ahead;
    ///   `invalidState` when this replica already holds operations. Nothing is changed then.
    ///
    /// A new replica takes the file page for page (`takeSnapshotPages`) when this SQLite checks
    /// enough (`pageCopySQLiteVersionMin`) and the file's header is one this build's databases
    /// have (`headerAllowsPageCopy`), else row by row (`takeSnapshotRows`). With `replacing`, this
    /// replica may hold data (`canReplaceWithSnapshot`) and takes it row by row: its replicated
    /// tables are emptied first, in the same transaction, once it is checked that nothing waits
    /// to be pushed and that the snapshot holds every operation this replica has logged (so its
    /// state holds all of this one's; `checkReplaceable`); the log is renumbered as the upstream's.
    /// With `lostOwnChecked`, the snapshot may hold operations of this replica's own that it lacks:
    /// the sync found so before pushing, and none of its writes since reusing an id
    /// (`Replica+OwnOperations`), so the snapshot gives them back rather than hides a loss.
    ///
    /// `whenChecked` runs once the file has passed every check, before any of it is taken: a
    /// client asks there for the page after the snapshot, which then waits no round trip.
    ///
    /// With `settingAside` (and `replacing`), this replica's own operations waiting to go up are
    /// kept in `set_aside`, pending, in the same transaction, and the snapshot may lack them:
    /// `Replica+SetAside`, whose second step makes them again.
    public func adoptSnapshot(at path: String, through: Int64, from upstream: ReplicaID, replacing: Bool = false, lostOwnChecked: Bool = false,
                              settingAside: Bool = false, whenChecked: () -> Void = {}) throws -> SnapshotAdoption {
        // Pages need a file of the replica's own, which the file's connection attaches.
        let pagesWanted = !replacing && Database.libraryVersionNumber >= Replica.pageCopySQLiteVersionMin && isOnDisk
        let verdict = try verifySnapshot(at: path, through: through, from: upstream, checkingIndexes: pagesWanted)
        // However this ends, the file is not written or removed while `integrity_check` reads it.
        defer { verdict.indexCheck?.waitQuietly() }
        if verdict.indexCheck == nil { whenChecked() }
        var clock = self.clock
        clock.observe(verdict.clock)
        let taken = TakenSnapshot(through: through, now: Int64(configuration.wallClock.nowMilliseconds()), counter: max(self.counter, verdict.ownLast), clock: clock.last)
        let tables = try Replica.wrapStorage { try Replica.replicatedTables(database, "main") }
        let tookPages = pagesWanted && verdict.headerAllowsPageCopy
        snapshotsAdopted += 1
        try Replica.wrapStorage {
            if tookPages {
                try takeSnapshotPages(at: path, taken, tables: tables) {
                    try verdict.indexCheck?.requireSound()
                    whenChecked()
                }
                return
            }
            // The file passed the checks, so it holds no trigger and only this build's views (none
            // is read here: tables are copied by name); untrusted anyway while attached, then the
            // connection's own setting back.
            let trusted = try database.queryScalarInteger("PRAGMA trusted_schema") ?? 1
            try database.execute("PRAGMA trusted_schema=OFF")
            defer { try? database.execute("PRAGMA trusted_schema=\(trusted == 0 ? "OFF" : "ON")") }
            try takeSnapshotRows(at: path, taken, tables: tables, replacing: replacing, lostOwnChecked: lostOwnChecked,
                                 settingAside: replacing && settingAside)
        }
        self.clock = clock
        self.counter = taken.counter
        forgetCommittedLog()
        metaCurrentAtDataVersion = nil
        digestCache = nil
        // Starting again deleted this replica's rows, maybe of people erased upstream meanwhile:
        // as after an erasure, their bytes leave the write-ahead log too.
        if replacing { truncateLog() }
        return SnapshotAdoption(through: through, operations: through, tookPages: tookPages)
    }

    private var isOnDisk: Bool {
        if case .directory = location { return true }
        return false
    }

    /// What a checked snapshot brings beside its tables: where its log ends, when it arrived, and
    /// the counter and clock this replica goes on from.
    private struct TakenSnapshot {
        let through: Int64
        let now: Int64
        let counter: UInt64
        let clock: HybridTimestamp
    }

    /// Throws unless every replicated table of this replica, read as `schemaName` through
    /// `connection`, is empty.
    private func requireEmpty(_ tables: [String], on connection: Database, schemaName: String) throws {
        for table in tables where try connection.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM \(schemaName).\(StorageSchema.quote(table)))") == 1 {
            throw ChorusError(.invalidState, "this replica already holds data (\(table)); a snapshot only starts a new replica",
                              hint: "sync it without a snapshot, or join a new folder")
        }
    }

    /// A new replica takes the snapshot whole (P3 in `Docs/performance.md`: copying its pages
    /// costs a fraction of inserting its rows again). The file was checked with `integrity_check`
    /// and its header found to be one this build's databases have (`headerAllowsPageCopy`), so
    /// its indexes agree with its tables, its constraints hold, and none of its header's settings
    /// comes with it. `Database.replaceContents` takes this replica's write lock first; then,
    /// on a connection of the file's own with the replica's attached, this replica's own tables
    /// (`snapshotLocalTables`) are written into the file, with the log marked as come from
    /// upstream and the cursors at `through`; then the file's pages become this replica's content,
    /// in the same durable transaction. No other connection, in this process or another (`chorus
    /// replicas revoke` beside a serving node), commits to the replica in between, and a replica
    /// killed at any instant holds either none of it or all.
    ///
    /// The pages are copied while `integrity_check` still runs on another core (`copyingAhead`):
    /// `checked` waits for it, and throws if it found the file damaged, before the file is written
    /// or anything committed (a bootstrap's critical path was the check, then the copy, one after
    /// the other: P3 in `Docs/performance.md`).
    private func takeSnapshotPages(at path: String, _ taken: TakenSnapshot, tables: [String], checked: () throws -> Void) throws {
        var options = Database.Options()
        options.isUntrusted = true
        options.journalModeWAL = false
        options.synchronous = .off   // a scratch file: a replica killed now starts from nothing again
        let snapshot = try Database(path: path, options: options)
        try snapshot.execute("PRAGMA journal_mode=MEMORY")
        // The checkpoint of the pages, due at this connection's next statement, runs beside it:
        // the replica's first pull after the snapshot need not wait for it (6 ms at 10,000
        // people, P3).
        snapshotCheckpoint = try database.replaceContents(with: snapshot, checkpointInBackground: true, copyingAhead: true) {
            try checked()
            try snapshot.run("ATTACH DATABASE ? AS replica", Replica.databasePath(location))
            defer { try? snapshot.execute("DETACH DATABASE replica") }
            // Deferred: the replica is only read (its write lock is the copy's), the file written.
            try snapshot.execute("BEGIN DEFERRED")
            defer { if snapshot.isInTransaction { try? snapshot.execute("ROLLBACK") } }
            try requireEmpty(tables, on: snapshot, schemaName: "replica")
            let local = Replica.snapshotLocalTables.sorted()
            for table in local {
                let quoted = StorageSchema.quote(table)
                try snapshot.execute("DELETE FROM main.\(quoted); INSERT INTO main.\(quoted) SELECT * FROM replica.\(quoted)")
            }
            // `records`' id high-water mark comes with the replicated tables, the local tables'
            // with the replica's own; nothing else.
            try snapshot.execute("""
                DELETE FROM main.sqlite_sequence WHERE name NOT IN (\(Replica.sqlList(tables)));
                INSERT INTO main.sqlite_sequence(name, seq) SELECT name, seq FROM replica.sqlite_sequence WHERE name IN (\(Replica.sqlList(local)));
                """)
            try snapshot.run("UPDATE main.log_blocks SET source = 'upstream', received_wall = ?", taken.now)
            try snapshot.run("UPDATE main.log_ids SET received_wall = ?", taken.now)
            try snapshot.run(Replica.forgetOwnLatestSQL, id.bytes)
            try writeTakenMeta(taken, on: snapshot)
            // Every operation in it came from the upstream, so none waits to be pushed: the push
            // cursor moves past them too (from 0, it would ask a compacted log for what it lacks).
            // The id logged at the cursor is not known until the first page after it says it.
            try snapshot.run("""
                UPDATE main.upstream SET pull_cursor = max(pull_cursor, ?1), push_cursor = max(push_cursor, ?1), pull_operation = NULL WHERE id = 1
                """, taken.through)
            try snapshot.run(Replica.nothingToKeepSQL, taken.through)
            try snapshot.execute("COMMIT")
        }
    }

    /// The counter and clock this replica goes on from, into `meta` of `connection`'s main database.
    private func writeTakenMeta(_ taken: TakenSnapshot, on connection: Database) throws {
        try connection.run("""
            INSERT INTO main.meta(key, value) VALUES ('counter', ?), ('clock_wall', ?), ('clock_logical', ?)
            ON CONFLICT(key) DO UPDATE SET value = excluded.value
            """, Int64(taken.counter), Int64(taken.clock.wall), Int64(taken.clock.logical))
    }

    /// Takes the snapshot row by row, in one transaction: a replica holding data that starts again
    /// (`replacing`), with the checks that it may (`checkReplaceable`, which read its own log
    /// beside the snapshot's), or a new replica whose file or SQLite does not allow its pages to
    /// be taken as they are.
    private func takeSnapshotRows(at path: String, _ taken: TakenSnapshot, tables: [String], replacing: Bool, lostOwnChecked: Bool,
                                  settingAside: Bool) throws {
        try database.run("ATTACH DATABASE ? AS snapshot", path)
        defer { try? database.execute("DETACH DATABASE snapshot") }
        try database.transaction {
            if replacing {
                let keptAside = settingAside ? try keepWaitingWrites(now: taken.now) : nil
                try checkReplaceable(bySnapshotLogIDs: "snapshot.log_ids", lostOwnChecked: lostOwnChecked, keptAside: keptAside)
                for table in tables { try database.execute("DELETE FROM main.\(StorageSchema.quote(table))") }
                // The log starts again as the upstream's, numbered as its: what was acknowledged
                // of the old one means nothing now (only admin and revoked tokens are left).
                try database.execute("UPDATE peers SET acknowledged_seq = 0, committed_seq = 0")
                // So do the upstream's acknowledgements, and what compaction removed of it.
                try database.execute("DELETE FROM upstream_acknowledged; DELETE FROM meta WHERE key IN ('pushable_compacted_through', '\(Replica.exportedThroughKey)', '\(Replica.resendUpstreamOwnKey)')")
                try database.run("INSERT INTO meta(key, value) VALUES ('log_generation', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1")
            }
            try requireEmpty(tables, on: database, schemaName: "main")
            // Row by row, never SQLite's transfer optimisation (the `WHERE 1` turns it off): that
            // would copy each index as the file has it, and skip UNIQUE and NOT NULL (this path
            // checks the file with `quick_check` only). Inserted anew, every index is rebuilt and
            // every constraint enforced. The log's blocks and intervals are marked as come from
            // upstream, now, as they are copied (an update afterwards would write them twice).
            try database.run("""
                INSERT INTO main.log_blocks(last_seq, first_seq, source, received_wall, live, body)
                    SELECT last_seq, first_seq, 'upstream', ?, live, body FROM snapshot.log_blocks WHERE 1
                """, taken.now)
            try database.run("INSERT INTO main.log_ids(replica, first, last, received_wall) SELECT replica, first, last, ? FROM snapshot.log_ids WHERE 1", taken.now)
            for table in tables where table != "log_blocks" && table != "log_ids" {
                let quoted = StorageSchema.quote(table)
                try database.execute("INSERT INTO main.\(quoted) SELECT * FROM snapshot.\(quoted) WHERE 1")
            }
            if replacing {
                // An erasure the copy holds is never applied here (it is at or below the copy's
                // sequence, never pulled): the writes of its record kept in `set_aside` go now, as
                // `erase` takes them (protocol 4.6). Those this start keeps are settled at once as
                // an operation of an erased record is, their bytes gone: counted with the start
                // (`latestSetAsideStart`), dropped at the next. Their counters stay excused
                // (`keptAside`): they are not lost, they are erased.
                try database.run("""
                    UPDATE main.set_aside SET state = ?, reason = ?, operation = NULL
                    WHERE state = ? AND record_hash IN (SELECT hash FROM main.erased)
                    """, SetAsideState.madeAgain.rawValue, SetAsideReason.recordErased, SetAsideState.pending.rawValue)
                try database.run("DELETE FROM main.set_aside WHERE state <> ? AND record_hash IN (SELECT hash FROM main.erased)", SetAsideState.madeAgain.rawValue)
            }
            try database.run(Replica.forgetOwnLatestSQL, id.bytes)
            // `records` ids are never reused (AUTOINCREMENT): the copy's high-water marks come too.
            let listed = Replica.sqlList(tables)
            if try database.queryScalarInteger("SELECT count(*) FROM snapshot.sqlite_schema WHERE name = 'sqlite_sequence'") == 1 {
                try database.execute("""
                    DELETE FROM main.sqlite_sequence WHERE name IN (\(listed));
                    INSERT INTO main.sqlite_sequence(name, seq) SELECT name, seq FROM snapshot.sqlite_sequence WHERE name IN (\(listed));
                    """)
            }
            try writeTakenMeta(taken, on: database)
            // Every operation in it came from the upstream, so none waits to be pushed: the push
            // cursor moves past them too. Replacing, the cursors counted the old log: they become
            // the snapshot's exactly (a push cursor past `through` would skip this replica's next
            // writes).
            try database.run(replacing ? "UPDATE upstream SET pull_cursor = ?1, push_cursor = ?1, pull_operation = NULL WHERE id = 1"
                                       : "UPDATE upstream SET pull_cursor = max(pull_cursor, ?1), push_cursor = max(push_cursor, ?1), pull_operation = NULL WHERE id = 1",
                             taken.through)
            try database.run(Replica.nothingToKeepSQL, taken.through)
        }
    }

    /// The page cache of the connections that check a received snapshot (`integrity_check`, and
    /// the content checks beside it), in KiB: room for the whole copy of 10,000 people (3.9 MB)
    /// several times over. With SQLite's default (2,000 KiB) the index checks, which seek each
    /// index once for every row of its table, read pages again that had been pushed out, about
    /// 1 ms of a bootstrap's critical path (P3 in `Docs/performance.md`). Memory for the check
    /// only, given back when its connections close.
    static let snapshotCheckCacheKibibytes = 32_768

    /// The oldest SQLite whose `integrity_check` a new replica trusts to take a snapshot's pages
    /// as they are: from 3.40, it also finds values whose type their column cannot hold (text in
    /// a numeric column of a table that is not STRICT), which an insert row by row would convert
    /// or refuse. With an older SQLite a new replica takes the snapshot row by row.
    static let pageCopySQLiteVersionMin: Int32 = 3_040_000

    /// Whether a received snapshot's file header (its first 100 bytes) is one this build's
    /// databases have, so its pages may become the replica's as they are: the replica's page
    /// size, no bytes reserved at the end of each page, no free pages (a free page's old bytes
    /// would come along, where no erasure could reach them), schema format 4, UTF-8, and no
    /// setting Chorus never makes (a default cache size, auto-vacuum, a user version, an
    /// application id, anything in the bytes reserved for expansion). The backup copies these
    /// fields and no check of the content looks at them; a file with others is taken row by row.
    /// What the unused space inside a page holds is not looked at: like the content, it is the
    /// upstream's word (its copy writes fresh pages, with `secure_delete` on).
    static func headerAllowsPageCopy(_ header: [UInt8], pageSize: Int64) -> Bool {
        guard header.count >= 100 else { return false }
        func number(_ offset: Int) -> UInt32 { header[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        let size = Int64(header[16]) << 8 | Int64(header[17])
        return (size == 1 ? 65_536 : size) == pageSize
            && Array(header[20..<24]) == [0, 64, 32, 32]
            && number(36) == 0
            && number(44) == 4
            && number(48) == 0
            && number(52) == 0 && number(64) == 0
            && number(56) == 1
            && number(60) == 0 && number(68) == 0
            && header[72..<92].allSatisfy { $0 == 0 }
    }

    /// Checks a received snapshot on a hardened connection of its own, and reads its file header.
    /// `checkingIndexes` runs `integrity_check` (every index against its table, UNIQUE, NOT NULL
    /// and CHECK) where `quick_check` is enough for a snapshot taken row by row, which rebuilds
    /// the indexes and enforces the constraints itself.
    ///
    /// When the file's pages may be taken as they are, it returns with `integrity_check` still
    /// running (`SnapshotVerdict.indexCheck`), and the caller copies them meanwhile; else it waits.
    private func verifySnapshot(at path: String, through: Int64, from upstream: ReplicaID, checkingIndexes: Bool) throws -> SnapshotVerdict {
        let refuse = Replica.snapshotRefused
        let ownSchema = try Replica.wrapStorage { try Replica.comparableSchema(database.schemaRows()) }
        let ownMigrations = try appliedMigrations()
        let pageSize = try Replica.wrapStorage { try database.queryScalarInteger("PRAGMA page_size") ?? 0 }
        let header = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: path)).read(upToCount: 100)).flatMap { $0 }.map { [UInt8]($0) } ?? []
        do {
            var options = Database.Options()
            options.isUntrusted = true
            options.journalModeWAL = false
            options.synchronous = .off
            options.cacheKibibytes = Replica.snapshotCheckCacheKibibytes
            let snapshot = try Database(path: path, options: options)
            try Replica.registerFunctions(on: snapshot, schema: schema)
            // Taken page for page, its indexes must agree with its tables: checked on another
            // connection and core while this one checks the rest.
            let indexCheck = checkingIndexes ? BackgroundIntegrityCheck(path: path, options: options) : nil
            do {
                // Every page and record well formed before any content is read, unless
                // `integrity_check` (which does all `quick_check` does) runs beside: then the
                // content is read at once, SQLite reading a damaged file safely, and a fault either
                // finds is reported as the damage it is (8 ms of a bootstrap's critical path, P3).
                if indexCheck == nil { try Replica.refuseIfDamaged(try snapshot.quickCheck()) }
                let (clock, ownLast) = try checkContent(of: snapshot, through: through, from: upstream, ownSchema: ownSchema,
                                                        ownMigrations: ownMigrations, refuse: refuse)
                let allowsPageCopy = Replica.headerAllowsPageCopy(header, pageSize: pageSize)
                // Its pages will be copied while the check runs (`takeSnapshotPages` waits for it).
                if let indexCheck, allowsPageCopy {
                    return SnapshotVerdict(clock: clock, ownLast: ownLast, headerAllowsPageCopy: true, indexCheck: PendingIndexCheck(check: indexCheck))
                }
                try Replica.refuseIfDamaged(try indexCheck?.problems() ?? [])
                return SnapshotVerdict(clock: clock, ownLast: ownLast, headerAllowsPageCopy: allowsPageCopy, indexCheck: nil)
            } catch {
                // Indexes that disagree with their tables are the deeper fault: said first.
                try Replica.refuseIfDamaged((try? indexCheck?.problems()) ?? [])
                throw error
            }
        } catch let error as ChorusError {
            throw error
        } catch let error as SQLiteError {
            throw Replica.snapshotUnreadable(error)
        }
    }

    /// The refusal of a received snapshot, saying `why`.
    static func snapshotRefused(_ why: String) -> ChorusError {
        ChorusError(.corruptBundle, "the upstream's snapshot was refused: \(why); nothing of it was applied",
                    hint: "the client pulls the log instead; if this repeats, run `chorus check` on the upstream")
    }

    /// The refusal of a received snapshot SQLite cannot read.
    static func snapshotUnreadable(_ error: SQLiteError) -> ChorusError {
        snapshotRefused("it cannot be read as a database (\(error.message))")
    }

    /// Throws the refusal of a snapshot in which a check found `problems`.
    static func refuseIfDamaged(_ problems: [String]) throws {
        guard problems.isEmpty else { throw snapshotRefused("it is damaged (\(problems.prefix(3).joined(separator: "; ")))") }
    }

    /// A received snapshot's `integrity_check`, still running on another core while its pages are
    /// copied into the replica (`takeSnapshotPages`), uncommitted until it is found sound.
    private struct PendingIndexCheck {
        let check: BackgroundIntegrityCheck

        /// Waits for the check; throws the snapshot's refusal when it found the file damaged or
        /// could not read it.
        func requireSound() throws {
            let problems: [String]
            do { problems = try check.problems() } catch let error as SQLiteError { throw Replica.snapshotUnreadable(error) }
            try Replica.refuseIfDamaged(problems)
        }

        /// Waits for the check, whatever it found: before the file is written or removed.
        func waitQuietly() { _ = try? check.problems() }
    }

    /// What the checks of a received snapshot found.
    private struct SnapshotVerdict {
        /// The latest timestamp it holds.
        let clock: HybridTimestamp
        /// The last counter of this replica's own operations in it.
        let ownLast: UInt64
        /// Whether its file header allows its pages to be taken as they are (`headerAllowsPageCopy`).
        let headerAllowsPageCopy: Bool
        /// Its `integrity_check`, still running, when its pages are to be taken (else it passed).
        let indexCheck: PendingIndexCheck?
    }

    /// The checks of a received snapshot's content (`verifySnapshot`), on `snapshot`'s connection.
    private func checkContent(of snapshot: Database, through: Int64, from upstream: ReplicaID, ownSchema: [[String?]], ownMigrations: [String],
                              refuse: (String) -> ChorusError) throws -> (HybridTimestamp, UInt64) {
        // The copy is a fresh database: it has no statistics tables, so none is exempt in it.
        guard try snapshot.schemaRows() == ownSchema else {
            throw refuse("its schema differs from this replica's")
        }
        let migrations = try snapshot.query("SELECT name FROM schema_migrations ORDER BY applied_order").compactMap { $0.text(0) }
        guard migrations == ownMigrations else { throw refuse("it was written by another storage version") }
        guard try snapshot.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'") == upstream.hex else {
            throw refuse("it is not a copy of the upstream \(upstream.hex)")
        }
        let continuity = try Replica.logContinuity(snapshot)
        guard continuity.latest == through else {
            throw refuse("its log does not end at sequence \(through), as the upstream said")
        }
        // Compacted through its point, the log must hold every operation after it, or this
        // replica would miss them for good: it pulls only from `through` on.
        guard continuity.isContiguous, try snapshot.queryScalarInteger(Replica.overlappingBlocksSQL) == 0 else {
            throw refuse("its log has a gap after its compaction point (\(continuity.floor)), or blocks that overlap")
        }
        // The columns say which sequences a block covers, not what its body holds: each block
        // (after the point, and the few at or below it that name an open conflict's values,
        // which no count above covers) must hold one operation per sequence and count its live
        // ones right, as this replica's own blocks do (`chorus check`).
        // Sequences start at 1 and a block's run forwards: so the count below cannot overflow.
        guard try snapshot.queryScalarInteger("SELECT count(*) FROM log_blocks WHERE first_seq < 1 OR last_seq < first_seq") == 0 else {
            throw refuse("its log has a block whose sequences are out of order or below 1")
        }
        var blockProblem: String?
        do {
            try snapshot.forEachColumns("SELECT first_seq, last_seq, live, body FROM log_blocks ORDER BY last_seq") { row in
                guard blockProblem == nil else { return }
                let first = row.integer(0), last = row.integer(1)
                let counts = try row.withBlob(3) { try LogBlock.counts(in: $0, block: last) }
                if Int64(counts.operations) != last - first + 1 || Int64(counts.live) != row.integer(2) {
                    blockProblem = "its log block ending at sequence \(last) does not hold one operation for each of its sequences, or miscounts its live ones"
                }
            }
        } catch let error as ChorusError {
            blockProblem = "a block of its log does not decode (\(error.message))"
        }
        if let blockProblem { throw refuse(blockProblem) }
        guard try snapshot.queryScalarInteger(Replica.logLatestMismatchesSQL) == 0 else {
            throw refuse("its log_latest names, for an origin, another operation than the highest it logged")
        }
        // An entry names its origin and its field by number (`EntryRows.swift`): a number not
        // in `origins` or `fields` would later be given to a new one, and the entry credited to it.
        let unknown = [EntryRows.unknownReferencesSQL, EntryRows.foldedOfUnknownRecordsSQL]
        let folded: EntryRows.FoldedSurvey
        do {
            folded = try EntryRows.surveyFolded(snapshot, schema: schema)
        } catch let error as ChorusError {
            throw refuse("a record's folded entries are damaged (\(error.message))")
        }
        guard try snapshot.queryScalarInteger("SELECT " + unknown.map { "EXISTS (\($0))" }.joined(separator: " OR ")) == 0, folded.isSound else {
            throw refuse("it holds entries of unknown origins, fields or kinds, or values kept in typed columns its records have not got, or that cannot be read as JSON")
        }
        guard try snapshot.queryScalarInteger("SELECT (SELECT count(*) FROM peers) + (SELECT count(*) FROM peer_relayed) + (SELECT count(*) FROM upstream)") == 0 else {
            throw refuse("it holds the upstream's registered replicas")
        }
        let wall = try snapshot.queryScalarInteger("SELECT max(coalesce((SELECT value FROM meta WHERE key = 'clock_wall'), 0), coalesce((SELECT max(wall) FROM entry_rows), 0), ?)", folded.wallMax) ?? 0
        let logical = try snapshot.queryScalarInteger("SELECT value FROM meta WHERE key = 'clock_logical'") ?? 0
        guard wall >= 0, logical >= 0, logical <= Int64(UInt32.max) else { throw refuse("its clock is malformed") }
        let latest = HybridTimestamp(wall: UInt64(wall), logical: UInt32(logical))
        try clock.checkDrift(latest)
        let ownLast = try snapshot.queryScalarInteger("SELECT max(last) FROM log_ids WHERE replica = ?", id.bytes) ?? 0
        return (latest, UInt64(max(0, ownLast)))
    }

    /// A replica's own schema rows without SQLite's statistics tables, which `ANALYZE` may have
    /// added: exactly the tables `sqlite_stat1` and `sqlite_stat4`, nothing else of a similar name.
    /// Never applied to a received copy, which is a fresh database and has none.
    static func comparableSchema(_ rows: [[String?]]) -> [[String?]] {
        rows.filter { !($0[0] == "table" && ["sqlite_stat1", "sqlite_stat4"].contains($0[1] ?? "")) }
    }

    /// The length and XXH64 checksum of a file, read a megabyte at a time.
    static func checksum(ofFile path: String) throws -> (bytes: Int64, checksum: UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ChorusError(.storage, "cannot read the snapshot \(path)", hint: "check the replica folder's permissions")
        }
        defer { try? handle.close() }
        var hasher = XXHash64()
        var bytes: Int64 = 0
        while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty {
            piece.withUnsafeBytes { hasher.update($0) }
            bytes += Int64(piece.count)
        }
        return (bytes, hasher.finalize())
    }

    /// Removes every snapshot file a client was receiving in `folder` (`snapshotFilePrefix` + `in-`)
    /// that no live download holds (`IncomingSnapshotHold`), whatever its age: called once the
    /// replica holds data, when none of them can be of use.
    public static func removeIncomingSnapshots(in folder: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(incomingSnapshotPrefix) {
            let path = (folder as NSString).appendingPathComponent(name)
            if !IncomingSnapshotHold.isHeld(IncomingSnapshotHold.mainFile(of: path)) { try? FileManager.default.removeItem(atPath: path) }
        }
    }

    /// How the files a client receives snapshots into begin.
    static var incomingSnapshotPrefix: String { snapshotFilePrefix + "in-" }

    /// Removes a snapshot file and whatever SQLite kept beside it.
    public static func removeSnapshotFile(_ path: String) {
        for suffix in [""] + sqliteSideFileSuffixes { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// The files SQLite keeps beside a database file, by what it adds to its name.
    static let sqliteSideFileSuffixes = ["-wal", "-shm", "-journal"]

    /// A snapshot file not written to for this long was left by a process that stopped mid-way (a
    /// live transfer writes at least once per request timeout, 60 s by default).
    public static let snapshotAbandonedSeconds: Double = 600

    /// Removes snapshot files left in `folder` by a process that stopped mid-way (see
    /// `snapshotAbandonedSeconds`); both sides call it before writing a new one. With `prefix`
    /// and `olderThanSeconds`, the files of one kind whose work is shorter (`EmptyStorageTemplate`).
    public static func removeAbandonedSnapshots(in folder: String, prefix: String = snapshotFilePrefix,
                                                olderThanSeconds: Double = snapshotAbandonedSeconds) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        let cutoff = Date().addingTimeInterval(-olderThanSeconds)
        for name in names where name.hasPrefix(prefix) {
            let path = (folder as NSString).appendingPathComponent(name)
            // A download holds its file while it runs: one that no process holds was left by a
            // process that stopped, whatever its age (a node killed again and again in its first
            // minutes, the OOM killer during a large bootstrap, left one more each time).
            if name.hasPrefix(incomingSnapshotPrefix) {
                if !IncomingSnapshotHold.isHeld(IncomingSnapshotHold.mainFile(of: path)) { try? FileManager.default.removeItem(atPath: path) }
                continue
            }
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < cutoff {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }
}
