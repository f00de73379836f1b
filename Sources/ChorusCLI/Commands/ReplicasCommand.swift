import ChorusCore
import ChorusReplica
import Foundation

enum ReplicasCommand: Command {
    static let spec = CommandSpec("replicas", "register, list and revoke the replicas that sync with this node",
        arguments: "(add NAME [--role replica|relay|admin] [--replica ID] [--person ID] | list | revoke NAME | health)",
        details: """
        add     registers NAME and prints its 256-bit token once: save it to a file on that replica and
                pass the file to `chorus join` / `chorus serve --token-file`. Only the token's SHA-256 is
                stored. Roles: replica (a laptop; pushes its own operations), relay (an office node;
                also relays the replicas registered below it), admin (admin routes only).
                A new token takes the replica id it first presents, if nobody here knows that id.
                For a replica this node already knows (a new token after `revoke`, or a laptop that
                synced through an office and now syncs here), name its id with --replica ID
                (`chorus status` on that replica shows it).
                With --person ID, the replica is that person's laptop: every write it pushes must be
                theirs (made as them, and naming nobody else as giver, author, owner or commenter),
                or the push is refused; the laptop learns whose it is at its next sync and refuses
                such writes itself. Without it, a replica is trusted as its operator is (any name).
        list    the registered replicas, their role, person, bound replica id and when last seen.
        revoke  stops NAME's token working, from its next request.
        health  every replica known here or below: last seen, last sync, operations waiting each way,
                lag (age of the oldest operation it has not acknowledged), clock skew, last reported
                digest; flags silent (not seen for --silent-days), skewed-clock, revoked (nothing
                waits for a revoked replica, and it has no lag: "-").
        """,
        options: [.data, .json,
                  OptionSpec(name: "--role", valueName: "ROLE", help: "replica (default), relay or admin"),
                  OptionSpec(name: "--replica", valueName: "ID", help: "with add: bind the token to this replica id (32 hex digits) at once"),
                  OptionSpec(name: "--person", valueName: "ID", help: "with add: the replica is this person's laptop; it pushes only their writes"),
                  OptionSpec(name: "--token-file", valueName: "FILE", help: "with add: write the token to FILE (mode 0600) instead of printing it; with --remote: an admin token"),
                  OptionSpec(name: "--remote", valueName: "URL", help: "with health: ask this node over HTTP"),
                  OptionSpec(name: "--silent-days", valueName: "DAYS", help: "with health: flag replicas not seen for this long, 0 to 3650 (default 7; fractions allowed)")],
        positional: 1...2)

    /// Each subcommand's count of arguments, itself included.
    static let subcommands = ["add": 2, "list": 1, "revoke": 2, "health": 1]

