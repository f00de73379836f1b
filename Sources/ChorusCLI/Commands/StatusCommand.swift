import ChorusCore
import ChorusReplica
import SQLiteKit

enum StatusCommand: Command {
    static let spec = CommandSpec("status", "show the replica's id, name, counts and schema version", options: [.data, .json])

    static func run(_ context: CommandContext) throws -> Int32 {
        let replica = try context.openReplica()
        let stats = try replica.statistics()
        let migrations = try replica.appliedMigrations()
        let sequence = try replica.latestSequence()
        let upstream = try replica.upstream()
        var fields: [(String, JSONValue)] = [
            ("replica", .string(replica.id.hex)), ("name", .string(replica.name)), ("data", .string(context.dataDirectory)),
            ("operations", .integer(stats.operations)), ("records", .integer(stats.records)),
            ("conflicts", .integer(stats.conflicts)), ("erasedRecords", .integer(stats.erased)),
            ("latestSequence", .integer(sequence)), ("compactedThrough", .integer(try replica.compactionFloor())), ("schemaVersion", .integer(Int64(replica.configuration.schema.version))),
            ("migrations", .array(migrations.map(JSONValue.string))),
            ("clock", .string(replica.lastTimestamp.description)), ("sqlite", .string(Database.libraryVersion)),
            ("registeredReplicas", .integer(Int64(try replica.peers().count))),
        ]
        // What a new replica's snapshot carries of the history, and who holds it back.
        let hold = try replica.snapshotHistoryHold()
        if context.isJSON {
            fields.append(("snapshotHistory", hold?.json ?? .null))
        } else if let hold {
            let who: String
            switch hold.holder {
            case .replica(let name): who = "replica \(name)"
            case .upstream, .requested, .upstreamRecently: who = "the upstream"
            case .unexported: who = "what is not exported yet"
            }
            // New replicas' snapshots carry the log after it: revoke a replica that is gone.
            fields.append(("snapshotHistory", .string("log after \(hold.sequence), held by \(who)")))
        }
        if let upstream {
            fields += [
                ("upstream", .string(upstream.url)),
                // Its replica id, as its first sync learnt it: what its own operations carry
                // (`chorus log` lists them; the diverged hint sends the operator here).
                ("upstreamReplica", upstream.replica.map { .string($0.hex) } ?? (context.isJSON ? .null : "not known before the first sync")),
                ("waitingToPush", .integer(try replica.pendingPushCount())),
                ("lastSync", upstream.lastSuccessWall.map { .string(Format.time(HybridTimestamp(wall: $0, logical: 0))) } ?? .string("never")),
                ("lastSyncError", upstream.lastError.map(JSONValue.string) ?? .null),
                ("upstreamClockSkewMilliseconds", upstream.observedSkewMilliseconds.map { .integer($0) } ?? .null),
                // Whose laptop the upstream says this is: writes here are that person's.
                ("person", upstream.person.map(JSONValue.string) ?? (context.isJSON ? .null
                    : upstream.lastSuccessWall == nil ? "not known before the first sync" : "anyone (registered for no one person)")),
            ]
            // Writes the upstream refused, set aside (`chorus sync --set-aside-refused`).
            let setAside = try replica.setAsideCounts()
            fields.append(("setAside", context.isJSON || setAside.setAside == 0 ? .integer(setAside.setAside)
                                                    : .string("\(setAside.setAside == 1 ? "1 operation" : "\(setAside.setAside) operations") (`chorus set-aside` lists them)")))
            if setAside.pending > 0 {
                fields.append(("setAsidePending", context.isJSON ? .integer(setAside.pending)
                                                                 : .string("\(setAside.pending): run `chorus sync`")))
            }
        } else {
            fields.append(("upstream", context.isJSON ? .null : "none (standalone; `chorus join` connects to a hub)"))
        }
        if context.isJSON {
            context.output.json(.object(Dictionary(uniqueKeysWithValues: fields)))
        } else {
            context.output.print(Format.table(fields.map { name, value in
                // The last sync's error whole: cut, it lost what to do (in how long a clock's refusal ends).
                [name, value.arrayValue.map { $0.map { Format.value($0) }.joined(separator: ", ") }
                    ?? Format.value(value, width: name == "lastSyncError" ? 1000 : 60)]
            }))
        }
        return 0
    }
}
