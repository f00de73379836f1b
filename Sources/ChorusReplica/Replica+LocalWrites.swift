import ChorusCore
import SQLiteKit

/// One change a person (or the domain) asks for; the replica turns it into an operation with the
/// right supersedes list from what it currently sees.
public enum Change: Sendable, Equatable {
    case put(field: String, value: JSONValue)
    case add(field: String, element: String)
    case remove(field: String, element: String)
    case mapSet(field: String, key: String, value: JSONValue)
    case mapRemove(field: String, key: String)
    case increment(field: String, by: Int64)
    case append(field: String, value: JSONValue)
    case retract(field: String, entry: OperationID)
    case delete
    case restore
    case erase

    var field: String? {
        switch self {
        case .put(let f, _), .add(let f, _), .remove(let f, _), .mapSet(let f, _, _), .mapRemove(let f, _),
             .increment(let f, _), .append(let f, _), .retract(let f, _): return f
        case .delete, .restore, .erase: return nil
        }
    }

    var kind: FieldKind? {
        switch self {
        case .put: return .register
        case .add, .remove: return .set
        case .mapSet, .mapRemove: return .map
        case .increment: return .counter
        case .append, .retract: return .log
        case .delete, .restore, .erase: return nil
        }
    }

    /// The CLI verb that makes this change, for hints.
    static func verb(for kind: FieldKind) -> String {
        switch kind {
        case .register: return "chorus put COLLECTION ID FIELD=VALUE"
        case .set: return "chorus add|remove COLLECTION ID FIELD ELEMENT"
        case .map: return "chorus map-set COLLECTION ID FIELD KEY=VALUE or chorus map-remove"
        case .counter: return "chorus incr COLLECTION ID FIELD [N]"
        case .log: return "chorus append COLLECTION ID FIELD VALUE"
        }
    }
}

/// How an admin settles a conflict on a register or map key.
public enum Resolution: Sendable, Equatable {
    /// Keep the value of this live sibling.
    case keep(OperationID)
    /// Write a new value.
    case value(JSONValue)
}

extension Replica {
    /// Makes local changes to one record, atomically: all become operations in one transaction, or
    /// none do. Returns the operations made.
    ///
    /// - Throws: `unknownCollection`, `unknownField`, `wrongFieldKind`, `invalidValue`,
    ///   `limitExceeded`, `recordDeleted`, `recordErased`, `recordNotFound`, `invalidState`.
    ///
    /// - Parameter author: the person making the change (a person id), recorded in each operation.
    ///   On a replica its upstream binds to a person (a laptop, `Authorship`), nil means that
    ///   person, and a write that is not theirs is refused (`refused`) before it is made.
    @discardableResult
    public func write(collection: String, record: String, _ changes: [Change], by author: String? = nil) throws -> [Operation] {
        try writeMany([(collection, record, changes)], by: author)
    }

