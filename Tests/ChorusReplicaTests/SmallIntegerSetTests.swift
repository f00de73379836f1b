import XCTest
import ChorusTesting
@testable import ChorusReplica

/// The set behind a received snapshot's checks answers exactly as `Set<Int64>` does, for the
/// small numbers it keeps as bits and for any other a damaged file may hold.
final class SmallIntegerSetTests: XCTestCase {
    func test_answersAsASet_forNumbersOfEverySize() {
        let edges: [Int64] = [0, 1, 63, 64, 65, SmallIntegerSet.denseLimit - 1, SmallIntegerSet.denseLimit, -1, .min, .max]
        for seed in testSeeds(count: 50, base: 0x5_1a11) {
            var rng = SeededGenerator(seed: seed)
            var members = Set<Int64>()
            for _ in 0..<Int.random(in: 0...40, using: &rng) {
                switch Int.random(in: 0...3, using: &rng) {
                case 0: members.insert(Int64.random(in: 0...200, using: &rng))
                case 1: members.insert(edges.randomElement(using: &rng)!)
                case 2: members.insert(Int64.random(in: 0..<(SmallIntegerSet.denseLimit * 2), using: &rng))
                default: members.insert(Int64.random(in: .min ... .max, using: &rng))
                }
            }
            let set = SmallIntegerSet(members.sorted())
            var asked = edges + members.sorted()
            for member in members.sorted() { asked += [member &- 1, member &+ 1] }
            asked += (0..<50).map { _ in Int64.random(in: -10...300, using: &rng) }
            for number in asked where set.contains(number) != members.contains(number) {
                XCTFail("seed \(seed) (CHORUS_SEED=\(seed) replays it): contains(\(number)) is \(set.contains(number)), the set says \(members.contains(number))")
                return
            }
        }
    }

    func test_anEmptySet_holdsNothing() {
        let empty = SmallIntegerSet()
        for number: Int64 in [0, 1, -1, SmallIntegerSet.denseLimit, .max, .min] { XCTAssertFalse(empty.contains(number)) }
    }
}
