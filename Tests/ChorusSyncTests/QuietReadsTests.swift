import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusTesting
import Dispatch

/// A hub answers a known token and a pull with nothing new from what its last turns read, while
/// nothing has committed since: without waiting for the replica, and never with stale answers.
final class QuietReadsTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-quiet" }

    var hub: ReplicaExecutor!
    var service: SyncService!
    var token = ""
    let laptop = ReplicaID(bytes: Array(repeating: 0x4C, count: 16))!

    override func setUpWithError() throws {
        try super.setUpWithError()
        hub = try durable("hub", seed: 1)
        _ = try hub.perform { try $0.write(collection: "people", record: "p-1", [.put(field: "name", value: "Ada")]) }
        token = try hub.perform { try $0.addPeer(name: "laptop", role: .replica) }
        service = SyncService(executor: hub, limits: limits, wallClock: clock, watch: hub.perform { $0.openChangeWatch() })
    }

    func authenticate(presenting id: ReplicaID? = nil) throws(SyncError) -> Peer {
        try service.authenticate(authorization: "Bearer \(token)", replicaHeader: (id ?? laptop).hex)
    }

    func pull(after: Int64) throws -> PullResponse {
        try PullResponse.decode(try service.pull(peer: try authenticate(), after: after, limit: 1000), limits: limits)
    }

    /// The same pull and token, once through a turn and once from the quiet reads.
    func quietPull() throws -> (latest: Int64, response: PullResponse) {
        let latest = try hub.perform { try $0.latestSequence() }
        _ = try pull(after: latest)
        return (latest, try pull(after: latest))
    }

    func test_aNoOpSync_isAnsweredWhileTheReplicaIsBusy_andSaysWhatATurnWould() throws {
        let adminToken = try hub.perform { try $0.addPeer(name: "ops", role: .admin) }
        let (latest, quiet) = try quietPull()
        _ = try service.authenticate(authorization: "Bearer \(adminToken)", replicaHeader: nil)
        // Hold the replica, as a compaction or a large push would, and pull again from elsewhere.
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), answered = DispatchSemaphore(value: 0)
        let hub = self.hub!, service = self.service!, authorization = "Bearer \(token)", id = laptop.hex, limits = self.limits
        DispatchQueue.global().async { hub.perform { _ in holding.signal(); release.wait() } }
        holding.wait()
        nonisolated(unsafe) var busy: PullResponse?
        nonisolated(unsafe) var info: InfoResponse?
        nonisolated(unsafe) var admin: Peer?
        DispatchQueue.global().async {
            admin = try? service.authenticate(authorization: "Bearer \(adminToken)", replicaHeader: nil)
            info = service.info()
            busy = try? PullResponse.decode(service.pull(peer: service.authenticate(authorization: authorization, replicaHeader: id),
                                                         after: latest, limit: 1000), limits: limits)
            answered.signal()
        }
        let inTime = answered.wait(timeout: .now() + 10) == .success
        release.signal()
        if !inTime { answered.wait() }
        XCTAssertTrue(inTime, "a no-op sync (info, then pull) waited for the replica's turn")
        XCTAssertEqual(info?.snapshot?.through, latest)
        XCTAssertEqual(info?.compactedThrough, 0)
        XCTAssertEqual(admin?.role, .admin)
        for response in [quiet, try XCTUnwrap(busy)] {
            XCTAssertEqual(response.operations.count, 0)
            XCTAssertEqual(response.next, latest)
            XCTAssertFalse(response.hasMore)
            XCTAssertEqual(response.server.replica, hub.perform { $0.id })
        }
    }

    func test_aWriteCommittedByTheNode_isInTheNextPull() throws {
        let (latest, _) = try quietPull()
        _ = try hub.perform { try $0.write(collection: "people", record: "p-2", [.put(field: "name", value: "Grace")]) }
        XCTAssertEqual(service.info().snapshot?.through, latest + 1, "info after a write was answered from reads taken before it")
        let response = try pull(after: latest)
        XCTAssertEqual(response.operations.count, 1, "the pull after a write was answered from reads taken before it")
        XCTAssertEqual(response.next, latest + 1)
    }

    func test_aWriteCommittedByAnotherProcess_isInTheNextPull() throws {
        let (latest, _) = try quietPull()
        // Another connection to the same file, as `chorus write` on the node's folder would be.
        let other = try Replica.open(at: .directory(folder.appending("hub")), configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000))
        _ = try other.write(collection: "people", record: "p-3", [.put(field: "name", value: "Edsger")])
        XCTAssertEqual(try pull(after: latest).operations.count, 1, "a commit by another connection did not reach the next pull")
    }

    func test_aTokenRevokedByAnotherProcess_failsOnItsNextRequest() throws {
        _ = try quietPull()
        let other = try Replica.open(at: .directory(folder.appending("hub")), configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000))
        try other.revokePeer(name: "laptop")
        XCTAssertThrowsError(try authenticate()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 401, "a revoked token was taken from the reads before the revocation")
        }
    }

    func test_infoFromTheQuietReads_offersNoSnapshot_whenSnapshotsAreOff() throws {
        var off = limits
        off.snapshotsConcurrentMax = 0
        let service = SyncService(executor: hub, limits: off, wallClock: clock, watch: hub.perform { $0.openChangeWatch() })
        let fromTurn = service.info(), fromReads = service.info()
        XCTAssertNil(fromTurn.snapshot)
        XCTAssertNil(fromReads.snapshot)
        XCTAssertEqual(fromReads.server.replica, fromTurn.server.replica)
        XCTAssertEqual(fromReads.server.clock, fromTurn.server.clock)
        XCTAssertEqual(fromReads.compactedThrough, fromTurn.compactedThrough)
    }

    func test_aKnownTokenPresentingAnotherReplicaID_isStillForbidden() throws {
        _ = try quietPull()
        XCTAssertThrowsError(try authenticate(presenting: ReplicaID(bytes: Array(repeating: 0x66, count: 16))!)) { error in
            XCTAssertEqual((error as? SyncError)?.status, 403)
        }
        XCTAssertEqual(try authenticate().name, "laptop", "the bound id still works")
    }
}