    static func run(_ context: CommandContext) throws -> Int32 {
        // The subcommand and the options it takes are checked before anything is opened: `add`
        // with `--remote` registered the replica here, not at the remote node, and wrote its token
        // over the admin token file `--token-file` named (a read-only audit).
        let subcommand = context.positional(0)
        guard let count = subcommands[subcommand], count == context.arguments.positional.count else {
            throw context.usageError("expected `add NAME`, `list`, `revoke NAME` or `health`")
        }
        try context.refuseOptions(notTakenBy: subcommand, ["--remote": ["health"], "--silent-days": ["health"], "--role": ["add"], "--replica": ["add"],
                                                           "--person": ["add"], "--token-file": ["add", "health"]])
        if subcommand == "health" { return try health(context) }
        let replica = try context.openReplica()
        switch (context.positional(0), context.arguments.positional.count) {
        case ("add", 2):
            let roleText = context.arguments.value("--role") ?? "replica"
            guard let role = Peer.Role(rawValue: roleText) else { throw context.usageError("--role must be replica, relay or admin") }
            let name = context.positional(1)
            let bound = try context.arguments.value("--replica").map { text -> ReplicaID in
                guard let id = ReplicaID(hex: text) else { throw context.usageError("--replica must be a replica id: 32 hex digits, as `chorus status` shows it") }
                return id
            }
            // The token file's place is checked, and a new file made beside it, before the replica
            // is registered: a file that could not be written once left it registered with a token
            // nobody had. The file is put in place inside the registration's transaction, before
            // its commit, so a kill between the two no longer leaves a name registered with a
            // token nobody has; a refused `add` (a name taken) leaves an existing token file as it was.
            let tokenFile = try context.arguments.value("--token-file").map { file -> OutputFile.Replacement in
                try OutputFile.check(file, option: "--token-file", replicaFolder: context.dataDirectory, context)
                return try OutputFile.Replacement(file, mode: 0o600, hint: "check that its folder exists and is writable by this user; nothing was registered")
            }
            let token: String
            let person = context.arguments.value("--person")
            var fileTried = false, fileInPlace = false
            // Read before the registration, which moves the id to the new token.
            let boundBefore = bound == nil || person != nil || role != .replica ? nil
                : try replica.peers().last(where: { $0.replica == bound && $0.person != nil })
            do {
                token = try replica.addPeer(name: name, role: role, replica: bound, person: person) { token in
                    fileTried = true
                    try tokenFile?.commit(Array((token + "\n").utf8), hint: "check that its folder exists and is writable by this user; nothing was registered")
                    fileInPlace = tokenFile != nil
                }
            } catch {
                if !fileTried { tokenFile?.abandon() }   // a commit that failed closed and removed it
                // The registration failed after the file was put in place (its commit): the
                // token there is valid nowhere, and what the path held before is put back.
                if fileInPlace, let tokenFile {
                    let restored = tokenFile.putBack()
                    let message = (error as? ChorusError)?.message ?? "\(error)"
                    throw ChorusError(.storage, "\(message); nothing was registered, and \(tokenFile.path) " + (restored ? "holds what it held before" : "was removed: its token was valid nowhere"),
                                      hint: "check the replica folder's free space, then run the same `replicas add` again")
                }
                throw error
            }
            tokenFile?.forgetOld()
            // A new token for a replica whose last one was bound to a person, without --person:
            // the laptop is now trusted with any name. Said, since the guide's rotation once did
            // this unnoticed; meant, it stands.
            if let before = boundBefore {
                context.output.error("warning: \(before.name), this replica's earlier token, was registered for \(before.person!); \(name) is for no one person, so writes from it in anyone's name are taken. To keep it bound: `chorus replicas revoke \(name)`, then add it again with --person \(before.person!)")
            }
            if context.isJSON {
                // With a token file, the file alone holds the token, for scripts as for people.
                let (key, value) = context.arguments.value("--token-file").map { ("tokenFile", $0) } ?? ("token", token)
                context.output.json(.object(["name": .string(name), "role": .string(role.rawValue), key: .string(value),
                                             "person": person.map(JSONValue.string) ?? .null]))
            } else if let file = context.arguments.value("--token-file") {
                // Written to the file only: printed, it would stay in the terminal's scrollback.
                context.output.print("registered \(name) as \(role.rawValue)\(person.map { " for \($0)" } ?? ""); its token is in \(file) (mode 0600), shown nowhere else: give that file to the replica's operator")
            } else {
                context.output.print(token)
                context.output.error("registered \(name) as \(role.rawValue)\(person.map { " for \($0)" } ?? ""). The token above is shown once: save it to a file on that replica.")
            }
        case ("list", 1):
            let peers = try replica.peers()
            if context.isJSON {
                context.output.json(.array(peers.map(\.json)))
            } else if peers.isEmpty {
                context.output.print("no replicas registered; add one with `chorus replicas add NAME`")
            } else {
                context.output.print(Format.table([["NAME", "ROLE", "PERSON", "REPLICA", "LAST SEEN", "STATE"]] + peers.map { peer in
                    // An admin token binds no replica id; a revoked one loses its id to the new
                    // token the replica was given (`add --replica`).
                    [peer.name, peer.role.rawValue, peer.person ?? "-",
                     peer.replica.map { Format.short($0) } ?? (peer.role == .admin ? "(admins bind none)" : peer.isRevoked ? "(none, or moved to a new token)" : "(not yet)"),
                     peer.lastSeenWall.map { Format.time(HybridTimestamp(wall: $0, logical: 0)) } ?? "never",
                     peer.isRevoked ? "revoked" : "active"]
                }))
            }
        case ("revoke", 2):
            try replica.revokePeer(name: context.positional(1))
            if context.isJSON {
                context.output.json(.object(["revoked": .string(context.positional(1))]))
            } else {
                context.output.print("revoked \(context.positional(1)): its token stops working from its next request")
            }
        default:
            throw context.usageError("expected `add NAME`, `list`, `revoke NAME` or `health`")
        }
        return 0
    }

    static func health(_ context: CommandContext) throws -> Int32 {
        guard let days = Double(context.arguments.value("--silent-days") ?? "7"), days >= 0, days <= 3650 else {
            throw context.usageError("--silent-days must be 0 to 3650")
        }
        let silentSeconds = Int64(days * 86_400)
        let remote = try RemoteSupport.client(context)
        let rows: [JSONValue] = try RemoteSupport.call {
            if let remote {
                return try remote.get("admin/v1/replicas", query: ["silentAfterSeconds": String(silentSeconds)])["replicas"]?.arrayValue ?? []
            }
            return try context.openReplica().replicaHealth(silentAfterMilliseconds: silentSeconds * 1000).map(\.json)
        }
        if context.isJSON {
            context.output.json(.array(rows))
            return 0
        }
        if rows.isEmpty {
            context.output.print("no replicas registered here")
            return 0
        }
        func time(_ value: JSONValue?) -> String {
            value?.integerValue.map(Format.time(unixMilliseconds:)) ?? "never"
        }
        func duration(_ value: JSONValue?) -> String {
            guard let ms = value?.integerValue else { return "-" }
            return (ms < 0 ? "-" : "") + HybridClock.describe(milliseconds: ms.magnitude)
        }
        context.output.print(Format.table([["NAME", "ROLE", "LAST SEEN", "LAST SYNC", "DOWN", "UP", "LAG", "SKEW", "DIGEST", "FLAGS"]] + rows.map { row in
            [row["name"]?.stringValue ?? "", row["role"]?.stringValue ?? "", time(row["lastSeen"]), time(row["lastSync"]),
             row["waitingDown"]?.integerValue.map(String.init) ?? "-", row["waitingUp"]?.integerValue.map(String.init) ?? "-",
             duration(row["lagMilliseconds"]), duration(row["skewMilliseconds"]),
             row["digestMatched"]?.boolValue.map { $0 ? "matched" : "differs" } ?? "-",
             (row["flags"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")]
        }))
        return 0
    }
}
