/// What a replica bound to one person may write: its operations are that person's, none of them
/// names someone else as the one who made, said or joined something, and none changes or removes
/// what someone else made or said.
///
/// A laptop is one person's (`chorus replicas add NAME --person ID` on the node it syncs with).
/// Its upstream refuses a push holding an operation this refuses (protocol 8), and the laptop
/// itself refuses such a write before it is made (`Replica.writeMany`), so nobody at a bound
/// laptop gives praise, comments, edits or withdraws in another person's name.
///
/// Who made a record never changes once it is made (`WritePolicy`), so what this reads of the
/// node's state (`Facts`) is the same on every node that holds the record, whenever the operation
/// arrives (an entry withdrawn is the same entry everywhere). What a person may change of a record
/// nobody owns (a colleague's profile, a report's objective) depends on who manages whom at the
/// moment of the write, which two offices may see differently, and is kept where people write
/// (`WritePolicy`), not here.
public enum Authorship {
    /// The field naming who made a record, by collection: the person acting, when it is made.
    public static let madeByField: [String: String] = [
        "badges": "createdBy", "feedback": "from", "observations": "author", "opportunities": "owner", "resolutions": "resolvedBy",
    ]

    /// Set fields of person ids that each person changes only for themselves (`collection.field`).
    public static let ownElementFields: Set<String> = ["opportunities.interested"]

    /// Log fields whose entries name their writer in `author` (`collection.field`).
    public static let authoredEntryFields: Set<String> = ["feedback.comments"]

    /// The counter of an item's high-fives (`collection.field`): one at a time, never one's own.
    public static let highFiveField = "feedback.highFives"

    /// Fields of a record someone else made that anyone writes, each by its own rule: a comment,
    /// a high-five, one's own interest in an opportunity.
    public static let fieldsOpenToOthers = ownElementFields.union(authoredEntryFields).union([highFiveField])

    /// Who made a record, as the node deciding holds it.
    public enum Maker: Equatable, Sendable {
        /// No such record here: it is being made, or someone learnt its id before it arrived.
        case notHeld
        /// Erased here: nothing written to it is kept.
        case erased
        /// Its made-by field names this person.
        case person(String)
        /// Held, naming no one: a built-in badge (everyone's), or a record whose made-by field has
        /// not arrived yet, written so far only by `writtenOnlyBy` (nil: by more than one replica).
        case noOne(writtenOnlyBy: ReplicaID?)
    }

    /// An entry of a set or log field held here: a set's element is its key, a log entry's
    /// author is in its value.
    public struct HeldEntry: Equatable, Sendable {
        public let key: String
        public let value: JSONValue?
        public init(key: String, value: JSONValue?) {
            self.key = key
            self.value = value
        }
    }

    /// What the node deciding knows of the records an operation touches.
    public struct Facts {
        /// Who made a record of a collection with a `madeByField`, deleted or not.
        public var maker: (_ collection: String, _ record: String) throws -> Maker
        /// A live entry of a record's field, by the id of the operation that wrote it; nil when
        /// none is held here.
        public var entry: (_ collection: String, _ record: String, _ field: String, _ id: OperationID) throws -> HeldEntry?
        /// Records whose made-by field the operations checked together set (one push, one write),
        /// as `recordKey` gives them: being made by them.
        public var making: Set<String>

        public init(maker: @escaping (String, String) throws -> Maker,
                    entry: @escaping (String, String, String, OperationID) throws -> HeldEntry?, making: Set<String> = []) {
            self.maker = maker
            self.entry = entry
            self.making = making
        }
    }

    /// What a refusal says of a record the deciding node does not hold yet: once its maker's
    /// writes arrive, a comment, high-five or interest in it is taken (`isNotHereYet`).
    public static let notHereYet = "which is not here yet"

    /// Whether `refusal` is of a record not here yet, which may be taken later.
    public static func isNotHereYet(_ refusal: String) -> Bool { refusal.contains(notHereYet) }

    /// How `Facts.making` names a record.
    public static func recordKey(_ collection: String, _ record: String) -> String { collection + "\u{0}" + record }

    /// The records `operations` make: those whose made-by field one of them sets.
    public static func making(_ operations: [Operation]) -> Set<String> {
        var made: Set<String> = []
        for operation in operations {
            if case .set = operation.action, let field = operation.field, madeByField[operation.collection] == field {
                made.insert(recordKey(operation.collection, operation.record))
            }
        }
        return made
    }

