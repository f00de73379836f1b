import ChorusCore
import ChorusReplica

/// A deterministic simulation of replicas exchanging operations over a faulty network
/// (after TigerBeetle's VOPR and FoundationDB's simulation testing).
///
/// From one seed: N real replicas (SQLite files) make random writes with clocks skewed up to an
/// hour, and gossip pages of their logs to each other over a network that drops, duplicates,
/// delays (so reorders) and partitions; replicas crash (memory lost, committed SQLite state kept)
/// and restart; new replicas join mid-way from a snapshot of a live one (protocol section 4.6), as
/// a new laptop does from its upstream; replicas compact their logs through what all the others
/// have acknowledged. Then the network heals, replicas exchange until quiet, and the outcome records
/// whether every digest is equal and every acknowledged write survived everywhere.
public final class Simulator {
    public struct Configuration {
        public var replicaCount = 5
        public var steps = 160
        public var dropProbability = 0.15
        public var duplicateProbability = 0.1
        public var crashProbability = 0.03
        public var partitionProbability = 0.03
        /// Chance per step that a new replica joins from a snapshot of a live one (at most `joinsMax`).
        public var joinProbability = 0.02
        public var joinsMax = 2
        /// Every this many steps a replica (each in turn) compacts its log through what every other
        /// has acknowledged (0: never). Draws nothing from the seed's generator, so a seed's other
        /// events are what they were before compaction existed.
        public var compactEverySteps = 16
        public var clockSkewMillisecondsMax: Int64 = 60 * 60 * 1000
        public var pageOperationsMax = 25
        public var faults = MergeFaults()
        public init() {}
    }

    public struct Outcome {
        public let seed: UInt64
        public let digests: [String]
        /// Acknowledged operation ids missing from some replica after healing.
        public let lostAcknowledged: [String]
        public let invariantProblems: [String]
        public let acknowledged: Int
        public let conflicts: Int
        public let crashes: Int
        /// Replicas that joined from a snapshot, and how many of them took its pages whole.
        public let joins: Int
        public let joinsTakingPages: Int
        /// Compactions that removed part of a log.
        public let compactions: Int
        /// Records whose entries compaction folded (`FoldedEntries`), and records a merge unfolded.
        public let folds: Int
        public let unfolds: Int
        /// Register values folding kept once, in their typed columns.
        public let valuesKeptInColumns: Int
        /// Replicas that started again from another's snapshot, holding data (`startAgain`).
        public let restarts: Int
        /// Times starting again was refused (nothing may change then).
        public let restartsRefused: Int
        public var converged: Bool { Set(digests).count == 1 && lostAcknowledged.isEmpty && invariantProblems.isEmpty }
        public var summary: String {
            "seed \(seed): \(Set(digests).count) distinct digests, \(lostAcknowledged.count) lost, \(invariantProblems.count) invariant problems, \(acknowledged) acknowledged writes, \(conflicts) conflicts, \(crashes) crashes, \(joins) joins (\(joinsTakingPages) taking pages), \(compactions) compactions, \(folds) folds (\(valuesKeptInColumns) values kept in columns), \(unfolds) unfolds, \(restarts) restarts, \(restartsRefused) refused"
        }
    }

    final class Node {
        let directory: String
        let clock: OffsetClock
        var replica: Replica?
        /// Sequence of our log that each peer has acknowledged (lost on crash: we resend, idempotently).
        var acknowledgedBy: [Int: Int64] = [:]
        init(directory: String, clock: OffsetClock) {
            self.directory = directory
            self.clock = clock
        }
    }

    struct Message {
        let deliverAt: UInt64
        let from: Int, to: Int
        let operations: [Operation]
        /// For acknowledgements: the sender's sequence the receiver now has.
        let acknowledgedThrough: Int64?
    }

    let seed: UInt64
    let configuration: Configuration
    var rng: SeededGenerator
    let time = ManualClock(milliseconds: 1_790_000_000_000)
    var nodes: [Node] = []
    var network: [Message] = []
    var partitions = Set<[Int]>()
    var acknowledged: [(id: OperationID, collection: String, record: String)] = []
    var crashes = 0
    var joins = 0
    var joinsTakingPages = 0
    var compactions = 0
    var folds = 0
    var unfolds = 0
    var valuesKeptInColumns = 0
    var restarts = 0
    var restartsRefused = 0
    /// Problems seen during the run that the final checks would not see (a refused restart that
    /// changed something).
    var runProblems: [String] = []
    let directory: String

    public init(seed: UInt64, configuration: Configuration = Configuration(), directory: String) throws {
        self.seed = seed
        self.directory = directory
        self.configuration = configuration
        self.rng = SeededGenerator(seed: seed)
        for _ in 0..<configuration.replicaCount { nodes.append(try newNode()) }
    }

