import ChorusCore
import ChorusReplica
import Foundation

/// Writes many small operations, printing each id only after its transaction committed.
/// Crash tests kill it at random moments and check that every printed id survived.
enum StressCommand: Command {
    static let spec = CommandSpec("stress", "write COUNT test operations, printing each id once durable (crash testing)",
        arguments: "COUNT",
        details: """
        Writes to people/stress-N records: registers, set adds and counter increments, one
        transaction per operation, printing `ack OPERATION_ID` after each commit. Used by the
        crash-safety tests, which kill it with SIGKILL; every acknowledged id must survive.
        Each write makes one operation, in a run as in the next on the same folder: COUNT of
        them, 1 to 10000000.
        """,
        options: [.data, OptionSpec(name: "--records", valueName: "N", help: "spread writes over N records, 1 to 100000 (default 20)")],
        positional: 1...1)

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let count = Int(context.positional(0)), (1...10_000_000).contains(count) else { throw context.usageError("COUNT must be 1 to 10000000") }
        guard let records = Int(context.arguments.value("--records") ?? "20"), (1...100_000).contains(records) else {
            throw context.usageError("--records must be 1 to 100000")
        }
        let replica = try context.openReplica()
        // Values new to every run and every write: a value a record already had made no
        // operation, so a second run on a folder (or a long one, its set adds coming round
        // again) acknowledged fewer than COUNT.
        let run = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)
        for index in 0..<count {
            let record = "stress-\(index % records)"
            let made: [ChorusCore.Operation]
            switch index % 3 {
            case 0: made = try replica.write(collection: "people", record: record, [.put(field: "title", value: .string("title \(run)-\(index)"))])
            case 1: made = try replica.write(collection: "people", record: record, [.add(field: "guilds", element: "guild-\(run)-\(index)")])
            default: made = try replica.write(collection: "feedback", record: record, [.increment(field: "highFives", by: 1)])
            }
            for operation in made { context.output.print("ack \(operation.id)") }
        }
        return 0
    }
}
