import ChorusCore
import SQLiteKit

/// One logged operation as a reader of the log sees it, valid during the visit only: its buffers
/// point into the block being read.
struct LoggedEntry {
    let sequence: Int64
    let entry: LogBlock.Entry
    /// Where the operation came from (`log_blocks.source`: nil for made here, `upstream`, `peer:NAME`).
    let source: String?
    /// When it arrived, Unix milliseconds.
    let receivedWall: Int64?
    /// Whether it is the first operation of its block (one local write, or one merged batch).
    var startsBlock = false

    var operationID: OperationID { OperationID(replica: entry.replicaID, counter: entry.counter) }
}

extension Replica {
    /// Visits the operations logged after `after`, in sequence order, until `visit` returns false.
    /// One block per query, so a visit that stops early reads only the blocks it needs, and the
    /// cost of a page does not grow with the length of history (a seek on the blocks' key).
    /// `visit` may run other statements, but not another `forEachLogged` (the two would share one
    /// prepared statement). Readers that visit the whole tail run in a read transaction, so the
    /// blocks they read are one snapshot.
    func forEachLogged(after: Int64, _ visit: (LoggedEntry) throws -> Bool) throws {
        precondition(!isReadingLog, "forEachLogged inside forEachLogged")
        isReadingLog = true
        defer { isReadingLog = false }
        var cursor = after
        var stopped = false
        while !stopped {
            var found = false
            try database.forEachColumns("""
                SELECT first_seq, last_seq, source, received_wall, body FROM log_blocks WHERE last_seq > ? ORDER BY last_seq LIMIT 1
                """, parameters: [cursor]) { row in
                found = true
                let first = row.integer(0), last = row.integer(1)
                let source = row.text(2)
                let receivedWall: Int64? = row.isNull(3) ? nil : row.integer(3)
                try row.withBlob(4) { body in
                    try Replica.checkCount(of: body, first: first, last: last)
                    try LogBlock.forEach(in: body, block: last) { index, entry in
                        let sequence = first + Int64(index)
                        guard sequence > after else { return true }
                        guard try visit(LoggedEntry(sequence: sequence, entry: entry, source: source, receivedWall: receivedWall, startsBlock: index == 0)) else {
                            stopped = true
                            return false
                        }
                        return true
                    }
                }
                cursor = last
            }
            if !found { break }
        }
    }

    /// The id of the operation logged at `sequence`; nil for 0 and for a sequence this log no
    /// longer holds (compacted) or never held. Erasure keeps ids, so an erased operation has one.
    /// Reads the one block holding it.
    public func loggedOperationID(at sequence: Int64) throws -> OperationID? {
        guard sequence > 0 else { return nil }
        return try Replica.wrapStorage {
            var found: OperationID?
            try forEachLogged(after: sequence - 1) { logged in
                if logged.sequence == sequence { found = logged.operationID }
                return false
            }
            return found
        }
    }

    /// The records (row ids, ascending) of the operations logged after `sequence`, and whether an
    /// erasure may have happened since: an operation logged with no record (an erase, or one for an
    /// erased record) or whose record an erasure later cleared, or compaction removed operations
    /// after `sequence` (either way the caller rebuilds). For indexes derived from the records,
    /// kept up to date from a log sequence.
    public func recordsTouched(after sequence: Int64) throws -> (records: [Int64], erasedSince: Bool) {
        try Replica.wrapStorage { try database.readTransaction {
            var records = Set<Int64>(), erasedSince = false
            // Compaction removed some of what came after: the caller must rebuild, as after an erasure.
            if sequence < (try compactedThrough()) { return ([], true) }
            try forEachLogged(after: sequence) { logged in
                if let rid = logged.entry.rid { records.insert(rid) } else { erasedSince = true }
                return true
            }
            return (records.sorted(), erasedSince)
        } }
    }

