import ChorusCore
import SQLiteKit

/// Which conflicts an admin asks for.
public struct ConflictFilter: Sendable {
    public var collection: String?
    public var record: String?
    public var field: String?
    /// Only conflicts with a sibling written by this replica.
    public var replica: ReplicaID?
    /// Only conflicts with a sibling written at or after / before this wall time (Unix ms).
    public var since: UInt64?
    public var until: UInt64?
    /// Page: conflicts with an id greater than this.
    public var after: String?
    public var limit = 100
    public init() {}

    func matches(_ conflict: Conflict) -> Bool {
        if let collection, conflict.collection != collection { return false }
        if let record, conflict.record != record, !conflict.record.split(separator: ",").contains(Substring(record)) { return false }
        if let field, conflict.field != field { return false }
        if let replica, !conflict.siblings.contains(where: { $0.replica == replica }) { return false }
        if let since, !conflict.siblings.contains(where: { $0.timestamp.wall >= since }) { return false }
        if let until, !conflict.siblings.contains(where: { $0.timestamp.wall < until }) { return false }
        if let after, conflict.id <= after { return false }
        return true
    }
}

/// How an admin settles a conflict found by id.
public enum ConflictChoice: Sendable, Equatable {
    /// Keep this sibling's outcome (a value, a person's email).
    case keep(OperationID)
    /// Write a new value (registers and map keys).
    case value(JSONValue)
    /// Edited while deleted: keep the record and the edits.
    case restore
    /// Edited while deleted: confirm the delete.
    case delete
}

extension Replica {
    /// A page of open conflicts in id order, the cursor for the next page (nil at the end), and
    /// how many match the filter in all, the page's and those before and after it.
    public func conflicts(matching filter: ConflictFilter) throws -> (conflicts: [Conflict], next: String?, total: Int) {
        let limit = max(1, min(filter.limit, 1000))
        var unpaged = filter
        unpaged.after = nil
        let all = try conflicts(collection: filter.collection).filter(unpaged.matches)
        let matching = all.filter(filter.matches).sorted { $0.id < $1.id }
        let page = Array(matching.prefix(limit))
        return (page, matching.count > limit ? page.last?.id : nil, all.count)
    }

    /// One conflict by its id.
    public func conflict(id: String) throws -> Conflict? {
        try conflicts().first { $0.id == id }
    }

    /// A conflict with, for each sibling, the person who wrote it (when the operation says) and the
    /// name of the replica it came from (when this node knows it).
    public func conflictDetail(_ conflict: Conflict) throws -> JSONValue {
        let names = try replicaNames()
        let siblings = try conflict.siblings.map { sibling -> JSONValue in
            var json = sibling.json.objectValue ?? [:]
            json["replicaName"] = names[sibling.replica].map(JSONValue.string) ?? .null
            json["author"] = try author(of: sibling).map(JSONValue.string) ?? .null
            json["displayed"] = .bool(sibling.operation == conflict.displayed)
            return .object(json)
        }
        var json = conflict.json.objectValue ?? [:]
        json["siblings"] = .array(siblings)
        return .object(json)
    }

    /// Names of replicas this node knows: itself and those registered on it.
    public func replicaNames() throws -> [ReplicaID: String] {
        var names = [id: name]
        for peer in try peers() { if let replica = peer.replica { names[replica] = peer.name } }
        return names
    }

    /// The `author` of a sibling's operation, if it has one, read from the log at the sibling's
    /// sequence (the log has no index on operation ids; `log_ids` says only which it holds), or
    /// else from what compaction kept of it (`KeptAuthors`).
    func author(of sibling: Sibling) throws -> String? {
        try Replica.wrapStorage {
            let operation = sibling.operation
            if let sequence = sibling.sequence {
                let payload = try withLogged(at: sequence) { entry -> String? in
                    guard entry.counter == operation.counter, entry.replica.elementsEqual(operation.replica.bytes) else { return nil }
                    return entry.payloadText
                }
                if let payload = payload ?? nil { return try? codec.decode(text: payload).author }
            }
            return try KeptAuthors.author(in: database, of: operation)
        }
    }

