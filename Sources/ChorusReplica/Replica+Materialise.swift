import ChorusCore
import SQLiteKit

/// Brings the materialised tables and the conflict index up to date with the entries a batch
/// touched. Everything here is derived: it is a function of the merge state alone.
extension Replica {
    func materialise(_ state: inout BatchState) throws {
        let erased = state.erasedRecords
        // Every record the batch touched went through `recordID`, which noted it in `records`.
        func lookup(_ rid: Int64) -> BatchState.RecordInfo? { erased.contains(rid) ? nil : state.records[rid] }

        // Keys in record order (B-tree locality); each register's value is gathered per record so a
        // typed row is written once, however many of its fields the batch changed.
        var columns: [Int64: [String: SQLiteValue]] = [:]
        columns.reserveCapacity(state.dirtyRecords.count)
        let sortedKeys = state.dirtyKeys.sorted(by: { $0.rid < $1.rid })
        var start = 0
        while start < sortedKeys.count {
            let rid = sortedKeys[start].rid
            var end = start + 1
            while end < sortedKeys.count && sortedKeys[end].rid == rid { end += 1 }
            defer { start = end }
            guard let record = lookup(rid) else { continue }
            let keys = sortedKeys[start..<end]
            // A key's live entries: those older than the batch, from the database (an existing
            // record with many changed keys is read in one query rather than one per key), and
            // those the batch made, in hand.
            let older = state.firstSequence
            let whole = !record.isNew && keys.count >= Replica.wholeRecordReadKeysMin ? try liveEntries(rid: rid, olderThan: older) : nil
            for dirty in keys {
                let made = state.newEntries[dirty] ?? []
                let live = try record.isNew ? made
                    : (whole.map { $0[.init(field: dirty.field, key: dirty.key)] ?? [] } ?? liveEntries(dirty, olderThan: older)) + made
                if let value = try materialiseKey(dirty, live: live, record: record, state: state) {
                    // Sized for the record's changed keys, so it is not rehashed as it fills.
                    columns[rid, default: Dictionary(minimumCapacity: keys.count)][dirty.field] = value
                }
            }
        }
        for (rid, record) in state.records.sorted(by: { $0.key < $1.key }) where record.isNew && !erased.contains(rid) {
            guard let sql = materialisedSQL[record.collection] else { continue }
            let values = columns.removeValue(forKey: rid) ?? [:]
            try database.run(sql.insertRow, count: 2 + sql.registerFields.count) { row in
                row.text(record.record)
                row.integer(rid)
                for field in sql.registerFields { row.value(values[field] ?? .null) }
            }
        }
        for (rid, values) in columns.sorted(by: { $0.key < $1.key }) {
            guard let record = lookup(rid), let sql = materialisedSQL[record.collection] else { continue }
            if values.count == 1, let (field, value) = values.first {
                try database.run(sql.updateColumn[field]!, value, rid)
            } else {
                try database.run(sql.updateRow, count: sql.registerFields.count * 2 + 1) { row in
                    for field in sql.registerFields {
                        let value = values[field]
                        row.integer(value != nil ? 1 : 0)
                        row.value(value ?? .null)
                    }
                    row.integer(rid)
                }
            }
        }
        for dirty in state.dirtyCounters.sorted() {
            guard let record = lookup(dirty.rid),
                  schema.fieldKind(collection: record.collection, field: dirty.field) == .counter else { continue }
            try database.run("""
                UPDATE \(StorageSchema.quote(record.collection)) SET \(StorageSchema.quote(dirty.field)) =
                    (SELECT total FROM counters WHERE rid = ? AND field = ?) WHERE _rid = ?
                """, dirty.rid, dirty.field, dirty.rid)
        }
        for rid in state.dirtyRecords.sorted() {
            // A record neither deleted nor hidden before, with no delete or restore now, stays so.
            guard let record = lookup(rid), state.lifeChanged.contains(rid) || !record.wasLive else { continue }
            try materialiseLife(rid: rid, collection: record.collection)
        }
    }

    /// From this many changed keys, an existing record's entries are read in one query.
    static let wholeRecordReadKeysMin = 4

