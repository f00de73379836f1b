import XCTest
import Foundation
import SQLiteKit

/// Work on a thread of its own, waited for by whoever needs it.
final class OnThreadTests: XCTestCase {
    private struct Refused: Error, Equatable {}

    func test_everyWaiter_getsTheValue_waitingAtOnceFromSeveralThreads() throws {
        let work = OnThread("test-work") { () -> Int in
            Thread.sleep(forTimeInterval: 0.05)
            return 42
        }
        let waiters = DispatchGroup()
        let results = ResultsBox()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: waiters) { results.add(try? work.value()) }
        }
        guard waiters.wait(timeout: .now() + 10) == .success else { return XCTFail("a waiter never woke") }
        XCTAssertEqual(results.values, [42, 42, 42, 42])
        XCTAssertEqual(try work.value(), 42, "a later wait returns at once")
    }

    func test_whatTheWorkThrew_isThrownToEachWaiter() {
        let work = OnThread("test-work") { () -> Int in throw Refused() }
        XCTAssertThrowsError(try work.value()) { XCTAssertEqual($0 as? Refused, Refused()) }
        XCTAssertThrowsError(try work.value()) { XCTAssertEqual($0 as? Refused, Refused()) }
    }

    private final class ResultsBox: @unchecked Sendable {
        private let lock = NSLock()
        private var collected: [Int?] = []
        func add(_ value: Int?) { lock.lock(); collected.append(value); lock.unlock() }
        var values: [Int?] { lock.lock(); defer { lock.unlock() }; return collected }
    }
}