    /// Settles a conflict: writes the operation that supersedes every sibling (or restores or
    /// deletes the record, or clears duplicate emails) and a `resolutions` record, in one transaction.
    /// Returns the resolution record.
    ///
    /// `seen`, the operations of the siblings the resolver was shown: the conflict must still have
    /// exactly those, or nothing is written. Its id is the same for every conflict on one field, so
    /// one resolved and formed again by new writes (or resolved elsewhere meanwhile) answers to an
    /// old page, and a value given there would supersede values its admin never saw.
    /// `checkingValue` checks a value given (`.value`) as the platform checks a write of it
    /// (`PeopleAPI.checkResolution`, from the layers that know the rules): the change, its
    /// collection and the record. `checkingWrite` checks every write the resolution makes, before
    /// any is made: its collection, record and changes (the command line on a laptop bound to a
    /// person: who may change what, `WriteSupport.refuseUnlessItsPersonMay`).
    /// Operation ids a refused resolution names in each list, before it counts the rest.
    static let idsNamedMax = 5

    @discardableResult
    public func resolveConflict(id conflictID: String, _ choice: ConflictChoice, by resolver: String, seen: [OperationID]? = nil,
                                checkingValue: (Change, CollectionSchema, String) throws -> Void = { _, _, _ in },
                                checkingWrite: (String, String, [Change]) throws -> Void = { _, _, _ in }) throws -> RecordSnapshot {
        guard let conflict = try conflict(id: conflictID) else {
            throw ChorusError(.recordNotFound, "no open conflict \(conflictID)", hint: "it may have been resolved already; list them with `chorus conflicts`")
        }
        if let seen, Set(seen) != Set(conflict.siblings.map(\.operation)) {
            // Which way they differ: the replica cannot tell a value that arrived since the page
            // was read from one left out of the list, and said "changed" for both.
            let live = conflict.siblings.map(\.operation), seenOnce = Set(seen)
            let unseen = live.filter { !seenOnce.contains($0) }, gone = seenOnce.filter { !live.contains($0) }.sorted { $0.description < $1.description }
            // A few named, the rest counted: `--seen` takes 10,000 ids, and the message goes back
            // to a remote admin in a problem body a client reads only when it is short.
            func named(_ ids: [OperationID]) -> String {
                let shown = ids.prefix(Replica.idsNamedMax).map(\.description).joined(separator: ", ")
                return ids.count > Replica.idsNamedMax ? "\(shown) and \(ids.count - Replica.idsNamedMax) more" : shown
            }
            var why: [String] = []
            if !unseen.isEmpty { why.append("\(named(unseen)) \(unseen.count == 1 ? "is a live value" : "are live values") not among those seen (arrived since it was read, or left out of the list)") }
            if !gone.isEmpty { why.append("\(named(gone)) \(gone.count == 1 ? "is" : "are") no longer live (superseded since it was read, or not one of its values)") }
            throw ChorusError(.invalidState, "conflict \(conflictID) does not have exactly the values seen: \(why.joined(separator: "; ")); its live values are those of \(named(live))",
                              hint: "read it again (`chorus conflicts \(conflictID)`, or reload the page), and give every value it shows as seen; nothing was written")
        }
        var writes: [(collection: String, record: String, changes: [Change])] = []
        var chosenValue: JSONValue = .null
        var choiceName = ""
        var kept: OperationID?
        func keptSibling(_ operation: OperationID) throws -> Sibling {
            guard let sibling = conflict.siblings.first(where: { $0.operation == operation && !$0.isDelete }) else {
                throw ChorusError(.invalidState, "operation \(operation) is not a live value of conflict \(conflictID)",
                                  hint: "the conflict's siblings list the operations you can keep")
            }
            return sibling
        }
        switch (conflict.kind, choice) {
        case (.register, .keep(let operation)), (.map, .keep(let operation)):
            chosenValue = try keptSibling(operation).value
            choiceName = "keep"
            kept = operation
        case (.register, .value(let value)), (.map, .value(let value)):
            chosenValue = value
            choiceName = "value"
        case (.editedWhileDeleted, .restore):
            choiceName = "restore"
            writes.append((conflict.collection, conflict.record, [.restore]))
        case (.editedWhileDeleted, .delete):
            choiceName = "delete"
            writes.append((conflict.collection, conflict.record, [.delete]))
        case (.duplicateEmail, .keep(let operation)):
            let keeper = try keptSibling(operation)
            choiceName = "keep"
            kept = operation
            chosenValue = keeper.value
            let keeperID = keeper.value["person"]?.stringValue
            // The kept email is written again, superseding the one seen (and any other live value
            // of the keeper's email, which holds this one: the admin chose it): an admin elsewhere keeping
            // another person's (each clearing the rest) then leaves each person's email in conflict,
            // the kept value against the cleared one, for admins to see. Clearing alone, the two
            // resolutions once cleared both emails, silently.
            if let keeperID, let email = keeper.value["email"] {
                writes.append(("people", keeperID, [.put(field: "email", value: email)]))
            }
            for sibling in conflict.siblings where sibling.value["person"]?.stringValue != keeperID {
                writes.append(("people", sibling.value["person"]?.stringValue ?? "", [.put(field: "email", value: .null)]))
            }
        default:
            throw ChorusError(.invalidState, "this \(conflict.kind.rawValue) conflict cannot be resolved that way",
                              hint: conflict.kind == .editedWhileDeleted ? "choose restore or delete"
                                  : conflict.kind == .duplicateEmail ? "keep one person's email (its operation id)" : "keep a sibling or give a value")
        }
        if conflict.kind == .register || conflict.kind == .map {
            let field = conflict.field!
            let change: Change = conflict.kind == .map ? .mapSet(field: field, key: conflict.key!, value: chosenValue) : .put(field: field, value: chosenValue)
            if case .value = choice, let declared = schema.collection(conflict.collection) { try checkingValue(change, declared, conflict.record) }
            writes.append((conflict.collection, conflict.record, [change]))
        }
        for write in writes { try checkingWrite(write.collection, write.record, write.changes) }
        let now = configuration.wallClock.nowMilliseconds()
        let recordID = "\(conflictID)-\(now)-\(id.hex.prefix(8))"
        var history: [Change] = [
            .put(field: "conflict", value: .string(conflictID)), .put(field: "kind", value: .string(conflict.kind.rawValue)),
            .put(field: "targetCollection", value: .string(conflict.collection)), .put(field: "targetRecord", value: .string(conflict.record)),
            .put(field: "choice", value: .string(choiceName)), .put(field: "value", value: chosenValue),
            .put(field: "resolvedBy", value: .string(resolver)), .put(field: "resolvedAt", value: .integer(Int64(now))),
            .put(field: "siblings", value: .array(conflict.siblings.map(\.json))),
        ]
        if let field = conflict.field { history.append(.put(field: "targetField", value: .string(field))) }
        if let key = conflict.key { history.append(.put(field: "targetKey", value: .string(key))) }
        if let kept { history.append(.put(field: "keptOperation", value: .string(kept.description))) }
        writes.append(("resolutions", recordID, history))
        try writeMany(writes, by: resolver)
        return try get(collection: "resolutions", record: recordID)!
    }

