import ChorusCore
import ChorusReplica

enum MapSetCommand: Command {
    static let spec = CommandSpec("map-set", "set one key of a map field", arguments: "COLLECTION ID FIELD KEY=VALUE",
        details: "Each key is its own register: e.g. `chorus map-set people p-1 skills swift=4`. VALUE as in `chorus put`.",
        options: WriteSupport.options, positional: 4...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        let assignment = context.positional(3)
        guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
            throw context.usageError("\(assignment.prefix(60)) is not KEY=VALUE")
        }
        let value = try parseValueArgument(String(assignment[assignment.index(after: equals)...]))
        return try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                                      [.mapSet(field: context.positional(2), key: String(assignment[..<equals]), value: value)])
    }
}

enum MapRemoveCommand: Command {
    static let spec = CommandSpec("map-remove", "remove one key of a map field", arguments: "COLLECTION ID FIELD KEY",
        details: "Removes the values of KEY this replica has seen; a concurrent write of KEY elsewhere survives.",
        options: WriteSupport.options, positional: 4...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                               [.mapRemove(field: context.positional(2), key: context.positional(3))])
    }
}
