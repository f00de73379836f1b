import ChorusCore
import SQLiteKit

/// Something that keeps the log from being compacted further: a replica below this node that
/// has not acknowledged the log past `sequence`, or the upstream, not yet sent it.
public struct CompactionHold: Equatable, Sendable {
    public enum Holder: Equatable, Sendable {
        /// A replica registered here (`chorus replicas add`), by name.
        case replica(String)
        /// This node's upstream: operations made here or below not yet pushed.
        case upstream
        /// Operations the upstream acknowledged less than `seconds` ago, kept for an upstream
        /// restored from a backup (`Limits.acknowledgedKeptSeconds`).
        case upstreamRecently(seconds: Int64)
        /// The caller's own bound (`chorus compact --through`).
        case requested
        /// Operations not yet exported, on a replica that exchanges bundles and has no upstream
        /// and no replica registered (`Replica.exportedThrough`): no one else may have them.
        case unexported
    }

    public let holder: Holder
    /// The sequence the holder has through: the log is compacted no further.
    public let sequence: Int64

    public init(holder: Holder, sequence: Int64) {
        self.holder = holder
        self.sequence = sequence
    }

    public var json: JSONValue {
        switch holder {
        case .replica(let name): return .object(["replica": .string(name), "through": .integer(sequence)])
        case .upstream: return .object(["upstream": .bool(true), "through": .integer(sequence)])
        case .upstreamRecently(let seconds):
            return .object(["upstreamAcknowledgedWithinSeconds": .integer(seconds), "through": .integer(sequence)])
        case .requested: return .object(["requested": .bool(true), "through": .integer(sequence)])
        case .unexported: return .object(["unexported": .bool(true), "through": .integer(sequence)])
        }
    }
}

/// What a compaction did, or would do (`isDryRun`).
public struct CompactionReport: Equatable, Sendable {
    /// The last sequence of the log.
    public let latest: Int64
    /// The sequence the log was compacted through before, and after.
    public let floorBefore: Int64
    public let floor: Int64
    /// Blocks and operations removed from the log.
    public let blocksRemoved: Int
    public let operationsRemoved: Int64
    /// Blocks at or below the new floor kept because they hold the value of an open conflict, so
    /// admins still see who wrote it.
    public let blocksKeptForConflicts: Int
    /// Records whose live entries were folded into one value each (`FoldedEntries.swift`): those
    /// whose every entry is at or below the new floor.
    public let recordsFolded: Int
    /// Register values of the folded records kept once, in their typed columns, and left out of
    /// the folded values (`RegisterColumns.swift`); 0 in a dry run, which does not read them.
    public let valuesKeptInColumns: Int
    /// What keeps the floor below `latest`, lowest first (empty when the whole log was compacted).
    public let holds: [CompactionHold]
    public let isDryRun: Bool

    public var json: JSONValue {
        .object([
            "latest": .integer(latest), "compactedThroughBefore": .integer(floorBefore), "compactedThrough": .integer(floor),
            "blocksRemoved": .integer(Int64(blocksRemoved)), "operationsRemoved": .integer(operationsRemoved),
            "blocksKeptForConflicts": .integer(Int64(blocksKeptForConflicts)), "recordsFolded": .integer(Int64(recordsFolded)),
            "valuesKeptInColumns": .integer(Int64(valuesKeptInColumns)),
            "heldBy": .array(holds.map(\.json)), "dryRun": .bool(isDryRun),
        ])
    }
}