    /// A new replica in its own folder, with a skewed clock and an id from the seed.
    func newNode() throws -> Node {
        let index = nodes.count
        let skew = Int64(rng.int(Int(2 * configuration.clockSkewMillisecondsMax + 1))) - configuration.clockSkewMillisecondsMax
        let node = Node(directory: "\(directory)/replica-\(index)", clock: OffsetClock(base: time, offsetMilliseconds: skew))
        var idGenerator = SeededGenerator(seed: seed &+ UInt64(index) &* 7919)
        node.replica = try Replica.create(at: .directory(node.directory), name: "r\(index)", configuration: replicaConfiguration(node), using: &idGenerator)
        return node
    }

    func replicaConfiguration(_ node: Node) -> Replica.Configuration {
        ReplicaFactory.configuration(clock: node.clock, driftMilliseconds: UInt64(2 * configuration.clockSkewMillisecondsMax + 60_000),
                                     faults: configuration.faults)
    }

    /// Runs the whole scenario and reports.
    public func run() throws -> Outcome {
        for step in 0..<configuration.steps {
            time.advance(by: UInt64(1 + rng.int(40)))
            try deliverDue()
            let roll = Double.random(in: 0..<1, using: &rng)
            if roll < 0.45 {
                try write(at: rng.int(nodes.count))
            } else if roll < 0.85 {
                let from = rng.int(nodes.count), to = rng.int(nodes.count)
                if from != to { try send(from: from, to: to, reliable: false) }
            } else if roll < 0.85 + configuration.crashProbability * 3 {
                try crashOrRestart(rng.int(nodes.count))
            } else if roll < 0.85 + configuration.crashProbability * 3 + configuration.joinProbability {
                try join()

            } else {
                let a = rng.int(nodes.count), b = rng.int(nodes.count)
                if a != b { if partitions.remove([min(a, b), max(a, b)]) == nil { partitions.insert([min(a, b), max(a, b)]) } }
            }
            if configuration.compactEverySteps > 0 && step % configuration.compactEverySteps == configuration.compactEverySteps - 1 {
                try compact(at: (step / configuration.compactEverySteps) % nodes.count)
            }
        }
        return try heal()
    }

    // MARK: Events

    func write(at index: Int) throws {
        guard let replica = nodes[index].replica else { return }
        let records = [("people", "p1"), ("people", "p2"), ("teams", "t1"), ("feedback", "f1")]
        let (collection, record) = rng.pick(records)
        let change: Change
        switch (collection, rng.int(12)) {
        case (_, 11): change = rng.chance(0.5) ? .delete : .restore
        case (_, 10) where rng.chance(0.1): change = .erase
        case ("people", 0...3): change = .put(field: "title", value: .string(rng.pick(["Engineer", "Lead", "Manager", "Coach"])))
        case ("people", 4...6): change = rng.chance(0.8) ? .mapSet(field: "skills", key: rng.pick(["swift", "sql"]), value: .integer(Int64(1 + rng.int(5))))
                                                         : .mapRemove(field: "skills", key: rng.pick(["swift", "sql"]))
        case ("people", _): change = rng.chance(0.7) ? .add(field: "guilds", element: rng.pick(["g1", "g2"])) : .remove(field: "guilds", element: rng.pick(["g1", "g2"]))
        case ("teams", 0...5): change = .put(field: "name", value: .string(rng.pick(["Web", "Data", "Core"])))
        case ("teams", _): change = .add(field: "members", element: rng.pick(["p1", "p2"]))
        case ("feedback", 0...3): change = .increment(field: "highFives", by: 1)
        case ("feedback", 4...7): change = .append(field: "comments", value: .string("comment \(rng.int(1000))"))
        default: change = .put(field: "body", value: .string("thanks \(rng.int(100))"))
        }
        do {
            let made = try replica.write(collection: collection, record: record, [change])
            acknowledged.append(contentsOf: made.map { ($0.id, collection, record) })
        } catch let error as ChorusError where [.invalidState, .recordDeleted, .recordErased, .recordNotFound].contains(error.code) {
            // Refused locally (nothing to remove, record deleted...): not acknowledged, nothing to check.
        }
    }

    func send(from: Int, to: Int, reliable: Bool) throws {
        guard let replica = nodes[from].replica else { return }
        let after = try resumePoint(replica, from: from, to: to)
        let page = try replica.log(after: after, limit: configuration.pageOperationsMax)
        guard let last = page.last else { return }
        let message = Message(deliverAt: time.nowMilliseconds() + UInt64(reliable ? 0 : rng.int(200)), from: from, to: to,
                              operations: page.compactMap(\.operation), acknowledgedThrough: last.sequence)
        enqueue(message, reliable: reliable)
    }

