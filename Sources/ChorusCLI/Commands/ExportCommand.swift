import ChorusCore
import ChorusNode
import ChorusReplica
import Foundation
import SQLiteKit

enum ExportCommand: Command {
    static let spec = CommandSpec("export", "write operations to a bundle file, for a replica with no network",
        details: """
        Writes every operation logged after CURSOR (default: everything the log holds, from 0, or
        from the compaction point once the log is compacted, as it is on a replica that started from
        its upstream's snapshot; an explicit CURSOR below that point is refused, since the operations
        after it are no longer all in the log). The bundle is written to
        FILE.partial and renamed when complete, so a half-written FILE never exists. The command
        prints the cursor to pass as --since next time. --until stops at a log sequence, so a log
        too large for one bundle (import takes at most 1 GiB) goes in pieces, each piece's --since
        the last one's --until. Format: Docs/reference/bundle.md.
        """,
        options: [.data, .json,
                  OptionSpec(name: "--since", valueName: "CURSOR", help: "export operations after this log sequence (default: all the log holds, from 0 or its compaction point)"),
                  OptionSpec(name: "--until", valueName: "SEQ", help: "the last log sequence to include (default: the log's end)"),
                  OptionSpec(name: "--output", valueName: "FILE", help: "the bundle file to write (required)")])

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let output = context.arguments.value("--output") else { throw context.usageError("--output FILE is required") }
        let sinceText = context.arguments.value("--since")
        let asked = try sinceText.map { text -> Int64 in
            guard let since = Int64(text), since >= 0 else { throw context.usageError("--since must be a log sequence number (0 or more)") }
            return since
        }
        let through = try context.arguments.value("--until").map { text -> Int64 in
            guard let until = Int64(text), until >= 0 else { throw context.usageError("--until must be a log sequence number (0 or more)") }
            return until
        }
        let replica = try context.openReplica()
        // Without --since, all the log holds: from its compaction point when it has one.
        let floor = asked == nil ? try replica.compactionFloor() : 0
        let since = asked ?? floor
        // A note, on stderr beside the report (it was mixed into stdout), as import's is.
        if floor > 0 && !context.isJSON {
            context.output.error("note: the log is compacted through sequence \(floor) (compacted, or started from the upstream's snapshot): exporting the operations after it; the earlier ones' effects are in the state, and a replica lacking them starts from a snapshot")
        }
        try OutputFile.check(output, option: "--output", replicaFolder: context.dataDirectory, context)
        try OutputFile.check(output + ".partial", option: "--output (its .partial file)", replicaFolder: context.dataDirectory, context)
        let partial = output + ".partial"
        let file = try FileAppender(creating: partial)
        let header: OperationBundle.Header
        var tooLargeToImport = false
        do {
            var written: Int64 = 0
            header = try replica.exportBundle(since: since, through: through) { bytes in
                written += Int64(bytes.count)
                try file.append(bytes)
            }
            // Written whole, and said: a bundle import refuses for its size (it reads it whole)
            // was written without a word, and could not be cut (a read-only audit).
            if written > Int64(replica.configuration.limits.bundleBytesMax) {
                tooLargeToImport = true
                context.output.error("warning: the bundle is \(written) bytes, over the \(replica.configuration.limits.bundleBytesMax) `chorus import` takes: export it in pieces with --since and --until")
            }
            try file.synchronize()
            try file.close()
            // One rename, which replaces a file whole and fails on a folder (one may have appeared
            // at the path while the export ran: removing what was there deleted it, contents and all).
            guard rename(partial, output) == 0 else {
                throw ChorusError(.storage, "cannot put the bundle at \(output): \(String(cString: strerror(errno)))",
                                  hint: "name a file, new or one to overwrite; nothing was written there")
            }
            // The cursor printed next is the one to export from later: the rename must last.
            guard FolderSync.syncFolder(of: output) else {
                throw ChorusError(.storage, "cannot sync the folder of \(output): \(String(cString: strerror(errno)))",
                                  hint: "the bundle is at \(output), but a power cut now could lose it; check the disk")
            }
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(atPath: partial)
            if let error = error as? ChorusError { throw error }
            throw ChorusError(.storage, "writing \(output) failed: \(error.localizedDescription)", hint: "check free space and permissions")
        }
        // Once the bundle is in place for good: what compaction may now remove. Not a bundle
        // too large for any import to take: its operations have not left in a usable one.
        if !tooLargeToImport { try replica.recordExport(header) }
        if context.isJSON {
            context.output.json(.object(["operations": .integer(Int64(header.operations)), "since": .integer(header.since),
                                         "until": .integer(header.until), "output": .string(output)]))
        } else {
            context.output.print("exported \(header.operations) operation\(header.operations == 1 ? "" : "s") (log \(header.since)..\(header.until)) to \(output)")
            context.output.print("next time: chorus export --since \(header.until) --output FILE")
        }
        return 0
    }
}
