/// One change to one field (or to a record's life), made by one replica at one hybrid time.
///
/// Operations are immutable and identified by `id`; applying the same operation twice changes
/// nothing. Every replica that has the same set of operations shows the same state, whatever order
/// they arrived in (see `Docs/merge.md`).
public struct Operation: Hashable, Sendable {
    public let id: OperationID
    public let timestamp: HybridTimestamp
    public let collection: String
    /// The record id; empty for `erase`, which names its record only by hash.
    public let record: String
    /// The field; nil for record-level actions (delete, restore, erase).
    public let field: String?
    public let action: Action
    /// The person who made the change (a person id), when known. Optional on the wire (`"author"`).
    public let author: String?

    public init(id: OperationID, timestamp: HybridTimestamp, collection: String, record: String, field: String?, action: Action,
                author: String? = nil) {
        self.id = id
        self.timestamp = timestamp
        self.collection = collection
        self.record = record
        self.field = field
        self.action = action
        self.author = author
    }

    /// The hash that stands for a record id once the record is erased: SHA-256 of
    /// `"chorus-record" 0x00 collection 0x00 record`.
    public static func recordHash(collection: String, record: String) -> [UInt8] {
        // Fed piece by piece, each read in place: joined into one array first, the pieces were
        // a third of hashing a name (callgrind, P1).
        var hasher = SHA256()
        let separator: [UInt8] = [0]
        hasher.update("chorus-record")
        hasher.update(separator)
        hasher.update(collection)
        hasher.update(separator)
        hasher.update(record)
        return hasher.finalize().bytes
    }

    /// This operation's record hash (the erase action carries it; others derive it).
    public var recordHash: [UInt8] {
        if case .erase(let hash) = action { return hash }
        return Operation.recordHash(collection: collection, record: record)
    }

    /// Whether this operation orders after another in the display rule: greater timestamp, then
    /// greater replica id, then greater counter.
    public static func displaysBefore(_ a: (HybridTimestamp, OperationID), _ b: (HybridTimestamp, OperationID)) -> Bool {
        if a.0 != b.0 { return a.0 > b.0 }
        if a.1.replica != b.1.replica { return a.1.replica > b.1.replica }
        return a.1.counter > b.1.counter
    }
}

/// What an operation does. Each case belongs to one field kind (or to the record itself).
public enum Action: Hashable, Sendable {
    /// Register: write `value`, superseding the listed earlier writes of the field.
    case set(value: JSONValue, supersedes: [OperationID])
    /// Set: add `element`; this operation's id tags the addition.
    case add(element: String)
    /// Set: remove `element` by superseding the additions of it that were observed.
    case remove(element: String, supersedes: [OperationID])
    /// Map: write `key`, superseding the observed writes of that key.
    case mapSet(key: String, value: JSONValue, supersedes: [OperationID])
    /// Map: remove `key` by superseding the observed writes of it.
    case mapRemove(key: String, supersedes: [OperationID])
    /// Counter: add `by` (which may be negative).
    case increment(by: Int64)
    /// Log: append an entry; this operation's id is the entry's id.
    case append(value: JSONValue)
    /// Log: retract the listed entries.
    case retract(supersedes: [OperationID])
    /// Record: delete it. `observed` lists the live field operations the deleting replica had seen;
    /// field operations not in it are concurrent with the delete.
    case delete(observed: [OperationID])
    /// Record: undo the listed deletes.
    case restore(supersedes: [OperationID])
    /// Record: forget it for good. Names the record by its hash only.
    case erase(recordHash: [UInt8])

    /// The wire name of the action.
    public var name: String {
        switch self {
        case .set: return "set"
        case .add: return "add"
        case .remove: return "remove"
        case .mapSet: return "mapSet"
        case .mapRemove: return "mapRemove"
        case .increment: return "increment"
        case .append: return "append"
        case .retract: return "retract"
        case .delete: return "delete"
        case .restore: return "restore"
        case .erase: return "erase"
        }
    }

    /// The value this action writes, if any.
    public var value: JSONValue? {
        switch self {
        case .set(let value, _), .mapSet(_, let value, _), .append(let value): return value
        default: return nil
        }
    }

    /// The field kind this action applies to; nil for record-level actions.
    public var fieldKind: FieldKind? {
        switch self {
        case .set: return .register
        case .add, .remove: return .set
        case .mapSet, .mapRemove: return .map
        case .increment: return .counter
        case .append, .retract: return .log
        case .delete, .restore, .erase: return nil
        }
    }

    /// The operation ids this action supersedes (or, for delete, observes).
    public var referencedOperations: [OperationID] {
        switch self {
        case .set(_, let s), .remove(_, let s), .mapSet(_, _, let s), .mapRemove(_, let s), .retract(let s), .restore(let s):
            return s
        case .delete(let observed): return observed
        case .add, .increment, .append, .erase: return []
        }
    }
}
