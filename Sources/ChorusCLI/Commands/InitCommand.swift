import ChorusCore
import ChorusReplica
import Foundation

enum InitCommand: Command {
    static let spec = CommandSpec("init", "create a new replica in the data folder",
        details: "Creates DIR/chorus.sqlite with a fresh random replica id. Fails if DIR already holds a database (an empty chorus.sqlite is replaced).",
        options: [.data, OptionSpec(name: "--name", valueName: "NAME", help: "a name people recognise (default: this host's name)"), .json])

    static func run(_ context: CommandContext) throws -> Int32 {
        var generator = SystemRandomNumberGenerator()
        let replica = try Replica.create(at: .directory(context.dataDirectory), name: context.replicaName,
                                         configuration: context.configuration, using: &generator)
        if context.isJSON {
            context.output.json(.object(["replica": .string(replica.id.hex), "name": .string(replica.name), "data": .string(context.dataDirectory)]))
        } else {
            context.output.print("initialised replica \(replica.id.hex) (\(replica.name)) in \(context.dataDirectory)")
        }
        return 0
    }
}
