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
/// arrives. What a person may change of a record nobody owns (a colleague's profile, a report's
/// objective) depends on who manages whom at the moment of the write, which two offices may see
/// differently, and is kept where people write (`WritePolicy`), not here.
public enum Authorship {
    /// The field naming who made a record, by collection: the person acting, when it is made.
    public static let madeByField: [String: String] = [
        "badges": "createdBy", "feedback": "from", "observations": "author", "opportunities": "owner", "resolutions": "resolvedBy",
    ]

    /// Set fields of person ids that each person changes only for themselves (`collection.field`).
    public static let ownElementFields: Set<String> = ["opportunities.interested"]

    /// Log fields whose entries name their writer in `author` (`collection.field`).
    public static let authoredEntryFields: Set<String> = ["feedback.comments"]

    /// Fields of a record someone else made that anyone writes, each by its own rule above: a
    /// comment, a high-five, one's own interest in an opportunity.
    public static let fieldsOpenToOthers: Set<String> = ["feedback.comments", "feedback.highFives", "opportunities.interested"]

    /// What the node deciding knows of the records an operation touches.
    public struct Facts {
        /// The `madeByField` value of a record held here, deleted or not; nil when none is held
        /// (it is being made) or it names no one (a built-in badge, everyone's).
        public var madeBy: (_ collection: String, _ record: String) throws -> String?
        /// The `author` of a log entry held here; nil when the entry is not held here (it was
        /// written where the operation was, and has not travelled yet).
        public var entryAuthor: (_ collection: String, _ record: String, _ field: String, _ entry: OperationID) throws -> String?

        public init(madeBy: @escaping (String, String) throws -> String?,
                    entryAuthor: @escaping (String, String, String, OperationID) throws -> String?) {
            self.madeBy = madeBy
            self.entryAuthor = entryAuthor
        }
    }

    /// Why `operation` is not `person`'s to make, or nil when it is: it must name `person` as its
    /// author; whatever it says someone made, wrote or joined must be `person`; it erases nothing
    /// (an admin's act, from an office node or the hub); it changes a record someone else made only
    /// where anyone may (`fieldsOpenToOthers`); and it withdraws only its person's own entries.
    public static func refusal(of operation: Operation, boundTo person: String, facts: Facts) throws -> String? {
        if let refusal = refusal(of: operation, boundTo: person) { return refusal }
        if case .erase = operation.action { return "it erases a record, which is an admin's to do, on an office node or the hub" }
        let field = operation.field.map { "\(operation.collection).\($0)" } ?? ""
        if case .retract(let entries) = operation.action, authoredEntryFields.contains(field) {
            for entry in entries {
                if let author = try facts.entryAuthor(operation.collection, operation.record, operation.field!, entry), author != person {
                    return "it withdraws \(author)'s entry \(entry) of \(field)"
                }
            }
            return nil
        }
        guard madeByField[operation.collection] != nil, !fieldsOpenToOthers.contains(field),
              let maker = try facts.madeBy(operation.collection, operation.record), maker != person else { return nil }
        return "it changes \(operation.collection)/\(operation.record.prefix(80)), which \(maker) made"
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
