import ChorusCore
import ChorusReplica

enum CheckCommand: Command {
    static let spec = CommandSpec("check", "verify the database: SQLite integrity and the replica's own invariants",
        details: "Exit 0 when sound; 1 with the problems found. Safe to run on a live replica.",
        options: [.data, .json])

    static func run(_ context: CommandContext) throws -> Int32 {
        // A damaged file is reported as SQLite finds it; the invariants, read from damaged pages,
        // would only stop at the first unreadable one. A read failing anywhere is a problem to list.
        var problems: [String]
        do {
            let replica = try context.openReplica()
            problems = try replica.integrityCheck()
            if problems.isEmpty { problems = try replica.invariantViolations() }
        } catch let error as ChorusError where error.code == .storage {
            problems = ["\(error.message)\(error.hint.map { " (\($0))" } ?? "")"]
        }
        if context.isJSON {
            var report: [String: JSONValue] = ["ok": .bool(problems.isEmpty), "problems": .array(problems.map(JSONValue.string))]
            if !problems.isEmpty { report["hint"] = .string(Replica.damagedHint) }
            context.output.json(.object(report))
        } else if problems.isEmpty {
            context.output.print("ok")
        } else {
            problems.forEach { context.output.print($0) }
            context.output.error("hint: \(Replica.damagedHint)")
        }
        return problems.isEmpty ? 0 : 1
    }
}
