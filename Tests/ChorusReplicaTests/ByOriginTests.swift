import XCTest
import ChorusCore
import ChorusTesting
@testable import ChorusReplica

/// The table behind a batch's logged ids answers as a dictionary by origin does, whichever
/// origin is the recent one, and lists every origin once, the others in id order, the recent last.
final class ByOriginTests: XCTestCase {
    func test_answersAsADictionary_whicheverOriginIsRecent() {
        for seed in testSeeds(count: 40, base: 0xb0_0219) {
            var rng = SeededGenerator(seed: seed)
            let origins = (0..<5).map { _ in ReplicaID.random(using: &rng) }
            var table = ByOrigin<[Int]>()
            var model: [ReplicaID: [Int]] = [:]
            var recent: ReplicaID?
            for step in 0..<60 {
                let origin = origins.randomElement(using: &rng)!
                switch Int.random(in: 0...2, using: &rng) {
                case 0:
                    table.makeRecent(origin) { [step] }
                    if model[origin] == nil { model[origin] = [step] }
                    recent = origin
                case 1:
                    table.set([step, step], for: origin)
                    model[origin] = [step, step]
                    recent = origin
                default:
                    guard let recent else { continue }
                    table.updateRecent { $0.append(step) }
                    model[recent, default: []].append(step)
                }
                let context = "seed \(seed) (CHORUS_SEED=\(seed) replays it), step \(step)"
                XCTAssertEqual(table.count, model.count, context)
                for origin in origins {
                    XCTAssertEqual(table[origin], model[origin], context)
                    XCTAssertEqual(table.isRecent(origin), origin == recent, context)
                }
                var listed: [ReplicaID] = []
                table.forEach { origin, value in
                    listed.append(origin)
                    XCTAssertEqual(value, model[origin], context)
                }
                let others = model.keys.filter { $0 != recent }.sorted()
                XCTAssertEqual(listed, others + (recent.map { [$0] } ?? []), context)
            }
        }
    }

    func test_removeAll_leavesNoOriginRecent() {
        var rng = SeededGenerator(seed: 7)
        let origin = ReplicaID.random(using: &rng)
        var table = ByOrigin<Int>()
        table.set(1, for: origin)
        table.removeAll()
        XCTAssertEqual(table.count, 0)
        XCTAssertFalse(table.isRecent(origin))
        XCTAssertNil(table[origin])
    }
}
