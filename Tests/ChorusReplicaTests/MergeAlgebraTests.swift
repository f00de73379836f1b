import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting

/// Proves the merge is a function of the set of operations: the same operations, applied in any
/// order, in any batch sizes, with duplicates, give the same digest.
final class MergeAlgebraTests: XCTestCase {
    /// At least 10,000 seeded cases per run, across every field kind, deletes, restores and erasures.
    func test_anyOrderWithDuplicates_givesIdenticalDigests() throws {
        let clock = ManualClock(milliseconds: 1_700_000_100_000)
        let inOrder = try ReplicaFactory.memory(name: "in-order", clock: clock, seed: 1)
        let shuffled = try ReplicaFactory.memory(name: "shuffled", clock: clock, seed: 2)
        let caseCount = Int(ProcessInfo.processInfo.environment["CHORUS_ALGEBRA_CASES"] ?? "") ?? 10_000
        var operationsApplied = 0
        for seed in testSeeds(count: caseCount, base: 0xA16E_B2A0) {
            var generator = WorkloadGenerator(seed: seed)
            let operations = generator.generate(steps: 4 + Int(seed % 16))
            var rng = SeededGenerator(seed: seed ^ 0xFFFF)
            let checkInvariants = seed % 97 == 0

            let expected = try inOrder.withRolledBackState { () -> String in
                for op in operations { try inOrder.applyRemote([op]) }
                if checkInvariants { XCTAssertEqual(try inOrder.invariantViolations(), [], "seed \(seed)") }
                return try inOrder.digest().hexString
            }
            var delivery = operations.shuffled(using: &rng)
            for op in operations where rng.chance(0.3) { delivery.insert(op, at: rng.int(delivery.count + 1)) }
            let actual = try shuffled.withRolledBackState { () -> String in
                var index = 0
                while index < delivery.count {
                    let size = 1 + rng.int(5)
                    try shuffled.applyRemote(Array(delivery[index..<min(index + size, delivery.count)]))
                    index += size
                }
                if checkInvariants { XCTAssertEqual(try shuffled.invariantViolations(), [], "seed \(seed)") }
                return try shuffled.digest().hexString
            }
            operationsApplied += operations.count + delivery.count
            if expected != actual {
                XCTFail("digests differ for seed \(seed) (replay with CHORUS_SEED=\(seed)); \(operations.count) operations")
                return
            }
        }
        print("merge algebra: \(caseCount) cases, \(operationsApplied) operations applied")
    }
}
