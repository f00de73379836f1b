import ChorusCore
import ChorusReplica
import Foundation
import SQLiteKit

/// One line of the results table.
struct Figure {
    let section: String
    let key: String
    let label: String
    let value: String
    let detail: String
}

/// The figures a run collects, by key, for ratios and the docs.
final class Results: @unchecked Sendable {
    var figures: [Figure] = []
    /// The section new figures belong to (printed as a header).
    var section = "" { didSet { print("\(section):") } }
    var numbers: [String: Double] = [:]

    func add(_ key: String, _ label: String, _ stats: Stats, unit: String, scale: Double = 1, digits: Int = 1) {
        numbers[key] = stats.median * scale
        figures.append(Figure(section: section, key: key, label: label, value: "\(format(stats.median * scale, digits)) \(unit)",
                              detail: "min \(format(stats.min * scale, digits)), max \(format(stats.max * scale, digits)), n=\(stats.samples.count)"))
        print(String(format: "  %-62@ %14@   %@", label as NSString, "\(format(stats.median * scale, digits)) \(unit)" as NSString,
                     "(min \(format(stats.min * scale, digits)), max \(format(stats.max * scale, digits)))" as NSString))
    }

    func note(_ key: String, _ label: String, _ value: Double, unit: String, digits: Int = 1, detail: String = "") {
        numbers[key] = value
        figures.append(Figure(section: section, key: key, label: label, value: "\(format(value, digits)) \(unit)", detail: detail))
        print(String(format: "  %-62@ %14@   %@", label as NSString, "\(format(value, digits)) \(unit)" as NSString, detail as NSString))
    }
}

/// The raw ceiling: the same rows through our SQLite wrapper with no CRDT metadata.
enum RawBenchmarks {
    static func table(_ db: Database) throws {
        try db.execute("CREATE TABLE people(id INTEGER PRIMARY KEY, " + Workloads.fields.map { "\($0) TEXT" }.joined(separator: ", ") + ")")
    }

    static let insertSQL = "INSERT INTO people VALUES (?, " + Workloads.fields.map { _ in "?" }.joined(separator: ", ") + ")"

    static func bulkInsert(_ db: Database, rows: Int) throws {
        try db.transaction {
            for index in 0..<rows {
                try db.run(insertSQL, parameters: [index] + Workloads.fields.map { "v \($0) \(index)" })
            }
        }
    }

    static func run(_ results: Results, rows: Int, updates: Int, commits: Int, repetitions: Int) throws {
        results.section = "raw SQLite (WAL, synchronous=FULL): the ceiling"
        let insert = try repeated(repetitions, setup: { () -> (Scratch, Database) in
            let scratch = try Scratch("raw")
            let db = try Database(path: scratch.file("raw.sqlite"))
            try table(db)
            return (scratch, db)
        }) { state in
            try bulkInsert(state.1, rows: rows)
            state.0.remove()
        }
        results.add("rawInsert", "bulk insert \(rows) rows x 10 columns, one transaction", insert, unit: "ms", scale: 1000)
        results.note("rawInsertRate", "  = rows per second", Double(rows) / insert.median, unit: "rows/s", digits: 0)

        let update = Stats(samples: try (0..<repetitions).map { _ in try updateRepetition(rows: rows, updates: updates) })
        results.add("rawUpdate", "\(updates) single-column updates on \(rows) rows, one transaction", update, unit: "ms", scale: 1000)
        results.note("rawUpdateRate", "  = updates per second", Double(updates) / update.median, unit: "updates/s", digits: 0)
        try durableCommit(results, commits: commits, repetitions: repetitions)
    }

    /// One repetition of the raw updates: `updates` single-column updates on `rows` rows (written
    /// first, untimed) in one transaction; its time.
    static func updateRepetition(rows: Int, updates: Int) throws -> Double {
        var stolen = StolenShare()
        return try updateRepetition(rows: rows, updates: updates, stolen: &stolen)
    }

    /// One repetition of the raw updates, adding the host's steal during them to `stolen`.
    static func updateRepetition(rows: Int, updates: Int, stolen: inout StolenShare) throws -> Double {
        let scratch = try Scratch("raw")
        defer { scratch.remove() }
        let db = try Database(path: scratch.file("raw.sqlite"))
        try table(db)
        try bulkInsert(db, rows: rows)
        stolen.start()
        defer { stolen.stop() }
        return try time {
            try db.transaction {
                for index in 0..<updates {
                    let field = Workloads.fields[index % 10]
                    try db.run("UPDATE people SET \(field) = ? WHERE id = ?", "u \(index)", index % rows)
                }
            }
        }
    }