    /// Changes to several records in one SQLite transaction: all become operations, or none do.
    @discardableResult
    public func writeMany(_ writes: [(collection: String, record: String, changes: [Change])], by author: String? = nil) throws -> [Operation] {
        for (collection, record, changes) in writes {
            let declared = try schema.requireCollection(collection)
            try checkName(record, max: limits.recordIDBytesMax, what: "record id")
            guard !changes.isEmpty else { throw ChorusError(.malformedInput, "nothing to write", hint: "give at least one change") }
            guard changes.count <= limits.fieldsPerWriteMax else {
                throw ChorusError(.limitExceeded, "\(changes.count) changes in one write, over fieldsPerWriteMax (\(limits.fieldsPerWriteMax))")
            }
            for change in changes { try check(change, in: declared) }
        }
        if let author { try checkName(author, max: limits.recordIDBytesMax, what: "author") }

        var made: [Operation] = []
        _ = try inBatch(operations: writes.reduce(0) { $0 + $1.changes.count }) { state in
            // Read in the write's transaction, as what `chorus sync` in another process learnt last.
            let boundPerson = try upstreamPerson()
            let author = author ?? boundPerson
            // Grown as the operations are made: a record's made-by field is its first (`madeByFirst`).
            var facts = boundPerson.map { _ in authorshipFacts(making: []) }
            // Read in the batch's transaction: a resolution another process commits meanwhile
            // is either seen here or made after the erase (and refused, its record gone).
            for (collection, record, given) in try writes + resolutionsErased(with: writes) {
                for change in Replica.madeByFirst(collection, given) {
                    let existing = try database.queryRow("SELECT rid, visible FROM records WHERE collection = ? AND record = ?", collection, record)
                    // A record with a row was never erased (erasing deletes the row and keeps only the
                    // hash), so only a new id is hashed and looked up among the erased: 10% of a
                    // local edit's instructions went to hashing the name (callgrind, P2).
                    if existing == nil, try isErased(hash: Operation.recordHash(collection: collection, record: record)) {
                        throw ChorusError(.recordErased, "\(collection)/\(record) was erased", hint: "an erased record cannot be written again; use a new id")
                    }
                    let rid = existing?.integer(0)
                    let visible = existing.map { $0.integer(1) == 1 } ?? true
                    for action in try makeActions(change, collection: collection, record: record, rid: rid, visible: visible) {
                    // Counters stop at Int64.max (an operation id's bound, `OperationID`); reached
                    // only if an operation of ours came back with a counter near it.
                    guard state.counter < UInt64(Int64.max) else {
                        throw ChorusError(.invalidState, "this replica's operation counter is exhausted (\(state.counter))",
                                          hint: "join a new replica folder from the upstream; this one can no longer write")
                    }
                    state.counter += 1
                    // A wall clock past the range every replica accepts (year 6429) would stamp an
                    // operation no one could read, this replica's log and bundles included.
                    let timestamp = state.clock.now()
                    guard timestamp.wall <= HybridTimestamp.wallMax else {
                        throw ChorusError(.clockSkew, "this machine's clock reads \(timestamp.wall) ms after 1970, beyond the year 6429 every replica accepts",
                                          hint: "set the clock right (NTP) and check CHORUS_CLOCK_OFFSET_MS; nothing was written")
                    }
                    let op = Operation(id: OperationID(replica: id, counter: state.counter), timestamp: timestamp,
                                       collection: collection, record: change == .erase ? "" : record, field: change.field, action: action,
                                       author: author)
                    facts?.making.formUnion(Authorship.making([op]))
                    if let boundPerson, let facts, let refusal = try Authorship.refusal(of: op, boundTo: boundPerson, facts: facts) {
                        throw ChorusError(.refused, "this replica is \(boundPerson)'s (its upstream registered it for them), and this write is not theirs: \(refusal); nothing was written",
                                          hint: "write as \(boundPerson) (on the command line, --as \(boundPerson) or no --as; a page served here acts as them with --owner \(boundPerson)), or make this change where its maker or an admin works: their own laptop, an office node's page or the hub")
                    }
                    try apply(op, state: &state)
                    made.append(op)
                    }
                }
            }
        }
        return made
    }

    /// A record's changes with the one naming who makes it (`Authorship.madeByField`) first: a
    /// push page cut inside the write (a block's end, or pages halved after a timeout) then
    /// carries it with the record's first operations, which an upstream checking a laptop's
    /// writes asks of a record it does not hold yet. Fields of one write commute otherwise.
    static func madeByFirst(_ collection: String, _ changes: [Change]) -> [Change] {
        guard let field = Authorship.madeByField[collection],
              let index = changes.firstIndex(where: { if case .put(field, _) = $0 { true } else { false } }), index > 0 else { return changes }
        var reordered = changes
        reordered.insert(reordered.remove(at: index), at: 0)
        return reordered
    }

