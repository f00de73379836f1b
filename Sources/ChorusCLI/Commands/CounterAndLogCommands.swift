import ChorusCore
import ChorusReplica

enum IncrementCommand: Command {
    static let spec = CommandSpec("incr", "add N (default 1, may be negative) to a counter field", arguments: "COLLECTION ID FIELD [N]",
        details: "Every increment is unique: receiving it twice never counts it twice.",
        options: WriteSupport.options, positional: 3...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        var amount: Int64 = 1
        if context.arguments.positional.count == 4 {
            guard let parsed = Int64(context.positional(3)) else { throw context.usageError("N must be an integer, got \(context.positional(3).prefix(30))") }
            amount = parsed
        }
        return try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                                      [.increment(field: context.positional(2), by: amount)])
    }
}

enum AppendCommand: Command {
    static let spec = CommandSpec("append", "append an entry to a log field (a comment)", arguments: "COLLECTION ID FIELD VALUE",
        details: "Entries are ordered by (timestamp, replica). VALUE as in `chorus put`, e.g. '{\"author\":\"p-2\",\"body\":\"Nice!\"}'.",
        options: WriteSupport.options, positional: 4...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                               [.append(field: context.positional(2), value: try parseValueArgument(context.positional(3)))])
    }
}

enum RetractCommand: Command {
    static let spec = CommandSpec("retract", "retract an entry of a log field", arguments: "COLLECTION ID FIELD ENTRY",
        details: "ENTRY is the entry's operation id, as `chorus get` shows it.",
        options: WriteSupport.options, positional: 4...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let entry = OperationID(context.positional(3)) else {
            throw context.usageError("ENTRY must be an operation id REPLICAHEX:COUNTER")
        }
        return try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                                      [.retract(field: context.positional(2), entry: entry)])
    }
}
