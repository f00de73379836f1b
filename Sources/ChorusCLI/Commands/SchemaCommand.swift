import ChorusCore

enum SchemaCommand: Command {
    static let spec = CommandSpec("schema", "print the collections, their delete policy, and each field with its kind",
        details: "JSON form: {\"collections\":[{\"name\",\"deletePolicy\",\"fields\":[{\"name\",\"kind\"}]}]}. Needs no replica.",
        options: [.json])

    static func run(_ context: CommandContext) throws -> Int32 {
        let schema = PeopleSchema.current
        if context.isJSON {
            context.output.json(schema.jsonDescription)
            return 0
        }
        context.output.print("schema version \(schema.version)")
        for collection in schema.collections {
            context.output.print("\n\(collection.name)  (\(collection.deletePolicy.rawValue))")
            context.output.print(Format.table(collection.fields.map { ["  " + $0.name, $0.kind.rawValue, $0.valueType.rawValue, $0.summary] }))
        }
        return 0
    }
}