    func enqueue(_ message: Message, reliable: Bool) {
        if !reliable {
            if partitions.contains([min(message.from, message.to), max(message.from, message.to)]) { return }
            if rng.chance(configuration.dropProbability) { return }
            if rng.chance(configuration.duplicateProbability) {
                network.append(Message(deliverAt: message.deliverAt + UInt64(rng.int(300)), from: message.from, to: message.to,
                                       operations: message.operations, acknowledgedThrough: message.acknowledgedThrough))
            }
        }
        network.append(message)
    }

    /// Delivers every message due by now, in delivery-time order (ties by queue position).
    func deliverDue() throws {
        let now = time.nowMilliseconds()
        let due = network.enumerated().filter { $0.element.deliverAt <= now }.sorted { ($0.element.deliverAt, $0.offset) < ($1.element.deliverAt, $1.offset) }
        network = network.filter { $0.deliverAt > now }
        for (_, message) in due { try deliver(message, reliable: false) }
    }

    func deliver(_ message: Message, reliable: Bool) throws {
        if message.operations.isEmpty, let through = message.acknowledgedThrough {
            // An acknowledgement travelling back to the sender.
            if nodes[message.to].replica != nil {
                nodes[message.to].acknowledgedBy[message.from] = max(nodes[message.to].acknowledgedBy[message.from] ?? 0, through)
            }
            return
        }
        guard let replica = nodes[message.to].replica else { return }
        try replica.applyRemote(message.operations)
        if let through = message.acknowledgedThrough {
            enqueue(Message(deliverAt: time.nowMilliseconds() + UInt64(reliable ? 0 : rng.int(100)), from: message.to, to: message.from,
                            operations: [], acknowledgedThrough: through), reliable: reliable)
        }
    }

    /// A new replica joins from a snapshot of a live one: the copy written as an upstream writes
    /// it, taken as a client takes it. From then on it gossips like any other.
    func join(beyondMax: Bool = false) throws {
        let live = nodes.indices.filter { nodes[$0].replica != nil }
        guard beyondMax || joins < configuration.joinsMax, !live.isEmpty else { return }
        let source = nodes[rng.pick(live)].replica!
        let node = try newNode()
        let file = try Replica.writeSnapshot(of: source.location, schema: source.configuration.schema)
        defer { Replica.removeSnapshotFile(file.path) }
        let adoption = try node.replica!.adoptSnapshot(at: file.path, through: file.through, from: source.id)
        nodes.append(node)
        joins += 1
        if adoption.tookPages { joinsTakingPages += 1 }
    }

    /// Where `from` sends `to` from: what `to` acknowledged, and never below `from`'s compaction
    /// point. A crash loses acknowledgements (kept in memory here), but every replica had
    /// acknowledged through the point when `from` compacted (a later one joined from a snapshot
    /// holding all of it), as a registered replica's committed cursor, kept on disk, would say.
    func resumePoint(_ replica: Replica, from: Int, to: Int) throws -> Int64 {
        max(nodes[from].acknowledgedBy[to] ?? 0, try replica.compactionFloor())
    }

    /// A replica compacts its log through what every other replica has acknowledged (durably:
    /// acknowledgements come after the receiver commits), as an upstream does through what its
    /// registered replicas have committed. Acknowledgements are lost with a crash, so a restarted
    /// replica compacts nothing until the others acknowledge again; a replica that joins later
    /// takes a snapshot holding everything compacted away.
    func compact(at index: Int) throws {
        guard let replica = nodes[index].replica else { return }
        let bound = nodes.indices.filter { $0 != index }.map { nodes[index].acknowledgedBy[$0] ?? 0 }.min() ?? 0
        let report = try replica.compactLog(through: bound, keepAcknowledgedSeconds: 0)   // its peers are gossip, not an upstream restored from a backup
        if report.blocksRemoved > 0 { compactions += 1 }
        folds += report.recordsFolded
        valuesKeptInColumns += report.valuesKeptInColumns
    }

    func crashOrRestart(_ index: Int) throws {
        let node = nodes[index]
        if node.replica == nil {
            node.replica = try Replica.open(at: .directory(node.directory), configuration: replicaConfiguration(node))
        } else {
            // Crash: everything in memory goes; what SQLite committed stays.
            unfolds += node.replica?.recordsUnfolded ?? 0
            node.replica = nil
            node.acknowledgedBy = [:]
            crashes += 1
        }
    }

    // MARK: Healing and checking