    /// The erasures of the admins' resolutions of a record's conflicts, for the writes that erase
    /// it: a resolution keeps the value chosen and every competing one (`resolveConflict`), so
    /// forgetting the record forgets them too, on every replica the erasures reach. A duplicate
    /// email's resolution holds all its people (each sibling's `person`), and goes with any of them.
    /// A resolution made elsewhere, unknown here yet, is erased where both meet
    /// (`eraseResolutionsOfErasedRecords`).
    private func resolutionsErased(with writes: [(collection: String, record: String, changes: [Change])]) throws
        -> [(collection: String, record: String, changes: [Change])] {
        let erasing = writes.filter { $0.collection != Replica.resolutionsCollection && $0.changes.contains(.erase) }
        guard !erasing.isEmpty else { return [] }
        let written = Set(writes.filter { $0.collection == Replica.resolutionsCollection }.map(\.record))
        var erased: [String] = []
        for target in try resolutionTargets() where !erased.contains(target.id) && !written.contains(target.id)
            && erasing.contains(where: { $0.collection == target.collection && $0.record == target.record }) {
            erased.append(target.id)
        }
        return erased.sorted().map { (Replica.resolutionsCollection, $0, [.erase]) }
    }

    /// The admins' resolutions' collection (`PeopleSchema.resolutions`), as a constant the merge
    /// compares each operation's collection with.
    static let resolutionsCollection = PeopleSchema.resolutions.name

    /// What each resolution (deleted ones too) holds values of: its record, and for a duplicate
    /// email each of its people; only of the resolutions `only` names, when given. Empty when the
    /// schema has no resolutions.
    private func resolutionTargets(only: Set<String>? = nil) throws -> [(id: String, collection: String, record: String)] {
        guard schema.collection(Replica.resolutionsCollection) != nil else { return [] }
        let filter = only.map { JSONValue.array($0.sorted().map(JSONValue.string)).canonicalText }
        return try Replica.wrapStorage {
            try database.query("""
                SELECT id, targetCollection, targetRecord FROM resolutions WHERE ?1 IS NULL OR id IN (SELECT value FROM json_each(?1))
                UNION ALL
                SELECT r.id, 'people', json_extract(s.value, '$.value.person') FROM resolutions r, json_each(r.siblings) s
                    WHERE r.kind = 'duplicateEmail' AND json_valid(r.siblings) AND (?1 IS NULL OR r.id IN (SELECT value FROM json_each(?1)))
                """, filter).compactMap { row in
                    guard let id = row.text(0), let collection = row.text(1), let record = row.text(2) else { return nil }
                    return (id, collection, record)
                }
        }
    }

    /// Erases every resolution whose record, or one of whose people for a duplicate email, is
    /// erased: a resolution made concurrently with an erasure of its record reached this replica
    /// after it, or before it (the eraser did not know it, so erased it not: `resolutionsErased`),
    /// and keeps the values the erasure was to forget. Whichever replica learns of both erases it,
    /// by an erasure of its own that goes everywhere; erasures of one record by several replicas
    /// are one. Run after a merge that applied an erasure (every resolution, deleted ones too, is
    /// looked at: erasures are rare) or wrote resolutions (`only` those); each of that merge's
    /// batches counts itself in `meta` (`resolutionsToCheckKey`, `marks` of them), and a replica
    /// killed between its commit and this looks at every resolution when opened again (it once
    /// waited for the next such merge, months maybe, the erased person's values kept meanwhile).
    /// More marks than this merge's are another's left so: every resolution is looked at then.
    /// The marks seen are cleared once done (not one counted meanwhile by another process).
    ///
    /// Not on a laptop bound to one person: it erases nothing (`Authorship`), and its upstream,
    /// which holds both the erasure and the resolution too, erases the resolution for everyone.
    func eraseResolutionsOfErasedRecords(only: Set<String>? = nil, marks: Int = 0) throws {
        let seen = try Replica.wrapStorage { try database.queryScalarInteger("SELECT value FROM meta WHERE key = ?", Replica.resolutionsToCheckKey) }
        try eraseOrphanedResolutions(only: (seen ?? 0) > Int64(marks) ? nil : only)
        guard let seen else { return }
        try Replica.wrapStorage { try database.run("DELETE FROM meta WHERE key = ? AND value = ?", Replica.resolutionsToCheckKey, seen) }
    }

    /// The mark in `meta` of a merge whose resolutions are still to be checked against erasures.
    static let resolutionsToCheckKey = "resolutions_to_check"

