import ChorusCore
import ChorusNode
import ChorusReplica
import ChorusSync
import Foundation

/// A guided tour on loopback: hub, two offices and a laptop, offline edits, a conflict, convergence.
enum DemoCommand: Command {
    static let spec = CommandSpec("demo", "run a hub, two offices and a laptop on loopback and show them converge",
        details: """
        Creates four replicas in a temporary folder: a hub, office nodes in Stockholm and New York
        (relays syncing with the hub over HTTP), and a laptop syncing through Stockholm. It writes people
        data, cuts the laptop off, makes concurrent edits to one profile in both offices, heals, and
        shows the four digests equal and the conflict an admin would see. Leaves nothing running;
        --keep keeps the folder to look at.
        """,
        options: [.json, OptionSpec(name: "--keep", valueName: nil, help: "keep the replica folders and print where they are")])

    struct Member {
        let name: String
        let node: Node
        var executor: ReplicaExecutor { node.executor }
    }

    static func run(_ context: CommandContext) throws -> Int32 {
        let started = Date()
        let root = NSTemporaryDirectory() + "chorus-demo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if !context.arguments.flag("--keep") { try? FileManager.default.removeItem(atPath: root) } }
        func say(_ line: String) { if !context.isJSON { context.output.print(line) } }
        var generator = SystemRandomNumberGenerator()
        var configuration = Node.Configuration()
        configuration.port = 0
        configuration.syncIntervalSeconds = 3600  // the demo syncs by hand, step by step
        configuration.log = { _ in }

        func makeNode(_ name: String) throws -> Member {
            let replica = try Replica.create(at: .directory("\(root)/\(name)"), name: name, configuration: context.configuration, using: &generator)
            let node = Node(replica: replica, configuration: configuration)
            try node.start()
            return Member(name: name, node: node)
        }
        let hub = try makeNode("hub"), stockholm = try makeNode("stockholm"), newYork = try makeNode("new-york"), laptop = try makeNode("laptop")
        let members = [hub, stockholm, newYork, laptop]
        defer { members.forEach { $0.node.stop(graceSeconds: 2) } }
        say("1. started four nodes on loopback: hub :\(hub.node.port), stockholm :\(stockholm.node.port), new-york :\(newYork.node.port), laptop :\(laptop.node.port)")

        func register(_ child: Member, under parent: Member, role: Peer.Role) throws {
            let token = try parent.executor.perform { try $0.addPeer(name: child.name, role: role) }
            let file = "\(root)/\(child.name).token"
            guard FileManager.default.createFile(atPath: file, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ChorusError(.storage, "cannot write the token file \(file)", hint: "check that the demo folder is writable")
            }
            try child.executor.perform { try $0.setUpstream(url: "http://127.0.0.1:\(parent.node.port)", tokenFile: file) }
        }
        try register(stockholm, under: hub, role: .relay)
        try register(newYork, under: hub, role: .relay)
        try register(laptop, under: stockholm, role: .replica)
        say("2. registered stockholm and new-york as relays on the hub, the laptop as a replica on stockholm")

        func sync(_ member: Member) throws -> SyncReport {
            guard let upstream = try member.executor.perform({ try $0.upstream() }) else { return SyncReport() }
            return try member.node.syncOnce(upstream: upstream, compareDigests: true)
        }
        func syncUntilQuiet(_ order: [Member]) throws -> Int {
            var rounds = 0
            while rounds < 10 {
                rounds += 1
                var moved = 0
                for member in order {
                    let report = try sync(member)
                    moved += report.pushApplied + report.pullApplied
                }
                if moved == 0 { break }
            }
            return rounds
        }

        try hub.executor.perform { replica in
            let people: [(String, String, String, String)] = [
                ("p-ada", "Ada Lovelace", "Engineer", "Stockholm"), ("p-grace", "Grace Hopper", "Engineering Manager", "New York"),
                ("p-alan", "Alan Turing", "Data Scientist", "Stockholm"), ("p-katherine", "Katherine Johnson", "Product Owner", "New York"),
            ]
            for (id, name, title, office) in people {
                try replica.write(collection: "people", record: id, [.put(field: "name", value: .string(name)),
                                                                      .put(field: "title", value: .string(title)),
                                                                      .put(field: "office", value: .string(office))])
            }
            try replica.write(collection: "people", record: "p-ada", [.mapSet(field: "skills", key: "swift", value: 4), .add(field: "guilds", element: "g-web")])
            try replica.write(collection: "teams", record: "t-core", [.put(field: "name", value: "Core"), .put(field: "kind", value: "squad"),
                                                                      .add(field: "members", element: "p-ada"), .add(field: "members", element: "p-alan")])
        }
        let rounds = try syncUntilQuiet([stockholm, newYork, laptop])
        say("3. wrote 4 people and a squad at the hub; every node has them after \(rounds) sync rounds")

        try laptop.executor.perform { replica in
            try replica.write(collection: "people", record: "p-ada", [.mapSet(field: "skills", key: "sql", value: 3),
                                                                     .add(field: "developmentGoals", element: "machine-learning")])
        }
        say("4. the laptop goes offline (on a plane) and adds skills to Ada's profile")

        _ = try stockholm.executor.perform { try $0.write(collection: "people", record: "p-ada", [.put(field: "title", value: "Staff Engineer")]) }
        _ = try newYork.executor.perform { try $0.write(collection: "people", record: "p-ada", [.put(field: "title", value: "Tech Lead")]) }
        _ = try sync(stockholm)
        _ = try sync(newYork)
        say("5. Stockholm sets Ada's title to \"Staff Engineer\" while New York sets it to \"Tech Lead\"; both offices sync with the hub")

        let healRounds = try syncUntilQuiet([laptop, stockholm, newYork, laptop])
        say("6. the laptop lands and syncs through Stockholm; \(healRounds) rounds until nothing moves")

        let digests = try members.map { member in (member.name, try member.executor.perform { try $0.digest().hexString }) }
        let conflicts = try hub.executor.perform { try $0.conflicts() }
        let ada = try hub.executor.perform { try $0.get(collection: "people", record: "p-ada") }
        let converged = Set(digests.map(\.1)).count == 1
        let names = Dictionary(uniqueKeysWithValues: members.map { member in (member.executor.perform { $0.id }, member.name) })
        if context.isJSON {
            context.output.json(.object([
                "digests": .object(Dictionary(uniqueKeysWithValues: digests.map { ($0.0, JSONValue.string($0.1)) })),
                "converged": .bool(converged), "conflicts": .array(conflicts.map(\.json)), "ada": ada?.json ?? .null,
                "seconds": .double((Date().timeIntervalSince(started) * 10).rounded() / 10),
                "kept": context.arguments.flag("--keep") ? .string(root) : .null,
            ]))
        } else {
            say("7. digests:")
            for (name, digest) in digests { say("     \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(digest)") }
            say(converged ? "   all four replicas are identical" : "   REPLICAS DIFFER (this is a bug; please report it)")
            say("8. what an admin sees at the hub (`chorus conflicts`):")
            for conflict in conflicts {
                say("     \(conflict.collection)/\(conflict.record) \(conflict.field ?? "(record)"): \(conflict.siblings.count) live values")
                for sibling in conflict.siblings {
                    let who = names[sibling.replica] ?? Format.short(sibling.replica)
                    say("       \(sibling.operation == conflict.displayed ? "*" : " ") \(Format.value(sibling.value)) (written at \(who), \(Format.time(sibling.timestamp)))")
                }
                say("       why: \(conflict.rule)")
            }
            if let ada { say("   Ada's profile everywhere: title \(Format.value(ada.fields["title"] ?? .null)), skills \(Format.value(ada.fields["skills"] ?? .null)), goals \(Format.value(ada.fields["developmentGoals"] ?? .null))") }
            say(String(format: "done in %.1f s%@", Date().timeIntervalSince(started), context.arguments.flag("--keep") ? "; replicas kept in \(root)" : ""))
        }
        return converged ? 0 : 1
    }
}
