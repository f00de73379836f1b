import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting

/// Operations encoded ahead of the merge (`PreparedOperation`, made on a pull's fetching thread or
/// a push's connection thread) merge exactly as the same operations encoded during it: the same
/// state, the same log, byte for byte.
final class PreparedOperationTests: XCTestCase {
    func test_preparedOperations_mergeAsTheOperationsThemselves() throws {
        let clock = ManualClock(milliseconds: 1_700_000_100_000)
        let plain = try ReplicaFactory.memory(name: "plain", clock: clock, seed: 1)
        let prepared = try ReplicaFactory.memory(name: "prepared", clock: clock, seed: 2)
        for seed in testSeeds(count: 300, base: 0x9E9A) {
            var generator = WorkloadGenerator(seed: seed)
            let operations = generator.generate(steps: 4 + Int(seed % 24))
            // Prepared elsewhere, as the sync code does.
            let ahead = DispatchQueue.global().sync { PreparedOperation.prepare(operations) }
            XCTAssertEqual(ahead.map(\.operation), operations, "seed \(seed)")
            func outcome(_ replica: Replica, _ apply: () throws -> ApplyReport) throws -> [String] {
                try replica.withRolledBackState {
                    let report = try apply()
                    XCTAssertEqual(try replica.invariantViolations(), [], "seed \(seed)")
                    let log = try replica.logPage(after: 0, excludingSource: nil, operationsMax: 10_000, bytesMax: 1 << 30).operations
                    return ["\(report)", try replica.digest().hexString] + log
                }
            }
            let expected = try outcome(plain) { try plain.applyRemote(operations) }
            let actual = try outcome(prepared) { try prepared.applyRemote(ahead) }
            XCTAssertEqual(actual, expected, "seed \(seed) (replay with CHORUS_SEED=\(seed))")
            if actual != expected { return }
        }
    }
}