    /// Why `operation` is not `person`'s to make, or nil when it is: it must name `person` as its
    /// author; whatever it says someone made, wrote or joined must be `person`; it erases
    /// nothing, and deletes or restores no profile (an admin's acts, on an office node or the
    /// hub); it changes a record someone else made only where anyone may (`fieldsOpenToOthers`),
    /// claims none that is not its own, high-fives by one and not its own; and it withdraws only
    /// its person's own comments and interest: held here as theirs, or written by the same replica.
    public static func refusal(of operation: Operation, boundTo person: String, facts: Facts) throws -> String? {
        if let refusal = refusal(of: operation, boundTo: person) { return refusal }
        let collection = operation.collection, record = operation.record
        let field = operation.field.map { "\(collection).\($0)" } ?? ""
        switch operation.action {
        case .erase:
            return "it erases a record, which is an admin's to do, on an office node or the hub"
        case .delete where collection == "people", .restore where collection == "people":
            return "it deletes or restores a profile, which is an admin's to do, on an office node or the hub"
        case .retract(let entries) where authoredEntryFields.contains(field):
            return try withdrawal(of: entries, in: operation, person: person, facts: facts) { $0.value?["author"]?.stringValue }
        case .remove(_, let entries) where ownElementFields.contains(field):
            return try withdrawal(of: entries, in: operation, person: person, facts: facts) { $0.key }
        default:
            break
        }
        guard let madeBy = madeByField[collection] else { return nil }
        let maker = try facts.maker(collection, record)
        // A record not here yet is written first by who makes it, in the same write: anyone else
        // who learnt its id (a link passed on while an office was cut off) would have their words
        // in it, and the maker's own write then refused as claiming what another had written.
        if maker == .notHeld, !facts.making.contains(recordKey(collection, record)) {
            return "it writes \(collection)/\(record.prefix(80)), \(notHereYet) and which it does not make (no \(madeBy) in the same write)"
        }
        if case .increment(let by) = operation.action, field == highFiveField {
            if by != 1 { return "it adds \(by) high-fives at once, where each is one" }
            return maker == .person(person) ? "it high-fives an item of its own" : nil
        }
        if fieldsOpenToOthers.contains(field) { return nil }
        switch maker {
        case .person(let other) where other != person:
            return "it changes \(collection)/\(record.prefix(80)), which \(other) made"
        case .noOne(let writer) where operation.field == madeBy && writer != operation.id.replica:
            return "it claims \(collection)/\(record.prefix(80)), which no one made (everyone's)"
        case .noOne(let writer) where operation.field == nil && writer != operation.id.replica:
            return "it deletes or restores \(collection)/\(record.prefix(80)), which no one made (everyone's)"
        default:
            return nil
        }
    }

    /// Why withdrawing `entries` is not `person`'s: each must be held here as theirs (`owner`
    /// reads whose), or not held and written by the withdrawing replica itself (made and withdrawn
    /// before either travelled).
    private static func withdrawal(of entries: [OperationID], in operation: Operation, person: String, facts: Facts,
                                   owner: (HeldEntry) -> String?) throws -> String? {
        let field = "\(operation.collection).\(operation.field ?? "")"
        for id in entries {
            if let held = try facts.entry(operation.collection, operation.record, operation.field ?? "", id) {
                let whose = owner(held)
                if whose != person { return "it withdraws \(whose.map { "\($0)'s" } ?? "someone's") entry \(id) of \(field)" }
            } else if id.replica != operation.id.replica {
                return "it withdraws entry \(id) of \(field), which is not held here"
            }
        }
        return nil
    }

    /// The checks that read the operation alone: its author, and the people it names in fields
    /// that say who made, wrote or joined something.
    public static func refusal(of operation: Operation, boundTo person: String) -> String? {
        guard let author = operation.author else { return "it names no person as its author" }
        guard author == person else { return "it is made in the name of \(author)" }
        let field = operation.field.map { "\(operation.collection).\($0)" } ?? ""
        switch operation.action {
        case .set(let value, _) where operation.field != nil && madeByField[operation.collection] == operation.field:
            return value == .string(person) ? nil : "it sets \(field) to \(describe(value))"
        case .add(let element) where ownElementFields.contains(field), .remove(let element, _) where ownElementFields.contains(field):
            return element == person ? nil : "it changes \(field) for \(element)"
        case .append(let value) where authoredEntryFields.contains(field):
            return value["author"] == .string(person) ? nil : "its entry of \(field) names \(describe(value["author"] ?? .null)) as its author"
        default:
            return nil
        }
    }

    private static func describe(_ value: JSONValue) -> String {
        if let text = value.stringValue { return String(text.prefix(80)) }
        return value == .null ? "no one" : "a value that is no person id (\(value.typeName))"
    }
}
