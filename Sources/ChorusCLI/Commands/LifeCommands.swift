import ChorusCore
import ChorusReplica
import ChorusPeople

enum DeleteCommand: Command {
    static let spec = CommandSpec("delete", "delete a record (it can be restored)", arguments: "COLLECTION ID",
        details: "Edits made elsewhere concurrently are kept and listed by `chorus conflicts`; the collection's delete policy decides what shows.",
        options: WriteSupport.options, positional: 2...2)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1), [.delete])
    }
}

enum RestoreCommand: Command {
    static let spec = CommandSpec("restore", "undo the deletes of a record", arguments: "COLLECTION ID",
        options: WriteSupport.options, positional: 2...2)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1), [.restore])
    }
}

enum EraseCommand: Command {
    static let spec = CommandSpec("erase", "forget a record for good (right to be forgotten)", arguments: "COLLECTION ID",
        details: """
        Permanent and delete-wins. Every stored value of the record leaves the database and its log
        files at once; only operation ids and a hash of the record id remain. The admins' resolutions
        of its conflicts (`chorus conflicts --history`) are erased with it. Operations for it that
        arrive later are dropped on arrival. There is no undo.
        A person (`erase people ID`) goes with what is about them or by them: the feedback they gave
        or received, their own objectives, and observations of them or by them, as this replica
        holds them. Run it again to erase such records that arrive later from an office that had
        not yet learnt of the erasure.
        At a terminal it says what goes and asks for the record's id to be typed; elsewhere (a
        script, a pipe) it needs --yes.
        """,
        options: WriteSupport.options + [Confirmation.option], positional: 2...2)

    static func run(_ context: CommandContext) throws -> Int32 {
        let (collection, record) = (context.positional(0), context.positional(1))
        let replica = try context.openReplica()
        guard collection == "people" else {
            // A record this replica does not hold is refused by the write itself, without asking.
            if try replica.get(collection: collection, record: record) != nil {
                try Confirmation.require(context, telling: ["erase \(collection)/\(record.prefix(128)) for good: its values leave this replica and every one it syncs with; there is no undo"],
                                         expected: record, step: "erasing \(collection)/\(record.prefix(128))")
            }
            return try WriteSupport.write(context, replica: replica, collection: collection, record: record, [.erase])
        }
        let related = try PersonErasure.relatedRecords(replica, of: record)
        // The profile once, the records of theirs every time: run again, it erases what came since.
        let profile = try replica.isErased(collection: collection, record: record) ? [] : [(collection: collection, record: record, changes: [Change.erase])]
        guard !profile.isEmpty || !related.isEmpty else {
            throw ChorusError(.recordNotFound, "no person \(record.prefix(128)) to erase, and no record of theirs", hint: "`chorus list people` lists the ids")
        }
        try Confirmation.require(context, telling: erasureSummary(person: record, profile: !profile.isEmpty, related: related.map { "\($0.collection)/\($0.id)" }),
                                 expected: record, step: "erasing people/\(record.prefix(128))")
        let operations = try replica.writeMany(profile + related.map { (collection: $0.collection, record: $0.id, changes: [Change.erase]) },
                                               by: context.arguments.value("--as"))
        WriteSupport.report(operations, context)
        if !context.isJSON, !related.isEmpty {
            context.output.print("erased with \(record.prefix(128)): \(related.map { "\($0.collection)/\($0.id)" }.joined(separator: ", "))")
        }
        return 0
    }

    /// What erasing a person takes, for the question: their profile (unless erased before) and
    /// the records of theirs, the first `summaryRecordsMax` named and the rest counted.
    static func erasureSummary(person: String, profile: Bool, related: [String]) -> [String] {
        let named = related.prefix(summaryRecordsMax).joined(separator: ", ")
        let more = related.count > summaryRecordsMax ? " and \(related.count - summaryRecordsMax) more" : ""
        var lines = [profile ? "erase people/\(person.prefix(128)) for good, with \(related.count) record(s) about them or by them"
                             : "people/\(person.prefix(128)) is erased already; erase \(related.count) record(s) of theirs that came since"]
        if !related.isEmpty { lines.append("  \(named)\(more)") }
        lines.append("their values leave this replica and every one it syncs with; there is no undo")
        return lines
    }

    /// Records of a person named in the question, at most: the rest are counted.
    static let summaryRecordsMax = 20
}
