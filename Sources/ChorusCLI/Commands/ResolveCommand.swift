import ChorusCore
import ChorusNode
import ChorusReplica

enum ResolveCommand: Command {
    static let spec = CommandSpec("resolve", "settle a conflict: keep one live value, give a new one, restore or confirm a delete",
        arguments: "(--conflict ID | COLLECTION ID FIELD) (--keep OPERATION_ID | --value JSON | --restore | --delete)",
        details: """
        Writes one operation that supersedes every live value (or restores or deletes the record, or
        clears the other people's email for a duplicate email), and a resolutions entry saying who chose
        what; once it has synced the conflict is gone on every replica. `chorus conflicts` shows the ids.
        With --remote, the node resolves it (at the hub: for the whole fleet) as the admin token's name.
        --seen names the values you read: a value that arrived since (a laptop back online) makes
        the resolution refused, with nothing written, instead of superseding a value no one saw.
        The older form COLLECTION ID FIELD [--key KEY] works on registers and map keys of the local replica.
        """,
        options: [.data, .json] + RemoteSupport.options + [
            OptionSpec(name: "--conflict", valueName: "ID", help: "the conflict id from `chorus conflicts`"),
            OptionSpec(name: "--value", valueName: "JSON", help: "the new value (as in `chorus put`)"),
            OptionSpec(name: "--keep", valueName: "OPERATION_ID", help: "keep this sibling"),
            OptionSpec(name: "--restore", valueName: nil, help: "edited while deleted: keep the record and the edits"),
            OptionSpec(name: "--delete", valueName: nil, help: "edited while deleted: confirm the delete"),
            OptionSpec(name: "--key", valueName: "KEY", help: "the map key, with COLLECTION ID FIELD"),
            OptionSpec(name: "--as", valueName: "NAME", help: "who is resolving, for the history (default: the laptop's registered person, else $USER; not with --remote)"),
            OptionSpec(name: "--seen", valueName: "OPERATION_IDS", help: "the live values you read, comma-separated (`chorus conflicts ID` prints them): refused, writing nothing, if the conflict has others now"),
        ],
        positional: 0...3)

    static func choice(_ context: CommandContext) throws -> ConflictChoice {
        let given = [context.arguments.value("--value") != nil, context.arguments.value("--keep") != nil,
                     context.arguments.flag("--restore"), context.arguments.flag("--delete")].filter { $0 }.count
        guard given == 1 else { throw context.usageError("give exactly one of --keep, --value, --restore and --delete") }
        if let value = context.arguments.value("--value") { return .value(try parseValueArgument(value)) }
        if let keep = context.arguments.value("--keep") {
            guard let id = OperationID(keep) else { throw context.usageError("--keep needs an operation id REPLICAHEX:COUNTER") }
            return .keep(id)
        }
        return context.arguments.flag("--restore") ? .restore : .delete
    }

