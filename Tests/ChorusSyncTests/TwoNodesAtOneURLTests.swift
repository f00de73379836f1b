import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting

/// Every answer of a sync must come from the replica its `info` came from: a load balancer over
/// two hubs, or a failover between requests, had pages of another log merged and its sequences
/// kept as this replica's cursor.
final class TwoNodesAtOneURLTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-two-nodes" }

    /// `info` from one node, every other request from another.
    struct Split: SyncTransport {
        let first: InProcessTransport, second: InProcessTransport
        func info(ownOperations: Bool) throws -> InfoResponse { try first.info(ownOperations: ownOperations) }
        func push(body: [UInt8]) throws -> PushResponse { try second.push(body: body) }
        func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64, own: Bool) throws -> PullResponse {
            try second.pull(after: after, afterOperation: afterOperation, limit: limit, waitingToPush: waitingToPush, committed: committed, own: own)
        }
        func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse { try second.digest(reporting: local) }
        func snapshot(storage: String, reaching: Int64, into path: String, progress: @escaping (Int64, Int64) -> Void) throws -> Int64 {
            try second.snapshot(storage: storage, reaching: reaching, into: path, progress: progress)
        }
    }

    func router(_ hub: ReplicaExecutor) -> NodeRouter {
        NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock), limits: limits)
    }

    func test_anAnswerOfAnotherNode_isRefused_beforeAnythingIsApplied() throws {
        let hubA = try durable("hub-a", seed: 1), hubB = try durable("hub-b", seed: 2)
        try hubB.perform { _ = try $0.write(collection: "people", record: "p-b", [Change.put(field: "name", value: "Only at B")]) }
        let (laptop, toA, _) = try client("laptop", seed: 3, hub: hubA, router: router(hubA), snapshots: false)
        let tokenAtB = try hubB.perform { try $0.addPeer(name: "laptop", role: .replica) }
        let toB = InProcessTransport(router: router(hubB), token: tokenAtB, replica: laptop.perform { $0.id }, limits: limits)
        try laptop.perform { _ = try $0.write(collection: "people", record: "p-l", [Change.put(field: "name", value: "Mine")]) }
        var session = SyncSession(executor: laptop, transport: Split(first: toA, second: toB), limits: limits, wallClock: clock)
        session.usesSnapshots = false
        let before = try laptop.perform { try $0.upstream() }
        XCTAssertThrowsError(try session.run(compareDigests: false)) { error in
            XCTAssertTrue("\(error)".contains("two nodes answer at this URL"), "\(error)")
        }
        XCTAssertNil(try laptop.perform { try $0.get(collection: "people", record: "p-b") }, "nothing of the other node's log merged")
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.pullCursor }, before?.pullCursor)
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.pushCursor }, before?.pushCursor, "the push answered by the other node moved no cursor")
    }
}
