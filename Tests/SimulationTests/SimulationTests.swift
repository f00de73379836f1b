import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting

/// Convergence is checked, not assumed: many seeds of replicas over a faulty network.
final class SimulationTests: XCTestCase {
    /// At least 200 seeds: after healing, every digest is equal and every acknowledged write is
    /// present on every replica (displayed, a losing sibling, or superseded by a later write),
    /// including the replicas that joined mid-way from a snapshot of another, with logs compacted
    /// on the way.
    func test_faultyNetworkWithCrashesAndSkewedClocks_converges() throws {
        let count = Int(ProcessInfo.processInfo.environment["CHORUS_SIMULATION_SEEDS"] ?? "") ?? 200
        var totals = (acknowledged: 0, conflicts: 0, crashes: 0, joins: 0, joinsTakingPages: 0, compactions: 0, folds: 0, unfolds: 0, keptInColumns: 0, restarts: 0, refused: 0)
        for seed in testSeeds(count: count, base: 0x51_0000) {
            let directory = try TemporaryDirectory(prefix: "chorus-sim")
            defer { directory.remove() }
            let outcome = try Simulator(seed: seed, directory: directory.path).run()
            guard outcome.converged else {
                XCTFail("simulation failed: \(outcome.summary); replay with CHORUS_SEED=\(seed)\n"
                        + (outcome.lostAcknowledged.prefix(5) + outcome.invariantProblems.prefix(5)).joined(separator: "\n"))
                return
            }
            totals.acknowledged += outcome.acknowledged
            totals.conflicts += outcome.conflicts
            totals.crashes += outcome.crashes
            totals.joins += outcome.joins
            totals.joinsTakingPages += outcome.joinsTakingPages
            totals.compactions += outcome.compactions
            totals.folds += outcome.folds
            totals.unfolds += outcome.unfolds
            totals.keptInColumns += outcome.valuesKeptInColumns
            totals.restarts += outcome.restarts
            totals.refused += outcome.restartsRefused
        }
        print("simulation: \(count) seeds, \(totals.acknowledged) acknowledged writes, \(totals.conflicts) conflicts at the end, \(totals.crashes) crashes, \(totals.joins) replicas joined from a snapshot (\(totals.joinsTakingPages) taking its pages whole), \(totals.compactions) compactions (\(totals.folds) records folded, \(totals.keptInColumns) register values kept once in their typed columns, \(totals.unfolds) records unfolded by a later merge), \(totals.restarts) replicas started again from a snapshot holding data (\(totals.refused) refused, changing nothing)")
        XCTAssertGreaterThan(totals.conflicts, 0, "the workload should produce conflicts, or it proves little")
        XCTAssertGreaterThan(totals.crashes, 0, "the workload should crash replicas, or it proves little")
        XCTAssertGreaterThan(totals.joins, 0, "replicas should join from snapshots mid-way, or snapshots are not checked under faults")
        XCTAssertGreaterThan(totals.joinsTakingPages, 0, "joining replicas should take snapshots' pages whole, or that path is not checked under faults")
        XCTAssertGreaterThan(totals.compactions, 0, "replicas should compact their logs mid-way, or compaction is not checked under faults")
        XCTAssertGreaterThan(totals.keptInColumns, 0, "folded records should keep values in their typed columns, or reading them back is not checked under faults")
        XCTAssertGreaterThan(totals.unfolds, 0, "records folded by compaction should be written again, or unfolding is not checked under faults")
        XCTAssertGreaterThan(totals.restarts, 0, "a replica should start again from a snapshot at healing, or starting again is not checked")
    }

    /// The checker is checked: with ties broken by arrival order instead of (timestamp, replica),
    /// the simulation must notice within the seeds we run, and notice it where it matters: replicas
    /// that disagree (different digests). Each replica stays consistent with its own broken rule, so
    /// the invariant check alone must not be what catches it.
    func test_brokenMerge_isCaughtBySimulation() throws {
        var configuration = Simulator.Configuration()
        configuration.faults.displayLatestArrival = true
        for (index, seed) in testSeeds(count: 200, base: 0x51_0000).enumerated() {
            let directory = try TemporaryDirectory(prefix: "chorus-sim-broken")
            defer { directory.remove() }
            let outcome = try Simulator(seed: seed, configuration: configuration, directory: directory.path).run()
            XCTAssertEqual(outcome.invariantProblems, [], "seed \(seed): each replica agrees with its own display rule")
            if Set(outcome.digests).count > 1 {
                print("broken merge caught at seed \(seed) (run \(index + 1)): \(outcome.summary)")
                return
            }
        }
        XCTFail("a merge that breaks ties by arrival order went unnoticed for 200 seeds: the simulation checks too little")
    }
}
