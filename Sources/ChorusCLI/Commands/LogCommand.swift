import ChorusCore
import ChorusReplica

enum LogCommand: Command {
    static let spec = CommandSpec("log", "show the operation log, oldest first",
        details: """
        Each line: local sequence, operation id, time, action, target and the person who made it. Erased
        records show their ids only. --waiting lists what this replica has still to send its upstream
        (made here or below it), such as writes the upstream refused (`chorus set-aside` lists those
        set aside).
        """,
        options: [.data, .json,
                  OptionSpec(name: "--since", valueName: "SEQ", help: "start after this sequence (default 0)"),
                  OptionSpec(name: "--waiting", valueName: nil, help: "only the operations waiting to be pushed upstream"),
                  OptionSpec(name: "--limit", valueName: "N", help: "at most N operations (default 100, at most 100000)")])

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let since = Int64(context.arguments.value("--since") ?? "0"), since >= 0 else { throw context.usageError("--since must be a log sequence number from 0 to \(Int64.max)") }
        guard let limit = Int(context.arguments.value("--limit") ?? "100"), (1...100_000).contains(limit) else {
            throw context.usageError("--limit must be 1 to 100000")
        }
        let waiting = context.arguments.flag("--waiting")
        if waiting && context.arguments.value("--since") != nil { throw context.usageError("--waiting starts at the push cursor: leave --since out") }
        let replica = try context.openReplica()
        if waiting, try replica.upstream() == nil {
            throw ChorusError(.invalidState, "this replica has no upstream, so nothing waits to go up", hint: "`chorus log` shows its whole log; `chorus join` connects it to a hub")
        }
        let entries = try replica.log(after: since, limit: limit, waitingToPush: waiting)
        // Notes on stderr, where the page ends short of the log or starts past what compaction
        // removed: an empty page of a compacted log said nothing (a read-only audit).
        if !waiting && !context.isJSON {
            let floor = try replica.compactionFloor()
            if since < floor {
                context.output.error("note: the log is compacted through sequence \(floor): the operations before it are in the state, not the log")
            }
            if entries.count == limit, let last = entries.last, last.sequence < (try replica.latestSequence()) {
                context.output.error("more: --since \(last.sequence)")
            }
        }
        let codec = OperationCodec()
        if context.isJSON {
            context.output.json(.array(entries.map { entry in
                .object(["sequence": .integer(entry.sequence), "operation": entry.operation.map(codec.encode) ?? .object(["id": .string(entry.id.description), "erased": .bool(true)])])
            }))
            return 0
        }
        if waiting && entries.isEmpty {
            context.output.print("nothing waits to go upstream: everything made here has been pushed")
            return 0
        }
        context.output.print(Format.table(entries.map { entry in
            guard let op = entry.operation else { return [String(entry.sequence), entry.id.description, "", "(erased)"] }
            return line(op, sequence: entry.sequence)
        }))
        return 0
    }

    /// An operation's line: sequence, id, time, action, target, who made it.
    static func line(_ op: ChorusCore.Operation, sequence: Int64) -> [String] {
        let target = op.action.name == "erase" ? "\(op.collection)/#\(Hex.encode(op.recordHash).prefix(12))" : "\(op.collection)/\(op.record)"
        return [String(sequence), op.id.description, Format.time(op.timestamp), op.action.name, target + (op.field.map { " \($0)" } ?? ""),
                op.author.map { "by \($0)" } ?? ""]
    }
}
