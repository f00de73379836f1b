import ChorusCore
import ChorusReplica

enum CheckCommand: Command {
    static let spec = CommandSpec("check", "verify the database: SQLite integrity and the replica's own invariants",
        details: "Exit 0 when sound; 1 with the problems found. Safe to run on a live replica.",
        options: [.data, .json])

    static func run(_ context: CommandContext) throws -> Int32 {
        // A damaged file is reported as SQLite finds it; the invariants, read from damaged pages,
        // would only stop at the first unreadable one. Damage met reading is a problem to list; a
        // database that cannot be opened at all (another user's file) is an error, said as one.
        // What to do depends on what was found: damage is restored from a backup; an error
        // reading the file has its own hint (a full disk: free space); the replica's own
        // invariants broken are a bug to report, not a reason to throw away its writes.
        var problems: [String]
        var hint: String?
        // The check could not run (the file unreadable, not writable): an error, said as every
        // command says one, not a finding of the check.
        var failed = false
        do {
            let replica = try context.openReplica()
            problems = try replica.integrityCheck()
            if problems.isEmpty {
                problems = try replica.invariantViolations()
                hint = "the replica's own state disagrees with itself: a bug in Chorus, or the database changed by hand; report it with the output of `chorus check --json`. A new replica synced from the upstream holds the same data without it"
            } else {
                hint = Replica.damagedHint
            }
        } catch let error as ChorusError where error.code == .storage {
            problems = [error.message]
            hint = error.hint
            failed = !Replica.isDamage(error)
        }
        if problems.isEmpty { hint = nil }
        if context.isJSON {
            var report: [String: JSONValue] = ["ok": .bool(problems.isEmpty), "problems": .array(problems.map(JSONValue.string))]
            if let hint { report["hint"] = .string(hint) }
            context.output.json(.object(report))
        } else if problems.isEmpty {
            context.output.print("ok")
        } else {
            for problem in problems { failed ? context.output.error("error: \(problem)") : context.output.print(problem) }
            if let hint { context.output.error("hint: \(hint)") }
        }
        return problems.isEmpty ? 0 : 1
    }
}
