import ChorusCore
import ChorusReplica

enum ListCommand: Command {
    static let spec = CommandSpec("list", "list record ids of a collection", arguments: "COLLECTION",
        details: "Ids in byte order, a page at a time: pass the last id printed as --after for the next page.",
        options: [.data, .json,
                  OptionSpec(name: "--deleted", valueName: nil, help: "include deleted records"),
                  OptionSpec(name: "--after", valueName: "ID", help: "start after this id"),
                  OptionSpec(name: "--limit", valueName: "N", help: "at most N ids (default 1000, at most 100000)")],
        positional: 1...1)

    static func run(_ context: CommandContext) throws -> Int32 {
        let limitText = context.arguments.value("--limit") ?? "1000"
        guard let limit = Int(limitText), (1...100_000).contains(limit) else { throw context.usageError("--limit must be 1 to 100000") }
        let replica = try context.openReplica()
        let collection = context.positional(0)
        _ = try replica.configuration.schema.requireCollection(collection)
        let rows = try replica.list(collection: collection, includeDeleted: context.arguments.flag("--deleted"),
                                    after: context.arguments.value("--after"), limit: limit)
        if context.isJSON {
            context.output.json(.array(rows.map { .object(["id": .string($0.id), "deleted": .bool(!$0.isVisible)]) }))
        } else {
            for row in rows { context.output.print(row.isVisible ? row.id : "\(row.id)  (deleted)") }
        }
        return 0
    }
}
