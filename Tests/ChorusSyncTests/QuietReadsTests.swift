import XCTest
import ChorusCore
import ChorusNode
import ChorusReplica
import ChorusSync
import ChorusTesting
import Dispatch
import HTTP1

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

    /// This node's own commit of peer activity (every 2 s under load) leaves a no-op sync answered
    /// without a turn: the flush reads again what the quiet reads held, as they are then (a write
    /// by another process before it moves the head). A token revoked by another process before
    /// that flush is not read again: refused. A token not presented since the last flush is
    /// forgotten: its next request takes a turn.
    func test_afterThisNodesActivityFlush_noOpSyncsStayQuiet_butARevokedTokenIsRefused() throws {
        let (latest, _) = try quietPull()
        service.flushActivity()
        func answered(after: Int64) throws -> Bool {
            service.answeringQuietly(try XCTUnwrap(service.lookQuietly()), authorization: "Bearer \(token)", replicaHeader: laptop.hex, pullAfter: after) != nil
        }
        XCTAssertTrue(try answered(after: latest), "the flush's own commit sent the next no-op sync to the replica's turn")
        let peer = try authenticate()
        let other = try Replica.open(at: .directory(folder.appending("hub")), configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000))
        _ = try other.write(collection: "people", record: "p-9", [.put(field: "name", value: "Grace")])
        service.recordRequest(peer: peer, clientWall: nil, waitingUp: nil, pushed: false, pulled: true)
        service.flushActivity()
        XCTAssertFalse(try answered(after: latest), "the flush kept the head it held, not the log's")
        XCTAssertTrue(try answered(after: latest + 1))
        // Not presented since the last flush: forgotten by the next one; a token that was, kept.
        let desk = ReplicaID(bytes: Array(repeating: 0x44, count: 16))!
        let deskToken = try hub.perform { try $0.addPeer(name: "desk", role: .replica) }
        func presentDesk() throws { _ = try service.authenticate(authorization: "Bearer \(deskToken)", replicaHeader: desk.hex) }
        try presentDesk()   // binds the token: a commit
        let head = try hub.perform { try $0.latestSequence() }
        _ = try pull(after: head)   // the laptop's token and the log's head, read in a turn
        try presentDesk()
        service.flushActivity()
        XCTAssertTrue(try answered(after: head))
        try presentDesk()
        service.flushActivity()
        XCTAssertFalse(try answered(after: head), "a token idle since the last flush was kept")
        XCTAssertNotNil(service.answeringQuietly(try XCTUnwrap(service.lookQuietly()), authorization: "Bearer \(deskToken)",
                                                 replicaHeader: desk.hex, pullAfter: head), "a token presented since the last flush was forgotten")
        _ = try authenticate()
        XCTAssertTrue(try answered(after: head), "a turn's authentication remembers the token again")
        try other.revokePeer(name: "laptop")
        service.recordRequest(peer: peer, clientWall: nil, waitingUp: nil, pushed: false, pulled: true)
        service.flushActivity()
        XCTAssertFalse(try answered(after: head), "a token revoked before the flush was read again as valid")
        XCTAssertThrowsError(try authenticate()) { error in XCTAssertEqual((error as? SyncError)?.status, 401) }
    }

    /// The reads remember each token's hash by the `Authorization` header it came in, so a quiet
    /// answer hashes nothing: a header the reads never saw is hashed and checked as before.
    func test_aRememberedHeader_answersWithoutATurn_andAnyOtherHeaderIsCheckedAfresh() throws {
        let (latest, _) = try quietPull()
        let wellFormedStranger = "Bearer " + String(repeating: "ab", count: 32)
        for (header, answered) in [("Bearer \(token)", true), ("Bearer  \(token) ", true), (wellFormedStranger, false),
                                   ("Bearer \(token.dropLast())", false), ("Basic \(token)", false)] {
            let look = try XCTUnwrap(service.lookQuietly())
            XCTAssertEqual(service.answeringQuietly(look, authorization: header, replicaHeader: laptop.hex, pullAfter: latest) != nil, answered, header)
        }
        // The spaced header was hashed afresh and is the same token: authenticated, through a turn.
        XCTAssertEqual(try service.authenticate(authorization: "Bearer  \(token) ", replicaHeader: laptop.hex).name, "laptop")
        XCTAssertThrowsError(try service.authenticate(authorization: wellFormedStranger, replicaHeader: laptop.hex)) { error in
            XCTAssertEqual((error as? SyncError)?.status, 401)
        }
    }

    func test_oneLook_answersARequestsTokenAndPull_asOfOneMoment_andALaterLookSeesTheCommit() throws {
        let (latest, _) = try quietPull()
        let look = try XCTUnwrap(service.lookQuietly(), "a service with a change watch takes looks")
        let answersBefore = service.quietAnswers
        // Committed after the look and before its questions, by another connection: the request
        // is answered as one that came an instant earlier would be.
        let other = try Replica.open(at: .directory(folder.appending("hub")), configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000))
        _ = try other.write(collection: "people", record: "p-4", [.put(field: "name", value: "Barbara")])
        let peer = try service.authenticate(authorization: "Bearer \(token)", replicaHeader: laptop.hex, look: look)
        let early = try PullResponse.decode(try service.pull(peer: peer, after: latest, limit: 1000, look: look), limits: limits)
        XCTAssertEqual(service.quietAnswers, answersBefore + 2, "the token and the pull were not both answered from the one look")
        XCTAssertEqual(early.operations.count, 0)
        XCTAssertEqual(early.next, latest)
        // A look taken after the commit is stale: both questions go to the replica.
        let later = service.lookQuietly()
        let now = try PullResponse.decode(try service.pull(peer: service.authenticate(authorization: "Bearer \(token)", replicaHeader: laptop.hex, look: later),
                                                           after: latest, limit: 1000, look: later), limits: limits)
        XCTAssertEqual(now.operations.count, 1, "a look taken after a commit answered from the reads before it")
        XCTAssertEqual(service.quietAnswers, answersBefore + 2)
    }

    /// What the node answers on its event loop: only a sync with nothing new whose token and head
    /// the quiet reads hold, and then exactly what its queue would have answered.
    func test_theNodesInlineAnswers_areOnlyNoOpSyncs_andAreItsQueuesAnswers() throws {
        let router = NodeRouter(service: service, limits: limits)
        func request(_ target: String, token: String? = nil, method: String = "GET") -> HTTPRequest {
            HTTPRequest(head: HTTPRequestHead(method: method, target: target, minorVersion: 1, headers: [
                ("Authorization", "Bearer \(token ?? self.token)"), ("Chorus-Protocol", "1"), ("Chorus-Replica", laptop.hex)]), body: [])
        }
        let latest = try hub.perform { try $0.latestSequence() }
        let noOp = request("/sync/v1/pull?after=\(latest)&limit=1000")
        XCTAssertNil(router.handleInline(noOp)?.status, "answered inline before any turn had read the token and the head")
        // The first pull binds the token to the laptop's id, a commit; the second reads afresh.
        _ = router.handle(noOp)
        _ = router.handle(noOp)
        for target in ["/sync/v1/pull?after=\(latest)&limit=1000", "/sync/v1/info", "/healthz"] {
            let inline = try XCTUnwrap(router.handleInline(request(target)), "\(target) was not answered inline")
            let queued = router.handle(request(target))
            XCTAssertEqual(inline.status, 200, target)
            XCTAssertEqual(inline.status, queued.status, target)
            XCTAssertEqual(String(decoding: inline.body, as: UTF8.self), String(decoding: queued.body, as: UTF8.self), target)
            XCTAssertEqual(inline.logAnnotations, queued.logAnnotations, target)
        }
        // Anything that needs the replica, or is not a sync at the log's end, goes to the queue.
        XCTAssertNil(router.handleInline(request("/sync/v1/pull?after=\(latest - 1)&limit=1000"))?.status, "a pull with something new")
        XCTAssertNil(router.handleInline(request("/sync/v1/pull?after=x"))?.status, "an irregular query")
        XCTAssertNil(router.handleInline(request("/sync/v1/pull?after=\(latest)", token: String(repeating: "ab", count: 32)))?.status, "an unknown token")
        XCTAssertNil(router.handleInline(request("/sync/v1/digest"))?.status)
        XCTAssertNil(router.handleInline(request("/sync/v1/push", method: "POST"))?.status)
        _ = try hub.perform { try $0.write(collection: "people", record: "p-5", [.put(field: "name", value: "Frances")]) }
        XCTAssertNil(router.handleInline(noOp)?.status, "answered inline from reads taken before a commit")
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

    /// Seeded sequences of writes (by the node and by another connection), registrations,
    /// revocations and requests: every answer of a service with quiet reads is, byte for byte, the
    /// answer of a service that always takes the replica's turn. `CHORUS_SEED=N` replays one.
    func test_quietAnswers_areATurnsAnswers_overSeededSequences() throws {
        for seed in testSeeds(count: 12, base: 0x51E7_0000) {
            try checkQuietAgainstTurns(seed: seed)
        }
    }

    private func checkQuietAgainstTurns(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let hub = try durable("hub-\(seed)", seed: seed)
        let configuration = ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000)
        let other = try Replica.open(at: .directory(folder.appending("hub-\(seed)")), configuration: configuration)
        let quiet = SyncService(executor: hub, limits: limits, wallClock: clock, watch: hub.perform { $0.openChangeWatch() })
        let turns = SyncService(executor: hub, limits: limits, wallClock: clock)
        var peers: [(name: String, token: String, id: ReplicaID)] = []
        func register() throws {
            let name = "peer\(peers.count)"
            let role: Peer.Role = Int.random(in: 0..<4, using: &random) == 0 ? .admin : .replica
            let token = Bool.random(using: &random) ? try hub.perform { try $0.addPeer(name: name, role: role) } : try other.addPeer(name: name, role: role)
            peers.append((name, token, ReplicaID.random(using: &random)))
        }
        for _ in 0..<3 { try register() }
        /// The outcome of a call as text: the response's bytes, or the error's status.
        func outcome(_ call: (SyncService) throws -> [UInt8]) -> String {
            do { return String(decoding: try call(quiet), as: UTF8.self) } catch let error as SyncError { return "status \(error.status)" } catch { return "\(error)" }
        }
        func reference(_ call: (SyncService) throws -> [UInt8]) -> String {
            do { return String(decoding: try call(turns), as: UTF8.self) } catch let error as SyncError { return "status \(error.status)" } catch { return "\(error)" }
        }
        for step in 0..<300 {
            clock.advance(by: UInt64.random(in: 0..<50, using: &random))
            // Commits on one step in six: runs of requests between them, as on a hub.
            switch Int.random(in: 0..<30, using: &random) {
            case 0..<2:
                _ = try hub.perform { try $0.write(collection: "people", record: "p\(step)", [.put(field: "name", value: .string("Node \(step)"))]) }
            case 2:
                _ = try other.write(collection: "people", record: "q\(step)", [.put(field: "title", value: .string("Other \(step)"))])
            case 3:
                try register()
            case 4:
                let victim = peers.randomElement(using: &random)!.name
                if Bool.random(using: &random) { try hub.perform { try $0.revokePeer(name: victim) } } else { try other.revokePeer(name: victim) }
            default:
                let peer = peers.randomElement(using: &random)!
                // Mostly the bound id, sometimes another: a forged identity must meet the same 403.
                let id = Int.random(in: 0..<8, using: &random) == 0 ? ReplicaID.random(using: &random) : peer.id
                let latest = try hub.perform { try $0.latestSequence() }
                let after = [latest, latest, latest + 3, max(0, latest - 2), 0].randomElement(using: &random)!
                let call: (SyncService) throws -> [UInt8] = { service in
                    let who = try service.authenticate(authorization: "Bearer \(peer.token)", replicaHeader: id.hex)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: return Array(service.info().json.canonicalText.utf8)
                    case 1: return Array("\(who.name) \(who.role.rawValue)".utf8)
                    default: return try service.pull(peer: who, after: after, limit: 1000)
                    }
                }
                // The same choices for both: the generator is copied, so each call draws alike.
                let saved = random
                let fromQuiet = outcome(call)
                let afterQuiet = random
                random = saved
                let fromTurn = reference(call)
                random = afterQuiet
                XCTAssertEqual(fromQuiet, fromTurn, "seed \(seed), step \(step): a quiet answer differs from a turn's (CHORUS_SEED=\(seed) replays)")
            }
        }
        XCTAssertGreaterThan(quiet.quietAnswers, 25, "seed \(seed): too few answers came from the quiet reads for the comparison to mean much")
        XCTAssertEqual(turns.quietAnswers, 0)
    }
}