    /// The resolution history, newest first.
    public func resolutions(limit: Int = 100) throws -> [RecordSnapshot] { try resolutionsPage(limit: limit).records }

    /// A page of the resolution history, newest first, of at most `limit` (1 to 1,000) entries
    /// after `cursor` (the `next` of the page before; nil: from the newest), and the cursor of the
    /// page after it, nil when this one ends the history. A cursor is `MILLISECONDS:ID`, the
    /// last entry's time and id, so a page goes on where the one before ended whatever was
    /// resolved meanwhile (newer entries come before it).
    public func resolutionsPage(limit: Int = 100, after cursor: String? = nil) throws -> (records: [RecordSnapshot], next: String?) {
        var at: (millis: Int64, id: String)?
        if let cursor {
            let parts = cursor.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let millis = Int64(parts[0]), !parts[1].isEmpty else {
                throw ChorusError(.malformedInput, "after must be a cursor a page of the history gave (MILLISECONDS:ID), not \"\(cursor.prefix(80))\"",
                                  hint: "start without it, then pass the `next` of each page")
            }
            at = (millis, String(parts[1]))
        }
        let size = max(1, min(limit, 1000))
        let rows = try Replica.wrapStorage {
            try database.query("""
                SELECT id, coalesce(resolvedAt, 0) AS t FROM resolutions
                WHERE _deleted = 0 AND (?1 IS NULL OR t < ?1 OR (t = ?1 AND id < ?2))
                ORDER BY t DESC, id DESC LIMIT ?3
                """, at?.millis, at?.id, size + 1)
                .compactMap { row in row.text(0).map { (id: $0, at: row.integer(1) ?? 0) } }
        }
        let page = rows.prefix(size)
        let next = rows.count > size ? page.last.map { "\($0.at):\($0.id)" } : nil
        return (try page.compactMap { try get(collection: "resolutions", record: $0.id) }, next)
    }
}