    func heal() throws -> Outcome {
        partitions.removeAll()
        for (index, node) in nodes.enumerated() where node.replica == nil { try crashOrRestart(index) }
        time.advance(by: 10_000)
        try deliverDue()
        network.removeAll()
        try exchangeUntilQuiet()
        if configuration.compactEverySteps > 0 {
            // Every replica has acknowledged everything: each compacts its whole log, then one more
            // joins from a compacted replica's snapshot and the others send it what they still log.
            for index in nodes.indices { try compact(at: index) }
            try join(beyondMax: true)
            try exchangeUntilQuiet()
            try startAgain()
            try exchangeUntilQuiet()
        }
        var digests: [String] = []
        var lost: [String] = []
        var problems: [String] = []
        for (index, node) in nodes.enumerated() {
            let replica = node.replica!
            digests.append(try replica.digest().hexString)
            // An erased record's operations are gone by design (the right to be forgotten); every other
            // acknowledged operation must be in every log.
            for write in acknowledged where try !replica.hasOperation(write.id) && !replica.isErased(collection: write.collection, record: write.record) {
                lost.append("replica \(index) lacks \(write.id)")
            }
            problems += try replica.invariantViolations().map { "replica \(index): \($0)" }
        }
        problems += runProblems
        let conflicts = try nodes[0].replica!.conflicts().count
        unfolds += nodes.compactMap(\.replica).reduce(0) { $0 + $1.recordsUnfolded }
        return Outcome(seed: seed, digests: digests, lostAcknowledged: lost, invariantProblems: problems,
                       acknowledged: acknowledged.count, conflicts: conflicts, crashes: crashes, joins: joins, joinsTakingPages: joinsTakingPages, compactions: compactions,
                       folds: folds, unfolds: unfolds, valuesKeptInColumns: valuesKeptInColumns, restarts: restarts, restartsRefused: restartsRefused)
    }

    /// One replica holding data starts again from another's snapshot, as a laptop below its
    /// upstream's compaction point does (`Replica.adoptSnapshot(replacing:)`): it writes, sends
    /// all it logs to the other (its push), and takes the other's copy in place of its state, its
    /// log renumbered as the other's. What every replica then holds is checked as for the rest.
    func startAgain() throws {
        guard nodes.count >= 2 else { return }
        let index = rng.int(nodes.count), source = (index + 1) % nodes.count
        for _ in 0..<3 { try write(at: index) }
        let replica = nodes[index].replica!, upstream = nodes[source].replica!
        while true {
            let after = try resumePoint(replica, from: index, to: source)
            let page = try replica.log(after: after, limit: 500)
            guard let last = page.last else { break }
            try upstream.applyRemote(page.compactMap(\.operation))
            nodes[index].acknowledgedBy[source] = last.sequence
        }
        // The source as its upstream, everything pushed (a harness shortcut: `setUpstream` refuses
        // a compacted replica a first upstream, which a real laptop would have had all along).
        let latest = try replica.latestSequence()
        try replica.withDatabase {
            try $0.run("INSERT OR REPLACE INTO upstream(id, url, token_file, pull_cursor, push_cursor) VALUES (1, 'sim://r\(source)', '/dev/null', 0, ?)", latest)
        }
        let file = try Replica.writeSnapshot(of: upstream.location, schema: upstream.configuration.schema)
        defer { Replica.removeSnapshotFile(file.path) }
        let before = try replica.digest()
        do {
            _ = try replica.adoptSnapshot(at: file.path, through: file.through, from: upstream.id, replacing: true)
        } catch let error as ChorusError where error.code == .invalidState {
            // Refused: it holds an operation the copy lacks that it cannot excuse (one of a record
            // erased before it was sent, whose block its own compaction removed, looks like one
            // only it holds). Fail-safe, so nothing may have changed.
            restartsRefused += 1
            if try replica.digest() != before { runProblems.append("replica \(index): a refused restart changed its state") }
            return
        }
        nodes[index].acknowledgedBy = [:]   // its log is numbered anew
        restarts += 1
    }

    /// Reliable exchange, every replica to every other, until a full round moves nothing.
    func exchangeUntilQuiet() throws {
        for _ in 0..<50 {
            var moved = 0
            for from in nodes.indices {
                for to in nodes.indices where to != from {
                    while true {
                        let replica = nodes[from].replica!
                        let after = try resumePoint(replica, from: from, to: to)
                        let page = try replica.log(after: after, limit: 500)
                        guard let last = page.last else { break }
                        let report = try nodes[to].replica!.applyRemote(page.compactMap(\.operation))
                        moved += report.applied
                        nodes[from].acknowledgedBy[to] = last.sequence
                    }
                }
            }
            if moved == 0 { break }
        }
    }
}
