import XCTest
import ChorusNode

/// The wait before a background sync counts a laptop's sleep, and a wake-up ends it: a timer
/// on the uptime clock alone left a woken laptop up to a whole backoff (five minutes) behind.
final class SyncWaitTests: XCTestCase {
    let second: UInt64 = 1_000_000_000
    func clocks(awake: UInt64, boot: UInt64) -> SyncWait.Clocks { .init(awake: awake * second, boot: boot * second) }

    func test_awake_theWaitEndsWhenItsSecondsHavePassed() {
        let wait = SyncWait(seconds: 30, began: clocks(awake: 100, boot: 200))
        XCTAssertFalse(wait.isDue(at: clocks(awake: 129, boot: 229)))
        XCTAssertTrue(wait.isDue(at: clocks(awake: 130, boot: 230)))
    }

    func test_aSleepLongerThanTheWait_endsItAtTheWakeUp() {
        let wait = SyncWait(seconds: 300, began: clocks(awake: 100, boot: 200))
        // Two awake seconds after an hour's sleep: the uptime clock says 2 s, the boot clock 3602.
        XCTAssertTrue(wait.isDue(at: clocks(awake: 102, boot: 3802)))
    }

    func test_aShortSleepInALongBackoff_endsItToo_butADriftOfTheClocksDoesNot() {
        let wait = SyncWait(seconds: 300, began: clocks(awake: 100, boot: 200))
        XCTAssertTrue(wait.isDue(at: clocks(awake: 110, boot: 210 + UInt64(SyncWait.sleptSecondsMin))), "slept sleptSecondsMin: networks come back, try now")
        XCTAssertFalse(wait.isDue(at: clocks(awake: 110, boot: 211)), "a second apart is no sleep")
    }

    func test_noWait_isDueAtOnce_andTheFirstLookComesNoLaterThanTheWait() {
        let now = clocks(awake: 5, boot: 5)
        XCTAssertTrue(SyncWait(seconds: 0, began: now).isDue(at: now))
        XCTAssertTrue(SyncWait(seconds: -1, began: now).isDue(at: now), "a negative wait is none")
        XCTAssertEqual(SyncWait(seconds: 1, began: now).nextCheckSeconds(at: now), 1)
        XCTAssertEqual(SyncWait(seconds: 600, began: now).nextCheckSeconds(at: now), SyncWait.checkSeconds)
    }

    func test_theLastLook_comesWhenTheWaitEnds_notAtTheNextMultipleOfTheLooksPeriod() {
        let wait = SyncWait(seconds: 7.5, began: clocks(awake: 100, boot: 200))
        XCTAssertEqual(wait.nextCheckSeconds(at: clocks(awake: 105, boot: 205)), 2.5, accuracy: 1e-9, "a 7.5 s wait syncs at 7.5 s, not 10")
        XCTAssertEqual(wait.nextCheckSeconds(at: clocks(awake: 101, boot: 206)), 1.5, accuracy: 1e-9, "by the clock that ran the most")
        XCTAssertEqual(wait.nextCheckSeconds(at: clocks(awake: 109, boot: 209)), 0, "past: at once")
    }

    func test_thisMachinesClocks_runTogetherWhileAwake() {
        let began = SyncWait.Clocks.now
        XCTAssertGreaterThan(began.awake, 0)
        XCTAssertGreaterThanOrEqual(began.boot, began.awake, "the boot clock counts every suspension the uptime clock skips")
        XCTAssertFalse(SyncWait(seconds: 60, began: began).isDue(at: .now), "no sleep in a test's instant")
    }
}
