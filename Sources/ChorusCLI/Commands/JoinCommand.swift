import ChorusCore
import ChorusNode
import ChorusReplica
import ChorusSync
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
        let reached = reach(replica: replica, url: stored.url, tokenFile: stored.tokenFile)
        if context.isJSON {
            var json: [String: JSONValue] = ["upstream": .string(stored.url), "tokenFile": .string(stored.tokenFile)]
            switch reached {
            case .success(let name): json["checked"] = .object(["ok": true, "upstreamName": .string(name)])
            case .failure(let error): json["checked"] = .object(["ok": false, "code": .string(error.code.rawValue), "message": .string(error.message)])
            }
            context.output.json(.object(json))
            return 0
        }
        context.output.print("upstream set to \(stored.url); run `chorus sync` now, or `chorus serve` to sync in the background")
        switch reached {
        case .success(let name):
            context.output.print("reached \(name) there, which took the token")
        case .failure(let error):
            // Set all the same: a laptop joins before it goes online, and a hub may be down.
            context.output.error(error.isRetryable || error.answeredByOther
                                 ? "note: the upstream was not reached now, so the URL and token are not checked: \(error.message)"
                                 : "warning: the upstream refused this replica: \(error.message)")
            context.output.error("hint: \(error.hint ?? "check the URL and the network"); the upstream is set all the same, and each sync tries it")
        }
        return 0
    }

    /// How long `join` waits for the upstream to answer, in seconds (four times this for the whole
    /// answer): a laptop joining offline is not held up long.
    static let reachSeconds = 1.0

    /// The upstream's name, asked once (`/sync/v1/info`, which changes nothing there) with the
    /// token, so a wrong URL, port or token is said at `join`, not at the first sync; or why not.
    static func reach(replica: Replica, url: String, tokenFile: String) -> Result<String, SyncError> {
        var limits = replica.configuration.limits
        limits.syncRequestTimeoutSeconds = reachSeconds
        do {
            let transport = HTTPTransport(baseURL: try HTTPTransport.nodeURL(url), token: try HTTPTransport.readToken(path: tokenFile, limits: limits),
                                          replica: replica.id, limits: limits, wallClock: replica.configuration.wallClock)
            return .success(try transport.info(ownOperations: false).server.name)
        } catch let error as SyncError {
            return .failure(error)
        } catch {
            return .failure(SyncError(status: 0, "\(error)"))
        }
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
