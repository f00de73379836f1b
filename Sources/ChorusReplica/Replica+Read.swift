import ChorusCore
import SQLiteKit

/// A live write of a register or map key, as admins see it.
public struct Sibling: Equatable, Sendable {
    public let operation: OperationID
    public let value: JSONValue
    public let timestamp: HybridTimestamp
    /// True for the delete operations listed in an edited-while-deleted conflict.
    public var isDelete = false
    /// For an edit listed in an edited-while-deleted conflict, what it changed: the field, and the
    /// map key or set element (a value alone, "3", once told an admin restoring nothing of where).
    public var field: String?
    public var key: String?
    /// And the field's kind (register, map, set or log), which says how to read the value.
    public var kind: FieldKind?
    /// Where the operation is in this replica's log, to read it back (its author) without an index
    /// on the log's ids. Local to this replica, so siblings compare without it.
    var sequence: Int64?
    public var replica: ReplicaID { operation.replica }

    public static func == (a: Sibling, b: Sibling) -> Bool {
        a.operation == b.operation && a.value == b.value && a.timestamp == b.timestamp && a.isDelete == b.isDelete && a.field == b.field && a.key == b.key && a.kind == b.kind
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["operation": .string(operation.description), "value": value,
                                           "replica": .string(replica.hex), "timestamp": .string(timestamp.description)]
        if isDelete { object["delete"] = .bool(true) }
        if let field { object["field"] = .string(field) }
        if let key { object["key"] = .string(key) }
        if let kind { object["kind"] = .string(kind.rawValue) }
        return .object(object)
    }
}

/// One open conflict.
public struct Conflict: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// Concurrent writes of one register.
        case register
        /// Concurrent writes of one map key.
        case map
        /// Writes made concurrently with the record's deletion.
        case editedWhileDeleted
        /// Two visible people with the same email (an invariant only a merge can break).
        case duplicateEmail
    }
    public let collection: String
    public let record: String
    /// The field; nil for edited-while-deleted.
    public let field: String?
    /// The map key, for map conflicts.
    public let key: String?
    public let kind: Kind
    /// Live siblings in display order (the displayed one first). For edited-while-deleted: the
    /// live deletes (value null) then the concurrent writes.
    public let siblings: [Sibling]
    /// The operation whose outcome shows.
    public let displayed: OperationID
    /// Why that one shows.
    public let rule: String
    /// The invariant a merge broke, in words, when the conflict is one ("one opportunity filled by two people").
    public var invariant: String? = nil

    /// A stable id, the same on every replica: 24 hex digits of SHA-256 over kind, collection,
    /// record, field and key.
    public var id: String {
        let group = kind == .map || kind == .register ? "field" : kind.rawValue
        let text = ["chorus-conflict", group, collection, record, field ?? "", key ?? ""].joined(separator: "\u{0}")
        return String(SHA256.hash(text).hexString.prefix(24))
    }

    /// `chorus conflicts --json` element.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id),
            "collection": .string(collection), "record": .string(record),
            "field": field.map(JSONValue.string) ?? .null,
            "kind": .string(kind.rawValue),
            "siblings": .array(siblings.map(\.json)),
            "displayed": .string(displayed.description),
            "rule": .string(rule),
        ]
        if let key { object["key"] = .string(key) }
        if let invariant { object["invariant"] = .string(invariant) }
        return .object(object)
    }
}

/// A record as the replica shows it.
public struct RecordSnapshot: Equatable, Sendable {
    public let collection: String
    public let id: String
    public let isDeleted: Bool
    public let isVisible: Bool
    /// Fields that have been written, by name: registers as their displayed value, sets as sorted
    /// arrays, maps as objects of displayed values, counters as integers, logs as arrays of entries.
    public let fields: [String: JSONValue]
    /// Fields (`field` or `field[key]`) with an open conflict.
    public let conflicts: [String]

    /// `chorus get --json`: the record's id and its fields by name, plus `_meta`.
    public var json: JSONValue {
        var object = fields
        object["id"] = .string(id)
        object["_meta"] = .object(["collection": .string(collection), "deleted": .bool(!isVisible),
                                   "conflicts": .array(conflicts.map(JSONValue.string))])
        return .object(object)
    }
}

/// One operation in the log, with its local sequence number.
public struct LoggedOperation: Sendable {
    public let sequence: Int64
    public let id: OperationID
    /// Nil when the record was erased: only the id remains.
    public let operation: Operation?
}

