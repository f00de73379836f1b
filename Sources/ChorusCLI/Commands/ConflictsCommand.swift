import ChorusCore
import ChorusReplica

enum ConflictsCommand: Command {
    static let spec = CommandSpec("conflicts", "list open conflicts: every live value, who wrote it, which displays and why",
        details: """
        JSON form: a list of {"collection","record","field","kind","siblings":[{"operation","value","replica","timestamp"}],"displayed"}
        (plus "key" for map conflicts and "rule"). Kinds: register, map, editedWhileDeleted.
        """,
        options: [.data, .json, OptionSpec(name: "--collection", valueName: "NAME", help: "only this collection")])

    static func run(_ context: CommandContext) throws -> Int32 {
        let replica = try context.openReplica()
        let conflicts = try replica.conflicts(collection: context.arguments.value("--collection"))
        if context.isJSON {
            context.output.json(.array(conflicts.map(\.json)))
            return 0
        }
        if conflicts.isEmpty {
            context.output.print("no open conflicts")
            return 0
        }
        for conflict in conflicts {
            let target = conflict.field.map { f in conflict.key.map { "\(f)[\($0)]" } ?? f } ?? "(record)"
            context.output.print("\(conflict.collection)/\(conflict.record) \(target)  \(conflict.kind.rawValue), \(conflict.siblings.count) live")
            context.output.print(Format.table(conflict.siblings.map { sibling in
 
                [sibling.operation == conflict.displayed ? "  * " : "    ",
                        sibling.isDelete ? "(delete)" : Format.value(sibling.value, width: 40),
                        "replica \(Format.short(sibling.replica))", Format.time(sibling.timestamp), sibling.operation.description]
            }))
            context.output.print("    why: \(conflict.rule)\n")
        }
        context.output.print("\(conflicts.count) open conflict\(conflicts.count == 1 ? "" : "s"); * marks what displays. Resolve with `chorus resolve`.")
        return 0
    }
}
