import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting
import SQLiteKit

/// An upstream restored from an older backup (protocol section 4.4): its log ends before what a
/// client pulled. The client sends everything again and pulls from the upstream's compaction
/// point, so what the upstream lost of the client's comes back and what it logged since reaches
/// the client, though under sequences the client had seen before.
final class RestoredUpstreamTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-restored" }

    /// A hub and an office that wrote p1 and synced, with the hub's backup taken then ("last
    /// night's"), before the office goes on.
    private func officeAndBackedUpHub(role: Peer.Role = .replica) throws -> (office: ReplicaExecutor, transport: InProcessTransport, session: SyncSession,
                                                                          hub: ReplicaExecutor, backup: String) {
        let hub = try durable("hub", seed: 1)
        let router = NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock), limits: limits)
        let (office, transport, session) = try client("office", seed: 2, hub: hub, router: router, role: role)
        try office.perform { try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        _ = try session.run()
        let backup = folder.appending("hub-backup")
        try FileManager.default.createDirectory(atPath: backup, withIntermediateDirectories: true)
        try hub.perform { replica in try replica.withDatabase { try $0.run("VACUUM INTO ?", backup + "/" + Replica.databaseFileName) } }
        return (office, transport, session, hub, backup)
    }

    /// The hub back from `backup` (its disk lost), and the office's session with it.
    private func restored(from backup: String, office: ReplicaExecutor, token: String, keepingCounters: Bool = true) throws -> (hub: ReplicaExecutor, session: SyncSession) {
        // As the hub guide restores: the backup's database, and the counters file left where it
        // was, naming every id the hub handed out (unless the disk took it).
        let counters = folder.appending("hub") + "/chorus.counters"
        if keepingCounters, FileManager.default.fileExists(atPath: counters) {
            try? FileManager.default.removeItem(atPath: backup + "/chorus.counters")
            try FileManager.default.copyItem(atPath: counters, toPath: backup + "/chorus.counters")
        }
        let hub = ReplicaExecutor(try Replica.open(at: .directory(backup), configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000)))
        let router = NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock), limits: limits)
        let transport = InProcessTransport(router: router, token: token, replica: office.perform { $0.id }, limits: limits)
        return (hub, SyncSession(executor: office, transport: transport, limits: limits, wallClock: clock))
    }

    func test_anUpstreamRestoredFromAnOlderBackup_getsBackWhatItLost_andTheClientWhatItLoggedSince() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub()
        try office.perform { try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        try office.perform { try $0.write(collection: "people", record: "p3", [.put(field: "name", value: "Alan")]) }
        _ = try session.run()
        let pulledThrough = try office.perform { try $0.upstream()?.pullCursor ?? 0 }
        XCTAssertEqual(pulledThrough, try hub.perform { try $0.latestSequence() })

        // Back from the backup, the hub takes a write before the office syncs.
        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        try restored.perform { try $0.write(collection: "people", record: "p4", [.put(field: "name", value: "Hedy")]) }
        XCTAssertLessThan(try restored.perform { try $0.latestSequence() }, pulledThrough, "the restored log ends before the office's cursor")
        let report = try again.run(compareDigests: true)
        XCTAssertTrue(report.upstreamRewound)
        XCTAssertEqual(report.pushApplied, 2, "what the hub lost of the office's (p2, p3) came back")
        XCTAssertEqual(report.pushDuplicates, 1, "what it kept (p1) counted as a duplicate")
        XCTAssertNotNil(try office.perform { try $0.get(collection: "people", record: "p4") }, "the hub's write since the backup reached the office")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try digest(office), try digest(restored))
        XCTAssertFalse(try again.run().upstreamRewound, "the next sync is an ordinary one")
    }

    /// What the hub itself wrote after its backup (an admin's resolution, an edit through its
    /// API) comes back from the office that pulled it: no node sent a hub its own operations, so
    /// it was lost there for good, every office's sync failed as diverged, and writing it again
    /// at an office made a conflict only the hub showed.
    func test_theUpstreamsOwnWritesItLost_comeBackFromTheOfficeThatPulledThem() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub(role: .relay)
        try hub.perform { try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L.")]) }
        try hub.perform { try $0.write(collection: "people", record: "p9", [.put(field: "name", value: "Hedy")]) }
        _ = try session.run()
        XCTAssertEqual(try office.perform { try $0.get(collection: "people", record: "p1")?.fields["name"] }, "Ada L.")

        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        XCTAssertNil(try restored.perform { try $0.get(collection: "people", record: "p9") }, "lost with the hub's disk")
        let report = try again.run(compareDigests: true)
        XCTAssertTrue(report.upstreamRewound)
        XCTAssertEqual(report.pushApplied, 2, "the hub's two writes since its backup came back")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try digest(office), try digest(restored))
        XCTAssertEqual(try restored.perform { try $0.get(collection: "people", record: "p1")?.fields["name"] }, "Ada L.", "its later write displays again, no conflict")
        XCTAssertEqual(try restored.perform { try $0.conflicts(collection: "people") }.count, 0)
        // Its counter moved past them: its next write is new everywhere.
        try restored.perform { try $0.write(collection: "people", record: "p10", [.put(field: "name", value: "Grace")]) }
        let next = try again.run(compareDigests: true)
        XCTAssertEqual(next.pushApplied, 0, "nothing is sent back twice")
        XCTAssertEqual(try office.perform { try $0.get(collection: "people", record: "p10")?.fields["name"] }, "Grace")
        XCTAssertEqual(try digest(office), try digest(restored))
    }

    /// An office that compacts by default keeps the hub's writes of the last week, as it keeps
    /// its own: counted as acknowledged long ago, they went at its next compaction, and with them
    /// what a restored hub would have got back. One compacted anyway is said at once.
    func test_anOfficeThatCompacts_stillSendsTheRestoredHubItsLostWrites_orSaysItCannot() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub(role: .relay)
        clock.advance(by: 8 * 86_400_000)   // the office's own write, acknowledged over a week ago, holds nothing back
        _ = try session.run()
        try hub.perform { try $0.write(collection: "people", record: "p9", [.put(field: "name", value: "Hedy")]) }
        _ = try session.run()
        _ = try session.run()   // the stretch pulled is passed by the next push
        let compaction = try office.perform { try $0.compactLog() }
        XCTAssertGreaterThan(compaction.operationsRemoved, 0, "the office's own write, a week old, goes: \(compaction.json.canonicalText)")
        XCTAssertNotNil(try office.perform { try $0.get(collection: "people", record: "p9") })
        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        let report = try again.run(compareDigests: true)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try restored.perform { try $0.get(collection: "people", record: "p9")?.fields["name"] }, "Hedy")

        try restored.perform { try $0.write(collection: "people", record: "p11", [.put(field: "name", value: "Mary")]) }
        _ = try again.run()
        _ = try again.run()
        XCTAssertGreaterThan(try office.perform { try $0.compactLog(keepAcknowledgedSeconds: 0) }.operationsRemoved, 0)
        XCTAssertGreaterThan(try office.perform { try $0.pushableCompactedThrough() }, 0, "the hub's own write compacted is counted as unsendable")
    }

    /// A relay's push of an operation in the hub's own name more than 2^40 past every counter the
    /// hub handed out is refused whole, as from a bundle: taken, it would leave the hub too few ids.
    func test_aRelaysForgeryInTheHubsName_farPastItsCounters_isRefused() throws {
        let (office, transport, _, hub, _) = try officeAndBackedUpHub(role: .relay)
        let handedOut = hub.perform { $0.counter }
        let forged = Operation(id: OperationID(replica: hub.perform { $0.id }, counter: handedOut + (1 << 41)), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: 0),
                               collection: "people", record: "p1", field: "title", action: .set(value: "Forged", supersedes: []))
        let body = PushRequest.encode(replica: office.perform { $0.id }, through: 1, relayed: [], operationTexts: [OperationCodec().canonicalText(forged)])
        XCTAssertThrowsError(try transport.push(body: body)) { XCTAssertEqual(($0 as? SyncError)?.status, 400, "\($0)") }
        XCTAssertEqual(hub.perform { $0.counter }, handedOut)
    }

    /// A hub whose disk died took its counters file with it: restored from the database alone, it
    /// would hand out again the ids of what it wrote after the backup. Its writes sent back by an
    /// office before it writes move its counter past them, so its next write is new everywhere.
    func test_aHubRestoredWithoutItsCountersFile_getsItsWritesBack_andWritesPastThem() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub(role: .relay)
        for index in 0..<3 { try hub.perform { try $0.write(collection: "people", record: "h\(index)", [.put(field: "name", value: .string("H\(index)"))]) } }
        _ = try session.run()
        let (restored, again) = try restored(from: backup, office: office, token: transport.token, keepingCounters: false)
        let report = try again.run(compareDigests: true)
        XCTAssertEqual(report.pushApplied, 3, "its three writes came back")
        XCTAssertEqual(report.digestMatches, true)
        try restored.perform { try $0.write(collection: "people", record: "h9", [.put(field: "name", value: "After")]) }
        _ = try again.run()
        XCTAssertEqual(try office.perform { try $0.get(collection: "people", record: "h9")?.fields["name"] }, "After", "not dropped as a duplicate")
        XCTAssertEqual(try digest(office), try digest(restored))
    }

    /// The same hub writing before any office sends its writes back: restored from the database
    /// alone, it wrote on from the backup's counter, under ids the offices held, and they dropped
    /// its new write as a duplicate. With no counters file beside a database with a history, its
    /// counter leaps past any id it can have handed out, and the file is written at once.
    func test_aHubRestoredWithoutItsCountersFile_thatWritesFirst_losesNoWrite() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub(role: .relay)
        for index in 0..<3 { try hub.perform { try $0.write(collection: "people", record: "h\(index)", [.put(field: "name", value: .string("H\(index)"))]) } }
        _ = try session.run()
        let handedOut = hub.perform { $0.counter }
        let (restored, again) = try restored(from: backup, office: office, token: transport.token, keepingCounters: false)
        XCTAssertGreaterThanOrEqual(restored.perform { $0.counter }, Replica.missingReservationLeap, "past any id handed out after the backup")
        XCTAssertTrue(FileManager.default.fileExists(atPath: backup + "/chorus.counters"), "the leap is written down: one restore, one leap")
        try restored.perform { try $0.write(collection: "people", record: "h9", [.put(field: "name", value: "Before the office")]) }
        XCTAssertGreaterThan(restored.perform { $0.counter }, handedOut)
        let reopened = try Replica.open(at: .directory(backup), configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000))
        XCTAssertLessThan(reopened.counter, 2 * Replica.missingReservationLeap, "opened again, the file there: no second leap")
        XCTAssertFalse(reopened.countersFileMissing)
        let report = try again.run(compareDigests: true)
        XCTAssertEqual(report.pushApplied, 3, "its three writes came back")
        XCTAssertEqual(try office.perform { try $0.get(collection: "people", record: "h9")?.fields["name"] }, "Before the office", "not dropped as a duplicate")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try digest(office), try digest(restored))
    }

    /// A laptop (a replica token) pushes only what it made: it does not send the hub its own
    /// operations back, and its sync says the states differ, as before.
    func test_aReplicaToken_doesNotSendTheUpstreamItsOwnOperations() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub()
        try hub.perform { try $0.write(collection: "people", record: "p9", [.put(field: "name", value: "Hedy")]) }
        _ = try session.run()
        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        let report = try again.run(compareDigests: true)
        XCTAssertEqual(report.pushApplied, 0)
        XCTAssertEqual(report.digestMatches, false)
        XCTAssertNil(try restored.perform { try $0.get(collection: "people", record: "p9") })
    }

    /// The case comparing lengths missed: back from the backup, the hub logs more than the office
    /// had pulled before the office syncs again, so its log ends past the office's cursor. The
    /// operation at the cursor is not the one the office was told of, and the hub says so.
    func test_anUpstreamRestoredAndLengthenedPastTheCursor_isToldByTheOperationThere() throws {
        let (office, transport, session, hub, backup) = try officeAndBackedUpHub()
        try office.perform { try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        try office.perform { try $0.write(collection: "people", record: "p3", [.put(field: "name", value: "Alan")]) }
        _ = try session.run()
        let pulled = try XCTUnwrap(try office.perform { try $0.upstream() })
        XCTAssertEqual(pulled.pullCursor, try hub.perform { try $0.latestSequence() })
        XCTAssertEqual(pulled.pullOperation, try hub.perform { try $0.loggedOperationID(at: pulled.pullCursor) },
                       "the office keeps the id the hub logged at its cursor, though that operation was its own")

        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        for index in 0..<6 {
            try restored.perform { try $0.write(collection: "people", record: "h\(index)", [.put(field: "name", value: .string("Hedy \(index)"))]) }
        }
        XCTAssertGreaterThan(try restored.perform { try $0.latestSequence() }, pulled.pullCursor, "the restored log now ends past the office's cursor")
        let report = try again.run(compareDigests: true)
        XCTAssertTrue(report.upstreamRewound, "told by the operation at its cursor, not by the log's length")
        XCTAssertEqual(report.pushApplied, 2, "what the hub lost of the office's (p2, p3) came back")
        for index in 0..<6 {
            XCTAssertNotNil(try office.perform { try $0.get(collection: "people", record: "h\(index)") }, "the hub's write h\(index) since the backup reached the office")
        }
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try digest(office), try digest(restored))
        XCTAssertFalse(try again.run().upstreamRewound, "the next sync is an ordinary one")
    }

    /// A replica that started from a snapshot moved its cursor with no id (the copy names none):
    /// the page after it, with nothing new, names the id there, and the sync keeps it.
    func test_aReplicaStartedFromASnapshot_learnsTheOperationAtItsCursor_inItsFirstSync() throws {
        limits.snapshotSequenceMin = 0   // a snapshot however short the log
        let hub = try durable("hub", seed: 1)
        for index in 0..<5 {
            try hub.perform { try $0.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("P \(index)"))]) }
        }
        let router = NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock), limits: limits)
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router)
        let report = try session.run()
        XCTAssertGreaterThan(report.snapshotOperations, 0, "it started from the snapshot")
        let upstream = try XCTUnwrap(try laptop.perform { try $0.upstream() })
        let latest = try hub.perform { try $0.latestSequence() }
        XCTAssertEqual(upstream.pullCursor, latest)
        XCTAssertNotNil(upstream.pullOperation)
        XCTAssertEqual(upstream.pullOperation, try hub.perform { try $0.loggedOperationID(at: latest) })
    }

    /// The check as the protocol states it (section 4.4), on the service: the page says which
    /// operation is at its `next`; a pull naming that one there is answered, through a turn and
    /// from the quiet reads alike, and one naming another is refused with 409, changing nothing.
    func test_aPullNamingTheOperationAtItsCursor_isCheckedAgainstTheLog() throws {
        let hub = try durable("hub", seed: 1)
        let token = try hub.perform { try $0.addPeer(name: "office", role: .replica) }
        let office = ReplicaID(hex: "0000000000000000000000000000000a")!
        let service = SyncService(executor: hub, limits: limits, wallClock: clock, watch: hub.perform { $0.openChangeWatch() })
        let turns = SyncService(executor: hub, limits: limits, wallClock: clock)   // no quiet reads: every pull takes a turn
        for index in 0..<3 {
            try hub.perform { try $0.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("P \(index)"))]) }
        }
        let peer = try service.authenticate(authorization: "Bearer \(token)", replicaHeader: office.hex)
        func pull(after: Int64, naming: OperationID?, through answering: SyncService? = nil, committed: Int64? = nil) throws -> PullResponse {
            try PullResponse.decode(try (answering ?? service).pull(peer: peer, after: after, afterOperation: naming, limit: 2, committed: committed), limits: limits)
        }
        let first = try pull(after: 0, naming: nil)
        XCTAssertTrue(first.hasMore)
        XCTAssertEqual(first.nextOperation, first.operations.last?.id, "the page names the operation at its next")
        let rest = try pull(after: first.next, naming: first.nextOperation)
        XCTAssertFalse(rest.hasMore)
        XCTAssertEqual(rest.nextOperation, rest.operations.last?.id)
        let latest = try hub.perform { try $0.latestSequence() }
        XCTAssertEqual(rest.next, latest)
        let other = OperationID(replica: office, counter: 1)
        let quietBefore = service.quietAnswers
        for (attempt, answering) in [("through a turn", turns), ("from the quiet reads", service)] {
            let atEnd = try pull(after: latest, naming: rest.nextOperation, through: answering)
            XCTAssertEqual(atEnd.operations.count, 0, attempt)
            XCTAssertEqual(atEnd.nextOperation, rest.nextOperation, "\(attempt): nothing new, and the same operation named at the end")
            XCTAssertThrowsError(try pull(after: latest, naming: other, through: answering), attempt) { error in
                XCTAssertEqual((error as? SyncError)?.status, 409, attempt)
                XCTAssertTrue((error as? SyncError)?.message.contains("restored from an older backup") ?? false, attempt)
            }
        }
        XCTAssertEqual(turns.quietAnswers, 0)
        XCTAssertEqual(service.quietAnswers, quietBefore + 2, "the quiet reads decided both: the pull answered at the end and the one refused")
        XCTAssertThrowsError(try pull(after: first.next, naming: other)) { error in
            XCTAssertEqual((error as? SyncError)?.status, 409, "checked inside the log too, not only at its end")
        }
        XCTAssertNoThrow(try pull(after: first.next, naming: nil), "a client that names nothing (older, or after a snapshot) is not checked")

        // A refused pull records nothing of the client's: its cursor counts another log.
        func committedCursor() throws -> Int64? {
            service.flushActivity()
            turns.flushActivity()
            return try hub.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT committed_seq FROM peers WHERE name = 'office'") } }
        }
        let before = try committedCursor()
        XCTAssertThrowsError(try pull(after: latest, naming: other, committed: latest))
        XCTAssertThrowsError(try pull(after: first.next, naming: other, through: turns, committed: first.next))
        XCTAssertEqual(try committedCursor(), before, "neither refusal acknowledged anything")
        _ = try pull(after: latest, naming: rest.nextOperation, committed: latest)
        XCTAssertEqual(try committedCursor(), latest, "an answered pull does")

        // Over the router: a malformed id is a 400, and nothing is read.
        let transport = InProcessTransport(router: NodeRouter(service: service, limits: limits), token: token, replica: office, limits: limits)
        for given in ["p-1", "\(office.hex):0", "\(office.hex)", "\(office.hex):01"] {
            let answer = NodeRouter(service: service, limits: limits).handle(transport.request("GET", "/sync/v1/pull?after=1&afterOperation=\(given)"))
            XCTAssertEqual(answer.status, 400, given)
        }
        XCTAssertEqual(try transport.pull(after: first.next, afterOperation: first.nextOperation, limit: 2, waitingToPush: 0, committed: 0).next, rest.next,
                       "a well-formed one goes through the router")
    }

    /// A sequence the upstream no longer holds (compacted) cannot be checked: the pull is
    /// answered, not refused, whatever it names.
    func test_aCursorTheUpstreamCompacted_isNotChecked() throws {
        let hub = try durable("hub", seed: 1)
        let token = try hub.perform { try $0.addPeer(name: "office", role: .replica) }
        let office = ReplicaID(hex: "0000000000000000000000000000000a")!
        for index in 0..<3 {
            try hub.perform { try $0.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("P \(index)"))]) }
        }
        let service = SyncService(executor: hub, limits: limits, wallClock: clock)
        let peer = try service.authenticate(authorization: "Bearer \(token)", replicaHeader: office.hex)
        let latest = try hub.perform { try $0.latestSequence() }
        _ = try service.pull(peer: peer, after: latest, limit: 10, committed: latest)   // the office holds it all, so compaction may pass it
        service.flushActivity()
        let floor = try hub.perform { try $0.compactLog().floor }
        XCTAssertEqual(floor, latest)
        XCTAssertNil(try hub.perform { try $0.loggedOperationID(at: floor) }, "the operation at the floor is gone")
        let page = try PullResponse.decode(try service.pull(peer: peer, after: floor, afterOperation: OperationID(replica: office, counter: 9), limit: 10), limits: limits)
        XCTAssertEqual(page.next, floor)
        XCTAssertNil(page.nextOperation, "and names nothing it does not hold")
    }

    /// With compaction as it runs by default, an office keeps a week of what the hub
    /// acknowledged: restored from a backup younger than that, the hub gets it all again.
    func test_aClientThatCompactedByDefault_sendsTheRestoredUpstreamAllItLost() throws {
        let (office, transport, session, _, backup) = try officeAndBackedUpHub()
        try office.perform { try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        _ = try session.run()
        clock.advance(by: 86_400_000)   // the hub's backup is a day old
        XCTAssertEqual(try office.perform { try $0.compactLog().operationsRemoved }, 0, "acknowledged within the week: kept")

        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        let report = try again.run(compareDigests: true)
        XCTAssertTrue(report.upstreamRewound)
        XCTAssertEqual(report.unsendableAfterRewind, 0, "nothing was compacted that the hub may lack")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try restored.perform { try $0.get(collection: "people", record: "p2")?.fields["name"] }, .string("Grace"), "the write the backup lacked is back")
    }

    /// A client that compacted its own log before the upstream's restore cannot send those
    /// operations again: it sends what its log still holds, pulls on, and says what it could not
    /// send, rather than failing every later sync on its compacted log.
    func test_aClientThatCompactedItsLog_syncsOnAfterTheRestore_andSaysWhatItCouldNotSendAgain() throws {
        let (office, transport, session, _, backup) = try officeAndBackedUpHub()
        try office.perform { try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        _ = try session.run()
        let floor = try office.perform { try $0.compactLog(keepAcknowledgedSeconds: 0).floor }
        XCTAssertGreaterThan(floor, 0, "everything was pushed, and the office compacts it, keeping nothing for a restore")
        try office.perform { try $0.write(collection: "people", record: "p3", [.put(field: "name", value: "Alan")]) }

        let (restored, again) = try restored(from: backup, office: office, token: transport.token)
        let report = try again.run()
        XCTAssertTrue(report.upstreamRewound)
        let compactedOwn = try office.perform { try $0.pushableCompactedThrough() }
        XCTAssertGreaterThan(compactedOwn, 0)
        XCTAssertLessThanOrEqual(compactedOwn, floor)
        XCTAssertEqual(report.unsendableAfterRewind, compactedOwn, "what of its own was compacted here is said, not sent")
        XCTAssertEqual(report.pushApplied, 1, "what the log still holds (p3) went")
        XCTAssertEqual(report.diverged, true, "compared at once, though not asked: the hub lacks p2 for good, and this sync says so")
        XCTAssertNotNil(try restored.perform { try $0.get(collection: "people", record: "p3") })
        XCTAssertFalse(try again.run().upstreamRewound, "and the next sync is an ordinary one")
    }
}
