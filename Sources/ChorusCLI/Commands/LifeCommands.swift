import ChorusCore
import ChorusReplica

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
        """,
        options: WriteSupport.options, positional: 2...2)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1), [.erase])
    }
}
