import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import Foundation

/// A large batch's in-memory structures are freed on a thread of their own (`ReleaseAside`),
/// not by the merging thread; a small batch (a local write) frees its own.
final class ReleaseAsideTests: XCTestCase {
    /// Notes the thread it is freed on.
    private final class Tracked: @unchecked Sendable {
        let freed: (pthread_t) -> Void
        init(freed: @escaping (pthread_t) -> Void) { self.freed = freed }
        deinit { freed(pthread_self()) }
    }

    func testAValueHandedOverIsFreedOnceOnAnotherThread() {
        let lock = NSLock()
        var threads: [pthread_t] = []
        var value: [Tracked]? = [Tracked { thread in lock.withLock { threads.append(thread) } }]
        ReleaseAside.drop(value.take()!)
        XCTAssertNil(value)
        ReleaseAside.waitUntilFreed()
        let freedOn = lock.withLock { threads }
        XCTAssertEqual(freedOn.count, 1, "freed exactly once")
        XCTAssertFalse(freedOn.contains { pthread_equal($0, pthread_self()) != 0 }, "freed on the release thread, not the caller's")
    }

    func testAMergeOfManyKeysHandsItsStructuresOverAndALocalWriteDoesNot() throws {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let writer = try ReplicaFactory.memory(name: "stockholm", clock: clock, seed: 11)
        let reader = try ReplicaFactory.memory(name: "new-york", clock: clock, seed: 22)
        // Enough keys for one batch to pass the minimum: two fields of each person.
        let people = ReleaseAside.elementsMin / 2 + 1
        for index in 0..<people {
            try writer.write(collection: "people", record: "p\(index)",
                             [.put(field: "name", value: .string("Person \(index)")), .put(field: "title", value: .string("Engineer"))])
        }
        let before = ReleaseAside.handedOver
        try reader.write(collection: "people", record: "local", [.put(field: "name", value: .string("Local"))])
        XCTAssertEqual(ReleaseAside.handedOver, before, "a local write of one key frees its own structures")

        try reader.applyRemote(try writer.log(after: 0, limit: 100_000).compactMap(\.operation))
        XCTAssertEqual(ReleaseAside.handedOver, before + 1, "the merge's one batch handed its structures over")
        ReleaseAside.waitUntilFreed()
        try writer.applyRemote(try reader.log(after: 0, limit: 100_000).compactMap(\.operation))
        XCTAssertEqual(try reader.digest(), try writer.digest(), "the merge is whole after the hand-over")
        XCTAssertEqual(try reader.get(collection: "people", record: "p\(people - 1)")?.fields["title"], .string("Engineer"))
    }
}
