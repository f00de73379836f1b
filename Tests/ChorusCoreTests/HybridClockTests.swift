import XCTest
import ChorusCore

final class HybridClockTests: XCTestCase {
    func test_now_isStrictlyIncreasing_evenWhenTheWallClockStandsStillOrGoesBack() {
        let wall = ManualClock(milliseconds: 1000)
        var clock = HybridClock(wallClock: wall)
        let a = clock.now(), b = clock.now()
        XCTAssertEqual(a, HybridTimestamp(wall: 1000, logical: 0))
        XCTAssertEqual(b, HybridTimestamp(wall: 1000, logical: 1))
        wall.set(500)
        XCTAssertGreaterThan(clock.now(), b)
        wall.set(2000)
        XCTAssertEqual(clock.now(), HybridTimestamp(wall: 2000, logical: 0))
    }

    func test_observe_movesPastReceivedTimestamps() {
        var clock = HybridClock(wallClock: ManualClock(milliseconds: 1000))
        clock.observe(HybridTimestamp(wall: 5000, logical: 7))
        XCTAssertEqual(clock.now(), HybridTimestamp(wall: 5000, logical: 8))
    }

    func test_checkDrift_refusesTimestampsTooFarAhead_andNamesTheSkew() {
        let clock = HybridClock(wallClock: ManualClock(milliseconds: 1_000_000), driftMillisecondsMax: 300_000)
        XCTAssertNoThrow(try clock.checkDrift(HybridTimestamp(wall: 1_300_000, logical: 0)))
        XCTAssertThrowsError(try clock.checkDrift(HybridTimestamp(wall: 1_000_000 + 3_723_500, logical: 0))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .clockSkew)
            XCTAssertTrue("\(error)".contains("1 h 2 min 3.500 s"), "\(error)")
        }
    }

    func test_logicalOverflow_movesToTheNextMillisecond() {
        var clock = HybridClock(wallClock: ManualClock(milliseconds: 10), last: HybridTimestamp(wall: 10, logical: UInt32.max))
        XCTAssertEqual(clock.now(), HybridTimestamp(wall: 11, logical: 0))
    }
}