    private func eraseOrphanedResolutions(only: Set<String>?) throws {
        guard try Replica.wrapStorage({ try database.queryScalarInteger("SELECT 1 FROM erased LIMIT 1") }) != nil,
              try Replica.wrapStorage({ try upstreamPerson() }) == nil else { return }
        var orphaned: [String] = []
        for target in try resolutionTargets(only: only) where !orphaned.contains(target.id) {
            if try isErased(collection: target.collection, record: target.record) { orphaned.append(target.id) }
        }
        guard !orphaned.isEmpty else { return }
        _ = try writeMany(orphaned.sorted().map { (Replica.resolutionsCollection, $0, [Change.erase]) })
    }

    /// Settles a conflict on a register (key nil) or a map key: one write that supersedes every live sibling.
    @discardableResult
    public func resolve(collection: String, record: String, field: String, key: String? = nil, _ resolution: Resolution,
                        by author: String? = nil) throws -> Operation {
        let declared = try schema.requireCollection(collection)
        guard let fieldSchema = declared.field(field) else {
            throw ChorusError(.unknownField, "\(collection) has no field \"\(field.prefix(80))\"", hint: "see `chorus schema`")
        }
        guard fieldSchema.kind == .register || fieldSchema.kind == .map else {
            throw ChorusError(.wrongFieldKind, "\(collection).\(field) is a \(fieldSchema.kind.rawValue); only registers and map keys have conflicts to resolve")
        }
        if fieldSchema.kind == .map && key == nil {
            throw ChorusError(.malformedInput, "\(collection).\(field) is a map: say which key with --key")
        }
        let entryKey = fieldSchema.kind == .map ? key! : ""
        let siblings = try Replica.wrapStorage { () -> [Row] in
            guard let rid = try database.queryScalarInteger("SELECT rid FROM records WHERE collection = ? AND record = ?", collection, record) else {
                throw ChorusError(.recordNotFound, "no record \(collection)/\(record)")
            }
            return try database.query("SELECT replica, counter, value FROM entries WHERE rid = ? AND field = ? AND key = ?", rid, field, entryKey)
        }
        guard siblings.count >= 2 else {
            throw ChorusError(.invalidState, "\(collection)/\(record) \(field)\(key.map { "[\($0)]" } ?? "") has no conflict to resolve",
                              hint: "`chorus conflicts` lists the open ones; to change the value, use `chorus put` or `chorus map-set`")
        }
        let value: JSONValue
        switch resolution {
        case .value(let v): value = v
        case .keep(let keep):
            guard let row = siblings.first(where: { $0.blob(0) == keep.replica.bytes && $0.integer(1) == Int64(keep.counter) }) else {
                throw ChorusError(.invalidState, "operation \(keep) is not a live sibling of this conflict",
                                  hint: "`chorus conflicts` shows the siblings' operation ids")
            }
            value = (try? JSONParser().parse(row.text(2) ?? "null")) ?? .null
        }
        let change: Change = fieldSchema.kind == .map ? .mapSet(field: field, key: entryKey, value: value) : .put(field: field, value: value)
        return try write(collection: collection, record: record, [change], by: author)[0]
    }

    private func checkName(_ name: String, max: Int, what: String) throws(ChorusError) {
        try OperationCodec.checkName(name, max: max, what: what)
    }

