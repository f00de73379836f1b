import XCTest
import Foundation
@testable import ChorusReplica
import SQLiteKit

/// A value handed to `Retired` lives until the box is freed, and is freed by the thread that
/// frees it (`EncodingAhead` frees a merged chunk on the thread that prepared it).
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
    }

    func test_theValueLivesUntilTheBoxIsFreed_andIsFreedByTheThreadThatFreesIt() throws {
        let seen = Seen()
        var value: [Canary]? = [Canary { thread in seen.lock.withLock { seen.thread = thread } }]
        let retired = Retired(value!)
        value = nil
        seen.lock.withLock { XCTAssertNil(seen.thread, "the box still holds it") }
        let freeing = OnThread("test-free") { () -> pthread_t in
            retired.free()
            return pthread_self()
        }
        let freer = try freeing.value()
        seen.lock.withLock {
            XCTAssertNotNil(seen.thread)
            XCTAssertTrue(seen.thread.map { pthread_equal($0, freer) != 0 } ?? false, "freed on the thread that freed the box")
            XCTAssertFalse(seen.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? true)
        }
    }
}
