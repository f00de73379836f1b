import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting

/// A sync pulls for at most `pullSecondsPerSyncMax`, then ends with the page it merged, and the
/// next sync pushes before it pulls the rest: on a link slower than the upstream's log grows, a
/// sync never ended, and a write made meanwhile never went up.
final class PullTimeLimitTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-pull-limit" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        limits.pullPageOperationsMax = 10
        limits.pullSecondsPerSyncMax = 0   // a page a sync
    }

    func test_aSyncPastItsPullTime_endsWithThePageItMerged_andTheNextPushesFirst() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { replica in
            for index in 0..<45 { _ = try replica.write(collection: "people", record: "p-\(index)", [.put(field: "name", value: .string("Person \(index)"))]) }
        }
        let router = NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock), limits: limits)
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, snapshots: false)
        let first = try session.run()
        XCTAssertTrue(first.pullCutShort)
        XCTAssertEqual(first.pulledOperations, 10, "one page")
        XCTAssertTrue(first.json["pullCutShort"] == .bool(true))

        try laptop.perform { _ = try $0.write(collection: "people", record: "l-1", [.put(field: "name", value: "Made while catching up")]) }
        let second = try session.run()
        XCTAssertEqual(second.pushedOperations, 1, "its push went first")
        XCTAssertNotNil(try hub.perform { try $0.get(collection: "people", record: "l-1") }, "the write is up while the pull is not done")

        var syncs = 2
        var last = second
        while last.pullCutShort && syncs < 20 {
            last = try session.run(compareDigests: true)
            syncs += 1
        }
        XCTAssertFalse(last.pullCutShort)
        XCTAssertEqual(syncs, 5, "45 operations, 10 a page, one page a sync: the fifth pulls the last 5 and ends whole")
        XCTAssertEqual(last.digestMatches, true)
    }
}