    /// Refuses a block whose operations are not one per sequence from `first` to `last`. Counted
    /// before any is handed out: a reader that stops early would otherwise never learn it, and
    /// could hand out an operation under another's sequence.
    static func checkCount(of body: UnsafeRawBufferPointer, first: Int64, last: Int64) throws {
        guard try LogBlock.counts(in: body, block: last).operations == Int(last - first + 1) else {
            throw ChorusError(.storage, "log block ending at sequence \(last) does not hold one operation for each of its \(last - first + 1) sequences",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
    }

    /// How many operations with a payload (not erased) were logged after `after`, leaving out
    /// those that came from `excludedSource` (none left out for nil), and when the oldest of them
    /// arrived. Whole blocks are counted from their `live` column, which reads no bodies; only the
    /// block holding `after + 1`, when it also holds earlier operations, is read.
    func countLive(after: Int64, excludingSource excludedSource: String?) throws -> (count: Int64, oldestWall: Int64?) {
        var count: Int64 = 0, oldest: Int64?
        func counts(_ source: String?) -> Bool { excludedSource == nil || source != excludedSource }
        var straddlingEnd = after
        try database.forEachColumns("SELECT first_seq, last_seq FROM log_blocks WHERE last_seq > ? ORDER BY last_seq LIMIT 1",
                                    parameters: [after]) { row in
            if row.integer(0) <= after { straddlingEnd = row.integer(1) }
        }
        if straddlingEnd > after {
            try forEachLogged(after: after) { logged in
                guard logged.sequence <= straddlingEnd else { return false }
                if logged.entry.payload != nil && counts(logged.source) {
                    count += 1
                    if let wall = logged.receivedWall { oldest = min(oldest ?? wall, wall) }
                }
                return true
            }
        }
        // Blocks do not overlap, so those ending after the straddling one start after it too.
        if let row = try database.queryRow("""
            SELECT coalesce(sum(live), 0), min(CASE WHEN live > 0 THEN received_wall END) FROM log_blocks
            WHERE last_seq > ? AND (? IS NULL OR source IS NULL OR source != ?)
            """, straddlingEnd, excludedSource, excludedSource) {
            count += row.integer(0) ?? 0
            if let wall = row.integer(1) { oldest = min(oldest ?? wall, wall) }
        }
        return (count, oldest)
    }

    /// The sequence of the last logged operation (0 for an empty log): the last block's, or where
    /// the log was compacted through when compaction removed every block. Sequences are never
    /// reused, so the next operation always takes one past this.
    func latestLoggedSequence() throws -> Int64 {
        try database.queryScalarInteger(Replica.latestSequenceSQL) ?? 0
    }

    /// How many log blocks run backwards or overlap another: 0 in a sound log (blocks hold
    /// consecutive sequences and never share one). For the invariants and a received snapshot.
    static let overlappingBlocksSQL = """
        SELECT count(*) FROM log_blocks b WHERE first_seq > last_seq
            OR EXISTS (SELECT 1 FROM log_blocks c WHERE c.last_seq < b.last_seq AND c.last_seq >= b.first_seq)
        """

    /// The compaction point as SQL (0 when never compacted).
    static let compactionPointSQL = "SELECT coalesce((SELECT through_seq FROM log_compaction WHERE id = 1), 0)"

    /// `latestLoggedSequence()` as SQL, for a snapshot's copy too.
    static let latestSequenceSQL = latestSequenceSQL(schema: "main")

    /// `latestSequenceSQL` of the database `schema` of a connection (`source`, the replica a
    /// snapshot's copy attaches).
    static func latestSequenceSQL(schema: String) -> String {
        "SELECT max(coalesce((SELECT max(last_seq) FROM \(schema).log_blocks), 0), coalesce((SELECT through_seq FROM \(schema).log_compaction WHERE id = 1), 0))"
    }

    /// The sequence through which every replica registered directly on the log in the database
    /// `schema` that has synced holds it, and its upstream has been sent it (NULL when none holds
    /// it back): a value at or below it can no longer meet a concurrent write from them, since each
    /// pushes before it pulls. A snapshot's copy keeps the blocks after it (`writeSnapshot`).
    ///
    /// What a replica holds is the cursor it says it has committed (0 until it says one): every
    /// write still to come from it was made after it had those operations (protocol 4.4). Not the
    /// `after` of its pulls: a replica that wrote during its first pull says 0 for as long as the
    /// write waits to go up. One that took a snapshot says so in the pull after it (the reference
    /// client asks once more when the page after the snapshot was the last). Unlike `compactLog`'s holds, a
    /// replica registered that has neither pulled nor pushed does not count: the replica asking
    /// for the copy is one, and would hold the whole log in it. Replicas below a relay, and
    /// writers on the upstream's side, are not seen, as compaction does not see them.
    static func settledSequenceSQL(schema: String) -> String {
        "SELECT min(s) FROM (\(settledHoldsSQL(schema: schema)))"
    }

    /// What holds the settled sequence back, one row each: a registered replica's name and what
    /// it holds, and the upstream (no name) and its push cursor.
    static func settledHoldsSQL(schema: String) -> String {
        """
        SELECT name, committed_seq AS s FROM \(schema).peers
            WHERE revoked = 0 AND role != 'admin'
            AND (committed_seq > 0 OR last_pull_wall IS NOT NULL OR last_push_wall IS NOT NULL)
        UNION ALL SELECT NULL, push_cursor FROM \(schema).upstream WHERE id = 1
        """
    }

    /// What a new replica's snapshot of this replica carries of its history, when it carries any
    /// beyond the values of open conflicts: the blocks after `sequence`, which `holder` (a
    /// replica registered here, by name, or the upstream) holds back. Nil when nothing does. For
    /// `chorus status`: a replica that synced once and went away should be revoked.
    public func snapshotHistoryHold() throws -> CompactionHold? {
        try Replica.wrapStorage {
            try database.readTransaction {
                let latest = try latestLoggedSequence()
                guard let row = try database.queryRow("SELECT * FROM (\(Replica.settledHoldsSQL(schema: "main"))) ORDER BY s, name LIMIT 1"),
                      let sequence = row.integer(1), sequence < latest else { return nil }
                return CompactionHold(holder: row.text(0).map { .replica($0) } ?? .upstream, sequence: sequence)
            }
        }
    }

    /// The compaction point and last sequence of the log in `database`, and whether its blocks
    /// after the point hold exactly the sequences from one past the point to the last: what a
    /// compacted replica must have (the invariants), and a received snapshot too.
    static func logContinuity(_ database: Database) throws -> (floor: Int64, latest: Int64, isContiguous: Bool) {
        let floor = try database.queryScalarInteger(compactionPointSQL) ?? 0
        let latest = try database.queryScalarInteger(latestSequenceSQL) ?? 0
        let held = try database.queryRow("SELECT coalesce(sum(last_seq - first_seq + 1), 0), min(first_seq) FROM log_blocks WHERE last_seq > ?", floor)
        let count = held?.integer(0) ?? 0
        return (floor, latest, count == latest - floor && (count == 0 || held?.integer(1) == floor + 1))
    }

    /// The logged operation at `sequence`, read from its block, if the log holds it.
    func withLogged<T>(at sequence: Int64, _ body: (LogBlock.Entry) throws -> T) throws -> T? {
        var result: T?
        try database.forEachColumns("SELECT first_seq, last_seq, body FROM log_blocks WHERE last_seq >= ? ORDER BY last_seq LIMIT 1",
                                    parameters: [sequence]) { row in
            let first = row.integer(0), last = row.integer(1)
            guard sequence >= first else { return }
            try row.withBlob(2) { block in
                try Replica.checkCount(of: block, first: first, last: last)
                try LogBlock.forEach(in: block, block: last) { index, entry in
                    guard first + Int64(index) == sequence else { return true }
                    result = try body(entry)
                    return false
                }
            }
        }
        return result
    }

    /// Appends an operation to the batch's block, closing the block (a `log_blocks` row) when full.
    /// Returns its log sequence.
    func appendToBlock(_ op: Operation, rid: Int64?, payload: Payload?, state: inout BatchState) throws -> Int64 {
        if state.logBlock.count == 0 { state.blockFirstSequence = state.nextSequence }
        if let payload {
            payload.withUnsafeBufferPointer {
                state.logBlock.append(replica: op.id.replica.bytes, counter: op.id.counter, rid: rid, payloadBytes: UnsafeRawBufferPointer($0))
            }
        } else {
            state.logBlock.append(replica: op.id.replica.bytes, counter: op.id.counter, rid: rid, payloadBytes: nil)
        }
        let sequence = state.nextSequence
        state.nextSequence += 1
        if state.logBlock.isFull { try writeLogBlock(&state) }
        return sequence
    }

    /// Writes the batch's open block, if it holds anything.
    func writeLogBlock(_ state: inout BatchState) throws {
        guard state.logBlock.count > 0 else { return }
        let block = state.logBlock, first = state.blockFirstSequence, source = state.source, receivedWall = state.receivedWall
        try database.run("INSERT INTO log_blocks(last_seq, first_seq, source, received_wall, live, body) VALUES (?, ?, ?, ?, ?, ?)",
                         count: 6) { row in
            row.integer(first + Int64(block.count) - 1)
            row.integer(first)
            row.text(source)
            row.integer(receivedWall)
            row.integer(Int64(block.live))
            row.blob(block.bytes)
        }
        state.logBlock.removeAll()
    }

    /// Drops the logged values of records erased in this batch, in one pass over the log's blocks:
    /// erasing is rare, and an index from records to their operations would cost every merged
    /// operation a B-tree write. Record ids are never reused (`AUTOINCREMENT`), so a later record
    /// cannot lose its values to this.
    func eraseLoggedValues(of erased: Set<Int64>) throws {
        guard !erased.isEmpty else { return }
        var rewritten: [(last: Int64, body: [UInt8], live: Int)] = []
        try database.forEachColumns("SELECT last_seq, body FROM log_blocks ORDER BY last_seq") { row in
            let last = row.integer(0)
            try row.withBlob(1) { body in
                func isErased(_ entry: LogBlock.Entry) -> Bool { entry.rid.map(erased.contains) ?? false }
                var touched = false
                try LogBlock.forEach(in: body, block: last) { _, entry in
                    touched = isErased(entry)
                    return !touched
                }
                guard touched else { return }
                var encoder = LogBlock.Encoder()
                try LogBlock.forEach(in: body, block: last) { _, entry in
                    encoder.append(entry, keepingValue: !isErased(entry))
                    return true
                }
                rewritten.append((last, encoder.bytes, encoder.live))
            }
        }
        for block in rewritten {
            try database.run("UPDATE log_blocks SET body = ?, live = ? WHERE last_seq = ?", block.body, Int64(block.live), block.last)
        }
    }
}
