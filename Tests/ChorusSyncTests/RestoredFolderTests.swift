import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting
import SQLiteKit

/// A replica folder restored from a backup of itself, or copied, lacks operations of its own
/// that its upstream holds, and its counters went back with it (`Replica+OwnOperations.swift`,
/// protocol 4.2 `ownOperations`). Whether or not the hub compacted its log since, the sync finds
/// it before pushing: with nothing unsent under an id the hub holds, what it wrote since goes up
/// and it starts again from the hub's snapshot, its lost operations back; else nothing is sent.
final class RestoredFolderTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-restored" }

    /// A hub of a few people, its service and router.
    func makeHub(_ name: String = "hub") throws -> (ReplicaExecutor, SyncService, NodeRouter) {
        let hub = try durable(name, seed: 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "h-1", [.put(field: "name", value: "On the hub")]) }
        let service = SyncService(executor: hub, limits: limits, wallClock: clock, watch: hub.perform { $0.openChangeWatch() })
        return (hub, service, NodeRouter(service: service, limits: limits))
    }

    func name(_ executor: ReplicaExecutor, _ record: String) throws -> JSONValue? {
        try executor.perform { try $0.get(collection: "people", record: record)?.fields["name"] }
    }

    func test_withNothingWrittenSince_itStartsAgainFromTheSnapshot_andHasItsLostOperationsBack() throws {
        for compacting in [false, true] {
            let (hub, service, router) = try makeHub("hub-\(compacting)")
            let (restored, session) = try restoredLaptop(hub: hub, service: service, router: router, compacting: compacting)
            XCTAssertNil(try name(restored, "l-4"), "the backup lacks what came after it")
            let report = try session.run(compareDigests: true)
            XCTAssertEqual(report.lostOwnOperations?.lackingCount, 3, "compacting: \(compacting)")
            XCTAssertGreaterThan(report.snapshotOperations, 0, "\(report.snapshotRefused ?? "")")
            XCTAssertEqual(report.digestMatches, true)
            XCTAssertEqual(try name(restored, "l-4"), "After the backup", "its own operations are back")
            XCTAssertEqual(try restored.perform { try $0.invariantViolations() }, [], "sound, and no log_latest row of its own from the hub's copy")
            // Its next write takes an id past every one the hub holds, and goes up.
            let next = try restored.perform { try $0.write(collection: "people", record: "l-5", [.put(field: "name", value: "Next")]) }
            XCTAssertGreaterThan(next.first?.id.counter ?? 0, 4)
            XCTAssertNil(try session.run(compareDigests: true).lostOwnOperations, "nothing lacking any more")
            XCTAssertEqual(try name(hub, "l-5"), "Next")
            XCTAssertEqual(try digest(hub), try digest(restored))
        }
    }

    /// Written since under ids past every one the hub holds (its counter file reserved past
    /// them, or no counters file at all, when its counter leaps), the new writes go up, then it
    /// starts again: nothing of either lineage is lost.
    func test_withWritesSinceUnderNewIds_theyGoUp_thenItStartsAgain() throws {
        try writesSinceUnderNewIds(reserved: 1_000)
    }

    func test_restoredWithoutItsCountersFile_itsWritesSinceTakeNewIds_goUp_andItStartsAgain() throws {
        try writesSinceUnderNewIds(reserved: nil)
    }

    private func writesSinceUnderNewIds(reserved: UInt64?) throws {
        do {
            let (hub, service, router) = try makeHub()
            let (restored, session) = try restoredLaptop(hub: hub, service: service, router: router, compacting: true, reserved: reserved)
            try restored.perform { _ = try $0.write(collection: "people", record: "l-new", [.put(field: "name", value: "After the restore")]) }
            let report = try session.run(compareDigests: true)
            XCTAssertEqual(report.pushApplied, 1, "reserved: \(reserved.map(String.init) ?? "no file")")
            XCTAssertGreaterThan(report.snapshotOperations, 0, "\(report.snapshotRefused ?? "")")
            XCTAssertEqual(report.digestMatches, true)
            for (record, value) in [("l-1", "Before the backup"), ("l-4", "After the backup"), ("l-new", "After the restore")] {
                XCTAssertEqual(try name(restored, record), .string(value), record)
                XCTAssertEqual(try name(hub, record), .string(value), record)
            }
        }
    }

    /// Restored from a backup taken before its first write (it had only synced), it holds no
    /// operation of its own to compare: it asks all the same, and gets its writes back.
    func test_restoredFromABackupTakenBeforeItsFirstWrite_itGetsItsWritesBack() throws {
        let (hub, _, router) = try makeHub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router)
        _ = try session.run()
        let backup = folder.appending("before-any-write.sqlite")
        try laptop.perform { try $0.withDatabase { try $0.run("VACUUM INTO ?", backup) } }
        for index in 1...3 { try laptop.perform { _ = try $0.write(collection: "people", record: "l-\(index)", [.put(field: "name", value: "Written")]) } }
        _ = try session.run()
        let restoredFolder = folder.appending("restored-early")
        try FileManager.default.createDirectory(atPath: restoredFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: backup, toPath: (restoredFolder as NSString).appendingPathComponent(Replica.databaseFileName))
        let restored = ReplicaExecutor(try Replica.open(at: .directory(restoredFolder),
                                                        configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000)))
        XCTAssertTrue(try restored.perform { try $0.loggedIntervals(of: $0.id, max: 1) }.isEmpty, "no operation of its own logged")
        let report = try SyncSession(executor: restored, transport: transport, limits: limits, wallClock: clock).run(compareDigests: true)
        XCTAssertEqual(report.lostOwnOperations?.lackingCount, 3)
        XCTAssertGreaterThan(report.snapshotOperations, 0, "\(report.snapshotRefused ?? "")")
        XCTAssertEqual(try name(restored, "l-3"), "Written")
        XCTAssertEqual(report.digestMatches, true)
    }

    /// Its writes since the restore took exactly the ids it lost, which the hub compacted: it
    /// lacks none of them, and only the content hash of the highest (`ownLatest`) tells the two apart.
    /// Nothing is sent, the pull goes on, and the sync fails saying so, every time: the writes
    /// were dropped as duplicates, unseen, before.
    func test_writesSinceTakingExactlyTheLostIds_areRefused_evenOnceTheHubCompacted() throws {
        let (hub, service, router) = try makeHub()
        // Beside it a counters file naming none (an operator's `reserved 0`): with no file at all,
        // its counter leaps past the lost ids instead (`Replica.missingReservationLeap`).
        let (restored, session) = try restoredLaptop(hub: hub, service: service, router: router, compacting: true, reserved: 0)
        // The test's clock stands still: the writes since take the lost ones' stamps too, as a
        // clock running behind one it pulled does (its logical count goes on from the backup's).
        // Only their content tells them apart.
        for index in 2...4 {
            try restored.perform { _ = try $0.write(collection: "people", record: "l-\(index)", [.put(field: "name", value: "After the restore")]) }
        }
        XCTAssertEqual(try restored.perform { try $0.loggedIntervals(of: $0.id, max: 10) }.map(\.last), [4], "the ids it lost, taken again")
        try hub.perform { _ = try $0.write(collection: "people", record: "h-2", [.put(field: "name", value: "Later on the hub")]) }
        let hubDigest = try digest(hub)
        for attempt in 1...2 {
            XCTAssertThrowsError(try session.run(compareDigests: true), "attempt \(attempt)") { error in
                let refusal = error as? ChorusError
                XCTAssertEqual(refusal?.code, .invalidState, "\(error)")
                XCTAssertTrue(refusal?.message.contains(":4, is another here") ?? false, "\(error)")
                XCTAssertTrue(refusal?.message.contains("3 operations made here and not sent yet carry ids") ?? false, "\(error)")
            }
            XCTAssertEqual(try digest(hub), hubDigest, "nothing was sent (attempt \(attempt))")
            XCTAssertEqual(try name(restored, "l-3"), "After the restore", "the writes stay, to be made again (attempt \(attempt))")
        }
        XCTAssertEqual(try name(hub, "l-3"), "After the backup")
        // A client that does not ask (`own=1`) pushes them: the hub's own check refuses the page
        // holding the highest, by its stamp, though its bytes are compacted away.
        var unasking = session
        unasking.checksOwnOperations = false
        XCTAssertThrowsError(try unasking.run()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 409, "\(error)")
            XCTAssertTrue("\(error)".contains("reuses an id this node holds for another operation (first "), "\(error)")
        }
        XCTAssertEqual(try digest(hub), hubDigest, "nothing was applied")
    }

    /// Not starting again (here it does not use snapshots), it takes its lost operations back
    /// with its pull (`own=1`, protocol 4.4): they come after its cursor, pushed after the backup.
    func test_withoutASnapshot_itTakesItsLostOperationsBackWithItsPull() throws {
        let (hub, service, router) = try makeHub()
        var (restored, session) = try restoredLaptop(hub: hub, service: service, router: router, compacting: false)
        try hub.perform { _ = try $0.write(collection: "people", record: "h-2", [.put(field: "name", value: "Later on the hub")]) }
        session.usesSnapshots = false
        let report = try session.run(compareDigests: true)
        XCTAssertEqual(report.lostOwnOperations?.lackingCount, 3)
        XCTAssertEqual(report.snapshotOperations, 0)
        XCTAssertEqual(report.ownTakenBack, 3)
        XCTAssertNil(report.lostOwnUnrecovered)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try name(restored, "l-4"), "After the backup", "its own operations are back")
        XCTAssertEqual(try name(restored, "h-2"), "Later on the hub", "the pull went on")
        XCTAssertEqual(try restored.perform { try $0.invariantViolations() }, [])
        XCTAssertNil(try session.run().lostOwnOperations, "nothing lacking any more")
    }

    /// An upstream that leaves them out of its pull (one older than `own` on pulls ignores it):
    /// it says so as a state syncing will not mend, and keeps what the sync did; nothing is thrown.
    func test_unableToTakeThemBack_itSaysSo_andTheSyncsWorkStays() throws {
        let (hub, service, router) = try makeHub()
        let (restored, restoredSession) = try restoredLaptop(hub: hub, service: service, router: router, compacting: false)
        try hub.perform { _ = try $0.write(collection: "people", record: "h-2", [.put(field: "name", value: "Later on the hub")]) }
        var session = SyncSession(executor: restored, transport: LeavingOwnOut(inner: try XCTUnwrap(restoredSession.transport as? InProcessTransport)),
                                  limits: limits, wallClock: clock)
        session.usesSnapshots = false
        let report = try session.run()
        XCTAssertTrue(report.lostOwnUnrecovered?.contains("snapshots are not used: --no-snapshot") ?? false, "\(report.lostOwnUnrecovered ?? "nil")")
        XCTAssertTrue(report.lostOwnUnrecovered?.contains("the upstream's pull left them out") ?? false, "\(report.lostOwnUnrecovered ?? "nil")")
        XCTAssertEqual(report.ownTakenBack, 0)
        XCTAssertEqual(try name(restored, "h-2"), "Later on the hub", "the pull went on")
        XCTAssertNil(try name(restored, "l-4"))
    }

    /// A transport to an upstream that ignores `own` on its pull.
    struct LeavingOwnOut: SyncTransport {
        let inner: InProcessTransport
        func info(ownOperations: Bool) throws -> InfoResponse { try inner.info(ownOperations: ownOperations) }
        func push(body: [UInt8]) throws -> PushResponse { try inner.push(body: body) }
        func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64, own: Bool) throws -> PullResponse {
            try inner.pull(after: after, afterOperation: afterOperation, limit: limit, waitingToPush: waitingToPush, committed: committed, own: false)
        }
        func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse { try inner.digest(reporting: local) }
    }

    /// An office restored from a backup of itself, with a laptop registered below it, cannot
    /// start again from the hub's snapshot (the laptop's cursor counts its log) and says why; it
    /// takes back its own writes since the backup, and the laptop's it had passed on, with its
    /// pull, and the laptop below, rewound, ends with the same state. A day-2 review found such an
    /// office "diverged" for good, its people seeing the values from before the backup, and the
    /// reason given was "none was offered".
    func test_anOfficeWithALaptopBelow_restoredFromABackup_takesItsWritesBack_andTheLaptopFollows() throws {
        let (hub, _, hubRouter) = try makeHub()
        let (office, officeTransport, officeSession) = try client("office", seed: 2, hub: hub, router: hubRouter, role: .relay)
        let laptopToken = try office.perform { try $0.addPeer(name: "ana", role: .replica) }
        let laptop = try durable("ana", seed: 3)
        try laptop.perform { try $0.setUpstream(url: "http://office", tokenFile: "/dev/null") }
        func laptopSession(_ office: ReplicaExecutor) throws -> SyncSession {
            let router = NodeRouter(service: SyncService(executor: office, limits: limits, wallClock: clock), limits: limits)
            let transport = InProcessTransport(router: router, token: laptopToken, replica: try laptop.perform { $0.id }, limits: limits)
            return SyncSession(executor: laptop, transport: transport, limits: limits, wallClock: clock)
        }
        try office.perform { _ = try $0.write(collection: "people", record: "o-1", [.put(field: "name", value: "Before the backup")]) }
        _ = try officeSession.run()
        // Passed up only after the backup: the restored office pushes it again, a duplicate.
        try laptop.perform { _ = try $0.write(collection: "people", record: "a-0", [.put(field: "name", value: "Below, before the backup")]) }
        _ = try laptopSession(office).run()
        let backup = folder.appending("office-backup.sqlite")
        try office.perform { try $0.withDatabase { try $0.run("VACUUM INTO ?", backup) } }
        for index in 2...4 { try office.perform { _ = try $0.write(collection: "people", record: "o-\(index)", [.put(field: "name", value: "After the backup")]) } }
        try laptop.perform { _ = try $0.write(collection: "people", record: "a-1", [.put(field: "name", value: "From the laptop")]) }
        _ = try laptopSession(office).run()
        _ = try officeSession.run()
        _ = try laptopSession(office).run()
        XCTAssertEqual(try name(hub, "a-1"), "From the laptop")

        let restoredFolder = folder.appending("office-restored")
        try FileManager.default.createDirectory(atPath: restoredFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: backup, toPath: (restoredFolder as NSString).appendingPathComponent(Replica.databaseFileName))
        try "reserved 1000\n".write(toFile: (restoredFolder as NSString).appendingPathComponent("chorus.counters"), atomically: true, encoding: .utf8)
        let restored = ReplicaExecutor(try Replica.open(at: .directory(restoredFolder),
                                                        configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000)))
        XCTAssertNil(try name(restored, "o-4"), "the backup lacks what came after it")
        let report = try SyncSession(executor: restored, transport: officeTransport, limits: limits, wallClock: clock).run(compareDigests: true)
        XCTAssertEqual(report.lostOwnOperations?.lackingCount, 3)
        XCTAssertEqual(report.snapshotOperations, 0)
        XCTAssertEqual(report.pushDuplicates, 1, "what it had passed up after the backup went up again")
        XCTAssertTrue(report.snapshotRefused?.contains("replicas are registered below it") ?? false, "\(report.snapshotRefused ?? "nil")")
        XCTAssertEqual(report.ownTakenBack, 3)
        XCTAssertNil(report.lostOwnUnrecovered)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try name(restored, "o-4"), "After the backup", "its own writes are back")
        XCTAssertEqual(try name(restored, "a-1"), "From the laptop", "and the laptop's it had passed on")
        XCTAssertEqual(try restored.perform { try $0.invariantViolations() }, [])
        XCTAssertEqual(try restored.perform { try $0.pendingPushCount() }, 0, "what it took back is not pushed again")

        let laptopReport = try laptopSession(restored).run(compareDigests: true)
        XCTAssertEqual(laptopReport.digestMatches, true, "the laptop below ends with the office's state")
        XCTAssertFalse(laptopReport.diverged)
        XCTAssertEqual(try digest(laptop), try digest(restored))
        XCTAssertEqual(try digest(hub), try digest(restored))
        // Its next write takes an id past every one the hub holds, and goes up.
        let next = try restored.perform { try $0.write(collection: "people", record: "o-5", [.put(field: "name", value: "Next")]) }
        XCTAssertGreaterThan(next.first?.id.counter ?? 0, 4)
        XCTAssertNil(try SyncSession(executor: restored, transport: officeTransport, limits: limits, wallClock: clock).run().lostOwnOperations)
        XCTAssertEqual(try name(hub, "o-5"), "Next")
    }

    /// A pull with `own=1` holds the asker's own operations and those that came through it (a
    /// relay's, from below it), which a pull otherwise leaves out; `own` is `1` or absent, as `info`'s.
    func test_aPullWithOwn_holdsTheAskersOwnAndRelayedOperations_andOwnIsOneOrAbsent() throws {
        let (hub, _, router) = try makeHub()
        let (office, transport, session) = try client("office", seed: 2, hub: hub, router: router, role: .relay)
        let laptop = try durable("below", seed: 3)
        try laptop.perform { try $0.setUpstream(url: "http://office", tokenFile: "/dev/null") }
        let token = try office.perform { try $0.addPeer(name: "below", role: .replica) }
        let officeRouter = NodeRouter(service: SyncService(executor: office, limits: limits, wallClock: clock), limits: limits)
        let below = SyncSession(executor: laptop, transport: InProcessTransport(router: officeRouter, token: token, replica: try laptop.perform { $0.id }, limits: limits),
                                limits: limits, wallClock: clock)
        try office.perform { _ = try $0.write(collection: "people", record: "o-1", [.put(field: "name", value: "Made at the office")]) }
        try laptop.perform { _ = try $0.write(collection: "people", record: "b-1", [.put(field: "name", value: "Made below")]) }
        _ = try below.run()
        _ = try session.run()
        XCTAssertEqual(try name(hub, "b-1"), "Made below")
        func records(own: Bool) throws -> Set<String> {
            Set(try transport.pull(after: 0, afterOperation: nil, limit: 100, waitingToPush: 0, committed: 0, own: own).operations.map(\.record))
        }
        XCTAssertEqual(try records(own: false), ["h-1"], "a pull echoes nothing of the asker's")
        XCTAssertEqual(try records(own: true), ["h-1", "o-1", "b-1"])
        XCTAssertNoThrow(try transport.respond("GET", "/sync/v1/pull?after=0&limit=10&own=1"))
        XCTAssertThrowsError(try transport.respond("GET", "/sync/v1/pull?after=0&limit=10&own=yes")) { error in
            XCTAssertEqual((error as? SyncError)?.status, 400, "\(error)")
        }
    }

    /// An upstream answers `?own=1` with the intervals of the asker's own operations it holds,
    /// and `info` without it says nothing of them (and is answered without the replica's turn).
    func test_info_saysWhichOfTheAskersOwnOperationsItHolds_onlyWhenAsked() throws {
        let (hub, _, router) = try makeHub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router)
        XCTAssertEqual(try transport.info(ownOperations: true).ownOperations, CounterRanges(), "none yet")
        for index in 1...3 { try laptop.perform { _ = try $0.write(collection: "people", record: "l-\(index)", [.put(field: "name", value: "x")]) } }
        _ = try session.run()
        let held = try XCTUnwrap(try transport.info(ownOperations: true).ownOperations)
        XCTAssertEqual(held.count, 3)
        XCTAssertEqual(held, CounterRanges(sortedRows: try laptop.perform { try $0.loggedIntervals(of: $0.id, max: 10) }))
        let latest = try XCTUnwrap(try transport.info(ownOperations: true).ownLatest)
        XCTAssertNil(try laptop.perform { try $0.loggedLatest(of: $0.id) }, "a replica keeps no row of its own")
        let bytes = try laptop.perform { try $0.log(after: 0, limit: 100).compactMap(\.operation).last { $0.id.counter == 3 } }
        XCTAssertEqual(latest.hash, Replica.LatestOperation.hash(OperationCodec().canonicalBytes(try XCTUnwrap(bytes), valueText: nil)), "of its canonical bytes")
        XCTAssertEqual(latest.counter, 3)
        XCTAssertNil(try transport.info().ownOperations)
        XCTAssertThrowsError(try transport.respond("GET", "/sync/v1/info?own=2")) { error in
            XCTAssertEqual((error as? SyncError)?.status, 400, "\(error)")
        }
    }
}