extension Replica {
    /// The record, or nil if it never existed or was erased.
    public func get(collection: String, record: String) throws -> RecordSnapshot? {
        try Replica.wrapStorage {
            guard let row = try database.queryRow("SELECT rid, deleted, visible FROM records WHERE collection = ? AND record = ?", collection, record),
                  let rid = row.integer(0) else { return nil }
            var fields: [String: JSONValue] = [:]
            var setElements: [String: [String]] = [:]
            var mapValues: [String: [String: JSONValue]] = [:]
            var logEntries: [String: [(DisplayKey, JSONValue)]] = [:]
            var conflicts: [String] = []
            // A register's or map key's entries are adjacent (primary-key order): the displayed one is
            // chosen as they go by and kept when the next key starts; a key with two or more is in conflict.
            // A key whose live entries all hold one value is not in conflict (`ValueAgreement`).
            var shown: (field: String, key: String, kind: FieldKind, values: ValueAgreement, choice: DisplayChoice<String?>)?
            func keepShown() {
                guard let done = shown, let text = done.choice.chosen else { return }
                if done.values.disagree { conflicts.append(done.kind == .map ? "\(done.field)[\(done.key)]" : done.field) }
                let value = Replica.json(text)
                if done.kind == .register { fields[done.field] = value } else { mapValues[done.field, default: [:]][done.key] = value }
            }
            try database.forEachRow("""
                SELECT replica, counter, wall, logical, field, key, kind, value, seq FROM entries
                WHERE rid = ? AND field != ? ORDER BY field, key
                """, parameters: [rid, StorageSchema.recordField]) { entry in
                let field = entry.text(4)!, key = entry.text(5)!
                switch FieldKind(rawValue: entry.text(6) ?? "") {
                case let kind? where kind == .register || kind == .map:
                    if shown == nil || !ExactText.equal(shown!.field, field) || !ExactText.equal(shown!.key, key) {
                        keepShown()
                        shown = (field, key, kind, ValueAgreement(), displayChoice(of: String?.self))
                    }
                    shown!.values.offer(entry.text(7))
                    shown!.choice.offer(Replica.displayOrder(entry), seq: entry.integer(8) ?? 0, entry.text(7))
                case .set?: if setElements[field]?.last != key { setElements[field, default: []].append(key) }
                case .log?:
                    let replica = try Replica.storedReplicaID(entry.blob(0))
                    logEntries[field, default: []].append((Replica.displayOrder(entry), .object([
                        "entry": .string(key), "value": Replica.json(entry.text(7)), "replica": .string(replica.hex),
                        "timestamp": .string("\(entry.integer(2)!).\(entry.integer(3)!)")])))
                default: break
                }
            }
            keepShown()
            for (field, elements) in setElements { fields[field] = .array(elements.sorted(by: JSONValue.utf8Less).map(JSONValue.string)) }
            for (field, values) in mapValues { fields[field] = .object(values) }
            for (field, entries) in logEntries { fields[field] = .array(entries.sorted { $0.0 < $1.0 }.map(\.1)) }
            try database.forEachRow("SELECT field, total FROM counters WHERE rid = ?", parameters: [rid]) { counter in
                fields[counter.text(0)!] = .integer(counter.integer(1) ?? 0)
            }
            // As `conflicts()` lists them: a hidden record's values in conflict wait unlisted.
            if row.integer(2) != 1 { conflicts.removeAll() }
            if try database.queryScalarInteger("SELECT 1 FROM conflicts WHERE rid = ? AND kind = 'editedWhileDeleted'", rid) != nil {
                conflicts.insert("(edited while deleted)", at: 0)
            }
            return RecordSnapshot(collection: collection, id: record, isDeleted: row.integer(1) == 1, isVisible: row.integer(2) == 1,
                                  fields: fields, conflicts: conflicts)
        }
    }

    /// Record ids of a collection in byte order; deleted ones only when asked.
    public func list(collection: String, includeDeleted: Bool = false, after: String? = nil, limit: Int = 1000) throws -> [(id: String, isVisible: Bool)] {
        try Replica.wrapStorage {
            try database.query("""
                SELECT record, visible FROM records WHERE collection = ? AND (? OR visible = 1) AND record > ?
                ORDER BY record LIMIT ?
                """, collection, includeDeleted, after ?? "", limit).map { ($0.text(0)!, $0.integer(1) == 1) }
        }
    }

