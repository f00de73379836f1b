import ChorusCore

/// Generates realistic operation sets from a seed, without a database: a few virtual replicas
/// make writes from what they know and exchange knowledge at random, so supersedes lists, observed
/// lists and concurrency look like the real thing. Used by the merge-algebra property tests.
///
/// Every field kind is covered, on collections with both delete policies, plus deletes, restores,
/// erasures and a collection no schema declares (to check unknown data is merged generically).
public struct WorkloadGenerator {
    public private(set) var rng: SeededGenerator
    let replicas: [ReplicaID]
    var known: [[Operation]]
    var knownIDs: [Set<OperationID>]
    var clocks: [HybridClock]
    var counters: [UInt64]
    let time: ManualClock

    /// The records operations target: (collection, record).
    static let targets: [(String, String)] = [("people", "p1"), ("people", "p2"), ("teams", "t1"), ("feedback", "f1"), ("future", "x1")]

    public init(seed: UInt64, replicaCount: Int = 3) {
        var rng = SeededGenerator(seed: seed)
        let replicas = (0..<replicaCount).map { _ in ReplicaID.random(using: &rng) }
        let time = ManualClock(milliseconds: 1_700_000_000_000)
        self.replicas = replicas
        self.known = Array(repeating: [], count: replicaCount)
        self.knownIDs = Array(repeating: [], count: replicaCount)
        self.clocks = (0..<replicaCount).map { index in
            HybridClock(wallClock: OffsetClock(base: time, offsetMilliseconds: Int64(index) * 7 - 5))
        }
        self.counters = Array(repeating: 0, count: replicaCount)
        self.time = time
        self.rng = rng
    }

    /// Every distinct operation made so far, in the order they were made.
    public var allOperations: [Operation] {
        var seen = Set<OperationID>()
        var result: [Operation] = []
        for list in known { for op in list where seen.insert(op.id).inserted { result.append(op) } }
        return result.sorted { ($0.timestamp, $0.id) < ($1.timestamp, $1.id) }
    }

    /// Runs `steps` random steps (writes and exchanges) and returns every operation made.
    public mutating func generate(steps: Int) -> [Operation] {
        for _ in 0..<steps {
            time.advance(by: UInt64(rng.int(3)))
            if rng.chance(0.3) {
                let from = rng.int(replicas.count), to = rng.int(replicas.count)
                if from != to { deliver(from: from, to: to, fraction: rng.chance(0.5) ? 1.0 : 0.5) }
            } else {
                write(by: rng.int(replicas.count))
            }
        }
        return allOperations
    }

    mutating func deliver(from: Int, to: Int, fraction: Double) {
        for op in known[from] where !knownIDs[to].contains(op.id) && (fraction >= 1 || rng.chance(fraction)) {
            known[to].append(op)
            knownIDs[to].insert(op.id)
            clocks[to].observe(op.timestamp)
        }
    }

    // MARK: What a virtual replica sees

    private func scope(_ op: Operation) -> String { "\(op.collection)/\(op.record)/\(op.field ?? "#record")" }

    /// Ids superseded in a scope, as replica `r` knows.
    private func superseded(by r: Int, collection: String, record: String, field: String) -> Set<OperationID> {
        var result = Set<OperationID>()
        for op in known[r] where op.collection == collection && op.record == record && (op.field ?? "#record") == field {
            switch op.action {
            case .delete: break
            default: result.formUnion(op.action.referencedOperations)
            }
        }
        return result
    }

    /// Live entries of (field, key) as replica `r` sees them; key nil means every key.
    private func live(_ r: Int, _ collection: String, _ record: String, _ field: String, key: String?) -> [OperationID] {
        let gone = superseded(by: r, collection: collection, record: record, field: field)
        return known[r].filter { op in
            guard op.collection == collection, op.record == record, op.field == field, !gone.contains(op.id) else { return false }
            switch op.action {
            case .set: return key == nil || key == ""
            case .add(let element): return key == nil || key == element
            case .mapSet(let k, _, _): return key == nil || key == k
            case .append: return key == nil || key == op.id.description
            default: return false
            }
        }.map(\.id)
    }

    private func liveDeletes(_ r: Int, _ collection: String, _ record: String) -> [OperationID] {
        let gone = superseded(by: r, collection: collection, record: record, field: "#record")
        return known[r].filter { op in
            guard op.collection == collection, op.record == record, !gone.contains(op.id), case .delete = op.action else { return false }
            return true
        }.map(\.id)
    }

    private func allLive(_ r: Int, _ collection: String, _ record: String) -> [OperationID] {
        let fields = Set(known[r].filter { $0.collection == collection && $0.record == record }.compactMap(\.field))
        return fields.sorted().flatMap { live(r, collection, record, $0, key: nil) }
    }

    // MARK: Writing

    mutating func write(by r: Int) {
        let (collection, record) = rng.pick(Self.targets)
        let action: Action
        var field: String? = nil
        let values: [JSONValue] = ["a", "b", 1, 2.5, true, .null, ["k": "v"], ["x", 1]]
        switch (collection, rng.int(10)) {
        case (_, 9) where rng.chance(0.5):
            action = .delete(observed: allLive(r, collection, record))
        case (_, 9):
            let deletes = liveDeletes(r, collection, record)
            guard !deletes.isEmpty else { return }
            action = .restore(supersedes: deletes)
        case (_, 8) where rng.chance(0.08):
            action = .erase(recordHash: Operation.recordHash(collection: collection, record: record))
        case ("people", 0...3), ("teams", 0...2), ("future", _):
            field = collection == "teams" ? "name" : "title"
            action = .set(value: rng.pick(values), supersedes: live(r, collection, record, field!, key: ""))
        case ("people", 4...6):
            field = "skills"
            let key = rng.pick(["swift", "sql"])
            if rng.chance(0.25) {
                let seen = live(r, collection, record, field!, key: key)
                guard !seen.isEmpty else { return }
                action = .mapRemove(key: key, supersedes: seen)
            } else {
                action = .mapSet(key: key, value: .integer(Int64(1 + rng.int(5))), supersedes: live(r, collection, record, field!, key: key))
            }
        case ("people", _), ("teams", _):
            field = collection == "teams" ? "members" : "guilds"
            let element = rng.pick(["g1", "g2"])
            if rng.chance(0.4) {
                let tags = live(r, collection, record, field!, key: element)
                guard !tags.isEmpty else { return }
                action = .remove(element: element, supersedes: tags)
            } else {
                action = .add(element: element)
            }
        case ("feedback", 0...2):
            field = "body"
            action = .set(value: rng.pick(values), supersedes: live(r, collection, record, field!, key: ""))
        case ("feedback", 3...5):
            field = "highFives"
            action = .increment(by: Int64(rng.pick([1, 1, 2, -1])))
        default:
            field = "comments"
            let entries = live(r, collection, record, field!, key: nil)
            if !entries.isEmpty && rng.chance(0.3) {
                action = .retract(supersedes: [rng.pick(entries)])
            } else {
                action = .append(value: rng.pick(values))
            }
        }
        counters[r] += 1
        let isErase: Bool = { if case .erase = action { return true }; return false }()
        let op = Operation(id: OperationID(replica: replicas[r], counter: counters[r]), timestamp: clocks[r].now(),
                           collection: collection, record: isErase ? "" : record, field: field, action: action)
        known[r].append(op)
        knownIDs[r].insert(op.id)
    }
}