    /// Single-row durable commits: the ceiling for P2.
    static func durableCommit(_ results: Results, commits: Int, repetitions: Int) throws {
        let scratch = try Scratch("raw")
        defer { scratch.remove() }
        let db = try Database(path: scratch.file("raw.sqlite"))
        try table(db)
        let commit = try latencyPercentiles(repetitions, samples: commits) { index in
            try time { try db.transaction { try db.run(insertSQL, parameters: [index] + Workloads.fields.map { "v \($0)" }) } }
        }
        results.add("rawCommitP50", "single-row durable commit, p50 (\(commits) commits a repetition)", commit.p50, unit: "ms", scale: 1000, digits: 3)
        results.add("rawCommitP99", "single-row durable commit, p99", commit.p99, unit: "ms", scale: 1000, digits: 3)
    }
}

/// P1 and P2: merging remote operations and local writes, durably.
enum EngineBenchmarks {
    /// With `raw` (rows, updates), the raw updates P1's target divides by are measured again
    /// beside the merges into an empty replica, a repetition of each in turn, as P2 to P5 do
    /// with theirs: measured a minute apart, before P1, a slow phase of the machine fell on one
    /// side of the ratio only (two full runs of four in the thirty-third round: the merges at 264
    /// to 380 ms against 210 to 234 ms in the others, the raw updates as fast as ever).
    static func merge(_ results: Results, people: Int, repetitions: Int, raw: (rows: Int, updates: Int)? = nil) throws {
        results.section = "P1 merge \(people * 10) remote field operations (\(people) people x 10 fields), durably"
        let sourceScratch = try Scratch("source")
        defer { sourceScratch.remove() }
        let source = try Workloads.sourceReplica(at: sourceScratch.file("a"), people: people, seed: 1)
        let operations = try Workloads.operations(of: source)
        let concurrent = try Workloads.operations(of: try Workloads.sourceReplica(at: sourceScratch.file("b"), people: people, seed: 2, label: "w"))

        var rawUpdates: [Double] = []
        var rawStolen = StolenShare()
        let (merges, onCore, cores, checkpoints, mergesStolen) = try timedMerges(operations, repetitions: repetitions, seed: 10) {
            if let raw { rawUpdates.append(try RawBenchmarks.updateRepetition(rows: raw.rows, updates: raw.updates, stolen: &rawStolen)) }
        }
        let empty = Stats(samples: merges)
        results.add("p1Empty", "into an empty replica", empty, unit: "ms", scale: 1000, digits: 0)
        results.note("p1EmptyRate", "  = operations per second", Double(operations.count) / empty.median, unit: "ops/s", digits: 0)
        if let raw, !rawUpdates.isEmpty {
            let beside = Stats(samples: rawUpdates)
            results.add("p1RawUpdate", "  raw: \(raw.updates) single-column updates on \(raw.rows) rows beside it, alternating with the merges", beside,
                        unit: "ms", scale: 1000)
            results.note("p1RawUpdateRate", "  = updates per second", Double(raw.updates) / beside.median, unit: "updates/s", digits: 0)
            // The target's ratio, printed here too so that `--only-merge` alone says it.
            results.note("p1RawShare", "  the merge's rate, as a share of the raw update rate",
                         (Double(operations.count) / empty.median) / (Double(raw.updates) / beside.median) * 100, unit: "%", digits: 1)
        }
        // Where the rest of the time goes: the merging thread waiting (the disk, another thread).
        results.note("p1EmptyOnCore", "  merging thread on a core, share of the merge's time", Stats(samples: onCore).median * 100, unit: "%", digits: 0)
        // The threads beside it (operations prepared and checked ahead, folded bodies encoded)
        // make the merge use more than one core, where the raw updates use one: a run in which
        // something else holds part of the second core slows the merge and not the raw updates
        // (performance-notes, thirty-sixth round). This says how much the merge had.
        results.note("p1EmptyCores", "  all its threads together, cores busy during the merge", Stats(samples: cores).median, unit: "cores", digits: 2)
        // What the host took from the machine meanwhile, on each side: whether a run in which the
        // merge is slow and the raw updates are not is the host's steal (performance-notes,
        // forty-eighth round: it was not, in that round's runs).
        if let stolen = mergesStolen.percent {
            results.note("p1EmptyStolen", "  processor time taken by the host (steal) during the merges", stolen, unit: "%", digits: 1)
        }
        if let stolen = rawStolen.percent {
            results.note("p1RawStolen", "  processor time taken by the host (steal) during the raw updates", stolen, unit: "%", digits: 1)
        }
        // The merge's commits are durable in the write-ahead log; copying the log into the
        // database file runs after it, on a thread of its own (`Replica.checkpointInBackground`).
        results.add("p1EmptyCheckpoint", "  after the merge, not in its time: the log's checkpoint, on a thread of its own, waited for",
                    Stats(samples: checkpoints), unit: "ms", scale: 1000, digits: 0)
        results.note("p1EmptyRateWithCheckpoint", "  = operations per second, counting that checkpoint",
                     Double(operations.count) / (empty.median + Stats(samples: checkpoints).median), unit: "ops/s", digits: 0)

        let conflictingMerges = try timedMerges(operations, repetitions: repetitions, seed: 11, holding: concurrent).merges
        let conflicting = Stats(samples: conflictingMerges)
        results.add("p1Concurrent", "into a replica holding concurrent edits of the same fields", conflicting, unit: "ms", scale: 1000, digits: 0)
        results.note("p1ConcurrentRate", "  = operations per second", Double(operations.count) / conflicting.median, unit: "ops/s", digits: 0)
    }

