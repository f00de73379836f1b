import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting

/// What waits to go upstream, counted two ways: operations (one per field changed, what the
/// protocol moves) and writes (what a person counts: one thanks is one, the page's indicator).
final class PendingWritesTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-pending-writes" }

    func test_writesWaiting_countOneWriteOfManyFields_asOne_andClearOncePushed() throws {
        let hub = try durable("hub", seed: 1)
        let service = SyncService(executor: hub, limits: limits, wallClock: clock)
        let (office, _, session) = try client("office", seed: 2, hub: hub, router: NodeRouter(service: service, limits: limits))
        try office.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-1", [.put(field: "from", value: "p-1"), .put(field: "to", value: "p-2"),
                                                                          .put(field: "kind", value: "thanks"), .put(field: "body", value: "Thanks!"),
                                                                          .put(field: "visibility", value: "public")])
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Lead")])
        }
        XCTAssertEqual(try office.perform { try $0.pendingPushCount() }, 6, "six field operations")
        XCTAssertEqual(try office.perform { try $0.pendingPushCounts().writes }, 2, "two writes")

        _ = try session.run()
        XCTAssertEqual(try office.perform { try $0.pendingPushCounts().writes }, 0, "pushed")

        // What came down from the hub never waits to go back up.
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Coach")]) }
        _ = try session.run()
        XCTAssertEqual(try office.perform { try $0.get(collection: "people", record: "p-2")?.fields["title"] }, "Coach")
        XCTAssertEqual(try office.perform { try $0.pendingPushCounts().writes }, 0)
    }

    /// The largest write a replica takes (`fieldsPerWriteMax`) is one block, so one write.
    func test_theLargestWrite_isOneWrite() throws {
        let office = try durable("office", seed: 2)
        try office.perform { try $0.setUpstream(url: "http://hub", tokenFile: "/dev/null") }
        try office.perform { replica in
            _ = try replica.write(collection: "people", record: "p-1",
                                  (0..<Limits.default.fieldsPerWriteMax).map { .add(field: "guilds", element: "g-\($0)") })
        }
        XCTAssertEqual(try office.perform { try $0.pendingPushCount() }, Int64(Limits.default.fieldsPerWriteMax))
        XCTAssertEqual(try office.perform { try $0.pendingPushCounts().writes }, 1)
    }
}