extension Replica {
    /// Compacts the log: removes the blocks of operations that every reader of this log has, so
    /// the log stops growing with history. A merged operation's effect lives on in the merge state
    /// (`entries`, `counters`, `deletes`...) and its id in `log_ids`, which is how a duplicate is
    /// still refused and a superseded id still never applies; only its logged copy goes.
    ///
    /// Who still reads the log, and so bounds the floor:
    /// - each replica or relay registered here and not revoked (admin tokens never pull), through the sequence it says it has
    ///   committed (`peers.committed_seq`, from `Chorus-Cursor` on its pulls and digest requests;
    ///   not the `after` of its pulls, which a pipelining client sends before it commits). A
    ///   replica registered but never synced holds the log at 0: revoke it if it will never come;
    /// - the upstream, through the push cursor: what this node and those below it made must be
    ///   sent before its copy goes;
    /// - the upstream again, through what it had acknowledged `keepAcknowledgedSeconds` ago
    ///   (`Limits.acknowledgedKeptSeconds` by default): an upstream restored from a backup younger
    ///   than that gets again what it lost of this log. Compacted at once, an office's writes
    ///   that reached the hub after its backup were gone from the hub for good (found by a sweep).
    /// A replica new to this node pulls nothing at or below the floor: it starts from this node's
    /// snapshot (protocol 4.6), and a pull after a sequence below the floor is refused (410).
    ///
    /// Blocks whose operations hold a value of an open conflict are kept, so the conflict still
    /// names each value's author; once the conflict is resolved, a later compaction removes them.
    /// The space freed is reused by new writes; `vacuum` also gives it back to the file system.
    ///
    /// One transaction: a replica killed during compaction has its log as it was before, or after.
    ///
    /// - Parameter bound: compact no further than this sequence: recent history an operator keeps
    ///   (for bundles, say), or readers this node does not know of (a simulation's gossip peers).
    public func compactLog(dryRun: Bool = false, through bound: Int64? = nil, keepAcknowledgedSeconds: Int64? = nil) throws -> CompactionReport {
        let keep = min(max(0, keepAcknowledgedSeconds ?? configuration.limits.acknowledgedKeptSeconds), Replica.acknowledgedKeptSecondsMax)
        let now = Int64(configuration.wallClock.nowMilliseconds())
        guard case .directory = location else {
            throw ChorusError(.invalidState, "an in-memory replica serves no snapshots, so a replica new to it could not start once its log is compacted",
                              hint: "compact a replica kept in a folder (`chorus compact --data DIR`)")
        }
        return try Replica.wrapStorage {
            try database.transaction {
                let latest = try latestLoggedSequence()
                let floorBefore = try compactedThrough()
                var holds: [CompactionHold] = []
                try database.forEachColumns("SELECT name, committed_seq FROM peers WHERE revoked = 0 AND role != 'admin' AND committed_seq < ? ORDER BY name",
                                            parameters: [latest]) { row in
                    holds.append(CompactionHold(holder: .replica(row.text(0) ?? ""), sequence: row.integer(1)))
                }
                let upstream = try upstream()
                if let upstream {
                    if upstream.pushCursor < latest { holds.append(CompactionHold(holder: .upstream, sequence: upstream.pushCursor)) }
                    // What it had acknowledged by the minute before `keep` seconds before its last
                    // contact (the last sync that succeeded, or the last acknowledgement: a sync
                    // failing after its push still reached it): while it cannot be reached (a hub
                    // down for its restore), the time left to send it again does not run out.
                    let lastAcknowledged = (try database.queryScalarInteger("SELECT max(minute) FROM upstream_acknowledged") ?? 0) * 60_000
                    let contact = max(upstream.lastSuccessWall.map { Int64($0) } ?? 0, lastAcknowledged)
                    let reference = contact > 0 ? min(now, contact) : now
                    let acknowledged = try database.queryScalarInteger(
                        "SELECT coalesce(max(through_seq), 0) FROM upstream_acknowledged WHERE minute <= ?", (reference - keep * 1000) / 60_000 - 1) ?? 0
                    if keep > 0, acknowledged < min(latest, upstream.pushCursor) {
                        // Reported no lower than the floor: below it, it holds nothing the log still has.
                        holds.append(CompactionHold(holder: .upstreamRecently(seconds: keep), sequence: max(acknowledged, floorBefore)))
                    }
                }
                // A replica that travels by bundles alone keeps what it has not exported: no one
                // else may have it, and a bundle from a log compacted past it leaves it out for
                // good (its own writes never reached the others, with nothing said).
                if upstream == nil, try exchangesBundlesOnly() {
                    let exported = try exportedThrough()
                    if exported < latest { holds.append(CompactionHold(holder: .unexported, sequence: max(exported, floorBefore))) }
                }
                // A bound the log is already compacted past is not reported (it holds nothing the
                // log still has), but it still bounds: never compact past what the caller allows.
                if let bound, bound < latest, bound > floorBefore { holds.append(CompactionHold(holder: .requested, sequence: bound)) }
                holds.sort { ($0.sequence, "\($0.holder)") < ($1.sequence, "\($1.holder)") }
                let reach = min(latest, holds.first?.sequence ?? latest, bound ?? latest)
                // Whole blocks only: a block reaching past `reach` stays, and the floor is the end of
                // the last block at or below it.
                let floor = max(floorBefore, try database.queryScalarInteger(
                    "SELECT coalesce(max(last_seq), 0) FROM log_blocks WHERE last_seq <= ?", reach) ?? 0)
                let kept = try conflictBlocks(through: floor)
                var removed: [(last: Int64, operations: Int64)] = []
                // The last block removed holding an operation made here or below (what a push
                // sends, by author: an imported bundle's operations are not): what an upstream
                // restored from a backup may lack for good.
                var notFromUpstream: [Int64] = [], fromUpstream: [Int64] = []
                try database.forEachColumns("SELECT last_seq, first_seq, source FROM log_blocks WHERE last_seq <= ? ORDER BY last_seq", parameters: [floor]) { row in
                    let last = row.integer(0)
                    guard !kept.contains(last) else { return }
                    removed.append((last, last - row.integer(1) + 1))
                    if row.text(2) != "upstream" { notFromUpstream.append(last) } else { fromUpstream.append(last) }
                }
                var pushableRemoved: Int64 = 0
                // The last of `blocks` holding an operation by one of `authors`, scanned from the end.
                func lastHolding(_ authors: Set<ReplicaID>, in blocks: [Int64], above: Int64) throws -> Int64 {
                    var found: Int64 = 0
                    for last in blocks.reversed() where found == 0 && last > above {
                        try database.forEachColumns("SELECT body FROM log_blocks WHERE last_seq = ?", parameters: [last]) { row in
                            row.withBlob(0) { body in
                                _ = try? LogBlock.forEach(in: body, block: last) { _, entry in
                                    guard authors.contains(entry.replicaID) else { return true }
                                    found = last
                                    return false
                                }
                            }
                        }
                    }
                    return found
                }
                if !dryRun, let upstream {
                    if !notFromUpstream.isEmpty { pushableRemoved = try lastHolding(Set(try replicasBelow() + [id]), in: notFromUpstream, above: 0) }
                    // The upstream's own operations too, from a relay of it, which sends them back
                    // to it restored from a backup (`rewindUpstreamCursors(resendingUpstreamOwn:)`).
                    // (Not when the log holds none of them: a hub that never writes had every
                    // removed block read for nothing.)
                    if let origin = upstream.replica, !fromUpstream.isEmpty, try upstreamTakesOwnBack(),
                       try loggedLatest(of: origin) != nil {
                        pushableRemoved = max(pushableRemoved, try lastHolding([origin], in: fromUpstream, above: pushableRemoved))
                    }
                }
                let settled = try settledRecords(through: floor)
                var keptInColumns = 0
                if !dryRun {
                    if pushableRemoved > 0 {
                        try database.run("""
                            INSERT INTO meta(key, value) VALUES ('pushable_compacted_through', ?1)
                            ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?1)
                            """, pushableRemoved)
                    }
                    // Who wrote each live value whose operation leaves (a conflict formed later names
                    // them), and no longer who wrote a value these operations superseded: before the
                    // records are folded, while their entries are rows.
                    let touched = try KeptAuthors.keep(in: database, logBlocks: "log_blocks", lasts: removed.map(\.last), codec: codec)
                    try KeptAuthors.forgetSuperseded(in: database, records: touched)
                    for rid in settled { keptInColumns += try fold(rid) }
                    for block in removed { try database.run("DELETE FROM log_blocks WHERE last_seq = ?", block.last) }
                    if floor > floorBefore {
                        try database.run("""
                            INSERT INTO log_compaction(id, through_seq) VALUES (1, ?)
                            ON CONFLICT(id) DO UPDATE SET through_seq = excluded.through_seq
                            """, floor)
                    }
                }
                return CompactionReport(latest: latest, floorBefore: floorBefore, floor: floor, blocksRemoved: removed.count,
                                        operationsRemoved: removed.reduce(0) { $0 + $1.operations }, blocksKeptForConflicts: kept.count,
                                        recordsFolded: settled.count, valuesKeptInColumns: keptInColumns,
                                        holds: holds, isDryRun: dryRun)
            }
        }
    }