    /// Checks a change against the schema and limits, before anything is written.
    private func check(_ change: Change, in collection: CollectionSchema) throws {
        guard let fieldName = change.field, let kind = change.kind else { return }
        guard let field = collection.field(fieldName) else {
            // A name that looks like a declared one but is spelled with other characters (a Kelvin
            // sign for a K) would otherwise get an error that seems to name the field it asks for.
            let spelling = fieldName.utf8.allSatisfy { $0 < 0x80 } ? "" : " (it holds non-ASCII characters; field names are ASCII)"
            throw ChorusError(.unknownField, "\(collection.name) has no field \"\(fieldName.prefix(80))\"\(spelling)",
                              hint: "fields: \(collection.fields.map(\.name).joined(separator: ", "))")
        }
        guard field.kind == kind else {
            throw ChorusError(.wrongFieldKind, "\(collection.name).\(fieldName) is a \(field.kind.rawValue), not a \(kind.rawValue)",
                              hint: "use \(Change.verb(for: field.kind))")
        }
        let context = "\(collection.name).\(fieldName)"
        switch change {
        case .put(_, let value), .mapSet(_, _, let value), .append(_, let value):
            try codec.checkValue(value, context: context)
            if kind != .log, let wrong = field.valueType.mismatch(value, in: context) {
                // Said as JSON gives it: an HTTP body's value (an admin's resolution) is JSON. The
                // command line says how it gives one (`WriteSupport.checkValueTypes`).
                throw ChorusError(.invalidValue, wrong, hint: "give \(field.valueType.jsonExample), or null to clear it")
            }
        case .increment(_, let by):
            guard by != 0, by.magnitude <= limits.counterIncrementMagnitudeMax.magnitude else {
                throw ChorusError(.limitExceeded, "increment must be non-zero and at most \(limits.counterIncrementMagnitudeMax) in magnitude")
            }
        default: break
        }
        switch change {
        case .add(_, let element), .remove(_, let element):
            try checkName(element, max: limits.setElementBytesMax, what: "set element")
        case .mapSet(_, let key, _), .mapRemove(_, let key):
            try checkName(key, max: limits.mapKeyBytesMax, what: "map key")
        default: break
        }
    }

    /// The actions a local change makes: one; none for an add of an element this replica holds
    /// a tag of its own for already; several for a remove of more tags than one operation may
    /// list.
    ///
    /// Why: each add is a new tag of its element, and a remove lists every tag it removes. A
    /// person adding one element ten thousand times (a team's members, their interest in an
    /// opportunity) made a remove no upstream takes (over `supersedesCountMax`), and every push of
    /// the node after it was refused: nothing it wrote went up again (a read-only audit). So an
    /// element holds at most one tag of each replica that added it: adding it again where this
    /// replica's own tag stands asserts nothing new (a remove elsewhere that saw the tag removes
    /// the element, as it would have). Added where only other replicas' tags hold it, it gets a
    /// tag of its own, which survives a concurrent remove (add-wins). A remove of an element
    /// holding more tags than that (older releases' adds) lists them in several operations.
    private func makeActions(_ change: Change, collection: String, record: String, rid: Int64?, visible: Bool) throws -> [Action] {
        switch change {
        case .add(let field, let element) where visible && rid != nil:
            let own = try database.queryScalarInteger("SELECT 1 FROM entries WHERE rid = ? AND field = ? AND key = ? AND replica = ? LIMIT 1",
                                                      rid!, field, element, id.bytes)
            if own != nil { return [] }
        case .remove(let field, let element) where visible:
            let tags = try liveEntries(rid, field: field, key: element)
            guard !tags.isEmpty else { throw ChorusError(.invalidState, "\(collection)/\(record) \(field) does not contain \"\(element)\"") }
            return stride(from: 0, to: tags.count, by: limits.supersedesCountMax).map {
                .remove(element: element, supersedes: Array(tags[$0..<min($0 + limits.supersedesCountMax, tags.count)]))
            }
        default:
            break
        }
        return [try makeAction(change, collection: collection, record: record, rid: rid, visible: visible)]
    }

    /// The ids of the live entries of a record's field under `key` (a set's element, a map's key,
    /// "" for a register): what a change of it supersedes. None for a record not made yet.
    private func liveEntries(_ rid: Int64?, field: String, key: String) throws -> [OperationID] {
        guard let rid else { return [] }
        return try database.query("SELECT replica, counter FROM entries WHERE rid = ? AND field = ? AND key = ?", rid, field, key).map { try Replica.operationID($0) }
    }

