import ChorusCore
import ChorusNode
import ChorusReplica
import Foundation

enum ImportCommand: Command {
    static let spec = CommandSpec("import", "apply a bundle written by `chorus export`", arguments: "FILE",
        details: """
        The whole bundle is verified first (checksum, format, every operation, clock drift); if
        anything is wrong nothing is applied. Importing the same bundle again applies nothing twice.
        A node passes up to its upstream only its own operations and those of replicas registered
        below it: operations imported from another replica reach the hub when that replica syncs,
        or when the bundle is imported at the hub too.

        A bundle that starts after the start of its exporter's log (its log compacted, or
        `export --since`) lacks what was logged before: imported by a replica that holds nothing
        its exporter made, the import says so, since that replica lacks those operations too.
        """,
        options: [.data, .json], positional: 1...1)

    /// Bundles of fewer operations import without progress lines: two batches at the default
    /// `operationsPerBatchMax`, since a line is printed after a batch.
    static let progressOperationsMin = 50_000
    /// Bundles of at least this many bytes say they are being read and checked first: a day-2
    /// review saw a 79 MB bundle print nothing for 18 s (a debug build) before its first line.
    static let progressBytesMin = 8 * 1024 * 1024

    static func run(_ context: CommandContext) throws -> Int32 {
        let path = context.positional(0)
        let replica = try context.openReplica()
        // Through links: a link's own size once stood for the bundle's against `bundleBytesMax`.
        guard let size = PlainFile.size(path) else {
            throw ChorusError(.storage, "cannot read \(path)", hint: "check the path, and that this user may read it")
        }
        if let what = PlainFile.notPlain(path) {
            throw ChorusError(.storage, "\(path) is \(what), not a bundle", hint: "give the file `chorus export --output` wrote")
        }
        guard size <= replica.configuration.limits.bundleBytesMax else {
            throw ChorusError(.limitExceeded, "\(path) is \(size) bytes, over bundleBytesMax (\(replica.configuration.limits.bundleBytesMax))",
                              hint: "export in smaller pieces with --since and --until")
        }
        // Merged into a damaged file, a bundle's operations could be lost with it. After the
        // checks of the path, which cost nothing, where this one reads the whole database.
        if !context.isJSON && size >= progressBytesMin {
            context.output.error("checking this replica's database, then reading and checking \(path) (\(size / (1024 * 1024)) MiB)...")
        }
        try context.refuseIfDamaged(replica)
        // The file's bytes once: the `Data` read is dropped as soon as it is copied.
        let bytes: [UInt8] = try {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ChorusError(.storage, "cannot read \(path)", hint: "check the path and its permissions")
            }
            return Array(data)
        }()
        // Whether this replica had any operation made by a bundle's exporter before: one that did
        // is taking the next part of its log (`--since` the last `until`), and is not warned.
        let originsKnown = { (origin: ReplicaID) in (try? replica.loggedLatest(of: origin)) != nil }
        var knewOrigin: Bool?
        var lacksRecords = true
        var reported = 0
        let (header, report) = try replica.importBundle(bytes, progress: { merged, total in
            // After a batch, on standard error: at most a line per tenth of a large bundle.
            guard !context.isJSON, total >= progressOperationsMin, merged < total, merged * 10 / total > reported else { return }
            reported = merged * 10 / total
            context.output.error("merged \(merged) of \(total) operations...")
        }, beforeMerging: { header, operations in
            if !context.isJSON && operations.count >= progressOperationsMin {
                context.output.error("merging \(operations.count) operations from \(header.originName)...")
            }
            knewOrigin = originsKnown(header.origin)
            guard header.since > 0, knewOrigin == false else { return }
            lacksRecords = ImportCommand.touchesRecordsNotHeld(operations, in: replica)
        })
        // A bundle of many batches leaves its log's checkpoint running on a thread of its own.
        replica.finishBackgroundCheckpoints()
        if context.isJSON {
            context.output.json(.object([
                "origin": .string(header.origin.hex), "applied": .integer(Int64(report.applied)),
                "duplicates": .integer(Int64(report.duplicates)), "droppedForErasedRecords": .integer(Int64(report.droppedForErasedRecords)),
                "since": .integer(header.since), "until": .integer(header.until),
            ]))
        } else {
            context.output.print("imported from \(header.originName) (\(header.origin.hex.prefix(8))): \(report.applied) applied, \(report.duplicates) already present, \(report.droppedForErasedRecords) dropped (erased records)")
        }
        // A part of the exporter's history, said so: a replica given it alone once looked whole,
        // its records missing the fields written before (found by a sweep).
        if header.since > 0, knewOrigin == false, lacksRecords {
            context.output.error("note: this bundle holds \(header.originName)'s log after sequence \(header.since) only (its log is compacted through there, or it was exported with --since): what \(header.originName) logged before is not in it. This replica lacks it unless it came another way (a sync, an earlier bundle); to have all of it, sync with \(header.originName), or with a node that holds it, once (a new replica starts from its snapshot)")
        }
        return 0
    }

    /// The most records `touchesRecordsNotHeld` looks up; past it, it says they may be missing.
    static let recordsCheckedMax = 10_000

    /// Whether a part of another's log touches a record this replica did not hold before it (or
    /// holds deleted): the exporter's earlier history of it is then missing here. A replica
    /// taking back a part of a log made of its own writes (`--since` the point where the
    /// exporter had imported it) holds every record, and is not warned for nothing.
    static func touchesRecordsNotHeld(_ operations: [ChorusCore.Operation], in replica: Replica) -> Bool {
        var seen = Set<String>()
        for operation in operations {
            guard seen.insert(operation.collection + "\u{0}" + operation.record).inserted else { continue }
            if seen.count > recordsCheckedMax { return true }
            guard case .some(.some) = try? replica.get(collection: operation.collection, record: operation.record) else { return true }
        }
        return false
    }
}