    /// The live entries of one key logged before sequence `older`, from the database.
    private func liveEntries(_ dirty: BatchState.DirtyKey, olderThan older: Int64) throws -> [BatchState.LiveEntry] {
        var entries: [BatchState.LiveEntry] = []
        try database.forEachColumns("""
            SELECT replica, counter, wall, logical, kind, value, seq FROM entries
            WHERE rid = ? AND field = ? AND key = ? AND seq < ?
            """, parameters: [dirty.rid, dirty.field, dirty.key, older]) { entries.append(Replica.liveEntry($0)) }
        return entries
    }

    private struct FieldKey: Hashable {
        let field: String, key: String
        static func == (a: FieldKey, b: FieldKey) -> Bool { ExactText.equal(a.field, b.field) && ExactText.equal(a.key, b.key) }
        func hash(into hasher: inout Hasher) {
            ExactText.hash(field, into: &hasher)
            ExactText.hash(key, into: &hasher)
        }
    }

    /// Every live entry of one record logged before sequence `older`, by field and key. Rows arrive in primary-key order, so each
    /// key's entries are adjacent: names are read and hashed once per key, not once per row.
    private func liveEntries(rid: Int64, olderThan older: Int64) throws -> [FieldKey: [BatchState.LiveEntry]] {
        var entries: [FieldKey: [BatchState.LiveEntry]] = [:]
        entries.reserveCapacity(Replica.wholeRecordKeysExpected)
        var current: FieldKey?
        var group: [BatchState.LiveEntry] = []
        try database.forEachColumns("""
            SELECT replica, counter, wall, logical, kind, value, seq, field, key FROM entries
            WHERE rid = ? AND seq < ? ORDER BY field, key
            """, parameters: [rid, older]) { row in
            if let known = current, row.textEquals(7, known.field), row.textEquals(8, known.key) {
                // Same key as the row before.
            } else {
                if let known = current { entries[known] = group }
                group = []
                current = FieldKey(field: row.text(7) ?? "", key: row.text(8) ?? "")
            }
            group.append(Replica.liveEntry(row))
        }
        if let current { entries[current] = group }
        return entries
    }

    /// Room for a typical record's keys, so reading one whole does not grow the dictionary key by key.
    private static let wholeRecordKeysExpected = 16

    /// An entries row, columns (replica, counter, wall, logical, kind, value, seq, ...).
    private static func liveEntry(_ row: ColumnReader) -> BatchState.LiveEntry {
        BatchState.LiveEntry(replica: row.blob(0) ?? [], counter: row.integer(1), wall: row.integer(2),
                             logical: row.integer(3), kind: Replica.storedKind(row, column: 4),
                             value: row.text(5), json: nil, seq: row.integer(6))
    }

