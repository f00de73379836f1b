import ChorusCore
import SQLiteKit

/// The replica's tables and their migrations.
///
/// Engine tables (names fixed; see `Docs/architecture.md`, "Storage"):
/// - `meta`: replica id, name, counter and clock, one row per key;
/// - `oplog` (until `0010`, now `log_blocks`, see below): every operation ever received, keyed by id; `seq` is the local cursor, never reused
///   because log rows are never deleted (`0005` dropped AUTOINCREMENT on that guarantee); `rid` says
///   whose record an operation touched, read only by erasure, which scans (`0006` dropped its index).
///   The log's ids also keep superseded operations from applying again (see `superseded`), so a
///   future compaction must keep the ids of the operations it drops. Which ids the log holds is
///   kept apart, in `log_ids` (`0009`): per origin replica, intervals of counters, which is how a
///   duplicate is found without a unique index on the log;
/// - `records`: one row per record known, with the first 8 bytes of its hash (`0014`) and derived life state; `rid` is never
///   reused (AUTOINCREMENT), so an erased record's id cannot be confused with a new record's;
/// - `entries`: the live entries of every register, map key, set element and log;
/// - `superseded`: operation ids superseded, scoped to their record and field, that had no live
///   entry when superseded: they may not have arrived yet (delivery is not causal). An id whose live
///   entry was removed is in the log, whose duplicate check keeps it from applying again, so it gets
///   no row; which ids have rows therefore depends on arrival order, and no reader relies on more
///   than "this id must not apply";
/// - `counters`, `deletes`, `delete_observed`, `erased`;
/// - `conflicts`: records edited while deleted (`0011` moved the value conflicts out);
/// - `conflicted_records` (`0011`): a row exactly when one of the record's registers or map keys has
///   two live entries or more; which ones, readers find in the record's entries.
///
/// - `log_compaction` (`0012`): one row once the log has been compacted, the sequence through
///   which its operations may be gone (`Replica+Compaction.swift`);
/// - `log_latest` (`0021`): per origin replica, the counter and content hash of the highest
///   operation the log ever held, kept through compaction: what tells a restored folder's write
///   from the one it lost under the same id (`Replica+OwnOperations.swift`);
/// - `log_blocks` (`0010`): the log, a row per block of operations with consecutive sequences
///   (`LogBlock.swift`), keyed by the block's last sequence; `source` and `received_wall` are the
///   block's, since a batch's operations share them.
///
/// Sync tables (`0003_sync`): `oplog.source` says where each operation came from (NULL: made here;
/// `upstream`; `peer:NAME` for a replica below this node), so nothing is echoed back to where it came
/// from; `peers` holds replicas registered below this node (token hashes only), `peer_relayed` the
/// replica ids a relay says are below it, `upstream` this node's upstream and its cursors.
///
/// Materialised tables: one per collection of the schema, named after it, with one column per
/// register or counter field; `COLLECTION__FIELD` side tables for sets, maps and logs.
enum StorageSchema {
    /// The field name used to scope record-level supersession (restore superseding delete).
    static let recordField = "#record"

    /// The first migration every replica's database records, whatever build made it: what tells a
    /// Chorus database from another program's that has tables of the same names.
    static let firstMigrationName = "0001_engine"

