import ChorusCore
import ChorusNode
import ChorusSync

/// `--remote URL --token-file FILE`: run an admin command against a node over HTTP.
enum RemoteSupport {
    static let options = [
        OptionSpec(name: "--remote", valueName: "URL", help: "ask this node over HTTP instead of the local replica"),
        OptionSpec(name: "--token-file", valueName: "FILE", help: "with --remote: file holding an admin token of that node"),
    ]

    /// The admin client when `--remote` was given, nil for local work.
    static func client(_ context: CommandContext) throws -> AdminClient? {
        guard let url = context.arguments.value("--remote") else {
            if context.arguments.value("--token-file") != nil { throw context.usageError("--token-file goes with --remote") }
            return nil
        }
        guard let tokenFile = context.arguments.value("--token-file") else { throw context.usageError("--remote needs --token-file FILE (an admin token)") }
        let client = try AdminClient(url: url, tokenFile: tokenFile, limits: context.configuration.limits)
        if let warning = HTTPTransport.clearTextWarning(url) { context.output.error(warning) }
        return client
    }

    /// Runs a remote call, turning transport errors into CLI errors with hints.
    static func call<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SyncError {
            throw ChorusError(error.code, error.message,
                              hint: error.hint ?? (error.status == 401 || error.status == 403 ? "use an admin token of that node" : nil),
                              isRetryable: error.isRetryable)
        }
    }
}
