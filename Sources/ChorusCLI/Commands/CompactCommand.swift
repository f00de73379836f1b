import ChorusCore
import ChorusReplica

enum CompactCommand: Command {
    static let spec = CommandSpec("compact", "remove from the log the operations every replica below and the upstream already have",
        details: """
        The log keeps every operation so replicas can pull what they lack; once all of them have an
        operation, its logged copy is no longer needed (its effect is in the replica's state, and
        its id is kept so it is never applied twice). This removes those copies, and says what
        holds the rest: a replica registered here that has not committed the log past some point
        (revoke one that will never sync again), or the upstream, not yet sent everything. A
        replica that exchanges bundles (it exported or imported one) with no upstream and no
        replica registered keeps what it has not exported yet.

        What the upstream acknowledged in the last 7 days stays (--keep-hours changes it for this
        run): if the upstream is restored from a backup younger than that, this node sends it
        again what it lost. Compacted, it could not, and the upstream would lack it for good.

        After compaction a replica new to this node starts from its snapshot (`chorus sync` does
        this by itself), and `chorus export --since` must name a sequence at or after the
        compaction point. A replica whose log is compacted cannot be joined to a new upstream.
        Values of open conflicts keep their logged operations, so admins still see who wrote them.
        Records whose whole history is compacted have their merge state folded into one row each,
        with each value the record's table already holds exactly kept there only (a quarter of
        the space or less); the next write to one unfolds it.

        Safe to run on a live node: one transaction, a replica killed during it keeps its log as it
        was before, or after. The freed space is reused by new writes; --vacuum also returns it to
        the file system (it rewrites the database, holding off writers meanwhile, and needs free
        disk about the database's size).
        """,
        options: [.data, .json,
                  OptionSpec(name: "--dry-run", valueName: nil, help: "say what would be removed, and change nothing"),
                  OptionSpec(name: "--through", valueName: "SEQ", help: "compact no further than this log sequence (keep the history after it)"),
                  OptionSpec(name: "--keep-hours", valueName: "HOURS", help: "keep what the upstream acknowledged in the last HOURS, 0 to 8760 (default 168, a week): for an upstream restored from a backup"),
                  OptionSpec(name: "--vacuum", valueName: nil, help: "then rewrite the database file to give the freed space back")])

    /// The most `--keep-hours` takes: a year.
    static let keepHoursMax: Int64 = 8_760

    static func run(_ context: CommandContext) throws -> Int32 {
        let dryRun = context.arguments.flag("--dry-run"), vacuum = context.arguments.flag("--vacuum")
        if dryRun && vacuum { throw context.usageError("--dry-run and --vacuum do not go together") }
        let bound = try context.arguments.value("--through").map { text -> Int64 in
            guard let value = Int64(text), value >= 0 else { throw context.usageError("--through must be a log sequence number (0 or more)") }
            return value
        }
        let keepHours = try context.arguments.value("--keep-hours").map { text -> Int64 in
            guard let hours = Int64(text), (0...keepHoursMax).contains(hours) else {
                throw context.usageError("--keep-hours must be a whole number of hours, 0 to \(keepHoursMax)")
            }
            return hours
        }
        let replica = try context.openReplica()
        // History is what a damaged replica may be mended from: none is removed from one (a
        // dry run removes nothing).
        if !dryRun { try context.refuseIfDamaged(replica) }
        let report = try replica.compactLog(dryRun: dryRun, through: bound, keepAcknowledgedSeconds: keepHours.map { $0 * 3600 })
        let sizes = vacuum ? try replica.vacuum() : nil
        if context.isJSON {
            var json = report.json.objectValue ?? [:]
            if let sizes { json["bytesBefore"] = .integer(sizes.before); json["bytesAfter"] = .integer(sizes.after) }
            context.output.json(.object(json))
            return 0
        }
        let verb = dryRun ? "would remove" : "removed"
        context.output.print("\(verb) \(report.operationsRemoved) operation\(report.operationsRemoved == 1 ? "" : "s") "
                             + "(\(report.blocksRemoved) block\(report.blocksRemoved == 1 ? "" : "s")) from the log")
        context.output.print("\(dryRun ? "the log would be compacted" : "log compacted") through sequence \(report.floor) of \(report.latest)"
                             + (report.floorBefore > 0 ? " (\(dryRun ? "now" : "before"): \(report.floorBefore))" : ""))
        if report.recordsFolded > 0 {
            context.output.print("\(dryRun ? "would fold" : "folded") the entries of \(report.recordsFolded) record\(report.recordsFolded == 1 ? "" : "s") whose history is compacted"
                                 + (dryRun ? "" : ", \(report.valuesKeptInColumns) value\(report.valuesKeptInColumns == 1 ? "" : "s") kept once, in the typed columns"))
        }
        if report.blocksKeptForConflicts > 0 {
            context.output.print("kept \(report.blocksKeptForConflicts) block\(report.blocksKeptForConflicts == 1 ? "" : "s") holding values of open conflicts")
        }
        for hold in report.holds.prefix(10) {
            switch hold.holder {
            case .replica(let name):
                // Acknowledgements are recorded by the node a few seconds after a sync: a replica
                // that has just synced may show here a little behind, and hold nothing back soon.
                context.output.print("held back by replica \(name): it has committed the log only through \(hold.sequence), as last recorded here (a sync's acknowledgement is recorded some seconds after it)")
            case .upstream:
                context.output.print("held back by the upstream: operations after \(hold.sequence) are not pushed yet (run `chorus sync`)")
            case .requested:
                context.output.print("kept the history after \(hold.sequence), as --through asked")
            case .unexported:
                context.output.print("kept the operations after \(hold.sequence), not exported yet: this replica exchanges bundles, with no upstream or replica registered, so no one else may have them (`chorus export --since \(hold.sequence) --output FILE`, then compact)")
            case .upstreamRecently(let seconds):
                let hours = seconds / 3600
                let span = hours % 24 == 0 ? "\(hours / 24) day\(hours == 24 ? "" : "s")" : "\(hours) hour\(hours == 1 ? "" : "s")"
                context.output.print("kept what the upstream acknowledged in the last \(span), after \(hold.sequence): sent again if it is restored from a backup (--keep-hours 0 removes it)")
            }
        }
        if let bound, bound <= report.floorBefore {
            context.output.print("the log was compacted through \(report.floorBefore) already, past --through \(bound)")
        }
        if report.holds.count > 10 { context.output.print("and \(report.holds.count - 10) more replicas behind") }
        if let sizes {
            context.output.print("database file: \(sizes.before) bytes before, \(sizes.after) after")
        }
        return 0
    }
}
