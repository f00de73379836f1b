import ChorusCore
import ChorusReplica

enum AddCommand: Command {
    static let spec = CommandSpec("add", "add an element to a set field", arguments: "COLLECTION ID FIELD ELEMENT",
        details: """
        Sets are add-wins: an add concurrent with a remove of the same element keeps it. An element this
        replica added already (its add stands) is added no more: nothing is written, and a remove made
        elsewhere that saw that add removes it.
        """,
        options: WriteSupport.options, positional: 4...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                               [.add(field: context.positional(2), element: context.positional(3))])
    }
}

enum RemoveCommand: Command {
    static let spec = CommandSpec("remove", "remove an element from a set field", arguments: "COLLECTION ID FIELD ELEMENT",
        details: "Removes the additions of ELEMENT this replica has seen; a concurrent add elsewhere survives.",
        options: WriteSupport.options, positional: 4...4)

    static func run(_ context: CommandContext) throws -> Int32 {
        try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1),
                               [.remove(field: context.positional(2), element: context.positional(3))])
    }
}