    /// Every open conflict, ordered by collection, record, field and key.
    ///
    /// The values in conflict of a record that does not show (deleted, and not kept visible by an
    /// edit) are not listed: nothing displays them, and no value can be written to settle them while
    /// it is deleted. They wait, and are listed again if the record is restored. Listed, they stayed
    /// open for good unless an admin restored the person to settle them (and `chorus_open_conflicts`
    /// never went back to 0).
    public func conflicts(collection: String? = nil) throws -> [Conflict] {
        try Replica.wrapStorage {
            // Records with a conflict of either kind; within a record the edited-while-deleted one
            // (no field) comes first, then its keys in (field, key) order.
            let rows = try database.query("""
                SELECT c.rid, r.collection, r.record, 1 FROM conflicts c JOIN records r ON r.rid = c.rid
                WHERE c.kind = 'editedWhileDeleted' AND (? IS NULL OR r.collection = ?)
                UNION ALL
                SELECT c.rid, r.collection, r.record, 0 FROM conflicted_records c JOIN records r ON r.rid = c.rid
                WHERE r.visible = 1 AND (? IS NULL OR r.collection = ?)
                ORDER BY 2, 3, 4 DESC
                """, collection, collection, collection, collection)
            var found: [Conflict] = []
            for row in rows {
                let rid = row.integer(0)!, collectionName = row.text(1)!, record = row.text(2)!
                if row.integer(3) == 1 {
                    found.append(try editedWhileDeletedConflict(rid: rid, collection: collectionName, record: record))
                } else {
                    found += try valueConflicts(rid: rid, collection: collectionName, record: record)
                }
            }
            return found + (collection == nil || collection == "people" ? try duplicateEmailConflicts() : [])
        }
    }

    /// The record's registers and map keys that hold two live entries or more, in (field, key) order.
    private func valueConflicts(rid: Int64, collection: String, record: String) throws -> [Conflict] {
        var conflicts: [Conflict] = []
        // One key's entries at a time: they are adjacent in primary-key order.
        var group: (field: String, key: String, isMap: Bool, siblings: [(DisplayKey, Sibling)], values: ValueAgreement, choice: DisplayChoice<OperationID>)?
        func finishGroup() {
            guard let done = group, done.values.disagree else { return }
            let siblings = done.siblings.sorted { $0.0 > $1.0 }.map(\.1)
            var conflict = Conflict(collection: collection, record: record, field: done.field, key: done.isMap ? done.key : nil,
                                    kind: done.isMap ? .map : .register, siblings: siblings, displayed: done.choice.chosen ?? siblings[0].operation,
                                    rule: "greatest (timestamp, replica id) among live siblings displays; the others stay until resolved")
            conflict.invariant = Replica.invariants["\(collection).\(done.field)"]
            conflicts.append(conflict)
        }
        try database.forEachRow("""
            SELECT replica, counter, wall, logical, value, seq, field, key, kind FROM entries
            WHERE rid = ? AND kind IN ('register', 'map') ORDER BY field, key
            """, parameters: [rid]) { entry in
            let field = entry.text(6)!, key = entry.text(7)!
            if group == nil || !ExactText.equal(group!.field, field) || !ExactText.equal(group!.key, key) {
                finishGroup()
                group = (field, key, entry.text(8) == FieldKind.map.rawValue, [], ValueAgreement(), displayChoice(of: OperationID.self))
            }
            group!.values.offer(entry.text(4))
            let order = Replica.displayOrder(entry), id = try Replica.operationID(entry)
            group!.choice.offer(order, seq: entry.integer(5) ?? 0, id)
            group!.siblings.append((order, Sibling(operation: id, value: Replica.json(entry.text(4)),
                                                   timestamp: HybridTimestamp(wall: UInt64(clamping: entry.integer(2)!), logical: UInt32(clamping: entry.integer(3)!)),
                                                   sequence: entry.integer(5))))
        }
        finishGroup()
        return conflicts
    }

    /// Fields where a concurrent write breaks a rule of the domain, named for admins.
    static let invariants = [
        "opportunities.filledBy": "one opportunity filled by two people",
        "people.careerSteps": "two current career steps for one ability",
    ]

