import ChorusCore
import ChorusReplica

enum GetCommand: Command {
    static let spec = CommandSpec("get", "show one record", arguments: "COLLECTION ID",
        details: "JSON form: an object with the record's id and its fields by name, plus _meta {collection, deleted, conflicts}.",
        options: [.data, .json], positional: 2...2)

    static func run(_ context: CommandContext) throws -> Int32 {
        let replica = try context.openReplica()
        let collection = context.positional(0), id = context.positional(1)
        // An unknown collection named as such, with those there are, as `list` says.
        _ = try replica.configuration.schema.requireCollection(collection)
        guard let record = try replica.get(collection: collection, record: id) else {
            throw ChorusError(.recordNotFound, "no record \(collection)/\(id)", hint: "`chorus list \(collection)` shows the ids")
        }
        if context.isJSON {
            context.output.json(record.json)
            return 0
        }
        context.output.print("\(collection)/\(id)\(record.isVisible ? "" : "  (deleted)")")
        var rows: [[String]] = []
        for name in record.fields.keys.sorted() {
            let value = record.fields[name]!
            let note = record.conflicts.contains { $0 == name || $0.hasPrefix(name + "[") } ? "  (conflict: see chorus conflicts)" : ""
            if case .array(let entries) = value, entries.first?["entry"] != nil {
                rows.append(["  " + name, "\(entries.count) entries"])
                for entry in entries {
                    rows.append(["", "\(Format.value(entry["value"] ?? .null, width: 50))  [\(entry["entry"]?.stringValue ?? "")]"])
                }
            } else {
                rows.append(["  " + name, Format.value(value, width: 70) + note])
            }
        }
        if record.conflicts.contains("(edited while deleted)") { rows.append(["  !", "edited while deleted: see chorus conflicts"]) }
        context.output.print(Format.table(rows))
        return 0
    }
}