    /// Builds the action for a local change from the current state (what this replica has seen).
    /// An action listing more ids than an upstream takes (`supersedesCountMax`) is refused.
    private func makeAction(_ change: Change, collection: String, record: String, rid: Int64?, visible: Bool) throws -> Action {
        let name = "\(collection)/\(record)"
        switch change {
        case .delete, .restore, .erase: break
        default:
            if !visible {
                throw ChorusError(.recordDeleted, "\(name) is deleted", hint: "restore it first with `chorus restore \(collection) \(record)`")
            }
        }
        func live(_ field: String, _ key: String) throws -> [OperationID] {
            let seen = try liveEntries(rid, field: field, key: key)
            guard seen.count <= limits.supersedesCountMax else {
                throw ChorusError(.limitExceeded, "\(name) \(field) holds \(seen.count) concurrent values of \"\(key.prefix(80))\", more than one change can list (\(limits.supersedesCountMax))",
                                  hint: "nothing was written; settle the conflict first (`chorus conflicts`), or erase the record")
            }
            return seen
        }
        switch change {
        case .put(let field, let value):
            return .set(value: value, supersedes: try live(field, ""))
        case .add(_, let element):
            return .add(element: element)
        case .remove:
            // A record not visible is refused above; a visible one's remove is made by
            // `makeActions`, where its tags may make several operations.
            preconditionFailure("a remove is made by makeActions")
        case .mapSet(let field, let key, let value):
            return .mapSet(key: key, value: value, supersedes: try live(field, key))
        case .mapRemove(let field, let key):
            let seen = try live(field, key)
            guard !seen.isEmpty else { throw ChorusError(.invalidState, "\(name) \(field) has no key \"\(key)\"") }
            return .mapRemove(key: key, supersedes: seen)
        case .increment(_, let by):
            return .increment(by: by)
        case .append(_, let value):
            return .append(value: value)
        case .retract(let field, let entry):
            guard try !live(field, entry.description).isEmpty else {
                throw ChorusError(.invalidState, "\(name) \(field) has no entry \(entry)", hint: "`chorus get \(collection) \(record)` lists the entries")
            }
            return .retract(supersedes: [entry])
        case .delete:
            guard let rid else { throw ChorusError(.recordNotFound, "no record \(name)") }
            // Deleted, and edited meanwhile elsewhere (an edited-while-deleted conflict): a delete
            // that observes the edits confirms it ("keep it deleted"), which a delete-wins record,
            // hidden, once could not be given.
            let editedWhileDeleted = try !visible && database.queryScalarInteger("SELECT 1 FROM conflicts WHERE rid = ? AND kind = 'editedWhileDeleted'", rid) != nil
            guard visible || editedWhileDeleted else {
                throw ChorusError(.invalidState, "\(name) is already deleted")
            }
            let observed = try database.query("SELECT replica, counter FROM entries WHERE rid = ?", rid).map { try Replica.operationID($0) }
            guard observed.count <= limits.supersedesCountMax else {
                throw ChorusError(.limitExceeded, "\(name) has \(observed.count) live entries, more than one delete can list (\(limits.supersedesCountMax))",
                                  hint: "retract old log entries first, or erase the record")
            }
            return .delete(observed: observed)
        case .restore:
            guard let rid else { throw ChorusError(.recordNotFound, "no record \(name)") }
            let deletes = try database.query("SELECT replica, counter FROM deletes WHERE rid = ?", rid).map { try Replica.operationID($0) }
            guard !deletes.isEmpty else { throw ChorusError(.invalidState, "\(name) is not deleted") }
            return .restore(supersedes: deletes)
        case .erase:
            guard rid != nil else { throw ChorusError(.recordNotFound, "no record \(name)") }
            return .erase(recordHash: Operation.recordHash(collection: collection, record: record))
        }
    }

    /// The operation id in a row's first two columns (replica, counter). Throws a storage error
    /// for a replica id that is not 16 bytes (a damaged or forged copy: snapshots check that
    /// an entry's origin exists, not its length), where reading it trapped.
    static func operationID(_ row: Row) throws -> OperationID {
        OperationID(replica: try storedReplicaID(row.blob(0)), counter: UInt64(clamping: row.integer(1) ?? 0))
    }

    static func storedReplicaID(_ bytes: [UInt8]?) throws -> ReplicaID {
        guard let bytes, let replica = ReplicaID(bytes: bytes) else {
            throw ChorusError(.storage, "a stored replica id is \(bytes?.count ?? 0) bytes, not 16: the database is damaged",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        return replica
    }
}
