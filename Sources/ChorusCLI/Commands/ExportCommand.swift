import ChorusCore
import ChorusNode
import ChorusReplica
import Foundation

enum ExportCommand: Command {
    static let spec = CommandSpec("export", "write operations to a bundle file, for a replica with no network",
        details: """
        Writes every operation logged after CURSOR (default 0: everything; once the log is
        compacted, CURSOR must be at or after the compaction point). The bundle is written to
        FILE.partial and renamed when complete, so a half-written FILE never exists. The command
        prints the cursor to pass as --since next time. Format: Docs/reference/bundle.md.
        """,
        options: [.data, .json,
                  OptionSpec(name: "--since", valueName: "CURSOR", help: "export operations after this log sequence (default 0)"),
                  OptionSpec(name: "--output", valueName: "FILE", help: "the bundle file to write (required)")])

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let output = context.arguments.value("--output") else { throw context.usageError("--output FILE is required") }
        let sinceText = context.arguments.value("--since") ?? "0"
        guard let since = Int64(sinceText), since >= 0 else { throw context.usageError("--since must be a log sequence number (0 or more)") }
        let replica = try context.openReplica()
        let partial = output + ".partial"
        let file = try FileAppender(creating: partial)
        let header: OperationBundle.Header
        do {
            header = try replica.exportBundle(since: since) { bytes in try file.append(bytes) }
            try file.synchronize()
            try file.close()
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: partial, toPath: output)
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(atPath: partial)
            if let error = error as? ChorusError { throw error }
            throw ChorusError(.storage, "writing \(output) failed: \(error.localizedDescription)", hint: "check free space and permissions")
        }
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
