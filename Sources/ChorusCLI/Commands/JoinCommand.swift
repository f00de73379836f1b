import ChorusCore
import ChorusNode
import ChorusReplica
import Foundation

enum JoinCommand: Command {
    static let spec = CommandSpec("join", "set this replica's upstream (a hub or an office node)", arguments: "URL",
        details: """
        FILE holds the token printed by `chorus replicas add NAME` on the upstream. The token is read
        from the file at every sync, so it never appears in a command line or a log. Joining a
        different upstream starts its cursors over (re-sending is harmless).
        """,
        options: [.data, .json, OptionSpec(name: "--token-file", valueName: "FILE", help: "file holding the token (required)")],
        positional: 1...1)

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let tokenFile = context.arguments.value("--token-file") else { throw context.usageError("--token-file FILE is required") }
        try ServeLock.refuseWhileServed(folder: context.dataDirectory, command: "join")
        let replica = try context.openReplica()
        try join(replica: replica, url: context.positional(0), tokenFile: tokenFile, limits: replica.configuration.limits)
        if let warning = HTTPTransport.clearTextWarning(context.positional(0)) { context.output.error(warning) }
        let stored = try replica.upstream()!
        if context.isJSON {
            context.output.json(.object(["upstream": .string(stored.url), "tokenFile": .string(stored.tokenFile)]))
        } else {
            context.output.print("upstream set to \(stored.url); run `chorus sync` now, or `chorus serve` to sync in the background")
        }
        return 0
    }

    /// Validates and stores an upstream.
    static func join(replica: Replica, url: String, tokenFile: String, limits: Limits) throws {
        let upstream = try validated(url: url, tokenFile: tokenFile, limits: limits)
        try replica.setUpstream(url: upstream.url, tokenFile: upstream.tokenFile)
    }

    /// An upstream's address and token file as they are stored, once both are found good (the
    /// token file read): what `chorus serve --upstream` checks before it makes a replica.
    static func validated(url: String, tokenFile: String, limits: Limits) throws -> (url: String, tokenFile: String) {
        _ = try HTTPTransport.nodeURL(url)
        let absolute = tokenFile.hasPrefix("/") ? tokenFile : FileManager.default.currentDirectoryPath + "/" + tokenFile
        _ = try HTTPTransport.readToken(path: absolute, limits: limits)
        return (url.hasSuffix("/") ? String(url.dropLast()) : url, absolute)
    }
}
