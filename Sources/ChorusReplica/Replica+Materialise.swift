import ChorusCore
import SQLiteKit
#if canImport(Glibc)
import Glibc
#endif

/// Brings the materialised tables and the conflict index up to date with the entries a batch
/// touched. Everything here is derived: it is a function of the merge state alone.
extension Replica {
    /// The SQL of a declared collection's typed row, its name matched by its bytes as
    /// `Schema.collection` matches it: a dictionary by `String` alone would give a name
    /// canonically equivalent to a declared one (a newer or hostile replica's) that one's table.
    func materialisedSQL(of collection: String) -> MaterialisedSQL? {
        guard schema.collection(collection) != nil else { return nil }
        return materialisedSQLByName[collection]
    }

    func materialise(_ state: inout BatchState) throws {
        let erased = state.erasedRecords
        // Every record the batch touched went through `recordID`, which noted it in `records`.
        func lookup(_ rid: Int64) -> BatchState.RecordInfo? { erased.contains(rid) ? nil : state.records[rid] }

        // Keys in record order (B-tree locality); each register's value is gathered per record so a
        // typed row is written once, however many of its fields the batch changed.
        var columns: [Int64: MaterialisedSQL.RowValues] = [:]
        columns.reserveCapacity(state.dirtyRecords.count)
        // The held records the batch changed, written back once their typed rows are.
        var heldChanged: [(rid: Int64, record: HeldRecord)] = []
        let (dirtyKeys, changes, madeEntries, order) = state.dirtyKeys.takeInRecordOrder()
        // The fields of the collection of the record before (none yet), and of the others met
        // so far, by the names' bytes: canonically equivalent names are two collections.
        var fields = MaterialisedSQL.FieldsByNumber(collection: "", declared: nil, sql: nil)
        var fieldsByCollection: [ExactName: MaterialisedSQL.FieldsByNumber] = [:]
        var start = 0
        while start < order.count {
            let rid = dirtyKeys[order[start]].rid
            var end = start + 1
            while end < order.count && dirtyKeys[order[end]].rid == rid { end += 1 }
            defer { start = end }
            guard let record = lookup(rid) else { continue }
            // The record's keys, by their positions in `dirtyKeys` and `changes`.
            var keys = order[start..<end]
            // A key's live entries: those older than the batch, from the database (an existing
            // record with many changed keys is read in one query rather than one per key), and
            // those the batch made, in hand.
            let older = state.firstSequence
            var whole: [[BatchState.LiveEntry]]?
            // Taken out while its keys are materialised, so changing it copies nothing.
            var held = state.takeHeld(rid)
            if !record.isNew && held == nil && keys.count >= Replica.wholeRecordReadKeysMin {
                // As the query's `ORDER BY` sorts: by field number, then the key's bytes (Swift's
                // `String` order and equality are canonical, under which two distinct keys can
                // compare equal).
                keys.sort { a, b in
                    let a = dirtyKeys[a], b = dirtyKeys[b]
                    return a.fieldNo == b.fieldNo ? ExactText.less(a.key, b.key) : a.fieldNo < b.fieldNo
                }
                whole = try liveEntries(rid: rid, of: keys.lazy.map { dirtyKeys[$0] }, olderThan: older)
            }
            var conflicts = ConflictChange()
            // Looked up once for each run of records of one collection, and each field once
            // (three lookups a key, two of them hashing the collection's name, were 4% of a merged
            // operation's instructions).
            if !ExactText.equal(fields.collection, record.collection) {
                fieldsByCollection[ExactName(fields.collection)] = fields
                fields = fieldsByCollection.removeValue(forKey: ExactName(record.collection))
                    ?? MaterialisedSQL.FieldsByNumber(collection: record.collection, declared: schema.collection(record.collection),
                                                      sql: materialisedSQL(of: record.collection))
            }
            // The record's typed row values, gathered here and kept once its keys are done.
            var row = MaterialisedSQL.RowValues(columns: fields.columns)
            held?.reserveRewrittenColumns(keys.count)
            for (index, position) in keys.enumerated() {
                let dirty = dirtyKeys[position]
                let fieldSchema = fields.field(dirty.fieldNo, name: dirty.field)
                let made = madeEntries.chain(from: changes[position].madeFirst)
                let live: ArraySlice<BatchState.LiveEntry>
                if record.isNew {
                    live = made
                } else if held != nil {
                    if held!.needsColumn(field: dirty.fieldNo) {
                        try held!.resolve(columnValues(rid: rid, collection: record.collection, of: held!.unresolvedFields, state: &state), record: rid)
                    }
                    let older = try heldEntries(held!, dirty)
                    live = older.isEmpty ? made : (older + made)[...]
                } else {
                    live = try ((whole?[index] ?? liveEntries(dirty, olderThan: older)) + made)[...]
                }
                if let (value, string) = try materialiseKey(dirty, declaredKind: fieldSchema.kind, live: live, removedOlder: changes[position].olderRemoved,
                                                            record: record, state: state, conflicts: &conflicts) {
                    if let position = fieldSchema.position { row.set(position, to: value) }
                    if held != nil {
                        held!.rewroteColumn(field: dirty.fieldNo, as: RegisterColumns.canonicalJSON(writing: value, to: fieldSchema.valueType, string: string))
                    }
                }
            }
            if row.count > 0 { columns[rid] = row }
            try writeConflictIndex(rid: rid, conflicts, held: held)
            // Every entry a batch adds or removes dirties its key, so every changed held record is
            // met here. One going into rows needs all its values, read before its typed row changes.
            if var held, held.changed {
                if held.isPastBound, case let fields = held.unresolvedFields, !fields.isEmpty {
                    try held.resolve(columnValues(rid: rid, collection: record.collection, of: fields, state: &state), record: rid)
                }
                heldChanged.append((rid, held))
            }
        }
        // Their bodies, encoded meanwhile on another core.
        let bodiesAhead = BodiesAhead(heldChanged)
        defer { bodiesAhead?.stop() }
        // New records' typed rows, whole, many to a statement where a run of them shares a
        // collection (one statement a row was a tenth of a merge into an empty replica; callgrind, P1).
        let created = state.records.filter { $0.value.isNew && !erased.contains($0.key) }.sorted { $0.key < $1.key }
        var next = 0
        while next < created.count {
            let collection = created[next].value.collection
            var end = next + 1
            while end < created.count && ExactText.equal(created[end].value.collection, collection) { end += 1 }
            let run = created[next..<end]
            next = end
            guard let sql = materialisedSQL(of: collection) else { continue }
            try database.run(rows: run, perStatement: sql.rowsPerInsert, manySQL: sql.insertRows, oneSQL: sql.insertRow,
                             parametersPerRow: 2 + sql.registerFields.count) { row, new in
                let values = columns[new.key]?.values
                row.text(new.value.record)
                row.integer(new.key)
                for position in sql.registerFields.indices { row.value(values?[position] ?? .null) }
            }
            for (rid, _) in run { columns[rid] = nil }
        }
        // Existing records whose typed row is missing (one written before its collection was
        // declared): no value can be kept in its columns.
        var typedRowsMissing = Set<Int64>()
        for (rid, values) in columns.sorted(by: { $0.key < $1.key }) {
            guard let record = lookup(rid), let sql = materialisedSQL(of: record.collection) else { continue }
            if let position = values.onlyPosition, let value = values.values[position] {
                try database.run(sql.updateColumn[position], value, rid)
            } else {
                try database.run(sql.updateRow, count: sql.registerFields.count * 2 + 1) { row in
                    for value in values.values {
                        row.integer(value != nil ? 1 : 0)
                        row.value(value ?? .null)
                    }
                    row.integer(rid)
                }
            }
            if database.changes == 0 { typedRowsMissing.insert(rid) }
        }
        // Before the records' life, which reads their entries through the views.
        var bodies: [(rid: Int64, body: [UInt8])] = []
        bodies.reserveCapacity(heldChanged.count)
        let encoded = try bodiesAhead?.finish()
        for index in heldChanged.indices {
            let rid = heldChanged[index].rid
            if typedRowsMissing.contains(rid) {
                heldChanged[index].record.typedRowMissing()
            } else if let body = encoded?[index] {
                bodies.append((rid, body))
                continue
            }
            if let body = try writeHeld(rid: rid, &heldChanged[index].record) { bodies.append((rid, body)) }
        }
        // Many to a statement, as new records are (0.6% of the merging thread's instructions; callgrind, P1).
        try database.run(rows: bodies, perStatement: FoldedEntries.bodiesPerStatement, manySQL: FoldedEntries.insertBodiesSQL,
                         oneSQL: FoldedEntries.insertBodySQL, parametersPerRow: 2) { row, folded in
            row.integer(folded.rid)
            row.blob(folded.body)
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
            SELECT origin, counter, wall, logical, kind, seq FROM entry_rows
            WHERE rid = ? AND field = ? AND key = ? AND seq < ?
            """, parameters: [dirty.rid, dirty.fieldNo, dirty.key, older]) { row in
            entries.append(Replica.liveEntry(row, replica: try originNumbers.name(row.integer(0), in: database)))
        }
        return entries
    }

    /// The live entries of several keys of one record logged before sequence `older`, in one
    /// query, one array per key of `keys` (which are in order of field number, then byte order of
    /// key, as the query's rows are). The rows and the keys are walked side by side, so a row's key
    /// is compared in place and never made into a string or hashed, and rows of keys the batch did not
    /// change are passed over undecoded (hashing each key's names into a dictionary was a fifth of
    /// the whole-record read; callgrind, P1 into a replica holding concurrent edits).
    private func liveEntries<Keys: Collection<BatchState.DirtyKey>>(rid: Int64, of keys: Keys, olderThan older: Int64) throws -> [[BatchState.LiveEntry]] {
        var found = [[BatchState.LiveEntry]](repeating: [], count: keys.count)
        var index = keys.startIndex, offset = 0
        // A record's entries come from few replicas: one array per run of the same writer.
        var origin: Int64?, replica: [UInt8] = []
        try database.forEachColumns("""
            SELECT origin, counter, wall, logical, kind, seq, field, key FROM entry_rows
            WHERE rid = ? AND seq < ? ORDER BY field, key
            """, parameters: [rid, older]) { row in
            while index < keys.endIndex {
                let dirty = keys[index]
                let rowField = row.integer(6)
                let order = rowField != dirty.fieldNo ? (rowField < dirty.fieldNo ? -1 : 1) : row.compareText(7, dirty.key)
                if order < 0 { return }   // a key the batch did not change
                if order == 0 {
                    let rowOrigin = row.integer(0)
                    if rowOrigin != origin {
                        origin = rowOrigin
                        replica = try originNumbers.name(rowOrigin, in: database)
                    }
                    found[offset].append(Replica.liveEntry(row, replica: replica))
                    return
                }
                keys.formIndex(after: &index)   // no more rows for this key
                offset += 1
            }
        }
        return found
    }

    /// The live entries of one key of a held record that are older than the batch, as
    /// materialising reads them (every value in hand).
    private func heldEntries(_ held: HeldRecord, _ dirty: BatchState.DirtyKey) throws -> [BatchState.LiveEntry] {
        try held.olderEntries(field: dirty.fieldNo, key: dirty.key).map { entry in
            BatchState.LiveEntry(replica: try originNumbers.name(entry.origin, in: database), counter: entry.counter, wall: entry.wall,
                                 logical: entry.logical, kind: EntryRows.kind(code: entry.kind), value: entry.value, json: nil, seq: entry.seq)
        }
    }

    /// Writes back the entries of a record the batch held: returns them folded into one value, for
    /// the caller to insert with the other records' bodies, or writes them in rows of their own
    /// when it has grown past `HeldRecord.entriesMax` or `HeldRecord.bodyBytesMax` (or has none
    /// left), and returns nil.
    private func writeHeld(rid: Int64, _ record: inout HeldRecord) throws -> [UInt8]? {
        let isPastBound = record.isPastBound
        let entries = try record.takeEntriesToWrite(record: rid)
        if let body = HeldRecord.foldedBody(entries, isPastBound: isPastBound) { return body }
        if entries.contains(where: { $0.valueInColumn && $0.value == nil }) {
            throw ChorusError(.invalidState, "record \(rid)'s entries were to go into rows with a value kept in a typed column unread",
                              hint: "this is a bug in Chorus; nothing of the batch was written; report it")
        }
        if record.hadBody { try database.run("DELETE FROM folded_entries WHERE rid = ?", rid) }
        for entry in entries { try insertEntryRow(rid: rid, entry) }
        return nil
    }

    /// An `entry_rows` row, columns (origin, counter, wall, logical, kind, seq, ...), without its
    /// value: most older entries lose, or won before the batch and stay displayed, so their values
    /// are never needed (reading them was an eighth of the whole-record read; callgrind).
    private static func liveEntry(_ row: ColumnReader, replica: [UInt8]) -> BatchState.LiveEntry {
        BatchState.LiveEntry(replica: replica, counter: row.integer(1), wall: row.integer(2),
                             logical: row.integer(3), kind: EntryRows.kind(code: row.integer(4)),
                             value: nil, valueRead: false, json: nil, seq: row.integer(5))
    }

    /// The value of an entry read without it.
    private func storedValue(_ dirty: BatchState.DirtyKey, _ entry: BatchState.LiveEntry) throws -> String? {
        guard !entry.valueRead else { return entry.value }
        guard let origin = try originNumbers.number(of: entry.replica, in: database, create: false) else {
            throw ChorusError(.storage, "a live entry's origin \(Hex.encode(entry.replica)) is not in the table of origins",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        return try database.queryScalarText("SELECT value FROM entry_rows WHERE rid = ? AND field = ? AND key = ? AND origin = ? AND counter = ?",
                                            dirty.rid, dirty.fieldNo, dirty.key, origin, entry.counter)
    }

    /// Whether the batch brought keys of one record into conflict, or out of it.
    private struct ConflictChange {
        /// A register or map key went from fewer than two live entries to two or more.
        var added = false
        /// A register or map key went from two live entries or more to fewer.
        var removed = false
    }

    /// Keeps `conflicted_records` true for one record: a row exactly when one of its register or
    /// map keys has two live entries or more. A key that came into conflict is enough to know; one
    /// that left it asks the record's entries whether another key still is (a resolution, rare).
    /// `held` is the record's entries when the batch holds them.
    private func writeConflictIndex(rid: Int64, _ change: ConflictChange, held: HeldRecord?) throws {
        if change.added {
            try database.run("INSERT OR IGNORE INTO conflicted_records(rid) VALUES (?)", rid)
        } else if change.removed, try !(held?.hasValueConflict ?? hasValueConflict(rid: rid)) {
            try database.run("DELETE FROM conflicted_records WHERE rid = ?", rid)
        }
    }

    /// Whether one of the record's register or map keys has two live entries or more.
    private func hasValueConflict(rid: Int64) throws -> Bool {
        try database.queryScalarInteger("""
            SELECT 1 FROM entry_rows WHERE rid = ? AND kind IN \(EntryRows.valueKindCodesSQL) GROUP BY field, key HAVING count(*) >= 2 LIMIT 1
            """, rid) != nil
    }

    /// One register, map key, set element or log entry. Returns a declared register's new column
    /// value, for the caller to write with the rest of its record's row, with the canonical JSON
    /// text of the winning value when it is a JSON string this batch made (nil otherwise); and
    /// notes in `conflicts` whether the key came into conflict or left it. `declaredKind` is the
    /// field's kind in the schema, nil for an undeclared field.
    private func materialiseKey(_ dirty: BatchState.DirtyKey, declaredKind: FieldKind?, live: ArraySlice<BatchState.LiveEntry>, removedOlder: Int,
                                record: BatchState.RecordInfo, state: BatchState,
                                conflicts: inout ConflictChange) throws -> (value: SQLiteValue, string: String?)? {
        // A declared field's entries all have its kind. A key of an undeclared field can hold
        // entries of several kinds (a set element and a map key of one name, from replicas that
        // disagree about the field); only its register and map entries are values, which can be
        // in conflict.
        let values = declaredKind != nil ? live : live.filter { $0.kind == .register || $0.kind == .map }[...]
        let kind = declaredKind ?? values.first?.kind
        var winnerValue: String?
        var winnerJSON: JSONValue?
        var displayUnchanged = false
        // A key of an undeclared field with no values left has no kind left to tell; if it had a
        // conflict, its record may have to leave the index.
        if kind == .register || kind == .map || (declaredKind == nil && values.isEmpty) {
            // Entries offered by their index: offered whole, each was copied in and out of the
            // choice (2% of a merge's instructions; callgrind, P1).
            var choice = displayChoice(of: Int.self)
            for index in values.indices { choice.offer(values[index].displayKey, seq: values[index].seq, index) }
            if let chosen = choice.chosen {
                let winner = values[chosen]
                // A winner older than the batch, in a key that lost none of its older entries, won
                // before the batch too: its value is already materialised (a write that loses a
                // conflict, or arrives late, changes no column).
                displayUnchanged = !record.isNew && winner.seq < state.firstSequence && removedOlder == 0
                winnerValue = declaredKind != nil && !displayUnchanged ? try storedValue(dirty, winner) : winner.value
                winnerJSON = winner.json
            }
            // A key is in conflict exactly when it has two live entries or more. Before the batch
            // the key had its older entries still live and the older ones the batch removed, so
            // only a count that crosses two changes the index (an edit that supersedes the one
            // value it saw changes nothing).
            if declaredKind == nil {
                // The counts before the batch may include entries of other kinds, so the index is
                // set from what is live now: two values are a conflict; fewer, the record's
                // entries are asked (undeclared fields are rare).
                if values.count >= 2 { conflicts.added = true } else { conflicts.removed = true }
            } else {
                let older = live.count { $0.seq < state.firstSequence }
                let hadConflict = !record.isNew && older + removedOlder >= 2
                if live.count >= 2 {
                    if !hadConflict { conflicts.added = true }
                } else if hadConflict {
                    conflicts.removed = true
                }
            }
        }
        guard let declaredKind, !displayUnchanged else { return nil }
        let winning = winnerJSON.map(Replica.sqlValue(json:)) ?? Replica.sqlValue(canonical: winnerValue)
        if declaredKind == .register {
            // A made entry's value text is its JSON value's canonical text (`insertEntry`).
            if case .string = winnerJSON { return (winning, winnerValue) }
            return (winning, nil)
        }
        let side = StorageSchema.sideTable(record.collection, dirty.field)
        switch declaredKind {
        case .register:
            return (winning, nil)
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
                                 record.record, dirty.key, entry.wall, entry.logical, replica, try storedValue(dirty, entry))
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