    /// Visible people sharing an email, case-insensitively. Every one of them still shows it until
    /// an admin keeps one; the person whose email was written first (smallest timestamp, then
    /// replica id) is listed first and marked displayed, as the likely owner.
    func duplicateEmailConflicts() throws -> [Conflict] {
        let groups = try database.query("""
            SELECT lower(email) FROM people WHERE _deleted = 0 AND email IS NOT NULL AND email != ''
            GROUP BY lower(email) HAVING count(*) > 1 ORDER BY lower(email)
            """)
        return try groups.map { group in
            let email = group.text(0)!
            // Each person's displayed email write, chosen among the live entries of their email register.
            var shown: [String: DisplayChoice<(String, DisplayKey, Sibling)>] = [:]
            try database.forEachRow("""
                SELECT e.replica, e.counter, e.wall, e.logical, e.value, e.seq, p.id FROM people p
                JOIN entries e ON e.rid = p._rid AND e.field = 'email' AND e.key = ''
                WHERE p._deleted = 0 AND lower(p.email) = ?
                """, parameters: [email]) { row in
                let person = row.text(6)!, order = Replica.displayOrder(row)
                let sibling = Sibling(operation: try Replica.operationID(row),
                                      value: .object(["person": .string(person), "email": Replica.json(row.text(4))]),
                                      timestamp: HybridTimestamp(wall: UInt64(clamping: row.integer(2)!), logical: UInt32(clamping: row.integer(3)!)),
                                      sequence: row.integer(5))
                shown[person, default: displayChoice()].offer(order, seq: row.integer(5) ?? 0, (person, order, sibling))
            }
            let writes = shown.values.compactMap(\.chosen).sorted { $0.1 < $1.1 }
            var conflict = Conflict(collection: "people", record: writes.map(\.0).sorted().joined(separator: ","), field: "email", key: email,
                                    kind: .duplicateEmail, siblings: writes.map(\.2), displayed: writes[0].2.operation,
                                    rule: "every one of these people shows the email until it is resolved; the one whose email was written first (smallest timestamp, then replica id) comes first, as the likely owner; resolve by keeping one, which clears the others' email")
            conflict.invariant = "two people with the same email"
            return conflict
        }
    }

    private func editedWhileDeletedConflict(rid: Int64, collection: String, record: String) throws -> Conflict {
        let deletes = try database.query("SELECT replica, counter, wall, logical, seq FROM deletes WHERE rid = ? ORDER BY wall DESC, logical DESC, replica DESC", rid).map {
            Sibling(operation: try Replica.operationID($0), value: .null, timestamp: HybridTimestamp(wall: UInt64(clamping: $0.integer(2)!), logical: UInt32(clamping: $0.integer(3)!)),
                    isDelete: true, sequence: $0.integer(4))
        }
        let writes = try database.query("""
            SELECT e.replica, e.counter, e.wall, e.logical, e.value, e.seq, e.field, e.key, e.kind FROM entries e WHERE e.rid = ? AND NOT EXISTS (
                SELECT 1 FROM delete_observed o WHERE o.rid = e.rid AND o.replica = e.replica AND o.counter = e.counter)
            ORDER BY e.wall DESC, e.logical DESC, e.replica DESC, e.counter DESC
            """, rid).map { row -> Sibling in
            var sibling = Sibling(operation: try Replica.operationID(row), value: Replica.json(row.text(4)),
                                  timestamp: HybridTimestamp(wall: UInt64(clamping: row.integer(2)!), logical: UInt32(clamping: row.integer(3)!)), sequence: row.integer(5))
            // A log entry's key is its own operation id, which the sibling names already.
            let kind = FieldKind(rawValue: row.text(8) ?? "")
            sibling.field = row.text(6)
            sibling.kind = kind
            if kind == .map || kind == .set { sibling.key = row.text(7) }
            return sibling
        }
        let policy = schema.collection(collection)?.deletePolicy ?? .deleteWins
        let displayed = policy == .deleteWins ? deletes[0].operation : writes[0].operation
        let rule = policy == .deleteWins
            ? "\(collection) is delete-wins: the record stays deleted; restore it to keep the edits, or delete it again to confirm"
            : "\(collection) is update-wins: the record stays visible with the edits; delete it again to confirm the delete, or restore it"
        return Conflict(collection: collection, record: record, field: nil, key: nil, kind: .editedWhileDeleted,
                        siblings: deletes + writes, displayed: displayed, rule: rule)
    }

