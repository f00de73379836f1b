import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
@testable import ChorusNode
import ChorusTesting
import SQLiteKit

/// A laptop registered for one person (`chorus replicas add NAME --person ID`) writes as them
/// only: its upstream refuses a push holding another's write, whole, and the laptop, once it has
/// learnt whose it is, refuses such a write before making it. A replica registered for no one
/// is trusted as before (protocol 8).
final class PersonBoundReplicaTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-person-bound" }

    /// A hub holding the people p-1 to p-3 (p-3 deleted), and its router.
    private func hub() throws -> (ReplicaExecutor, NodeRouter) {
        let hub = try durable("hub", seed: 1)
        try hub.perform { replica in
            for index in 1...3 { _ = try replica.write(collection: "people", record: "p-\(index)", [.put(field: "name", value: .string("Person \(index)"))]) }
            _ = try replica.write(collection: "people", record: "p-3", [.delete])
        }
        return (hub, NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock), limits: limits))
    }

    /// What a `chorus sync --set-aside-refused` killed right after starting again leaves: the
    /// laptop holds the hub's copy, its waiting writes kept pending. Returns the laptop's folder.
    private func startAgainAsAKilledSyncLeavesIt(_ laptop: ReplicaExecutor, from hub: ReplicaExecutor, through transport: InProcessTransport) throws -> String {
        let folder = folder.appending("laptop")
        let path = folder + "/" + Replica.snapshotFilePrefix + "in-test.sqlite"
        defer { Replica.removeSnapshotFile(path) }
        // Reaching the hub's log's end, as the sync asks: never a copy cached before its last write.
        let reaching = try hub.perform { try $0.latestSequence() }
        let through = try transport.snapshot(storage: laptop.perform { $0.storageVersion }, reaching: reaching, into: path) { _, _ in }
        let hubID = hub.perform { $0.id }
        _ = try laptop.perform { try $0.adoptSnapshot(at: path, through: through, from: hubID, replacing: true, settingAside: true) }
        return folder
    }

    private func thanks(from: String, to: String = "p-2") -> [Change] {
        [.put(field: "from", value: .string(from)), .put(field: "to", value: .string(to)), .put(field: "kind", value: "thanks"),
         .put(field: "body", value: "Thanks!"), .put(field: "visibility", value: "public")]
    }

    private func assertRefused(_ expression: @autoclosure () throws -> Any, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .refused, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(phrase), "\(error)", file: file, line: line)
        }
    }

    func test_aLaptopLearnsWhoseItIs_writesAsThemByDefault_andRefusesAnothersWriteBeforeMakingIt() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        XCTAssertEqual(try transport.info().person, "p-1", "the upstream says whose the token is")
        XCTAssertNil(try laptop.perform { try $0.upstream()?.person }, "not known before its first sync")
        _ = try session.run()
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.person }, "p-1")

        let made = try laptop.perform { try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "Lead")]) }
        XCTAssertEqual(made.map(\.author), ["p-1"], "no author named: the laptop's person")
        let waiting = try laptop.perform { try $0.pendingPushCount() }

        assertRefused(try laptop.perform { try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Boss")], by: "p-2") },
                      "it is made in the name of p-2")
        assertRefused(try laptop.perform { try $0.write(collection: "feedback", record: "fb-forged", self.thanks(from: "p-2"), by: "p-1") },
                      "it sets feedback.from to p-2")
        assertRefused(try laptop.perform {
            try $0.write(collection: "opportunities", record: "o-1", [.add(field: "interested", element: "p-2")], by: "p-1")
        }, "it changes opportunities.interested for p-2")
        XCTAssertNil(try laptop.perform { try $0.get(collection: "feedback", record: "fb-forged") }, "a refused write makes nothing, not even its first field")
        XCTAssertEqual(try laptop.perform { try $0.pendingPushCount() }, waiting, "nothing more waits to go up")

        // What is theirs goes up as before, and the hub takes it.
        try laptop.perform { _ = try $0.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"), by: "p-1") }
        try laptop.perform {
            _ = try $0.write(collection: "feedback", record: "fb-1", [.append(field: "comments", value: .object(["author": "p-1", "body": "And more"]))])
        }
        let report = try session.run()
        XCTAssertEqual(report.pushApplied, 7)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "feedback", record: "fb-1")?.fields["from"] }, "p-1")
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Lead")
    }

    /// Written before the laptop knew whose it is (or by an older chorus): the hub applies nothing
    /// of the push, the laptop still takes what others wrote, and the sync fails saying why.
    func test_theUpstreamRefusesAPushHoldingAnothersWrite_whole_andThePullGoesOn() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")], by: "p-1")
            _ = try replica.write(collection: "feedback", record: "fb-forged", self.thanks(from: "p-2"), by: "p-2")
        }
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Coach")]) }

        XCTAssertThrowsError(try session.run()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 403, "\(error)")
            XCTAssertTrue("\(error)".contains("is registered for p-1"), "\(error)")
            XCTAssertTrue("\(error)".contains("it is made in the name of p-2"), "\(error)")
            XCTAssertTrue((error as? SyncError)?.hint?.contains("chorus sync --set-aside-refused") ?? false, "\(error)")
        }
        XCTAssertNil(try hub.perform { try $0.get(collection: "feedback", record: "fb-forged") })
        XCTAssertNil(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] },
                     "all or nothing: the write of p-1's own in the same push was not applied either")
        XCTAssertEqual(try laptop.perform { try $0.get(collection: "people", record: "p-2")?.fields["title"] }, "Coach", "the pull went on")
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.person }, "p-1")
        XCTAssertEqual(try laptop.perform { try $0.pendingPushCount() }, 6, "nothing went up")
        XCTAssertEqual(try laptop.perform { try PeopleAPI.status($0, signedIn: true)["state"] }, "refused", "the page says refused, not offline")
        for (error, refused) in [("the upstream answered 403: not theirs", true), ("the upstream answered 422: stamped ahead", true),
                                 ("the upstream answered 401: revoked token", true), ("the upstream answered 408: too slow", false),
                                 ("the upstream answered 429: busy", false), ("the upstream answered 503: disk full", false),
                                 ("connection refused (127.0.0.1:7420)", false),
                                 (HTTPTransport.refusal(status: 302, body: []).message, true)] {
            XCTAssertEqual(HTTPTransport.isRefusal(error), refused, error)
        }
    }

    /// A refused write held up every later write of the laptop for good. Set aside, it stays on
    /// the laptop (listed, never synced) and leaves its state; the writes the upstream takes go
    /// up with their own ids and stamps, a write needing a set-aside one is set aside with it,
    /// and the laptop converges with the hub and goes on writing.
    func test_refusedWritesSetAside_leaveTheLaptopsState_andTheRestGoesUp() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        // Made before the laptop learnt whose it is: one write of p-1's before the forged one,
        // one after, and a comment of p-1's in the forged item, which needs it.
        let made = try laptop.perform { replica in
            [try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")], by: "p-1"),
             try replica.write(collection: "feedback", record: "fb-forged", self.thanks(from: "p-2"), by: "p-2"),
             try replica.write(collection: "feedback", record: "fb-forged", [.append(field: "comments", value: .object(["author": "p-1", "body": "Agreed"]))], by: "p-1"),
             try replica.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"), by: "p-1")]
        }
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Coach")]) }
        XCTAssertThrowsError(try session.run(), "refused, as before")
        XCTAssertNotNil(try laptop.perform { try $0.get(collection: "feedback", record: "fb-forged") })

        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.setAsideWrites, 2, "the forged write and the comment in it")
        XCTAssertEqual(report.setAside, 6)
        XCTAssertEqual(report.madeAgain, 6, "p-1's title, and p-1's thanks")
        XCTAssertEqual(report.digestMatches, true, "the laptop holds what the hub holds")
        XCTAssertNil(try laptop.perform { try $0.get(collection: "feedback", record: "fb-forged") }, "set aside: gone from the state")
        XCTAssertNil(try hub.perform { try $0.get(collection: "feedback", record: "fb-forged") })
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Mine")
        XCTAssertEqual(try hub.perform { try $0.get(collection: "feedback", record: "fb-1")?.fields["from"] }, "p-1")
        XCTAssertEqual(try laptop.perform { try $0.get(collection: "people", record: "p-2")?.fields["title"] }, "Coach", "what others wrote is here")
        let hubLog = try hub.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation) }
        for operation in made[0] + made[3] {
            XCTAssertTrue(hubLog.contains { $0.id == operation.id && $0.timestamp == operation.timestamp },
                          "made again with its own id and stamp: \(operation.id)")
        }
        let aside = try laptop.perform { try $0.setAsideOperations(limit: 100) }
        XCTAssertEqual(aside.map(\.operation.id), (made[1] + made[2]).map(\.id))
        XCTAssertTrue(aside[0].reason?.contains("it is made in the name of p-2") == true, "\(aside[0])")
        XCTAssertTrue(aside.last!.reason?.contains("not here yet") == true, "\(aside.last!)")
        XCTAssertEqual(try laptop.perform { try $0.setAsideCounts().setAside }, 6)
        XCTAssertEqual(try laptop.perform { try $0.pendingPushCount() }, 0)

        // It goes on: the next write goes up, and a sync sets nothing more aside.
        try laptop.perform { _ = try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "Lead")]) }
        let next = try setting.run(compareDigests: true)
        XCTAssertEqual(next.pushApplied, 1)
        XCTAssertEqual(next.setAside, 0)
        XCTAssertEqual(next.digestMatches, true)
        XCTAssertEqual(try laptop.perform { try $0.invariantViolations() }, [])
    }

    /// Killed between its two steps (the snapshot taken, the waiting writes not yet made again),
    /// a laptop holds every write in `set_aside`, pending; the next process to open it checks
    /// and makes them again, and its next sync sends them.
    func test_writesKeptPendingByAStartKilledHalfWay_areMadeAgainAtTheNextOpen() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        _ = try session.run()
        let mine = try laptop.perform { try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")]) }
        let folder = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)
        XCTAssertNil(try laptop.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "taken out of the state")
        XCTAssertEqual(try laptop.perform { try $0.setAsideCounts().pending }, 1, "kept, pending")

        // The next process to open the folder makes them again before anything reads it.
        let reopened = try Replica.open(at: .directory(folder))
        XCTAssertEqual(try reopened.get(collection: "people", record: "p-1")?.fields["title"], "Mine")
        XCTAssertEqual(try reopened.setAsideCounts().pending, 0)
        let report = try session.run(compareDigests: true)
        XCTAssertEqual(report.pushApplied, 1, "it goes up")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Mine")
        XCTAssertEqual(try hub.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation).last?.id }, mine[0].id)
        XCTAssertEqual(try laptop.perform { try $0.setAsideCounts().pending }, 0)
    }

    /// The copy a laptop starts again from reaches all it pulled: the hub's copy served a minute
    /// before, when the laptop had pulled less, lacks what it pulled since, and starting again
    /// from it would drop that (refused); the laptop asks for one reaching its cursor, and the
    /// hub writes one.
    func test_settingAside_startsAgainFromACopyReachingAllThatWasPulled() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        let (_, other, _) = try client("other", seed: 3, hub: hub, router: router)
        let path = folder.appending("cached.sqlite")
        let cached = try other.snapshot(storage: hub.perform { $0.storageVersion }, into: path)
        Replica.removeSnapshotFile(path)
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "After the copy")]) }
        try laptop.perform { _ = try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2") }
        XCTAssertThrowsError(try session.run())
        XCTAssertGreaterThan(try laptop.perform { try $0.upstream()?.pullCursor ?? 0 }, cached, "the laptop pulled past the cached copy")

        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.setAside, 1)
        XCTAssertGreaterThan(report.snapshotOperations, cached, "a new copy, not the cached one")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try laptop.perform { try $0.get(collection: "people", record: "p-2")?.fields["title"] }, "After the copy")
    }

    /// A remove that named no one, of an element someone else removed at the upstream meanwhile,
    /// is made anew as the laptop's person as what it is, done: remade, it found nothing to
    /// remove and was refused again, set aside for good with the write holding it.
    func test_settingAside_aRemoveOfAnElementRemovedMeanwhile_isMadeAnewAsDone() throws {
        let (hub, router) = try hub()
        try hub.perform { _ = try $0.write(collection: "people", record: "p-1", [.add(field: "guilds", element: "web")]) }
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        // The laptop has the hub's data from a bundle, before its first sync: it knows no person yet.
        var bundle: [UInt8] = []
        _ = try hub.perform { try $0.exportBundle(since: 0) { bundle += $0 } }
        _ = try laptop.perform { try $0.importBundle(bundle) }
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-1", [.remove(field: "guilds", element: "web"), .put(field: "title", value: "Lead")])
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2")
        }
        try hub.perform { _ = try $0.write(collection: "people", record: "p-1", [.remove(field: "guilds", element: "web")]) }
        XCTAssertThrowsError(try session.run(), "refused for the forged write")
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.setAsideWrites, 1, "the forged write alone")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Lead", "the write holding the remove went up")
        XCTAssertEqual(try laptop.perform { try $0.setAsideOperations(limit: 100) }.count, 1)
    }

    /// A copy reaching past the upstream's log cannot be: 409, and no copy is written (each such
    /// request once skipped every copy kept and wrote the whole database anew).
    func test_aSnapshotReachingPastTheLogsEnd_isRefused() throws {
        let (hub, router) = try hub()
        let (_, other, _) = try client("other", seed: 3, hub: hub, router: router)
        let latest = try hub.perform { try $0.latestSequence() }
        let path = folder.appending("past.sqlite")
        defer { Replica.removeSnapshotFile(path) }
        XCTAssertThrowsError(try other.snapshot(storage: hub.perform { $0.storageVersion }, reaching: latest + 1, into: path) { _, _ in }) { error in
            XCTAssertEqual((error as? SyncError)?.status, 409, "\(error)")
            XCTAssertTrue("\(error)".contains("past this upstream's log, which ends at \(latest)"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(try other.snapshot(storage: hub.perform { $0.storageVersion }, reaching: latest, into: path) { _, _ in }, latest, "reaching the end: served")
    }

    /// An upstream whose log is compacted past a laptop's cursor (a laptop that wrote before its
    /// first sync with an office started from a snapshot): the laptop cannot pull, nor start again
    /// while its writes wait behind the refusal. The refusal is what it is told; setting aside
    /// starts it again from the snapshot anyway.
    func test_settingAside_worksWhenTheUpstreamsLogIsCompactedPastTheLaptop() throws {
        let (hub, router) = try hub()
        _ = try hub.perform { try $0.compactLog(keepAcknowledgedSeconds: 0) }
        XCTAssertGreaterThan(try hub.perform { try $0.compactionFloor() }, 0)
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2")
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")], by: "p-1")
        }
        XCTAssertThrowsError(try session.run()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 403, "\(error)")
            XCTAssertTrue("\(error)".contains("the pull could not go on either"), "\(error)")
            XCTAssertTrue((error as? SyncError)?.hint?.contains("--set-aside-refused") == true, "\(error)")
        }
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.setAside, 1)
        XCTAssertEqual(report.madeAgain, 1)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Mine")
    }

    /// A write set aside never comes back: an older bundle of the folder, imported, brings it
    /// again, and it is taken as held (else the next start would set it aside, or make it anew,
    /// twice).
    func test_aWriteSetAside_isNotTakenAgainFromAnOlderBundle() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        let forged = try laptop.perform { try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2") }
        let unattributed = try laptop.perform { try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")]) }
        var setting = session
        setting.setsAsideRefused = true
        let first = try setting.run()
        XCTAssertEqual(first.setAside, 1)
        XCTAssertEqual(first.madeAsPerson, 1)
        let imported = try laptop.perform { try $0.applyRemote(forged + unattributed) }
        XCTAssertEqual(imported.applied, 0, "neither the one set aside nor the one made anew")
        XCTAssertEqual(imported.duplicates, 2)
        XCTAssertEqual(try laptop.perform { try $0.pendingPushCount() }, 0)
        XCTAssertEqual(try setting.run(compareDigests: true).digestMatches, true)
        XCTAssertEqual(try laptop.perform { try $0.forgetSetAside() }, 1)
        XCTAssertEqual(try laptop.perform { try $0.applyRemote(forged).applied }, 0, "forgotten, still known")
        XCTAssertEqual(try laptop.perform { try $0.setAsideOperations(limit: 10) }.count, 0)
    }

    /// A write naming no author made anew is stamped now: what a later write of the person's
    /// wrote again (the same field) is left out of it, so the later write still decides.
    func test_aWriteMadeAnew_doesNotUndoALaterWriteOfTheSameField() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2")
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Early"), .put(field: "office", value: "Lisbon")])
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Later")], by: "p-1")
        }
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.madeAsPerson, 1, "of the write's two operations, the office made anew")
        XCTAssertEqual(report.leftOut, 1, "and the title left out: it was written again later")
        let titles = try hub.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation) }.compactMap { operation -> JSONValue? in
            guard operation.record == "p-1", operation.field == "title", case .set(let value, _) = operation.action else { return nil }
            return value
        }
        XCTAssertEqual(titles, ["Later"], "the early title never went up")
        XCTAssertEqual(report.digestMatches, true)
        let profile = try XCTUnwrap(hub.perform { try $0.get(collection: "people", record: "p-1") })
        XCTAssertEqual(profile.fields["title"], "Later")
        XCTAssertEqual(profile.fields["office"], "Lisbon")
    }

    /// Written before the laptop learnt whose it is, without `--as`, a write names no author,
    /// and the hub refuses it; on the person's own laptop it is theirs: made anew as them (new
    /// ids), and a write needing it (a comment in the item it made) then goes too. One naming
    /// someone else as its maker stays aside, with both reasons.
    func test_writesNamingNoAuthor_areMadeAnewAsTheLaptopsPerson() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        let unattributed = try laptop.perform { replica in
            try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")])
                + replica.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"))
                + replica.write(collection: "feedback", record: "fb-2", self.thanks(from: "p-3"))
        }
        XCTAssertEqual(unattributed.compactMap(\.author), [], "no --as, no person known: no author")
        try laptop.perform {
            _ = try $0.write(collection: "feedback", record: "fb-1", [.append(field: "comments", value: .object(["author": "p-1", "body": "More"]))], by: "p-1")
        }
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.madeAsPerson, 6, "the title and fb-1's five fields, anew")
        XCTAssertEqual(report.madeAgain, 1, "the comment in fb-1, checked again once fb-1 was made")
        XCTAssertEqual(report.setAsideWrites, 1)
        XCTAssertEqual(report.digestMatches, true)
        let item = try XCTUnwrap(hub.perform { try $0.get(collection: "feedback", record: "fb-1") })
        XCTAssertEqual(item.fields["from"], "p-1")
        XCTAssertEqual(item.fields["comments"]?.arrayValue?.count, 1)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Mine")
        XCTAssertNil(try hub.perform { try $0.get(collection: "feedback", record: "fb-2") })
        let aside = try laptop.perform { try $0.setAsideOperations(limit: 10) }
        XCTAssertEqual(Set(aside.map(\.operation.record)), ["fb-2"])
        XCTAssertTrue(aside[0].reason?.contains("made anew as p-1") == true, "\(aside[0])")
        let laptopID = laptop.perform { $0.id }
        let fromLaptop = try hub.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation) }.filter { $0.id.replica == laptopID }
        XCTAssertEqual(fromLaptop.count, 7)
        XCTAssertTrue(fromLaptop.allSatisfy { $0.author == "p-1" }, "what went up names its person")
    }

    /// Killed once its writes were checked and before the one naming no author was made anew
    /// (both marked refused, state 2): the next open makes it anew, and checks the other again.
    func test_aStartKilledBeforeMakingAWriteAnew_isFinishedByTheNextOpen() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"))
            _ = try replica.write(collection: "feedback", record: "fb-1", [.append(field: "comments", value: .object(["author": "p-1", "body": "More"]))], by: "p-1")
        }
        XCTAssertThrowsError(try session.run())
        let folder = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)
        // As the check left them: both refused (the comment's item not made), neither made anew.
        let database = try Database(path: folder + "/chorus.sqlite")
        try database.execute("UPDATE set_aside SET state = 2, reason = 'refused before the kill'")
        XCTAssertEqual(database.changes, 6)

        nonisolated(unsafe) let configuration = laptop.perform { $0.configuration }
        let reopened = try Replica.open(at: .directory(folder), configuration: configuration)
        XCTAssertEqual(try reopened.setAsideCounts().pending, 0)
        XCTAssertEqual(try reopened.setAsideCounts().setAside, 0)
        let item = try XCTUnwrap(reopened.get(collection: "feedback", record: "fb-1"))
        XCTAssertEqual(item.fields["from"], "p-1", "made anew")
        XCTAssertEqual(item.fields["comments"]?.arrayValue?.count, 1, "and the comment checked again, and made again")
        XCTAssertEqual(try session.run(compareDigests: true).digestMatches, true)
    }

    /// Killed half-way through its checks: the write naming no author refused (state 2), the
    /// person's later write of the same field still pending. The next open checks that one
    /// first, so the write made anew leaves the field to it (it was made anew over it, stamped
    /// after it, and the later title lost once the laptop synced).
    func test_aStartKilledHalfWayThroughItsChecks_makesNothingAnewOverALaterWrite() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Early"), .put(field: "office", value: "Lisbon")])
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Later")], by: "p-1")
        }
        XCTAssertThrowsError(try session.run(), "no author: refused")
        let folder = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)
        let database = try Database(path: folder + "/chorus.sqlite")
        try database.execute("UPDATE set_aside SET state = 2, reason = 'refused before the kill' WHERE write_seq = (SELECT min(write_seq) FROM set_aside)")
        XCTAssertEqual(database.changes, 2, "the first write refused, the later one still pending")

        nonisolated(unsafe) let configuration = laptop.perform { $0.configuration }
        let reopened = try Replica.open(at: .directory(folder), configuration: configuration)
        XCTAssertEqual(try reopened.setAsideCounts().pending, 0, "nothing left to check once open returns")
        XCTAssertEqual(try reopened.get(collection: "people", record: "p-1")?.fields["title"], "Later")
        XCTAssertEqual(try reopened.get(collection: "people", record: "p-1")?.fields["office"], "Lisbon", "made anew, without the title")
        XCTAssertEqual(try session.run(compareDigests: true).digestMatches, true)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Later")
    }

    /// An item made before the laptop learnt whose it is (naming no author), then deleted by its
    /// person: made anew, it would be new entries the delete never saw, a conflict on every
    /// replica. The delete decides: nothing of the item is made anew, and its delete, of an item
    /// the hub never held, is set aside.
    func test_aWriteMadeAnew_leavesOutWhatALaterDeleteDeleted() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"))
            _ = try replica.write(collection: "feedback", record: "fb-1", [.delete], by: "p-1")
        }
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertNil(try hub.perform { try $0.get(collection: "feedback", record: "fb-1") })
        XCTAssertEqual(try hub.perform { try $0.conflicts() }.count, 0, "no delete against entries it never observed")
        XCTAssertEqual(try laptop.perform { try $0.conflicts() }.count, 0)
        let laptopID = laptop.perform { $0.id }
        let fromLaptop = try hub.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation) }.filter { $0.id.replica == laptopID }
        XCTAssertEqual(fromLaptop.filter { $0.record == "fb-1" }.count, 0, "nothing of the deleted item went up")
        XCTAssertEqual(report.setAside, 1, "the delete of an item the hub never held")
        XCTAssertEqual(report.madeAsPerson, 0, "nothing of the item made anew")
        XCTAssertEqual(report.leftOut, 5, "its five fields, left out for the delete")
    }

    /// A hub holding p-1's item fb-1, and a laptop bound to p-1 that synced it, then wrote, as
    /// if registered for p-1 only after that sync: an edit naming no author, p-1's delete of the
    /// item, and a restore naming no author.
    private func laptopWithAnEditADeleteAndARestore() throws -> (ReplicaExecutor, ReplicaExecutor, InProcessTransport, SyncSession) {
        let (hub, router) = try hub()
        try hub.perform { _ = try $0.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"), by: "p-1") }
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        _ = try session.run()
        try laptop.perform { replica in try replica.withDatabase { try $0.run("UPDATE upstream SET person = NULL WHERE id = 1") } }
        try laptop.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-1", [.put(field: "body", value: "Thanks a lot!")])
            _ = try replica.write(collection: "feedback", record: "fb-1", [.delete], by: "p-1")
            _ = try replica.write(collection: "feedback", record: "fb-1", [.restore])
        }
        return (hub, laptop, transport, session)
    }

    /// An edit naming no author, the person's delete of their item (made again), then a restore
    /// naming no author: the restore, made anew, brings the item back, so the edit before it is
    /// made anew too, once the item is back (left out for the delete, the item came back
    /// without it).
    func test_aWriteMadeAnew_keepsWhatALaterDeleteDeleted_whenARestoreMadeAnewComesAfter() throws {
        let (hub, laptop, _, session) = try laptopWithAnEditADeleteAndARestore()
        XCTAssertEqual(try laptop.perform { try $0.get(collection: "feedback", record: "fb-1")?.fields["body"] }, "Thanks a lot!")
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.digestMatches, true)
        let item = try XCTUnwrap(hub.perform { try $0.get(collection: "feedback", record: "fb-1") })
        XCTAssertFalse(item.isDeleted)
        XCTAssertEqual(item.fields["body"], "Thanks a lot!", "the edit before the delete, back with the item")
        XCTAssertEqual(try hub.perform { try $0.conflicts() }.count, 0)
    }

    /// The same, killed once the restore was made anew and before the edit was tried again (it
    /// was refused at first: its item deleted until the restore): the next open makes the edit,
    /// as rows made again or anew keep their operations until the start is over (their bytes
    /// gone, the delete alone decided, and the edit was left out).
    func test_aStartKilledAfterARestoreMadeAnew_makesTheEditBeforeTheDeleteAfterIt() throws {
        let (hub, laptop, transport, session) = try laptopWithAnEditADeleteAndARestore()
        XCTAssertThrowsError(try session.run(), "no author: refused")
        let folder = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)
        let database = try Database(path: folder + "/chorus.sqlite")
        let rows = try database.query("SELECT write_seq, operation FROM set_aside ORDER BY write_seq").map { ($0.integer(0)!, $0.blob(1)!) }
        XCTAssertEqual(rows.count, 3, "the edit, the delete, the restore")
        // The delete made again and the restore made anew, the edit not yet made: what a kill
        // between the two leaves (the edit's row out of the way meanwhile).
        try database.run("UPDATE set_aside SET state = 0 WHERE write_seq = ?", rows[0].0)
        nonisolated(unsafe) let configuration = laptop.perform { $0.configuration }
        _ = try Replica.open(at: .directory(folder), configuration: configuration)
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state IN (3, 5)"), 2)
        for (write, bytes) in rows.dropFirst() { try database.run("UPDATE set_aside SET operation = ? WHERE write_seq = ?", bytes, write) }
        try database.run("UPDATE set_aside SET state = 2, reason = 'refused before the kill' WHERE write_seq = ?", rows[0].0)

        let reopened = try Replica.open(at: .directory(folder), configuration: configuration)
        let item = try XCTUnwrap(reopened.get(collection: "feedback", record: "fb-1"))
        XCTAssertFalse(item.isDeleted)
        XCTAssertEqual(item.fields["body"], "Thanks a lot!", "the edit made after the restore")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE operation IS NOT NULL"), 0, "the start is over: no bytes kept")
        XCTAssertEqual(try session.run(compareDigests: true).digestMatches, true)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "feedback", record: "fb-1")?.fields["body"] }, "Thanks a lot!")
    }

    /// A delete the hub will refuse (another's item) decides nothing: a comment made on that item
    /// before the laptop learnt its person is made anew all the same, and the delete stays aside.
    func test_aWriteMadeAnew_keepsWhatALaterDeleteTheHubRefusesWouldDelete() throws {
        let (hub, router) = try hub()
        try hub.perform { _ = try $0.write(collection: "feedback", record: "fb-2", self.thanks(from: "p-2", to: "p-1"), by: "p-2") }
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-2", [.append(field: "comments", value: .object(["author": "p-1", "body": "Thanks!"]))])
            _ = try replica.write(collection: "feedback", record: "fb-2", [.delete], by: "p-1")
        }
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(report.madeAsPerson, 1, "the comment, anew as p-1")
        XCTAssertEqual(report.setAside, 1, "the delete of p-2's item")
        let item = try XCTUnwrap(hub.perform { try $0.get(collection: "feedback", record: "fb-2") })
        XCTAssertFalse(item.isDeleted)
        XCTAssertEqual(item.fields["comments"]?.arrayValue?.count, 1)
    }

    /// An erasure the hub's copy holds, which the laptop never pulled, takes the laptop's kept
    /// writes of the record with it: they were set aside with the erased record's content.
    func test_anErasureInTheCopy_takesTheWritesOfItsRecordKept() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2")
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")], by: "p-1")
        }
        XCTAssertThrowsError(try session.run(), "another's write: refused")
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.erase]) }
        let folder = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)
        let database = try Database(path: folder + "/chorus.sqlite")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE operation IS NOT NULL"), 1, "p-1's write kept; p-2's bytes gone with the erasure")

        nonisolated(unsafe) let configuration = laptop.perform { $0.configuration }
        let reopened = try Replica.open(at: .directory(folder), configuration: configuration)
        XCTAssertEqual(try reopened.setAsideOperations(limit: 10).count, 0, "nothing of the erased record set aside")
        let start = try reopened.latestSetAsideStart()
        XCTAssertEqual([start.madeAgain, start.droppedErased, start.setAside], [1, 1, 0], "p-2's counted as dropped with its record, in this start")
        XCTAssertEqual(try reopened.get(collection: "people", record: "p-1")?.fields["title"], "Mine")
        XCTAssertEqual(try session.run(compareDigests: true).digestMatches, true)
    }

    /// The rows of writes made again serve their start only (their ids are in the log): the next
    /// start drops them, so `set_aside` does not grow by a start's waiting writes each time.
    func test_aStart_dropsWhatEarlierStartsMadeAgain() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2")
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine"), .put(field: "office", value: "Oslo")], by: "p-1")
        }
        var setting = session
        setting.setsAsideRefused = true
        XCTAssertEqual(try setting.run(compareDigests: true).madeAgain, 2)
        let database = try Database(path: folder.appending("laptop") + "/chorus.sqlite")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state = 5"), 2, "the first start's, kept until the next")

        try laptop.perform { _ = try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine again")]) }
        _ = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state = 5"), 0, "dropped by the second start")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state = 1"), 1, "its own waiting write kept")
        XCTAssertEqual(try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state = 0"), 1, "the forged write still aside")
    }

    /// Two processes opening a folder a killed start left half-way, at the same moment, settle
    /// each waiting write once: the write naming no author is made anew once, not twice.
    func test_twoOpensAtOnce_settleAKilledStartsWritesOnce() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { _ = try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")]) }
        XCTAssertThrowsError(try session.run(), "no author: refused")
        let folder = try startAgainAsAKilledSyncLeavesIt(laptop, from: hub, through: transport)

        // On the test's clock, as the laptop (a write made anew is stamped now).
        nonisolated(unsafe) let configuration = laptop.perform { $0.configuration }
        let failures = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            do { _ = try Replica.open(at: .directory(folder), configuration: configuration) } catch { failures.withLock { errors.append("\(error)") } }
        }
        XCTAssertEqual(errors, [])
        let titles = try laptop.perform { try $0.log(after: 0, limit: 10_000).compactMap(\.operation) }.filter { $0.record == "p-1" && $0.field == "title" }
        XCTAssertEqual(titles.map(\.author), ["p-1"], "made anew once, as p-1")
        XCTAssertEqual(try laptop.perform { try $0.setAsideCounts().pending }, 0)
        XCTAssertEqual(try session.run(compareDigests: true).digestMatches, true)
    }

    /// What a later write set aside for good (another's) wrote again does not count: the write
    /// made anew keeps it, else its value would be lost with nothing to say so.
    func test_aWriteMadeAnew_keepsWhatOnlyALaterWriteSetAsideWroteAgain() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Mine")])
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Forged")], by: "p-2")
        }
        var setting = session
        setting.setsAsideRefused = true
        let report = try setting.run(compareDigests: true)
        XCTAssertEqual(report.madeAsPerson, 1)
        XCTAssertEqual(report.setAside, 1)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-1")?.fields["title"] }, "Mine")
        XCTAssertEqual(report.madeAgain, 0, "nothing made again under its own id: one made anew, one set aside")
    }

    /// An erasure leaves nothing of the record, not even writes of it a laptop set aside.
    func test_anErasure_removesTheWritesOfItsRecordSetAside() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "Forged")], by: "p-2")
            _ = try replica.write(collection: "people", record: "p-3", [.put(field: "title", value: "Forged too")], by: "p-3")
        }
        var setting = session
        setting.setsAsideRefused = true
        XCTAssertEqual(try setting.run().setAside, 2)
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.erase]) }
        _ = try session.run()
        let aside = try laptop.perform { try $0.setAsideOperations(limit: 10) }
        XCTAssertEqual(aside.map(\.operation.record), ["p-3"], "p-2's went with the erasure")
        XCTAssertEqual(try laptop.perform { try $0.forgetSetAside() }, 1)
        XCTAssertEqual(try laptop.perform { try $0.setAsideCounts().setAside }, 0)
    }

    /// What someone else made stays theirs: a bound laptop comments, high-fives and signs up for
    /// it, and withdraws its own comment, but edits, withdraws, takes over or erases nothing of it.
    func test_aLaptopChangesWhatAnotherMadeOnlyWhereAnyoneMay() throws {
        let (hub, router) = try hub()
        try hub.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-2", self.thanks(from: "p-2", to: "p-1"), by: "p-2")
            _ = try replica.write(collection: "feedback", record: "fb-2", [.append(field: "comments", value: .object(["author": "p-2", "body": "Mine"]))], by: "p-2")
            _ = try replica.write(collection: "opportunities", record: "o-2", [.put(field: "owner", value: "p-2"), .put(field: "title", value: "Mentor")], by: "p-2")
        }
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        _ = try session.run()
        let othersComment = try XCTUnwrap(laptop.perform { try $0.get(collection: "feedback", record: "fb-2")?.fields["comments"]?.arrayValue?.first?["entry"]?.stringValue }
            .flatMap(OperationID.init))

        assertRefused(try laptop.perform { try $0.write(collection: "feedback", record: "fb-2", [.put(field: "body", value: "Edited")]) },
                      "it changes feedback/fb-2, which p-2 made")
        assertRefused(try laptop.perform { try $0.write(collection: "feedback", record: "fb-2", [.delete]) }, "which p-2 made")
        assertRefused(try laptop.perform { try $0.write(collection: "opportunities", record: "o-2", [.put(field: "owner", value: "p-1")]) },
                      "it changes opportunities/o-2, which p-2 made")
        assertRefused(try laptop.perform { try $0.write(collection: "feedback", record: "fb-2", [.retract(field: "comments", entry: othersComment)]) },
                      "it withdraws p-2's entry")
        assertRefused(try laptop.perform { try $0.write(collection: "people", record: "p-2", [.erase]) }, "it erases a record")

        try laptop.perform { replica in
            _ = try replica.write(collection: "feedback", record: "fb-2", [.append(field: "comments", value: .object(["author": "p-1", "body": "Thanks!"]))])
            _ = try replica.write(collection: "feedback", record: "fb-2", [.increment(field: "highFives", by: 1)])
            _ = try replica.write(collection: "opportunities", record: "o-2", [.add(field: "interested", element: "p-1")])
        }
        let own = try XCTUnwrap(laptop.perform {
            try $0.get(collection: "feedback", record: "fb-2")?.fields["comments"]?.arrayValue?.first { $0["value"]?["author"] == "p-1" }?["entry"]?.stringValue
        }.flatMap(OperationID.init))
        try laptop.perform { _ = try $0.write(collection: "feedback", record: "fb-2", [.retract(field: "comments", entry: own)]) }
        XCTAssertEqual(try session.run().pushApplied, 4)
        let item = try XCTUnwrap(hub.perform { try $0.get(collection: "feedback", record: "fb-2") })
        XCTAssertEqual(item.fields["body"], "Thanks!")
        XCTAssertEqual(item.fields["highFives"], 1)
        XCTAssertEqual(item.fields["comments"]?.arrayValue?.count, 1, "p-2's comment stays; p-1's came and went")
    }

    /// The same, decided at the hub, for writes the laptop made before it learnt whose it is.
    func test_theUpstreamRefusesAnEditOfWhatAnotherMade_andLetsThroughWhatItHoldsAlready() throws {
        let (hub, router) = try hub()
        try hub.perform { _ = try $0.write(collection: "feedback", record: "fb-2", self.thanks(from: "p-2", to: "p-1"), by: "p-2") }
        // A laptop that synced unbound once, then was registered again for p-1.
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router)
        try laptop.perform { _ = try $0.write(collection: "people", record: "p-9", [.put(field: "name", value: "Written by the operator")]) }
        _ = try session.run()
        let id = laptop.perform { $0.id }
        let boundToken = try hub.perform { replica -> String in
            try replica.revokePeer(name: "laptop")
            return try replica.addPeer(name: "laptop-p1", role: .replica, replica: id, person: "p-1")
        }
        let transport = InProcessTransport(router: router, token: boundToken, replica: id, limits: limits)
        try laptop.perform { _ = try $0.write(collection: "feedback", record: "fb-2", [.put(field: "body", value: "Edited")], by: "p-1") }
        // Everything sent again (as after a restored upstream): the operator's unattributed write,
        // which the hub holds, is not asked again; the edit of p-2's thanks is refused.
        try laptop.perform { _ = try $0.rewindUpstreamCursors(pullCursor: 0) }
        XCTAssertThrowsError(try SyncSession(executor: laptop, transport: transport, limits: limits, wallClock: clock).run()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 403, "\(error)")
            XCTAssertTrue("\(error)".contains("it changes feedback/fb-2, which p-2 made"), "\(error)")
        }
        XCTAssertEqual(try hub.perform { try $0.get(collection: "feedback", record: "fb-2")?.fields["body"] }, "Thanks!")
    }

    /// What a relay passes on is its to vouch for (protocol 8): one laptop's write that its office
    /// took does not stop the office's uploads. The office holds the laptops registered on it for
    /// a person to the same rules as the hub does its own.
    func test_whatARelayPassesOn_isTheRelaysToVouchFor() throws {
        let (hub, router) = try hub()
        let laptop = try durable("laptop", seed: 2)
        let laptopID = laptop.perform { $0.id }
        _ = try hub.perform { try $0.addPeer(name: "laptop", role: .replica, replica: laptopID, person: "p-1") }
        let officeToken = try hub.perform { try $0.addPeer(name: "office", role: .relay) }
        let officeID = ReplicaID(hex: "00112233445566778899aabbccddeeff")!
        let office = InProcessTransport(router: router, token: officeToken, replica: officeID, limits: limits)
        let relayed = try laptop.perform { try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Coach")], by: "p-2") }
        let body = PushRequest.encode(replica: officeID, through: 1, relayed: [laptopID], operationTexts: [OperationCodec().canonicalText(relayed[0])])
        XCTAssertEqual(try office.push(body: body).applied, 1)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p-2")?.fields["title"] }, "Coach")
    }

    /// A record someone learnt the id of before it arrived is written first by its maker, in the
    /// same write that names them: words put in it beforehand are refused, and the maker's own
    /// write, arriving later, is taken.
    func test_aRecordNotHereYet_isWrittenFirstByItsMaker() throws {
        let (hub, router) = try hub()
        let (early, _, earlySession) = try client("early", seed: 2, hub: hub, router: router, person: "p-1")
        try early.perform { _ = try $0.write(collection: "feedback", record: "fb-future", [.put(field: "body", value: "Words in another's mouth")], by: "p-1") }
        XCTAssertThrowsError(try earlySession.run()) { error in
            XCTAssertTrue("\(error)".contains("it writes feedback/fb-future, which is not here yet and which it does not make (no from in the same write)"), "\(error)")
        }
        assertRefused(try early.perform { try $0.write(collection: "feedback", record: "fb-other", [.put(field: "body", value: "Again")]) },
                      "which is not here yet")

        let (maker, _, makerSession) = try client("maker", seed: 3, hub: hub, router: router, person: "p-2")
        _ = try makerSession.run()
        try maker.perform { _ = try $0.write(collection: "feedback", record: "fb-future", self.thanks(from: "p-2", to: "p-1")) }
        XCTAssertEqual(try makerSession.run().pushApplied, 5)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "feedback", record: "fb-future")?.fields["body"] }, "Thanks!")
    }

    /// A push page ends where a write starts, when it can: a write travels whole, so the upstream
    /// sees a record being made with the field naming its maker. A pull page is not held to it.
    func test_aPushPageEndsWhereAWriteStarts() throws {
        let laptop = try durable("laptop", seed: 2)
        let id = laptop.perform { $0.id }
        try laptop.perform { replica in
            _ = try replica.write(collection: "people", record: "p-1", [.put(field: "name", value: "A"), .put(field: "title", value: "B"),
                                                                        .put(field: "email", value: "a@example.com")])
            _ = try replica.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-1"))
        }
        let push = try laptop.perform { try $0.logPage(after: 0, excludingSource: "upstream", authors: [id], operationsMax: 4, bytesMax: 1 << 20) }
        XCTAssertEqual(push.operations.count, 3, "the first write only")
        XCTAssertEqual(push.next, 3)
        XCTAssertEqual(push.nextOperation, OperationID(replica: id, counter: 3))
        let rest = try laptop.perform { try $0.logPage(after: push.next, excludingSource: "upstream", authors: [id], operationsMax: 4, bytesMax: 1 << 20) }
        XCTAssertEqual(rest.operations.count, 4, "a write bigger than a page is split")
        let pull = try laptop.perform { try $0.logPage(after: 0, excludingSource: "upstream", operationsMax: 4, bytesMax: 1 << 20) }
        XCTAssertEqual(pull.operations.count, 4)
    }

    /// A write's field naming who makes the record goes first, whatever order it was given in: a
    /// page cut inside the write (pages halved after a timeout) still carries it first.
    func test_theFieldNamingTheMaker_isAWritesFirstOperation() throws {
        let laptop = try durable("laptop", seed: 2)
        let made = try laptop.perform {
            try $0.write(collection: "opportunities", record: "o-1", [.put(field: "title", value: "Mentor"), .put(field: "description", value: "Weekly"),
                                                                      .put(field: "owner", value: "p-1")], by: "p-1")
        }
        XCTAssertEqual(made.map(\.field), ["owner", "title", "description"])
        let people = try laptop.perform { try $0.write(collection: "people", record: "p-1", [.put(field: "title", value: "A"), .put(field: "name", value: "B")]) }
        XCTAssertEqual(people.map(\.field), ["title", "name"], "no maker field: the order given")
    }

    /// An erasure pulled a page before the erasure of a resolution of its record: the bound
    /// laptop does not erase the resolution itself (it erases nothing), the upstream's erasure
    /// follows, and the two converge.
    func test_aBoundLaptopPullingAnErasureBeforeItsResolutions_leavesThatToItsUpstream() throws {
        let (hub, router) = try hub()
        let other = try durable("other", seed: 3)
        let concurrent = try other.perform { try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "SECRET-A")]) }
        try hub.perform { replica in
            _ = try replica.write(collection: "people", record: "p-2", [.put(field: "title", value: "SECRET-B")])
            _ = try replica.applyRemote(concurrent)
            let conflict = try XCTUnwrap(replica.conflicts(collection: "people").first)
            _ = try replica.resolveConflict(id: conflict.id, .keep(XCTUnwrap(conflict.siblings.first { !$0.isDelete }).operation), by: "admin")
        }
        limits.pullPageOperationsMax = 1
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, snapshots: false, person: "p-1")
        _ = try session.run()
        XCTAssertEqual(try laptop.perform { try $0.resolutions().count }, 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "p-2", [.erase]) }
        _ = try session.run()
        XCTAssertEqual(try digest(laptop), try digest(hub))
        XCTAssertEqual(try laptop.perform { try $0.resolutions().count }, 0)
    }

    /// The trust model of a replica registered for no one is unchanged: it writes in any name.
    func test_aReplicaRegisteredForNoOne_pushesAnyonesWrites() throws {
        let (hub, router) = try hub()
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router)
        XCTAssertNil(try transport.info().person)
        try laptop.perform { _ = try $0.write(collection: "feedback", record: "fb-1", self.thanks(from: "p-2"), by: "p-2") }
        _ = try session.run()
        XCTAssertEqual(try hub.perform { try $0.get(collection: "feedback", record: "fb-1")?.fields["from"] }, "p-2")
        XCTAssertNil(try laptop.perform { try $0.upstream()?.person })
    }

    /// Moving a laptop to another person's hands, or to no one's, is a new registration; the
    /// laptop learns it at its next sync.
    func test_aLaptopRegisteredAgainForNoOne_isTrustedAgainFromItsNextSync() throws {
        let (hub, router) = try hub()
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router, person: "p-1")
        _ = try session.run()
        let id = laptop.perform { $0.id }
        let trustedToken = try hub.perform { replica -> String in
            try replica.revokePeer(name: "laptop")
            return try replica.addPeer(name: "laptop-trusted", role: .replica, replica: id)
        }
        var again = SyncSession(executor: laptop, transport: InProcessTransport(router: router, token: trustedToken, replica: id, limits: limits),
                                limits: limits, wallClock: clock)
        again.usesSnapshots = true
        _ = try again.run()
        XCTAssertNil(try laptop.perform { try $0.upstream()?.person })
        try laptop.perform { _ = try $0.write(collection: "people", record: "p-2", [.put(field: "title", value: "Coach")], by: "p-2") }
    }

    func test_aPersonIsNamedOnlyForAReplicaToken_andOnlyOneThisNodeHolds() throws {
        let (hub, _) = try hub()
        XCTAssertThrowsError(try hub.perform { try $0.addPeer(name: "office", role: .relay, person: "p-1") }) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .malformedInput, "\($0)")
        }
        XCTAssertThrowsError(try hub.perform { try $0.addPeer(name: "admin", role: .admin, person: "p-1") }) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .malformedInput, "\($0)")
        }
        for person in ["p-9", "p-3"] {
            XCTAssertThrowsError(try hub.perform { try $0.addPeer(name: "laptop", role: .replica, person: person) }, person) {
                XCTAssertEqual(($0 as? ChorusError)?.code, .recordNotFound, "\($0)")
            }
        }
        XCTAssertEqual(try hub.perform { try $0.peers() }.count, 0, "nothing registered by a refused add")
        _ = try hub.perform { try $0.addPeer(name: "laptop", role: .replica, person: "p-1") }
        XCTAssertEqual(try hub.perform { try $0.peers() }.map(\.person), ["p-1"])
    }
}
