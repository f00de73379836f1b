import ChorusCore
import ChorusReplica

enum PutCommand: Command {
    static let spec = CommandSpec("put", "write register fields of a record (creating it on first write)",
        arguments: "COLLECTION ID FIELD=VALUE...",
        details: """
        VALUE is JSON; a bare word is a string: title=Engineer, hoursPerWeekAvailable=4,
        openToMentoring=true, manager=null. All fields are written in one transaction.
        Each write supersedes the values this replica sees, so writing a field with a conflict resolves it.
        """,
        options: WriteSupport.options, positional: 3...Int.max)

    static func run(_ context: CommandContext) throws -> Int32 {
        var changes: [Change] = []
        var given: Set<[UInt8]> = []   // fields, by their bytes (as storage names them)
        for assignment in context.arguments.positional.dropFirst(2) {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw context.usageError("\(assignment.prefix(60)) is not FIELD=VALUE")
            }
            let field = String(assignment[..<equals])
            // Once each, as an HTTP body's keys: two values of one field in one write would be two
            // operations, the second superseding the first.
            guard given.insert(Array(field.utf8)).inserted else {
                throw context.usageError("\(field.prefix(60)) is given twice: give each field once")
            }
            let value = try parseValueArgument(String(assignment[assignment.index(after: equals)...]))
            changes.append(.put(field: field, value: value))
        }
        return try WriteSupport.write(context, collection: context.positional(0), record: context.positional(1), changes)
    }
}