    static func migrator(schema: Schema) -> Migrator {
        var migrator = Migrator()
        migrator.register(firstMigrationName) { db in
            try db.execute("""
                CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
                CREATE TABLE oplog(
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    rid INTEGER,
                    payload TEXT,
                    UNIQUE(replica, counter)
                );
                CREATE INDEX oplog_rid ON oplog(rid) WHERE rid IS NOT NULL;
                CREATE TABLE records(
                    rid INTEGER PRIMARY KEY AUTOINCREMENT,
                    collection TEXT NOT NULL,
                    record TEXT NOT NULL,
                    hash BLOB NOT NULL UNIQUE,
                    deleted INTEGER NOT NULL DEFAULT 0,
                    visible INTEGER NOT NULL DEFAULT 1,
                    UNIQUE(collection, record)
                );
                CREATE TABLE entries(
                    rid INTEGER NOT NULL,
                    field TEXT NOT NULL,
                    key TEXT NOT NULL,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    wall INTEGER NOT NULL,
                    logical INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    value TEXT,
                    seq INTEGER NOT NULL,
                    displayed INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY(rid, field, replica, counter)
                ) WITHOUT ROWID;
                CREATE INDEX entries_key ON entries(rid, field, key);
                CREATE TABLE superseded(
                    rid INTEGER NOT NULL,
                    field TEXT NOT NULL,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    PRIMARY KEY(rid, field, replica, counter)
                ) WITHOUT ROWID;
                CREATE TABLE counters(
                    rid INTEGER NOT NULL,
                    field TEXT NOT NULL,
                    total INTEGER NOT NULL,
                    PRIMARY KEY(rid, field)
                ) WITHOUT ROWID;
                CREATE TABLE deletes(
                    rid INTEGER NOT NULL,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    wall INTEGER NOT NULL,
                    logical INTEGER NOT NULL,
                    PRIMARY KEY(rid, replica, counter)
                ) WITHOUT ROWID;
                CREATE TABLE delete_observed(
                    rid INTEGER NOT NULL,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    delete_replica BLOB NOT NULL,
                    delete_counter INTEGER NOT NULL,
                    PRIMARY KEY(rid, replica, counter, delete_replica, delete_counter)
                ) WITHOUT ROWID;
                CREATE TABLE erased(
                    hash BLOB PRIMARY KEY NOT NULL,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE conflicts(
                    rid INTEGER NOT NULL,
                    field TEXT NOT NULL,
                    key TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    PRIMARY KEY(rid, field, key)
                ) WITHOUT ROWID;
                """)
        }
        migrator.register("0002_people_v1") { db in
            try db.execute(materialisedDDL(for: PeopleSchema.v1))
        }
        migrator.register("0003_sync") { db in
            try db.execute("""
                ALTER TABLE oplog ADD COLUMN source TEXT;
                CREATE TABLE peers(
                    name TEXT PRIMARY KEY NOT NULL,
                    role TEXT NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    replica BLOB UNIQUE,
                    revoked INTEGER NOT NULL DEFAULT 0,
                    created_wall INTEGER NOT NULL,
                    last_seen_wall INTEGER,
                    acknowledged_seq INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE peer_relayed(
                    peer TEXT NOT NULL,
                    replica BLOB NOT NULL,
                    PRIMARY KEY(peer, replica)
                ) WITHOUT ROWID;
                CREATE TABLE upstream(
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    url TEXT NOT NULL,
                    token_file TEXT NOT NULL,
                    replica BLOB,
                    pull_cursor INTEGER NOT NULL DEFAULT 0,
                    push_cursor INTEGER NOT NULL DEFAULT 0,
                    last_attempt_wall INTEGER,
                    last_success_wall INTEGER,
                    last_error TEXT,
                    observed_skew_ms INTEGER
                );
                """)
        }
        migrator.register("0004_admin") { db in
            try db.execute("""
                ALTER TABLE oplog ADD COLUMN received_wall INTEGER;
                ALTER TABLE peers ADD COLUMN reported_digest TEXT;
                ALTER TABLE peers ADD COLUMN digest_matched INTEGER;
                ALTER TABLE peers ADD COLUMN digest_reported_wall INTEGER;
                ALTER TABLE peers ADD COLUMN observed_skew_ms INTEGER;
                ALTER TABLE peers ADD COLUMN pending_up INTEGER;
                ALTER TABLE peers ADD COLUMN last_pull_wall INTEGER;
                ALTER TABLE peers ADD COLUMN last_push_wall INTEGER;
                """)
            try db.execute(materialisedDDL(for: Schema(version: 2, collections: [PeopleSchema.resolutions])))
        }
        migrator.register("0005_lean_log_and_entries") { db in
            // Two fewer B-tree writes per merged operation (measured in Docs/performance.md):
            // - `oplog.seq` without AUTOINCREMENT, which wrote `sqlite_sequence` on every insert.
            //   A plain INTEGER PRIMARY KEY takes max(seq) + 1, and log rows are never deleted
            //   (erasing clears a payload, never the row), so a cursor value is still never reused;
            // - `entries` keyed by (rid, field, key, replica, counter), which serves every lookup by
            //   key without the separate `entries_key` index; removing one entry by id scans only its
            //   field's entries of one record.
            try db.execute("""
                CREATE TABLE oplog_v2(
                    seq INTEGER PRIMARY KEY,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    rid INTEGER,
                    payload TEXT,
                    source TEXT,
                    received_wall INTEGER,
                    UNIQUE(replica, counter)
                );
                INSERT INTO oplog_v2(seq, replica, counter, rid, payload, source, received_wall)
                    SELECT seq, replica, counter, rid, payload, source, received_wall FROM oplog ORDER BY seq;
                DROP TABLE oplog;
                ALTER TABLE oplog_v2 RENAME TO oplog;
                CREATE INDEX oplog_rid ON oplog(rid) WHERE rid IS NOT NULL;
                CREATE TABLE entries_v2(
                    rid INTEGER NOT NULL,
                    field TEXT NOT NULL,
                    key TEXT NOT NULL,
                    replica BLOB NOT NULL,
                    counter INTEGER NOT NULL,
                    wall INTEGER NOT NULL,
                    logical INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    value TEXT,
                    seq INTEGER NOT NULL,
                    displayed INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY(rid, field, key, replica, counter)
                ) WITHOUT ROWID;
                INSERT INTO entries_v2 SELECT rid, field, key, replica, counter, wall, logical, kind, value, seq, displayed FROM entries;
                DROP TABLE entries;
                ALTER TABLE entries_v2 RENAME TO entries;
                """)
        }
        migrator.register("0006_log_without_record_index") { db in
            // One B-tree write fewer per merged operation (P1 empty +20%, Docs/performance.md). The
            // index served only erasure, which now scans the log once: a rare administrative act that
            // costs ~0.1 s per million logged operations, against an index entry on every operation.
            try db.execute("DROP INDEX oplog_rid;")
        }
        migrator.register("0007_display_derived") { db in
            // Which sibling displays is a function of a key's live entries (`DisplayRule.swift`), so
            // it is derived where it is read instead of stored: a conflicting merge then writes no
            // flag (a rewrite of the whole entries row, the largest statement of a conflicting merge,
            // Docs/performance.md). Nothing else changes: the digest still frames the flag, derived.
            try db.execute("ALTER TABLE entries DROP COLUMN displayed;")
        }
        migrator.register("0008_conflict_index_repair") { db in
            // The merge now writes or deletes a conflicts row only when a key's live count crosses
            // two, trusting the rows that exist (Replica+Materialise.swift). Earlier builds could leave
            // a row behind for a key of an undeclared field that lost all its entries; their merge
            // rewrote such rows on the key's next change, this one would not. Derived data, so it is
            // rebuilt from the entries once: one scan of the entries in key order.
            try db.execute("""
                DELETE FROM conflicts WHERE kind IN ('register', 'map') AND (
                    SELECT count(*) FROM entries e WHERE e.rid = conflicts.rid AND e.field = conflicts.field AND e.key = conflicts.key) < 2;
                INSERT OR IGNORE INTO conflicts(rid, field, key, kind)
                    SELECT rid, field, key, min(kind) FROM entries WHERE kind IN ('register', 'map')
                    GROUP BY rid, field, key HAVING count(*) >= 2;
                """)
        }
        migrator.register("0009_log_ids_as_intervals") { db in
            // One B-tree write fewer per merged operation (Docs/performance-notes.md, eighth round):
            // the log's unique index on (replica, counter) gives way to `log_ids`, each origin replica's
            // logged counters as intervals (`CounterRanges.swift`), usually one row per origin. The
            // one reader by id that needed a payload (a conflict sibling's author) reads it by log
            // sequence, which `deletes` now keeps as `entries` does. Intervals are built by the
            // gaps-and-islands rule: within an island, counter minus its rank is constant.
            try db.execute("""
                CREATE TABLE log_ids(
                    replica BLOB NOT NULL,
                    first INTEGER NOT NULL,
                    last INTEGER NOT NULL,
                    received_wall INTEGER,
                    PRIMARY KEY(replica, first)
                ) WITHOUT ROWID;
                INSERT INTO log_ids(replica, first, last, received_wall)
                    SELECT replica, min(counter), max(counter), max(received_wall) FROM (
                        SELECT replica, counter, received_wall,
                               counter - row_number() OVER (PARTITION BY replica ORDER BY counter) AS island
                        FROM oplog)
                    GROUP BY replica, island;
                ALTER TABLE deletes ADD COLUMN seq INTEGER;
                UPDATE deletes SET seq = (SELECT o.seq FROM oplog o WHERE o.replica = deletes.replica AND o.counter = deletes.counter);
                """)
            // The log's table, and its unique index with it, goes in `0010`.
        }
        migrator.register("0010_log_in_blocks") { db in
            // The log written a block of operations per row instead of a row per operation: a
            // merged operation no longer costs a B-tree insert of its own (Docs/performance-notes.md,
            // eighth round). The rows become blocks of consecutive sequences that arrived together
            // (same source and arrival time), as a batch now writes them; sequences are kept, so
            // every cursor, every entry's `seq` and every peer's acknowledgement stay valid.
            try db.execute("""
                CREATE TABLE log_blocks(
                    last_seq INTEGER PRIMARY KEY,
                    first_seq INTEGER NOT NULL,
                    source TEXT,
                    received_wall INTEGER,
                    live INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                """)
            var block = LogBlock.Encoder()
            var first: Int64 = 0, last: Int64 = 0
            var source: String?, receivedWall: Int64?
            func write() throws {
                guard block.count > 0 else { return }
                try db.run("INSERT INTO log_blocks(last_seq, first_seq, source, received_wall, live, body) VALUES (?, ?, ?, ?, ?, ?)",
                           last, first, source, receivedWall, Int64(block.live), block.bytes)
                block.removeAll()
            }
            try db.forEachColumns("SELECT seq, replica, counter, rid, payload, source, received_wall FROM oplog ORDER BY seq") { row in
                let seq = row.integer(0)
                let rowSource = row.text(5), rowWall: Int64? = row.isNull(6) ? nil : row.integer(6)
                if block.count > 0 && (seq != last + 1 || rowSource != source || rowWall != receivedWall || block.isFull) { try write() }
                if block.count == 0 { (first, source, receivedWall) = (seq, rowSource, rowWall) }
                guard let replica = row.blob(1), replica.count == 16 else {
                    throw ChorusError(.storage, "log row \(seq) has no 16-byte replica id; the log cannot be moved into blocks",
                                      hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
                }
                block.append(replica: replica, counter: UInt64(bitPattern: row.integer(2)), rid: row.isNull(3) ? nil : row.integer(3),
                             payload: row.isNull(4) ? nil : row.withBlob(4) { Array($0) })
                last = seq
            }
            try write()
            try db.execute("DROP TABLE oplog;")
        }
        migrator.register("0011_conflicts_by_record") { db in
            // The conflict index of registers and map keys kept per record instead of per key
            // (Docs/performance-notes.md, tenth round): a merge that brings a record's ten fields into
            // conflict writes one row, not ten. Readers find which keys are in conflict from the
            // record's entries. `conflicts` keeps only the edited-while-deleted rows. Derived data, so
            // it is built from the entries, the merge state itself.
            try db.execute("""
                CREATE TABLE conflicted_records(rid INTEGER PRIMARY KEY);
                INSERT INTO conflicted_records(rid)
                    SELECT DISTINCT rid FROM entries WHERE kind IN ('register', 'map')
                    GROUP BY rid, field, key HAVING count(*) >= 2;
                DELETE FROM conflicts WHERE kind IN ('register', 'map');
                """)
        }
        migrator.register("0012_log_compaction") { db in
            // Where the log was compacted through (`Replica+Compaction.swift`): operations at or
            // below it may be gone from `log_blocks`, their ids kept in `log_ids`. Replicated, so
            // a snapshot of a compacted replica says which history it no longer holds. A storage
            // version of its own, so a build that knows nothing of compaction never opens a
            // compacted log (it would take the next sequence from the blocks left and reuse one).
            // `peers.committed_seq`: what each registered replica says it has committed, the durable
            // acknowledgement compaction waits for (`acknowledged_seq` is a pipelining client's
            // progress hint, possibly ahead of what it has committed).
            try db.execute("""
                CREATE TABLE log_compaction(
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    through_seq INTEGER NOT NULL CHECK (through_seq >= 0)
                );
                ALTER TABLE peers ADD COLUMN committed_seq INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.register("0013_lean_entries") { db in
            // The live entries with their origin replica as a number and their kind as a code
            // (`EntryRows.swift`; Docs/performance-notes.md, thirteenth round): a quarter less
            // space per entry, the largest table of a compacted replica. `entries` becomes a view
            // that reads as the table did. Origins are numbered in replica id order, so a
            // migrated replica's numbers do not depend on the order it met them.
            try db.execute("""
                ALTER TABLE entries RENAME TO entries_0012;
                \(EntryRows.ddl)
                INSERT INTO origins(replica) SELECT DISTINCT replica FROM entries_0012 ORDER BY replica;
                INSERT INTO entry_rows(rid, field, key, origin, counter, wall, logical, kind, value, seq)
                    SELECT e.rid, e.field, e.key, o.no, e.counter, e.wall, e.logical,
                           \(EntryRows.kindCodeSQL("e.kind")),
                           e.value, e.seq
                    FROM entries_0012 e JOIN origins o ON o.replica = e.replica;
                DROP TABLE entries_0012;
                """)
        }
        migrator.register("0014_records_hash_prefix") { db in
            // `records` keeps the first 8 bytes of each record's 32-byte hash, indexed, instead of
            // the whole hash under a unique index (Docs/performance-notes.md, thirteenth round): the
            // hash is only looked up by an erasure, which checks each candidate by hashing its name
            // (`Replica.recordNamed(byHash:)`). 48 bytes less a record. The table is rebuilt with
            // its row ids, and its AUTOINCREMENT high-water mark carried over, so an erased
            // record's id is still never reused.
            try db.execute("""
                CREATE TABLE records_0014(
                    rid INTEGER PRIMARY KEY AUTOINCREMENT,
                    collection TEXT NOT NULL,
                    record TEXT NOT NULL,
                    hash_prefix BLOB NOT NULL,
                    deleted INTEGER NOT NULL DEFAULT 0,
                    visible INTEGER NOT NULL DEFAULT 1,
                    UNIQUE(collection, record)
                );
                INSERT INTO records_0014(rid, collection, record, hash_prefix, deleted, visible)
                    SELECT rid, collection, record, substr(hash, 1, 8), deleted, visible FROM records ORDER BY rid;
                DELETE FROM sqlite_sequence WHERE name = 'records_0014';
                INSERT INTO sqlite_sequence(name, seq) SELECT 'records_0014', seq FROM sqlite_sequence WHERE name = 'records';
                DROP TABLE records;
                ALTER TABLE records_0014 RENAME TO records;
                CREATE INDEX records_by_hash ON records(hash_prefix);
                """)
        }
        migrator.register("0015_field_numbers") { db in
            // Each live entry's field as a number into `fields` instead of its name
            // (`EntryRows.fieldNumbersMigration`; Docs/performance-notes.md, fifteenth round):
            // the name was repeated in every entry row, the largest table of a compacted replica.
            try db.execute(EntryRows.fieldNumbersMigration)
        }
        migrator.register("0016_folded_entries") { db in
            // A record's live entries may be kept folded into one value (`FoldedEntries.swift`;
            // Docs/performance-notes.md, seventeenth round): compaction folds the records whose
            // entries are all compacted history, and the merge unfolds a record it touches. Nothing
            // is folded here; the next compaction does it.
            try db.execute(EntryRows.foldedEntriesMigration)
        }
        migrator.register("0017_folded_values") { db in
            // Folded entries keep a register's value once, in the record's typed column, when
            // the column gives it back exactly (`RegisterColumns.swift`; Docs/performance-notes.md,
            // eighteenth round): the views pass the table function each body's record. Bodies
            // already folded keep their values; the next compaction folds only what it newly settles.
            try db.execute(EntryRows.foldedValuesMigration)
        }
        migrator.register("0018_typed_rows_by_rid") { db in
            // Each typed table keyed by its record's rid (`_rid INTEGER PRIMARY KEY`, the row id)
            // instead of a row id of its own plus a unique index on `_rid` (Docs/performance-notes.md,
            // eighteenth round): the index was 1.2 bytes of every value, and every write and every
            // read of a folded record's values looked the rid up in it before reaching the row.
            try rebuildTypedTablesByRid(db)
        }
        migrator.register("0019_records_hash_prefix_4") { db in
            // `records` keeps 4 bytes of each record's hash instead of 8 (`Replica.hashPrefix`;
            // Docs/performance-notes.md, eighteenth round): the prefix only finds candidates, whose
            // names are hashed to pick the record, so a shared prefix costs a hash, not a wrong
            // answer. 0.8 bytes of every value, in the row and its index.
            try db.execute("UPDATE records SET hash_prefix = substr(hash_prefix, 1, 4) WHERE length(hash_prefix) > 4;")
        }
        migrator.register("0020_upstream_pull_operation") { db in
            // The id of the operation the upstream logged at the pull cursor, as its last page said
            // (`nextOperation`, protocol 4.4), sent back with the cursor: an upstream restored from
            // an older backup whose log has since grown past the cursor holds another operation
            // there, and says so (409), where comparing lengths alone missed it. NULL: not known
            // (before the first page, after a snapshot, after a rewind), and nothing is checked.
            try db.execute("ALTER TABLE upstream ADD COLUMN pull_operation TEXT;")
        }
        migrator.register("0021_log_latest") { db in
            // Per origin, the operation with the highest counter this log ever held: its counter
            // and the XXH64 of its canonical bytes, kept when the log is compacted
            // (`Replica+OwnOperations.swift`). A folder restored from a backup of itself whose
            // writes since took every id it lost holds every id its upstream does; only the
            // content under the highest one tells the two operations apart once the upstream
            // compacted the first (protocol 4.2, `ownLatest`). Its stamp would not: a clock that
            // ran behind one pulled gives the restored folder's write the lost one's stamp.
            // Filled from the log as it is: an origin whose highest operation is compacted, had
            // its payload erased, or is in a block that cannot be read (`chorus check` says so)
            // gets no row until a higher one arrives.
            try db.execute("""
                CREATE TABLE log_latest(
                    replica BLOB PRIMARY KEY,
                    counter INTEGER NOT NULL,
                    hash INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
            // Each origin's highest logged counter, looked for from the newest block back (an
            // origin's latest operations are the log's latest): a few blocks decoded, the rest
            // stepped over, unless one's highest is compacted or unreadable, which decodes on to
            // the log's start. No payload is copied.
            let own = try db.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'").flatMap(ReplicaID.init(hex:))
            var sought: [ReplicaID: UInt64] = [:]
            for (origin, intervals) in try Replica.loggedIDRows(db) where origin != own {   // none of its own (`Replica.forgetOwnLatestSQL`)
                if let last = intervals.last?.last { sought[origin] = last }
            }
            var found: [ReplicaID: (counter: UInt64, hash: UInt64)] = [:]
            try db.forEachColumns("SELECT last_seq, body FROM log_blocks ORDER BY last_seq DESC") { row in
                guard !sought.isEmpty else { return }
                let block = row.integer(0)
                row.withBlob(1) { body in
                    _ = try? LogBlock.forEach(in: body, block: block) { _, entry in
                        let origin = entry.replicaID
                        guard sought[origin] == entry.counter else { return true }
                        sought[origin] = nil
                        if let payload = entry.payload { found[origin] = (entry.counter, Replica.LatestOperation.hash(payload)) }
                        return true
                    }
                }
            }
            for (origin, latest) in found.sorted(by: { $0.key < $1.key }) {
                try db.run("INSERT INTO log_latest(replica, counter, hash) VALUES (?, ?, ?)", origin.bytes, Int64(latest.counter), Int64(bitPattern: latest.hash))
            }
        }
        migrator.register("0022_upstream_acknowledged") { db in
            // When the upstream acknowledged this node's log through a sequence, a row a minute:
            // compaction keeps what it acknowledged less than `acknowledgedKeptSeconds` ago, for
            // an upstream restored from a backup (`Replica.compactLog`). What it had acknowledged
            // before this migration counts as acknowledged long ago (minute 0).
            try db.execute("""
                CREATE TABLE upstream_acknowledged(
                    minute INTEGER PRIMARY KEY,
                    through_seq INTEGER NOT NULL
                );
                INSERT INTO upstream_acknowledged(minute, through_seq) SELECT 0, push_cursor FROM upstream WHERE id = 1;
                """)
        }
        migrator.register("0023_person_bound_replicas") { db in
            // A laptop registered for one person (`chorus replicas add --person`), and, on the
            // laptop, the person its upstream says it is bound to (`Authorship`). Both empty for
            // what was registered or joined before: trusted as it was.
            try db.execute("""
                ALTER TABLE peers ADD COLUMN person TEXT;
                ALTER TABLE upstream ADD COLUMN person TEXT;
                """)
        }
        migrator.register("0024_set_aside") { db in
            // A laptop's own writes its upstream refuses as not its person's, set aside by
            // `chorus sync --set-aside-refused` (`Replica+SetAside`): kept here, never synced.
            // `state`: 0 set aside (`reason` says why), 1 pending (kept while the replica starts
            // again, to be checked again), 2 refused and waiting to be made anew if it names no
            // author, 3 made anew (its id kept, its bytes gone), 4 forgotten (`--forget`, id kept),
            // 5 made again under its own id (its bytes kept until its start is over, for what
            // a write made anew after it must not undo). `wall` is when its start kept it.
            // `seq` is where it stood in the old log, `write_seq` the old sequence of its write's
            // first operation, `counter` its id's (its replica's own), `record_hash` its record's
            // (an erasure of the record removes the row, as it removes its values).
            try db.execute("""
                CREATE TABLE set_aside(
                    id INTEGER PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    write_seq INTEGER NOT NULL,
                    counter INTEGER NOT NULL,
                    operation BLOB,
                    state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 5),
                    reason TEXT,
                    wall INTEGER NOT NULL,
                    record_hash BLOB NOT NULL
                );
                CREATE INDEX set_aside_state ON set_aside(state, write_seq, id);
                CREATE INDEX set_aside_record ON set_aside(record_hash);
                CREATE INDEX set_aside_counter ON set_aside(counter);
                """)
        }
        migrator.register("0025_kept_authors") { db in
            // The author of a live value whose operation compaction took out of the log, by the
            // operation's id (its origin as `origins` numbers it), with its record (an erasure
            // takes the record's rows): what a conflict formed later names its value's writer by
            // (`KeptAuthors`).
            try db.execute("""
                CREATE TABLE kept_authors(
                    origin INTEGER NOT NULL,
                    counter INTEGER NOT NULL,
                    rid INTEGER NOT NULL,
                    author TEXT NOT NULL,
                    PRIMARY KEY(origin, counter)
                ) WITHOUT ROWID;
                CREATE INDEX kept_authors_record ON kept_authors(rid);
                """)
        }
        return migrator
    }

    /// Keys of registers and maps holding two live entries or more, as `(rid, field, key)`: the
    /// value conflicts, which `conflicted_records` indexes by record.
    static let conflictedKeysSQL = """
        SELECT rid, field, key FROM live_entry_rows WHERE kind IN \(EntryRows.valueKindCodesSQL) GROUP BY rid, field, key HAVING count(*) >= 2
        """

    /// SQL identifier quoting.
    /// Without Foundation: this runs on the hot path of every batch (profiled with callgrind).
    /// `0018_typed_rows_by_rid`: rebuilds each typed table the database has (every table with `id`,
    /// `_rid` and `_deleted` columns, whatever schema the replica is opened with), with the same
    /// columns in the same order, `_rid` as its row id and `id` unique, and its indexes as they
    /// were. Built from the table as it is (`pragma_table_info`), so it keeps exactly the columns
    /// earlier migrations made; a fresh replica runs it too, so every replica's tables read the same
    /// (a snapshot's schema is compared with this build's, `Replica+Snapshot.swift`).
    static func rebuildTypedTablesByRid(_ db: Database) throws {
        let tables = try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").compactMap { $0.text(0) }
        for collection in tables {
            let columns = try db.query("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?) ORDER BY cid", collection)
            let names = columns.compactMap { $0.text(0) }
            guard names.contains("_rid"), names.contains("id"), names.contains("_deleted") else { continue }
            let indexes = try db.query("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
                                       collection).compactMap { $0.text(0) }
            let definitions = columns.map { column -> String in
                let name = column.text(0) ?? ""
                switch name {
                case "id": return "id TEXT NOT NULL UNIQUE"
                case "_rid": return "_rid INTEGER PRIMARY KEY NOT NULL"
                default:
                    return quote(name) + (column.text(1).map { $0.isEmpty ? "" : " " + $0 } ?? "")
                        + (column.integer(2) == 1 ? " NOT NULL" : "") + (column.text(3).map { " DEFAULT " + $0 } ?? "")
                }
            }
            let table = quote(collection), rebuilt = quote(collection + "_0018")
            let list = names.map(quote).joined(separator: ", ")
            try db.execute("""
                CREATE TABLE \(rebuilt)(
                    \(definitions.joined(separator: ",\n    "))
                );
                INSERT INTO \(rebuilt)(\(list)) SELECT \(list) FROM \(table) ORDER BY _rid;
                DROP TABLE \(table);
                ALTER TABLE \(rebuilt) RENAME TO \(table);
                """ + indexes.map { $0 + ";\n" }.joined())
        }
    }

    static func quote(_ name: String) -> String {
        guard name.utf8.contains(UInt8(ascii: "\"")) else { return "\"" + name + "\"" }
        return "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    static func sideTable(_ collection: String, _ field: String) -> String { quote("\(collection)__\(field)") }

    /// CREATE statements for the materialised tables of a schema, as the early migrations made them
    /// (frozen): `0018_typed_rows_by_rid` rebuilds each typed table with `_rid INTEGER PRIMARY KEY`
    /// and `id` unique, so a later migration that adds a collection should create that shape itself.
    static func materialisedDDL(for schema: Schema) -> String {
        var sql = ""
        for collection in schema.collections {
            var columns = ["id TEXT PRIMARY KEY NOT NULL", "_rid INTEGER NOT NULL UNIQUE", "_deleted INTEGER NOT NULL DEFAULT 0"]
            for field in collection.fields {
                switch field.kind {
                case .register: columns.append("\(quote(field.name)) \(field.valueType.sqlType)")
                case .counter: columns.append("\(quote(field.name)) INTEGER NOT NULL DEFAULT 0")
                default: break
                }
            }
            sql += "CREATE TABLE \(quote(collection.name))(\n    \(columns.joined(separator: ",\n    "))\n);\n"
            for field in collection.fields {
                let table = sideTable(collection.name, field.name)
                let indexName = quote("\(collection.name)__\(field.name)_by_value")
                switch field.kind {
                case .set:
                    sql += "CREATE TABLE \(table)(id TEXT NOT NULL, element TEXT NOT NULL, PRIMARY KEY(id, element)) WITHOUT ROWID;\n"
                    sql += "CREATE INDEX \(indexName) ON \(table)(element);\n"
                case .map:
                    sql += "CREATE TABLE \(table)(id TEXT NOT NULL, key TEXT NOT NULL, value \(field.valueType.sqlType), PRIMARY KEY(id, key)) WITHOUT ROWID;\n"
                    sql += "CREATE INDEX \(indexName) ON \(table)(key, value);\n"
                case .log:
                    sql += "CREATE TABLE \(table)(id TEXT NOT NULL, entry TEXT NOT NULL, wall INTEGER NOT NULL, logical INTEGER NOT NULL, replica TEXT NOT NULL, value TEXT, PRIMARY KEY(id, entry)) WITHOUT ROWID;\n"
                    sql += "CREATE INDEX \(indexName) ON \(table)(id, wall, logical, replica);\n"
                case .register, .counter: break
                }
            }
            for field in collection.fields where field.kind == .register && ["owner", "person", "to", "from", "email", "squad", "tribe", "quarter", "status"].contains(field.name) {
                sql += "CREATE INDEX \(quote("\(collection.name)_by_\(field.name)")) ON \(quote(collection.name))(\(quote(field.name)));\n"
            }
        }
        return sql
    }
}