    /// Merges `operations` into a new durable replica (holding `holding` first, untimed) each
    /// repetition, timing the merge alone: the merging thread's time on a core, as a share of it; the
    /// CPU time of all the process's threads meanwhile, in cores;
    /// and the log's checkpoint after it (on a thread of its own, `Replica.checkpointInBackground`),
    /// waited for and timed apart, so the next repetition does not share the disk with it. The
    /// folder is removed untimed (until the thirtieth round both were inside the repetition's
    /// time; the removal takes under a millisecond).
    private static func timedMerges(_ operations: [ChorusCore.Operation], repetitions: Int, seed: UInt64,
                                    holding: [ChorusCore.Operation] = [],
                                    before: () throws -> Void = {}) throws -> (merges: [Double], onCore: [Double], cores: [Double], checkpoints: [Double],
                                                                                 stolen: StolenShare) {
        var merges: [Double] = [], onCore: [Double] = [], cores: [Double] = [], checkpoints: [Double] = []
        var stolen = StolenShare()
        for _ in 0..<repetitions {
            try before()
            let scratch = try Scratch("p1")
            defer { scratch.remove() }
            let replica = try Workloads.durableReplica(at: scratch.file("r"), seed: seed)
            if !holding.isEmpty {
                try replica.applyRemote(holding)
                _ = try replica.mergeCheckpoint?.wait()
            }
            let cpu = threadCPUSeconds(), processCPU = processCPUSeconds()
            stolen.start()
            let wall = try time { try replica.applyRemote(operations) }
            stolen.stop()
            merges.append(wall)
            onCore.append((threadCPUSeconds() - cpu) / wall)
            cores.append((processCPUSeconds() - processCPU) / wall)
            checkpoints.append(try time { _ = try replica.mergeCheckpoint?.wait() })
        }
        return (merges, onCore, cores, checkpoints, stolen)
    }

    /// P2 with the raw single-row durable commit it is compared with, alternating repetition by
    /// repetition: a durable commit's time is mostly the fsync, which on shared machines moves by
    /// 2x from one minute to the next, so measuring the two a minute apart (the raw commit with
    /// the other raw figures, before P1) made the ratio swing between 0.64x and 1.78x in one stop.
    static func localWrite(_ results: Results, writes: Int, repetitions: Int) throws {
        results.section = "P2 one durable local field write, alternating with raw single-row commits"
        let scratch = try Scratch("p2")
        defer { scratch.remove() }
        let replica = try Workloads.durableReplica(at: scratch.file("r"), seed: 20)
        let raw = try Database(path: scratch.file("raw.sqlite"))
        try RawBenchmarks.table(raw)
        var ours: (p50: [Double], p99: [Double]) = ([], []), rawCommits: (p50: [Double], p99: [Double]) = ([], [])
        var rawRow = 0, write = 0
        for _ in 0..<repetitions {
            let commit = try latencyPercentiles(1, samples: writes) { _ in
                rawRow += 1
                return try time { try raw.transaction { try raw.run(RawBenchmarks.insertSQL, parameters: [rawRow] + Workloads.fields.map { "v \($0)" }) } }
            }
            rawCommits.p50 += commit.p50.samples
            rawCommits.p99 += commit.p99.samples
            let local = try latencyPercentiles(1, samples: writes) { _ in
                write += 1
                return try time { try replica.write(collection: "people", record: "p-\(write % 100)", [.put(field: "title", value: .string("title \(write)"))]) }
            }
            ours.p50 += local.p50.samples
            ours.p99 += local.p99.samples
        }
        results.add("p2P50", "latency p50 (\(writes) writes a repetition)", Stats(samples: ours.p50), unit: "ms", scale: 1000, digits: 3)
        results.add("p2P99", "latency p99", Stats(samples: ours.p99), unit: "ms", scale: 1000, digits: 3)
        results.add("p2RawP50", "raw single-row durable commit beside it, p50 (\(writes) a repetition)", Stats(samples: rawCommits.p50),
                    unit: "ms", scale: 1000, digits: 3)
        results.add("p2RawP99", "raw single-row durable commit beside it, p99", Stats(samples: rawCommits.p99), unit: "ms", scale: 1000, digits: 3)
    }
}