    /// The longest `acknowledgedKeptSeconds` (and `chorus compact --keep-hours`) takes: a year.
    public static let acknowledgedKeptSecondsMax: Int64 = 8_760 * 3600

    /// Deletes the acknowledgements older than minute `?1` but the newest of them, which says
    /// what the upstream had by then.
    static let pruneAcknowledgedSQL = """
        DELETE FROM upstream_acknowledged WHERE minute < (SELECT max(minute) FROM upstream_acknowledged WHERE minute <= ?1)
        """

    /// Records that the log through `?1` holds nothing to keep for a restored upstream beyond
    /// what is kept already (a stretch with nothing to push, a snapshot's operations, all the
    /// upstream's): the latest acknowledgement reaches it, or one long ago when there is none.
    static let nothingToKeepSQL = """
        INSERT INTO upstream_acknowledged(minute, through_seq)
            SELECT coalesce((SELECT max(minute) FROM upstream_acknowledged), 0), ?1 WHERE 1
        ON CONFLICT(minute) DO UPDATE SET through_seq = max(through_seq, excluded.through_seq)
        """

    /// The highest sequence of an operation made here or below (for a relay, by the upstream too) that compaction removed (0: none):
    /// what an upstream restored from a backup taken before it may lack for good.
    public func pushableCompactedThrough() throws -> Int64 {
        try Replica.wrapStorage {
            try database.queryScalarInteger("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pushable_compacted_through'") ?? 0
        }
    }