    /// `--seen`: operation ids, at most `supersedesCountMax` (a resolution supersedes no more).
    static func seen(_ context: CommandContext) throws -> [OperationID]? {
        guard let text = context.arguments.value("--seen") else { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let most = Limits.default.supersedesCountMax
        guard parts.count <= most else { throw context.usageError("--seen takes at most \(most) operation ids") }
        return try parts.map { part in
            guard let id = OperationID(String(part.trimmingCharacters(in: .whitespaces))) else {
                throw context.usageError("--seen takes operation ids REPLICAHEX:COUNTER, comma-separated, as `chorus conflicts ID` prints them; not \"\(part.prefix(80))\"")
            }
            return id
        }
    }

    static func run(_ context: CommandContext) throws -> Int32 {
        let choice = try choice(context)
        let seen = try seen(context)
        // Silently ignored, it would record someone other than the one named.
        if context.arguments.value("--remote") != nil && context.arguments.value("--as") != nil {
            throw context.usageError("--as is not taken with --remote: the node records the admin token's name (admin:NAME) as who resolved it")
        }
        let remote = try RemoteSupport.client(context)
        // Who resolved it, as the resolution records: on a laptop registered for one person, that
        // person unless --as says otherwise (a write in another name is refused there).
        let resolver = { (replica: Replica?) throws -> String in
            try context.arguments.value("--as") ?? replica?.upstream()?.person ?? context.environment["USER"] ?? "cli"
        }
        if let conflictID = context.arguments.value("--conflict") {
            guard context.arguments.positional.isEmpty else { throw context.usageError("give either --conflict ID or COLLECTION ID FIELD") }
            let record: JSONValue = try RemoteSupport.call {
                if let remote {
                    var body: [String: JSONValue]
                    switch choice {
                    case .keep(let id): body = ["keep": .string(id.description)]
                    case .value(let value): body = ["value": value]
                    case .restore: body = ["action": "restore"]
                    case .delete: body = ["action": "delete"]
                    }
                    if let seen { body["siblings"] = .array(seen.map { .string($0.description) }) }
                    return try remote.post("admin/v1/conflicts/\(conflictID)/resolve", body: .object(body))
                }
                let replica = try context.openReplica()
                return try replica.resolveConflict(id: conflictID, choice, by: try resolver(replica), seen: seen, checkingValue: checkingValue(replica),
                                                   checkingWrite: checkingWrite(replica)).json
            }
            report(conflictID, record, context)
            return 0
        }
        guard context.arguments.positional.count == 3, remote == nil else {
            throw context.usageError("give --conflict ID, or COLLECTION ID FIELD for a local register or map key")
        }
        switch choice {
        case .restore, .delete: throw context.usageError("--restore and --delete go with --conflict ID")
        case .keep, .value: break
        }
        // The older form names the field: settled as its conflict, so the history says who chose
        // what, as `--help` promises (it once wrote the value alone).
        let replica = try context.openReplica()
        let (collection, record, field, key) = (context.positional(0), context.positional(1), context.positional(2), context.arguments.value("--key"))
        guard let open = try replica.conflicts(collection: collection).first(where: {
            ($0.kind == .register || $0.kind == .map) && $0.record == record && $0.field == field && $0.key == key
        }) else {
            throw try whyNoConflict(replica, collection, record, field, key, context)
        }
        let written = try replica.resolveConflict(id: open.id, choice, by: try resolver(replica), seen: seen, checkingValue: checkingValue(replica),
                                                  checkingWrite: checkingWrite(replica))
        report(open.id, written.json, context)
        return 0
    }

    /// A value given checked as the command line gives one (`WriteSupport.checkValueTypes`: a
    /// bare word is a string), then as the platform checks a write of it.
    static func checkingValue(_ replica: Replica) -> (Change, CollectionSchema, String) throws -> Void {
        let platform = PeopleAPI.checkResolution(replica)
        return { change, collection, record in
            try WriteSupport.checkValueTypes([change], in: collection)
            try platform(change, collection, record)
        }
    }

    /// On a laptop bound to one person, every write of a resolution is that person's, refused
    /// unless it is theirs to change (`WriteSupport.refuseUnlessItsPersonMay`): an admin resolves
    /// on an office node or the hub.
    static func checkingWrite(_ replica: Replica) -> (String, String, [Change]) throws -> Void {
        { collection, record, changes in
            try WriteSupport.refuseUnlessItsPersonMay(replica, collection: collection, record: record, fields: WriteSupport.fields(of: changes))
        }
    }

    /// Why the older form found no conflict to settle, checked without writing anything: no such
    /// collection, field or record, a field that has no conflicts, a key missing or given where
    /// none goes, or simply none open.
    static func whyNoConflict(_ replica: Replica, _ collection: String, _ record: String, _ field: String, _ key: String?,
                              _ context: CommandContext) throws -> Error {
        let declared: CollectionSchema
        do { declared = try replica.configuration.schema.requireCollection(collection) } catch { return error }
        guard let fieldSchema = declared.field(field) else {
            return ChorusError(.unknownField, "\(collection) has no field \"\(field.prefix(80))\"", hint: "see `chorus schema`")
        }
        guard fieldSchema.kind == .register || fieldSchema.kind == .map else {
            return ChorusError(.wrongFieldKind, "\(collection).\(field) is a \(fieldSchema.kind.rawValue); only registers and map keys have conflicts to resolve")
        }
        if fieldSchema.kind == .map && key == nil { return context.usageError("\(collection).\(field) is a map: say which key with --key") }
        if fieldSchema.kind == .register && key != nil { return context.usageError("--key goes with a map field; \(collection).\(field) is a register") }
        guard try replica.get(collection: collection, record: record) != nil else {
            return ChorusError(.recordNotFound, "no record \(collection)/\(record)")
        }
        return ChorusError(.invalidState, "\(collection)/\(record) \(field)\(key.map { "[\($0)]" } ?? "") has no conflict to resolve",
                           hint: "`chorus conflicts` lists the open ones; to change the value, use `chorus put` or `chorus map-set`")
    }

    /// Prints a resolution record: whole with `--json`, else a line.
    static func report(_ conflictID: String, _ record: JSONValue, _ context: CommandContext) {
        if context.isJSON {
            context.output.json(record)
        } else {
            context.output.print("resolved \(conflictID): \(choiceText(record)) by \(record["resolvedBy"]?.stringValue ?? "")")
        }
    }

    /// A resolution record's choice as a person reads it: `keep VALUE`, `value VALUE`, or
    /// `restore` and `delete` alone, which choose no value ("delete null" said nothing).
    static func choiceText(_ record: JSONValue, width: Int = 60) -> String {
        let choice = record["choice"]?.stringValue ?? ""
        return choice == "restore" || choice == "delete" ? choice : "\(choice) \(Format.value(record["value"] ?? .null, width: width))"
    }
}
