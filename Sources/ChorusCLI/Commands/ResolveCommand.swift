import ChorusCore
import ChorusReplica

enum ResolveCommand: Command {
    static let spec = CommandSpec("resolve", "settle a conflict: keep one live value or give a new one",
        arguments: "COLLECTION ID FIELD (--value JSON | --keep OPERATION_ID)",
        details: """
        Writes one operation that supersedes every live value of the field (or map key), so once it
        has synced the conflict is gone on every replica. For a record edited while deleted, use
        `chorus restore` (keep the edits) or `chorus delete` (confirm the delete).
        """,
        options: [.data, .json,
                  OptionSpec(name: "--value", valueName: "JSON", help: "the new value (as in `chorus put`)"),
                  OptionSpec(name: "--keep", valueName: "OPERATION_ID", help: "keep this sibling's value"),
                  OptionSpec(name: "--key", valueName: "KEY", help: "the map key, for map fields")],
        positional: 3...3)

    static func run(_ context: CommandContext) throws -> Int32 {
        let resolution: Resolution
        switch (context.arguments.value("--value"), context.arguments.value("--keep")) {
        case (let value?, nil): resolution = .value(try parseValueArgument(value))
        case (nil, let keep?):
            guard let id = OperationID(keep) else { throw context.usageError("--keep needs an operation id REPLICAHEX:COUNTER") }
            resolution = .keep(id)
        default: throw context.usageError("give exactly one of --value and --keep")
        }
        let replica = try context.openReplica()
        let operation = try replica.resolve(collection: context.positional(0), record: context.positional(1), field: context.positional(2),
                                            key: context.arguments.value("--key"), resolution)
        WriteSupport.report([operation], context)
        return 0
    }
}