    /// Records with entries in rows of their own, every one at or below `floor`: settled history,
    /// folded by compaction (a record a local write touches again is unfolded, `Replica.takeFolded`).
    func settledRecords(through floor: Int64) throws -> [Int64] {
        try database.query("SELECT rid FROM entry_rows GROUP BY rid HAVING max(seq) <= ? ORDER BY rid", floor).compactMap { $0.integer(0) }
    }

    /// Folds a record's entry rows into one `folded_entries` value (`FoldedEntries.swift`). A
    /// register value its typed column gives back byte for byte is kept there alone; returns how
    /// many were.
    @discardableResult
    func fold(_ rid: Int64) throws -> Int {
        let columns = try registerColumns.values(rid: rid)
        let registerCode = EntryRows.code(.register)
        var entries: [FoldedEntries.Entry] = []
        try database.forEachColumns("""
            SELECT field, key, origin, counter, wall, logical, kind, value, seq FROM entry_rows WHERE rid = ?
            """, parameters: [rid]) { row in
            entries.append(FoldedEntries.Entry(field: row.integer(0), key: row.text(1) ?? "", origin: row.integer(2), counter: row.integer(3),
                                               wall: row.integer(4), logical: row.integer(5), kind: row.integer(6),
                                               value: row.isNull(7) ? nil : row.text(7), seq: row.integer(8)))
            if let value = entries[entries.count - 1].value, let column = columns[row.integer(0)],
               row.integer(6) == registerCode, row.textEquals(1, ""), ExactText.equal(value, column) {
                entries[entries.count - 1].valueInColumn = true
            }
        }
        try database.run("INSERT INTO folded_entries(rid, body) VALUES (?, ?)", rid, FoldedEntries.encode(entries))
        try database.run("DELETE FROM entry_rows WHERE rid = ?", rid)
        return entries.count(where: \.valueInColumn)
    }

