import ChorusCore
import ChorusReplica

enum DigestCommand: Command {
    static let spec = CommandSpec("digest", "print the SHA-256 of the replica's state (hex alone)",
        details: "Two replicas that have received the same operations print the same digest, whatever the order.",
        options: [.data])

    static func run(_ context: CommandContext) throws -> Int32 {
        context.output.print(try context.openReplica().digest().hexString)
        return 0
    }
}
