/// What a replica bound to one person may write: its operations are that person's, and none of
/// them names someone else as the one who made, said or joined something.
///
/// A laptop is one person's (`chorus replicas add NAME --person ID` on the node it syncs with).
/// Its upstream refuses a push holding an operation this refuses (protocol 8), and the laptop
/// itself refuses such a write before it is made (`Replica.writeMany`), so nobody at a bound
/// laptop gives praise, comments or signs up in another person's name. The checks need no state:
/// every node that sees the operation decides the same, whenever it arrives. What a person may
/// change of someone else's record (a profile, an objective) depends on who manages whom when the
/// write is made, and is kept where people write (`WritePolicy`), not here.
public enum Authorship {
    /// The field naming who made a record, by collection: the person acting, when it is made.
    public static let madeByField: [String: String] = ["badges": "createdBy", "feedback": "from", "observations": "author", "opportunities": "owner"]

    /// Set fields of person ids that each person changes only for themselves (`collection.field`).
    public static let ownElementFields: Set<String> = ["opportunities.interested"]

    /// Log fields whose entries name their writer in `author` (`collection.field`).
    public static let authoredEntryFields: Set<String> = ["feedback.comments"]

    /// Why `operation` is not `person`'s to make, or nil when it is: it must name `person` as its
    /// author, and whatever it says someone made, wrote or joined must be `person` too.
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