    /// The sequence the log is compacted through (0: never compacted). A pull, bundle or derived
    /// index that needs operations after a sequence below it cannot have them from this log.
    public func compactionFloor() throws -> Int64 {
        try Replica.wrapStorage { try compactedThrough() }
    }

    /// `compactionFloor()` inside a storage call or transaction.
    func compactedThrough() throws -> Int64 {
        try database.queryScalarInteger(Replica.compactionPointSQL) ?? 0
    }

    /// Refuses to read the log after `after` when compaction removed some of what follows it.
    func checkNotCompacted(after: Int64, exporting: Bool = false) throws {
        let floor = try compactedThrough()
        guard after < floor else { return }
        throw ChorusError(.historyCompacted, "the log is compacted through sequence \(floor): the operations after \(after) are no longer all here",
                          hint: exporting
                              ? "export from sequence \(floor) or later (`chorus export --since \(floor)`); a replica lacking the earlier ones should join a node and start from its snapshot"
                              : "a new replica starts from this node's snapshot (`chorus sync` does this for an empty replica); one holding data cannot catch up by pulling (a pull from a later sequence would skip what it lacks): it pushes what it has, then starts again from the snapshot (protocol 4.6)")
    }

    /// Last sequences of the blocks at or below `floor` that hold a live value of a record in
    /// conflict (a register or map key with two live values, or a record edited while deleted).
    private func conflictBlocks(through floor: Int64) throws -> Set<Int64> {
        try Replica.conflictBlocks(in: database, logBlocks: "log_blocks", through: floor)
    }

    /// `conflictBlocks(through:)` of the merge state in `database`'s main database and the blocks
    /// in `logBlocks`: a snapshot's copy asks it of the copy, with the replica's log attached
    /// (`writeSnapshot`).
    ///
    /// Record by record, from the conflict tables (a few rows): each record's live entries are one
    /// index search in each arm of `live_entry_rows`. One query over all of them, its records
    /// chosen by `IN` terms joined by `OR`, decoded every folded record instead: 120 ms of a
    /// snapshot's copy of 10,000 people (P3).
    static func conflictBlocks(in database: Database, logBlocks: String, through floor: Int64) throws -> Set<Int64> {
        var sequences = Set<Int64>()
        let records = try database.query("SELECT rid, 0 FROM conflicted_records UNION SELECT rid, 1 FROM conflicts ORDER BY 1")
        for record in records {
            let rid = record.integer(0) ?? 0
            try database.forEachColumns("SELECT seq FROM live_entry_rows WHERE rid = ? AND seq <= ?", parameters: [rid, floor]) { sequences.insert($0.integer(0)) }
            // A record edited while deleted: its live deletes' values too.
            guard record.integer(1) == 1 else { continue }
            try database.forEachColumns("SELECT seq FROM deletes WHERE rid = ? AND seq <= ?", parameters: [rid, floor]) { sequences.insert($0.integer(0)) }
        }
        // Each value's block is the first ending at or after its sequence (a seek on the key), if
        // it starts at or before it (an erasure or an earlier compaction may have left none).
        var blocks = Set<Int64>()
        for sequence in sequences.sorted() {
            try database.forEachColumns("SELECT first_seq, last_seq FROM \(logBlocks) WHERE last_seq >= ? ORDER BY last_seq LIMIT 1", parameters: [sequence]) { row in
                if row.integer(0) <= sequence { blocks.insert(row.integer(1)) }
            }
        }
        return blocks
    }

    /// Rewrites the database file without its free pages (SQLite's `VACUUM`), giving the space
    /// compaction freed back to the file system. Holds the write lock while it copies, and needs
    /// free disk about the database's size. Returns the file's size before and after, in bytes.
    public func vacuum() throws -> (before: Int64, after: Int64) {
        try Replica.wrapStorage {
            func size() throws -> Int64 {
                (try database.queryScalarInteger("PRAGMA page_count") ?? 0) * (try database.queryScalarInteger("PRAGMA page_size") ?? 0)
            }
            let before = try size()
            try database.execute("VACUUM")
            try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return (before, try size())
        }
    }
}
