import ChorusCore
import SQLiteKit

/// Brings the materialised tables, the displayed flags and the conflict index up to date with the
/// entries a batch touched. Everything here is derived: it is a function of the merge state alone.
extension Replica {
    func materialise(_ state: inout BatchState) throws {
        let erased = state.erasedRecords
        var records: [Int64: (collection: String, record: String)] = [:]
        func lookup(_ rid: Int64) throws -> (collection: String, record: String)? {
            if erased.contains(rid) { return nil }
            if let known = records[rid] { return known }
            guard let row = try database.queryRow("SELECT collection, record FROM records WHERE rid = ?", rid),
                  let collection = row.text(0), let record = row.text(1) else { return nil }
            records[rid] = (collection, record)
            return (collection, record)
        }

        for dirty in state.dirtyKeys.sorted() {
            guard let (collection, record) = try lookup(dirty.rid) else { continue }
            try materialiseKey(dirty, collection: collection, record: record, values: state.values)
        }
        for dirty in state.dirtyCounters.sorted() {
            guard let (collection, _) = try lookup(dirty.rid),
                  schema.fieldKind(collection: collection, field: dirty.field) == .counter else { continue }
            try database.run("""
                UPDATE \(StorageSchema.quote(collection)) SET \(StorageSchema.quote(dirty.field)) =
                    (SELECT total FROM counters WHERE rid = ? AND field = ?) WHERE _rid = ?
                """, dirty.rid, dirty.field, dirty.rid)
        }
        for rid in state.dirtyRecords.sorted() {
            guard let (collection, _) = try lookup(rid) else { continue }
            try materialiseLife(rid: rid, collection: collection)
        }
    }

    /// One register, map key, set element or log entry.
    private func materialiseKey(_ dirty: BatchState.DirtyKey, collection: String, record: String, values: [OperationID: JSONValue]) throws {
        let live = try database.query("""
            SELECT replica, counter, wall, logical, kind, value, seq FROM entries
            WHERE rid = ? AND field = ? AND key = ?
            """, dirty.rid, dirty.field, dirty.key)
        let declaredKind = schema.fieldKind(collection: collection, field: dirty.field)
        let kind = declaredKind ?? live.first.flatMap { $0.text(4).flatMap(FieldKind.init(rawValue:)) }
        var winnerValue: String?
        var winnerJSON: JSONValue?
        if kind == .register || kind == .map {
            var winner: Row?
            for row in live {
                guard let current = winner else { winner = row; continue }
                if configuration.faults.displayLatestArrival {
                    if row.integer(6)! > current.integer(6)! { winner = row }
                } else if Replica.displayOrder(row) > Replica.displayOrder(current) {
                    winner = row
                }
            }
            if let winner {
                try database.run("""
                    UPDATE entries SET displayed = (replica = ? AND counter = ?) WHERE rid = ? AND field = ? AND key = ?
                    """, winner[0], winner[1], dirty.rid, dirty.field, dirty.key)
                winnerValue = winner.text(5)
                winnerJSON = values[Replica.operationID(winner)]
            }
            if live.count >= 2 {
                try database.run("INSERT OR REPLACE INTO conflicts(rid, field, key, kind) VALUES (?, ?, ?, ?)",
                                 dirty.rid, dirty.field, dirty.key, kind!.rawValue)
            } else {
                try database.run("DELETE FROM conflicts WHERE rid = ? AND field = ? AND key = ?", dirty.rid, dirty.field, dirty.key)
            }
        }
        guard let declaredKind else { return }
        let table = StorageSchema.quote(collection)
        let side = StorageSchema.sideTable(collection, dirty.field)
        switch declaredKind {
        case .register:
            try database.run("UPDATE \(table) SET \(StorageSchema.quote(dirty.field)) = ? WHERE _rid = ?",
                             winnerJSON.map(Replica.sqlValue(json:)) ?? Replica.sqlValue(canonical: winnerValue), dirty.rid)
        case .map:
            if live.isEmpty {
                try database.run("DELETE FROM \(side) WHERE id = ? AND key = ?", record, dirty.key)
            } else {
                try database.run("INSERT OR REPLACE INTO \(side)(id, key, value) VALUES (?, ?, ?)",
                                 record, dirty.key, winnerJSON.map(Replica.sqlValue(json:)) ?? Replica.sqlValue(canonical: winnerValue))
            }
        case .set:
            if live.isEmpty {
                try database.run("DELETE FROM \(side) WHERE id = ? AND element = ?", record, dirty.key)
            } else {
                try database.run("INSERT OR IGNORE INTO \(side)(id, element) VALUES (?, ?)", record, dirty.key)
            }
        case .log:
            if let entry = live.first {
                let replica = ReplicaID(bytes: entry.blob(0) ?? [])?.hex ?? ""
                try database.run("INSERT OR REPLACE INTO \(side)(id, entry, wall, logical, replica, value) VALUES (?, ?, ?, ?, ?, ?)",
                                 record, dirty.key, entry[2], entry[3], replica, entry[5])
            } else {
                try database.run("DELETE FROM \(side) WHERE id = ? AND entry = ?", record, dirty.key)
            }
        case .counter:
            break
        }
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

    /// The display rule's sort key for an entries row: (wall, logical, replica bytes, counter).
    static func displayOrder(_ row: Row) -> DisplayKey {
        DisplayKey(wall: row.integer(2) ?? 0, logical: row.integer(3) ?? 0, replica: row.blob(0) ?? [], counter: row.integer(1) ?? 0)
    }

    struct DisplayKey: Comparable {
        let wall: Int64, logical: Int64, replica: [UInt8], counter: Int64
        static func < (a: DisplayKey, b: DisplayKey) -> Bool {
            if a.wall != b.wall { return a.wall < b.wall }
            if a.logical != b.logical { return a.logical < b.logical }
            if a.replica != b.replica { return a.replica.lexicographicallyPrecedes(b.replica) }
            return a.counter < b.counter
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
