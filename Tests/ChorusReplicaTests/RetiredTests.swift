import XCTest
import Foundation
@testable import ChorusReplica

/// A value the merging thread is done with is freed on another thread (`Retired`), and only once
/// the box held its last reference.
final class RetiredTests: XCTestCase {
    /// Says on which thread it was freed.
    private final class Canary: @unchecked Sendable {
        let freed: (pthread_t) -> Void
        init(freed: @escaping (pthread_t) -> Void) { self.freed = freed }
        deinit { freed(pthread_self()) }
    }

    private final class Seen: @unchecked Sendable {
        let lock = NSLock()
        var thread: pthread_t?
        let done = DispatchSemaphore(value: 0)
    }

    func test_freeAside_freesTheValueOnAnotherThread() {
        let seen = Seen()
        var value: [Canary]? = [Canary { thread in
            seen.lock.withLock { seen.thread = thread }
            seen.done.signal()
        }]
        let retired = Retired(value!)
        value = nil
        seen.lock.withLock { XCTAssertNil(seen.thread, "the box still holds it") }
        retired.freeAside()
        XCTAssertEqual(seen.done.wait(timeout: .now() + 10), .success, "freed")
        seen.lock.withLock { XCTAssertFalse(pthread_equal(seen.thread!, pthread_self()) != 0, "freed on another thread") }
    }

    func test_free_freesTheValueHere() {
        let seen = Seen()
        let retired = Retired([Canary { thread in seen.lock.withLock { seen.thread = thread } }])
        retired.free()
        seen.lock.withLock { XCTAssertTrue(seen.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false) }
    }
}
