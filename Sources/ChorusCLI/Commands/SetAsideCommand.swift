import ChorusCore
import ChorusReplica

/// `chorus set-aside`: the writes `chorus sync --set-aside-refused` set aside (`Replica+SetAside`).
enum SetAsideCommand: Command {
    static let spec = CommandSpec("set-aside", "list the writes set aside as refused by the upstream, or forget them",
        details: """
        On a laptop registered for one person, `chorus sync --set-aside-refused` takes the writes its
        upstream refuses as not that person's out of the replica's state and keeps them here, never
        synced. Each line: where it stood in the log, operation id, time, action, target, who it was
        made as, and why the upstream refuses it ("pending" for one still being checked by a sync
        running now; what a sync killed half-way kept is checked first by the next command to open
        the folder). --forget drops those set aside, once what is still wanted of them has been made
        again as the person; their ids stay known, so an older bundle of this folder does not bring
        them back.
        """,
        options: [.data, .json,
                  OptionSpec(name: "--limit", valueName: "N", help: "at most N operations (default 100, at most 100000)"),
                  OptionSpec(name: "--forget", valueName: nil, help: "drop the operations set aside (not those pending)")])

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let limit = Int(context.arguments.value("--limit") ?? "100"), (1...100_000).contains(limit) else {
            throw context.usageError("--limit must be 1 to 100000")
        }
        let forget = context.arguments.flag("--forget")
        if forget && context.arguments.value("--limit") != nil { throw context.usageError("--forget drops every operation set aside: leave --limit out") }
        let replica = try context.openReplica()
        if forget {
            let forgotten = try replica.forgetSetAside()
            if context.isJSON {
                context.output.json(.object(["forgotten": .integer(Int64(forgotten))]))
            } else {
                context.output.print(forgotten == 1 ? "forgot 1 operation set aside" : "forgot \(forgotten) operations set aside")
            }
            return 0
        }
        let entries = try replica.setAsideOperations(limit: limit)
        if context.isJSON {
            let codec = OperationCodec()
            context.output.json(.array(entries.map { entry in
                .object(["sequence": .integer(entry.sequence), "operation": codec.encode(entry.operation),
                         "reason": entry.reason.map(JSONValue.string) ?? .null, "pending": .bool(entry.reason == nil), "setAsideAt": .integer(entry.wall)])
            }))
            return 0
        }
        if entries.isEmpty {
            context.output.print("nothing is set aside: `chorus sync --set-aside-refused` sets aside the writes its upstream refuses")
            return 0
        }
        context.output.print(Format.table(entries.map { LogCommand.line($0.operation, sequence: $0.sequence) + [$0.reason ?? "pending: being checked by a sync now"] }))
        return 0
    }
}
