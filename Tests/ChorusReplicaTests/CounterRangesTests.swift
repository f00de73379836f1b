import XCTest
import ChorusReplica
import ChorusTesting

/// `CounterRanges`, the intervals of logged counters that find duplicate operations (`log_ids`),
/// against the plainest model: a set of counters.
final class CounterRangesTests: XCTestCase {
    func test_insert_reportsNewAndDuplicate_likeASet_andKeepsIntervalsDisjointAndApart() throws {
        for seed in testSeeds(count: 300, base: 0x10_6105) {
            var random = SeededGenerator(seed: seed)
            var ranges = CounterRanges()
            var model = Set<UInt64>()
            var stored = ranges
            var rows: [UInt64: UInt64] = [:]
            // Mostly in order with gaps and repeats, as operations travel; sometimes far out of order.
            let span = UInt64(random.next() % 200 + 1)
            var next: UInt64 = 1
            for _ in 0..<Int(random.next() % 400) {
                let counter: UInt64
                if random.chance(0.6) { counter = next; next += UInt64(random.next() % 3) } else { counter = 1 + random.next() % span }
                let isNew = ranges.insert(counter)
                XCTAssertEqual(isNew, model.insert(counter).inserted, "seed \(seed): counter \(counter)")
                if random.chance(0.2) {
                    // Stored rows brought up to date by the difference hold the intervals.
                    let change = ranges.difference(from: stored)
                    for first in change.removed { XCTAssertNotNil(rows.removeValue(forKey: first), "seed \(seed)") }
                    for row in change.written {
                        XCTAssertEqual(rows[row.first] == nil, row.isNew, "seed \(seed)")
                        rows[row.first] = row.last
                    }
                    XCTAssertEqual(rows.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }, ranges.intervals.map { [$0.first, $0.last] },
                                   "seed \(seed)")
                    stored = ranges
                    XCTAssertTrue(ranges.difference(from: stored).removed.isEmpty && ranges.difference(from: stored).written.isEmpty)
                }
            }
            XCTAssertEqual(ranges.count, UInt64(model.count), "seed \(seed)")
            for probe in 0...(span + next + 2) {
                XCTAssertEqual(ranges.contains(probe), model.contains(probe), "seed \(seed): probe \(probe)")
            }
            for (a, b) in zip(ranges.intervals, ranges.intervals.dropFirst()) {
                XCTAssertLessThanOrEqual(a.first, a.last, "seed \(seed)")
                XCTAssertGreaterThan(b.first, a.last + 1, "seed \(seed): intervals must be apart, or they would be one")
            }
            XCTAssertEqual(CounterRanges(sortedRows: ranges.intervals), ranges, "seed \(seed): rows read back are the same intervals")
        }
    }

    func test_fillingTheGap_joinsTheIntervalsOnEitherSide() {
        var ranges = CounterRanges()
        for counter: UInt64 in [1, 2, 4, 5, 9] { XCTAssertTrue(ranges.insert(counter)) }
        XCTAssertEqual(ranges.intervals.map { [$0.first, $0.last] }, [[1, 2], [4, 5], [9, 9]])
        XCTAssertTrue(ranges.insert(3))
        XCTAssertEqual(ranges.intervals.map { [$0.first, $0.last] }, [[1, 5], [9, 9]])
        XCTAssertTrue(ranges.insert(8))
        XCTAssertEqual(ranges.intervals.map { [$0.first, $0.last] }, [[1, 5], [8, 9]])
        XCTAssertFalse(ranges.insert(4))
        XCTAssertTrue(ranges.insert(UInt64.max))
        XCTAssertFalse(ranges.insert(UInt64.max))
        XCTAssertTrue(ranges.contains(UInt64.max))
        XCTAssertFalse(ranges.contains(UInt64.max - 1))
    }

    func test_storedRows_thatOverlapOrTouch_areJoined() {
        let ranges = CounterRanges(sortedRows: [(1, 3), (2, 5), (6, 6), (9, 8), (10, 12), (11, 11)])
        XCTAssertEqual(ranges.intervals.map { [$0.first, $0.last] }, [[1, 6], [10, 12]], "a reversed row is dropped")
        XCTAssertEqual(ranges.count, 9)
    }

    /// `firstMissing(of:unless:)` against the set model: the smallest counter of the other ranges
    /// that these lack and the rule does not excuse, whatever the intervals' shapes.
    func test_firstMissing_isTheSmallestCounterNotHeldNorExcused_likeASet() throws {
        for seed in testSeeds(count: 300, base: 0x1f_1357) {
            var random = SeededGenerator(seed: seed)
            var mine = CounterRanges(), other = CounterRanges()
            var mineModel = Set<UInt64>(), otherModel = Set<UInt64>()
            for _ in 0..<Int(random.next() % 120) {
                let counter = 1 + random.next() % 90
                if random.chance(0.7) { _ = mine.insert(counter); mineModel.insert(counter) }
                if random.chance(0.6) { _ = other.insert(counter); otherModel.insert(counter) }
            }
            let excuse = UInt64(random.next() % 4 + 2)
            let expected = otherModel.subtracting(mineModel).filter { $0 % excuse != 0 }.min()
            XCTAssertEqual(mine.firstMissing(of: other) { $0 % excuse == 0 }, expected, "seed \(seed)")
            XCTAssertEqual(mine.firstMissing(of: other), otherModel.subtracting(mineModel).min(), "seed \(seed)")
        }
        var top = CounterRanges()
        _ = top.insert(UInt64.max)
        XCTAssertNil(top.firstMissing(of: top), "the last counter there is")
        XCTAssertEqual(CounterRanges().firstMissing(of: top), UInt64.max)
        XCTAssertNil(top.firstMissing(of: CounterRanges()), "nothing asked of empty ranges")
    }
}
