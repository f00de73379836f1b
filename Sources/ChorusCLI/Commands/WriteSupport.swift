import ChorusCore
import ChorusNode
import ChorusPeople
import ChorusReplica

/// Shared by the write commands: apply the changes to one record and report the operations made.
enum WriteSupport {
    static let options = [OptionSpec.data, OptionSpec.json,
                          OptionSpec(name: "--as", valueName: "PERSON", help: "the person making the change (a person id), recorded in the operation")]

    /// `replica`: the one the command opened already, if it did.
    static func write(_ context: CommandContext, replica opened: Replica? = nil, collection: String, record: String, _ changes: [Change]) throws -> Int32 {
        let replica = try opened ?? context.openReplica()
        // The people platform's rules for values hold here as over HTTP: a progress of 500 or a
        // status no page knows, written here, would be served to everyone.
        if let declared = replica.configuration.schema.collection(collection) {
            try checkValueTypes(changes, in: declared)
            try PeopleAPI.checkValues(changes, in: declared)
            // And its rule for a new record's id: one made here with a `/` or a space was listed
            // by the API, which neither made it nor could address it (`/api/v1/people/{id}`).
            if !PeopleAPI.isValidID(record), try replica.get(collection: collection, record: record) == nil {
                throw ChorusError(.invalidValue, "record id \"\(record.prefix(64))\" is not one the platform makes: an id is \(PeopleAPI.idRule)",
                                  hint: "give another id, such as \(PeopleAPI.idPrefix[collection] ?? collection)-\(record.unicodeScalars.filter { PeopleAPI.isValidID(String($0)) }.prefix(32).map(String.init).joined().lowercased())")
            }
        }
        try refuseUnlessItsPersonMay(replica, collection: collection, record: record, fields: fields(of: changes))
        // Not the other references: `chorus put` builds records a field at a time, in any order.
        for case .put("email", .string(let email)) in changes where collection == "people" {
            if let taken = try DomainReferences.takenEmail(email, writtenOn: record, replica: replica) {
                throw ChorusError(.invalidState, taken.message, hint: "give another email, or clear theirs first; only two replicas apart make a duplicate email")
            }
        }
        let operations = try replica.write(collection: collection, record: record, changes, by: context.arguments.value("--as"))
        report(operations, context)
        return 0
    }

    /// On a laptop bound to one person, who may change what on the platform (`WritePolicy`), as
    /// its own page applies it to the same person: a colleague's profile is edited by its person
    /// or their manager. The upstream takes such a write (who manages whom is decided where people
    /// write, not by the sync: `Authorship`), and a day-2 review saw a laptop's `chorus put` and
    /// `chorus resolve` change other people's profiles its page refused. Nothing on another node.
    static func refuseUnlessItsPersonMay(_ replica: Replica, collection: String, record: String, fields: [String: JSONValue]) throws {
        guard replica.configuration.schema.collection(collection) != nil, let person = try replica.upstream()?.person else { return }
        let existing = try replica.get(collection: collection, record: record)
        if let refusal = try WritePolicy.refusal(collection: collection, recordID: record, existing: existing?.fields, body: fields, person: person,
                                                 lookup: ReadPolicy.visibleFields(replica)) {
            throw ChorusError(.refused, "this replica is \(person)'s (its upstream registered it for them), and \(collection)/\(record.prefix(64)) is not theirs to change so: \(refusal.message); nothing was written",
                              hint: "\(refusal.hint), or make the change where they work (an office node's page, or their own laptop)")
        }
    }

    /// The fields `changes` write, as the platform's write policy reads a body: by name, with the
    /// value put (a map key's, an element's, an entry's in an object or as it is).
    static func fields(of changes: [Change]) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for change in changes {
            switch change {
            case .put(let field, let value), .append(let field, let value): fields[field] = value
            case .mapSet(let field, let key, let value): fields[field] = .object([key: value])
            case .mapRemove(let field, let key): fields[field] = .object([key: .null])
            case .add(let field, let element): fields[field] = .object(["add": .array([.string(element)])])
            case .remove(let field, let element): fields[field] = .object(["remove": .array([.string(element)])])
            case .increment(let field, let by): fields[field] = .integer(by)
            case .retract(let field, let entry): fields[field] = .object(["retract": .string(entry.description)])
            case .delete, .restore, .erase: break
            }
        }
        return fields
    }

    /// Refuses a value of another type than its field's, saying how the command line gives one
    /// (a bare word is a string, so a text that reads as a number is quoted): the replica, which
    /// checks it too, says how JSON gives one, as an HTTP client needs.
    static func checkValueTypes(_ changes: [Change], in collection: CollectionSchema) throws {
        for change in changes {
            let named: (String, JSONValue)
            switch change {
            case .put(let name, let value), .mapSet(let name, _, let value): named = (name, value)
            default: continue
            }
            let (name, value) = named
            guard let field = collection.field(name), field.kind == .register || field.kind == .map,
                  let wrong = field.valueType.mismatch(value, in: "\(collection.name).\(name)") else { continue }
            throw ChorusError(.invalidValue, wrong,
                              hint: "VALUE is JSON, and a bare word is a string: quote a text that reads as a number or true/false as '\"12\"'; numbers and true/false as they are")
        }
    }

    static func report(_ operations: [Operation], _ context: CommandContext) {
        if context.isJSON {
            let codec = OperationCodec()
            context.output.json(.object(["operations": .array(operations.map(codec.encode))]))
        } else {
            if operations.isEmpty { context.output.print("nothing to write: it is so already (an element this replica added, still there)") }
            for operation in operations {
                let target = operation.field.map { " \($0)" } ?? ""
                context.output.print("\(operation.action.name) \(operation.collection)/\(operation.record.isEmpty ? "(erased)" : operation.record)\(target)  operation \(operation.id)")
            }
        }
    }
}