    /// One register, map key, set element or log entry. Returns a declared register's new column
    /// value, for the caller to write with the rest of its record's row.
    private func materialiseKey(_ dirty: BatchState.DirtyKey, live: [BatchState.LiveEntry], record: BatchState.RecordInfo,
                                state: BatchState) throws -> SQLiteValue? {
        let declaredKind = schema.fieldKind(collection: record.collection, field: dirty.field)
        let kind = declaredKind ?? live.first?.kind
        var winnerValue: String?
        var winnerJSON: JSONValue?
        var displayUnchanged = false
        // A key of an undeclared field whose entries are all gone has no kind left to tell; if it
        // had a conflict, its row must still go.
        if kind == .register || kind == .map || (kind == nil && live.isEmpty) {
            var choice = displayChoice(of: BatchState.LiveEntry.self)
            for entry in live { choice.offer(entry.displayKey, seq: entry.seq, entry) }
            let removedOlder = state.olderEntriesRemoved[dirty] ?? 0
            if let winner = choice.chosen {
                // A winner older than the batch, in a key that lost none of its older entries, won
                // before the batch too: its value is already materialised (a write that loses a
                // conflict, or arrives late, changes no column).
                displayUnchanged = !record.isNew && winner.seq < state.firstSequence && removedOlder == 0
                winnerValue = winner.value
                winnerJSON = winner.json
            }
            // A conflicts row exists exactly when a key has two live entries or more. Before the
            // batch the key had its older entries still live and the older ones the batch removed,
            // so the row is written or deleted only when that count crosses two (an edit that
            // supersedes the one value it saw deletes nothing).
            let older = live.count { $0.seq < state.firstSequence }
            let hadConflict = !record.isNew && older + removedOlder >= 2
            if live.count >= 2 {
                if !hadConflict {
                    try database.run("INSERT OR REPLACE INTO conflicts(rid, field, key, kind) VALUES (?, ?, ?, ?)", count: 4) { row in
                        row.integer(dirty.rid)
                        row.text(dirty.field)
                        row.text(dirty.key)
                        row.text(kind!.rawValue)
                    }
                }
            } else if hadConflict {
                try database.run("DELETE FROM conflicts WHERE rid = ? AND field = ? AND key = ?", dirty.rid, dirty.field, dirty.key)
            }
        }
        guard let declaredKind, !displayUnchanged else { return nil }
        let winning = winnerJSON.map(Replica.sqlValue(json:)) ?? Replica.sqlValue(canonical: winnerValue)
        if declaredKind == .register { return winning }
        let side = StorageSchema.sideTable(record.collection, dirty.field)
        switch declaredKind {
        case .register:
            return winning
        case .map:
            if live.isEmpty {
                try database.run("DELETE FROM \(side) WHERE id = ? AND key = ?", record.record, dirty.key)
            } else {
                try database.run("INSERT OR REPLACE INTO \(side)(id, key, value) VALUES (?, ?, ?)", record.record, dirty.key, winning)
            }
        case .set:
            if live.isEmpty {
                try database.run("DELETE FROM \(side) WHERE id = ? AND element = ?", record.record, dirty.key)
            } else {
                try database.run("INSERT OR IGNORE INTO \(side)(id, element) VALUES (?, ?)", record.record, dirty.key)
            }
        case .log:
            if let entry = live.first {
                let replica = ReplicaID(bytes: entry.replica)?.hex ?? ""
                try database.run("INSERT OR REPLACE INTO \(side)(id, entry, wall, logical, replica, value) VALUES (?, ?, ?, ?, ?, ?)",
                                 record.record, dirty.key, entry.wall, entry.logical, replica, entry.value)
            } else {
                try database.run("DELETE FROM \(side) WHERE id = ? AND entry = ?", record.record, dirty.key)
            }
        case .counter:
            break
        }
        return nil
    }

    /// A record's deleted and visible flags and its edited-while-deleted conflict.
    private func materialiseLife(rid: Int64, collection: String) throws {
        let deleted = try database.queryScalarInteger("SELECT 1 FROM deletes WHERE rid = ? LIMIT 1", rid) != nil
        if !deleted, let flags = try database.queryRow("SELECT deleted, visible FROM records WHERE rid = ?", rid),
           flags.integer(0) == 0, flags.integer(1) == 1 {
            // Never deleted and still not: nothing to change (no edited-while-deleted conflict can exist).
            return
        }
        var editedWhileDeleted = false
        if deleted {
            editedWhileDeleted = try database.queryScalarInteger("""
                SELECT 1 FROM entries e WHERE e.rid = ? AND NOT EXISTS (
                    SELECT 1 FROM delete_observed o WHERE o.rid = e.rid AND o.replica = e.replica AND o.counter = e.counter)
                LIMIT 1
                """, rid) != nil
        }
        let policy = schema.collection(collection)?.deletePolicy ?? .deleteWins
        let visible = !deleted || (policy == .updateWins && editedWhileDeleted)
        try database.run("UPDATE records SET deleted = ?, visible = ? WHERE rid = ?", deleted, visible, rid)
        if schema.collection(collection) != nil {
            try database.run("UPDATE \(StorageSchema.quote(collection)) SET _deleted = ? WHERE _rid = ?", !visible, rid)
        }
        if editedWhileDeleted {
            try database.run("INSERT OR REPLACE INTO conflicts(rid, field, key, kind) VALUES (?, '', '', 'editedWhileDeleted')", rid)
        } else {
            try database.run("DELETE FROM conflicts WHERE rid = ? AND field = '' AND key = ''", rid)
        }
    }

    /// The SQL value a JSON value materialises to: strings as TEXT, numbers as INTEGER or REAL,
    /// booleans as 0/1, null as NULL, arrays and objects as canonical JSON text.
    static func sqlValue(canonical text: String?) -> SQLiteValue {
        guard let text else { return .null }
        guard let value = try? JSONParser().parse(text) else { return .text(text) }
        return sqlValue(json: value)
    }

    static func sqlValue(json value: JSONValue) -> SQLiteValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .integer(b ? 1 : 0)
        case .integer(let i): return .integer(i)
        case .double(let d): return .real(d)
        case .string(let s): return .text(s)
        case .array, .object: return .text(value.canonicalText)
        }
    }
}