    /// Operations in the log after `sequence`, oldest first. With `waitingToPush`, after the push
    /// cursor instead, and only those that did not come from the upstream: what this replica has
    /// still to send (`chorus log --waiting`), such as writes its upstream refused.
    public func log(after sequence: Int64 = 0, limit: Int = 100, waitingToPush: Bool = false) throws -> [LoggedOperation] {
        try Replica.wrapStorage {
            var logged: [LoggedOperation] = []
            guard limit > 0 else { return logged }
            try forEachLogged(after: waitingToPush ? pushCursor() : sequence) { item in
                if waitingToPush && (item.source == "upstream" || item.entry.payload == nil) { return true }
                let id = OperationID(replica: item.entry.replicaID, counter: item.entry.counter)
                let operation = try item.entry.payloadText.map { try codec.decode(text: $0) }
                logged.append(LoggedOperation(sequence: item.sequence, id: id, operation: operation))
                return logged.count < limit
            }
            return logged
        }
    }

    /// Whether the log holds this operation (applied, or kept as an id for an erased record).
    public func hasOperation(_ id: OperationID) throws -> Bool {
        try Replica.wrapStorage {
            try database.queryScalarInteger("SELECT 1 FROM log_ids WHERE replica = ? AND first <= ? AND last >= ?",
                                            id.replica.bytes, Int64(id.counter), Int64(id.counter)) != nil
        }
    }

    /// Whether the record was erased (only its hash remains).
    public func isErased(collection: String, record: String) throws -> Bool {
        try Replica.wrapStorage { try isErased(hash: Operation.recordHash(collection: collection, record: record)) }
    }

    /// Whether a record with this hash was erased (inside a storage call or transaction).
    func isErased(hash: [UInt8]) throws -> Bool {
        try database.queryScalarInteger("SELECT 1 FROM erased WHERE hash = ?", hash) != nil
    }

    /// Counts for `chorus status`.
    public func statistics() throws -> (operations: Int64, records: Int64, conflicts: Int64, erased: Int64) {
        try Replica.wrapStorage {
            (try database.queryScalarInteger("SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM log_blocks") ?? 0,
             try database.queryScalarInteger("SELECT count(*) FROM records") ?? 0,
             (try database.queryScalarInteger("SELECT count(*) FROM conflicts") ?? 0)
                + (try database.queryScalarInteger("""
                    SELECT count(*) FROM (SELECT 1 FROM conflicted_records c JOIN records r ON r.rid = c.rid AND r.visible = 1
                    JOIN entries e ON e.rid = c.rid
                    WHERE e.kind IN ('register', 'map') GROUP BY e.rid, e.field, e.key
                    HAVING count(DISTINCT ifnull(e.value, '')) >= 2)
                    """) ?? 0)
                // And two people with one email, as `conflicts()` lists them: left out, status
                // counted one fewer than the list, the admin page and the metrics (a review).
                + Int64(try duplicateEmailConflicts().count),
             try database.queryScalarInteger("SELECT count(*) FROM erased") ?? 0)
        }
    }

    /// Names of the migrations applied to this database.
    public func appliedMigrations() throws -> [String] {
        try Replica.wrapStorage { try Migrator.appliedMigrations(database) }
    }

    static func json(_ canonical: String?) -> JSONValue {
        guard let canonical else { return .null }
        return (try? JSONParser().parse(canonical)) ?? .string(canonical)
    }
}

/// Whether the live entries of one register or map key hold more than one value. Two that agree
/// (two offices wrote the same title while apart) leave nothing to choose: they display that value
/// and are not listed as a conflict, though both stay live until a write supersedes them. Values
/// are compared as stored, in canonical JSON (`JSONValue.canonicalText`), byte for byte as the
/// digest and `statistics()` compare them (`ExactText`: Swift's `==` took "é" and "e" with a
/// combining accent for one value, hiding a conflict `chorus status` counted); an entry without a
/// value counts as a value of its own.
struct ValueAgreement {
    private var first: String??
    private(set) var disagree = false

    mutating func offer(_ value: String?) {
        guard let first else { self.first = .some(value); return }
        switch (first, value) {
        case (nil, nil): break
        case (let a?, let b?): if !ExactText.equal(a, b) { disagree = true }
        default: disagree = true
        }
    }
}
