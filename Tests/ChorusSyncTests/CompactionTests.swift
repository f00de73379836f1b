import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting
import SQLiteKit

/// Log compaction (`Replica+Compaction.swift`, protocol 4.4 and 4.6): the log loses only what
/// every reader of it has committed; the state, the ids and the sequences stay; a replica new to a
/// compacted node starts from its snapshot, and one that cannot is told why, with nothing lost.
final class CompactionTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-compaction" }

    /// A hub with `people` people of 3 fields each, written in several batches (several blocks).
    func makeHub(people: Int, seed: UInt64 = 1) throws -> (ReplicaExecutor, SyncService, NodeRouter) {
        let hub = try durable("hub", seed: seed)
        try hub.perform { replica in
            for batch in stride(from: 0, to: people, by: 50) {
                _ = try replica.writeMany((batch..<min(people, batch + 50)).map { index in
                    ("people", "p\(index)", [.put(field: "name", value: .string("Person \(index)")), .put(field: "title", value: "Engineer"),
                                             .add(field: "guilds", element: "g\(index % 3)")])
                })
            }
        }
        let service = SyncService(executor: hub, limits: limits, wallClock: clock, watch: hub.perform { $0.openChangeWatch() })
        return (hub, service, NodeRouter(service: service, limits: limits))
    }

    func blockCount(_ executor: ReplicaExecutor) throws -> Int64 {
        try executor.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM log_blocks") ?? 0 } }
    }

    /// The authors of the first open conflict's values, sorted, as an admin reads them.
    func conflictAuthors(_ executor: ReplicaExecutor) throws -> [String] {
        try executor.perform { replica in
            let conflict = try XCTUnwrap(replica.conflicts().first, "an open conflict")
            return try replica.conflictDetail(conflict)["siblings"]!.arrayValue!.compactMap { $0["author"]?.stringValue }.sorted()
        }
    }

    /// `person` sets `record`'s title on `executor`.
    func writeTitle(_ executor: ReplicaExecutor, _ record: String, _ title: String, by person: String) throws {
        try executor.perform { _ = try $0.write(collection: "people", record: record, [.put(field: "title", value: .string(title))], by: person) }
    }

    /// Ana and bo, replicas of `hub`, each synced once.
    func anaAndBo(hub: ReplicaExecutor, router: NodeRouter) throws -> (ana: ReplicaExecutor, anaSession: SyncSession, bo: ReplicaExecutor, boSession: SyncSession) {
        let (ana, _, anaSession) = try client("ana", seed: 2, hub: hub, router: router)
        let (bo, _, boSession) = try client("bo", seed: 3, hub: hub, router: router)
        _ = try anaSession.run()
        _ = try boSession.run()
        return (ana, anaSession, bo, boSession)
    }

    /// `count` more people written on `hub` (q0, q1, ...): later history, many blocks of it.
    func writeLater(_ hub: ReplicaExecutor, count: Int) throws {
        try hub.perform { replica in
            for index in 0..<count { _ = try replica.write(collection: "people", record: "q\(index)", [.put(field: "name", value: "Q")]) }
        }
    }

    func test_compaction_waitsForWhatEveryRegisteredReplicaHasCommitted() throws {
        let (hub, service, router) = try makeHub(people: 400)
        let latest = try hub.perform { try $0.latestSequence() }
        let (_, _, ana) = try client("ana", seed: 2, hub: hub, router: router)
        _ = try client("bo", seed: 3, hub: hub, router: router)   // registered, never synced
        _ = try hub.perform { try $0.addPeer(name: "admin", role: .admin) }   // never pulls: holds nothing
        _ = try ana.run(compareDigests: true)   // the digest report acknowledges what it committed
        service.flushActivity()

        let held = try hub.perform { try $0.compactLog() }
        XCTAssertEqual(held.floor, 0, "bo has committed nothing: nothing may go")
        XCTAssertEqual(held.blocksRemoved, 0)
        XCTAssertEqual(held.holds.first, CompactionHold(holder: .replica("bo"), sequence: 0), "the report names what holds the log")

        try hub.perform { try $0.revokePeer(name: "bo") }
        let before = try digest(hub), blocksBefore = try blockCount(hub)
        let dry = try hub.perform { try $0.compactLog(dryRun: true) }
        XCTAssertEqual(dry.floor, latest)
        XCTAssertEqual(try blockCount(hub), blocksBefore, "a dry run changes nothing")
        XCTAssertEqual(try hub.perform { try $0.compactionFloor() }, 0)

        let report = try hub.perform { try $0.compactLog() }
        XCTAssertEqual(report.floor, latest, "ana committed everything: the whole log goes")
        XCTAssertEqual(report.operationsRemoved, latest)
        XCTAssertEqual(report.holds, [])
        XCTAssertEqual(try blockCount(hub), 0)
        XCTAssertEqual(try digest(hub), before, "the state is untouched")
        XCTAssertEqual(try hub.perform { try $0.latestSequence() }, latest, "the log's end stays where it was")
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])
        XCTAssertEqual(try hub.perform { try $0.integrityCheck() }, [])
    }

    /// A replica registered after compaction lacks what the log no longer holds: the health view
    /// counts it (it will take it from the snapshot) rather than only what is left in the log.
    func test_health_countsWhatAReplicaRegisteredAfterCompactionLacks() throws {
        let (hub, _, _) = try makeHub(people: 200)
        let latest = try hub.perform { try $0.latestSequence() }
        XCTAssertEqual(try hub.perform { try $0.compactLog().floor }, latest)
        clock.advance(by: 5_000)
        _ = try hub.perform { try $0.addPeer(name: "late", role: .replica) }
        _ = try hub.perform { try $0.write(collection: "people", record: "p-new", [.put(field: "name", value: "New")]) }
        clock.advance(by: 1_000)
        let health = try XCTUnwrap(try hub.perform { try $0.replicaHealth(silentAfterMilliseconds: 60_000) }.first { $0.name == "late" })
        XCTAssertEqual(health.waitingDown, latest + 1, "the compacted operations and the one logged since")
        XCTAssertEqual(health.lagMilliseconds, 1_000, "waiting since it was registered at least")
    }

    func test_aPullsAfter_isNotAnAcknowledgement_butItsCommittedCursorIs() throws {
        let (hub, service, _) = try makeHub(people: 100)
        let latest = try hub.perform { try $0.latestSequence() }
        _ = try hub.perform { try $0.addPeer(name: "ana", role: .replica) }
        let ana = try hub.perform { try $0.peers().first { $0.name == "ana" }! }
        // A pipelining client asks for the page after what it has not committed yet.
        _ = try service.pull(peer: ana, after: latest, limit: 10)
        service.flushActivity()
        XCTAssertEqual(try hub.perform { try $0.compactLog().floor }, 0, "`after` alone acknowledges nothing")
        // A committed cursor past `after` is taken only as far as `after`.
        _ = try service.pull(peer: ana, after: 150, limit: 10, committed: latest)
        service.flushActivity()
        let report = try hub.perform { try $0.compactLog() }
        XCTAssertLessThanOrEqual(report.floor, 150)
        XCTAssertEqual(report.holds.first, CompactionHold(holder: .replica("ana"), sequence: 150))
    }

    /// A hub of 10 people and a laptop that synced once with it, then wrote `count` people of
    /// its own (`mine0`, `mine1`, ...), not yet pushed.
    func syncedLaptop(writing count: Int) throws -> (hub: ReplicaExecutor, laptop: ReplicaExecutor, session: SyncSession) {
        let (hub, _, router) = try makeHub(people: 10)
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router)
        _ = try session.run()
        try laptop.perform { replica in
            for index in 0..<count { _ = try replica.write(collection: "people", record: "mine\(index)", [.put(field: "name", value: "Mine")]) }
        }
        return (hub, laptop, session)
    }

    func test_compaction_waitsForTheUpstream_andAnOperatorsBound() throws {
        let (hub, laptop, session) = try syncedLaptop(writing: 300)
        let pushedBefore = try laptop.perform { try $0.upstream()!.pushCursor }
        let held = try laptop.perform { try $0.compactLog(keepAcknowledgedSeconds: 0) }
        XCTAssertEqual(held.holds.first?.holder, .upstream, "its own writes are not pushed yet")
        XCTAssertLessThanOrEqual(held.floor, pushedBefore)
        XCTAssertEqual(try laptop.perform { try $0.pendingPushCount() }, 300, "nothing waiting to go up was removed")
        _ = try session.run()
        let bounded = try laptop.perform { try $0.compactLog(through: 5, keepAcknowledgedSeconds: 0) }
        XCTAssertLessThanOrEqual(bounded.floor, 5, "--through keeps the history after it")
        XCTAssertEqual(bounded.holds.first?.holder, .requested)
        let latest = try laptop.perform { try $0.latestSequence() }
        XCTAssertEqual(try laptop.perform { try $0.compactLog(keepAcknowledgedSeconds: 0).floor }, latest, "all pushed: the whole log may go")
        XCTAssertEqual(try hub.perform { try $0.statistics().records }, 310, "every write reached the hub first")
    }

    /// What the upstream acknowledged stays in the log for `acknowledgedKeptSeconds` (a week by
    /// default), so an upstream restored from a backup younger than that gets it again; then it
    /// goes. Compacted at once, an office's writes that reached the hub after its last backup were
    /// lost to the hub for good when it was restored (found by a sweep).
    func test_compaction_keepsWhatTheUpstreamAcknowledgedRecently_forAWeek() throws {
        let (_, laptop, session) = try syncedLaptop(writing: 50)
        _ = try session.run()
        let first = try laptop.perform { try $0.upstream()!.pushCursor }
        let kept = try laptop.perform { try $0.compactLog() }
        XCTAssertEqual(kept.holds.first?.holder, .upstreamRecently(seconds: 7 * 86_400), "acknowledged just now")
        XCTAssertEqual(kept.operationsRemoved, 0)
        // Three days on, more is written and acknowledged.
        clock.advance(by: 3 * 86_400_000)
        try laptop.perform { replica in
            for index in 0..<50 { _ = try replica.write(collection: "people", record: "later\(index)", [.put(field: "name", value: "Later")]) }
        }
        _ = try session.run()
        let second = try laptop.perform { try $0.upstream()!.pushCursor }
        clock.advance(by: 3 * 86_400_000)
        XCTAssertEqual(try laptop.perform { try $0.compactLog().operationsRemoved }, 0, "six days on, still kept")
        // A week after the first acknowledgement (and the last sync then), what it covered goes.
        clock.advance(by: 86_400_000 + 120_000)
        _ = try session.run()
        let week = try laptop.perform { try $0.compactLog() }
        XCTAssertGreaterThan(week.floor, 0)
        XCTAssertLessThanOrEqual(week.floor, first, "a week on, what was acknowledged then goes, and no more")
        XCTAssertEqual(week.holds.first?.holder, .upstreamRecently(seconds: 7 * 86_400), "the later writes are kept")
        // Not synced since (the hub down): the week counts to the last sync, and nothing more goes.
        clock.advance(by: 4 * 86_400_000)
        XCTAssertEqual(try laptop.perform { try $0.compactLog().floor }, week.floor, "the week waits while the upstream cannot be reached")
        _ = try session.run()
        let all = try laptop.perform { try $0.compactLog() }
        XCTAssertGreaterThanOrEqual(all.floor, second, "a week after the second, it goes too")
        XCTAssertEqual(try laptop.perform { try $0.compactLog(dryRun: true).holds.filter { $0.holder == .upstreamRecently(seconds: 7 * 86_400) } }, [])
    }

    /// What compaction says an upstream restored from a backup may lack is what a push sends:
    /// operations made here or below, by author. An imported bundle's operations (another
    /// replica's, not sent up) are not among them, and once counted made a sync after a hub's
    /// restore fail as diverged for nothing (found by review).
    func test_compaction_countsOnlyOperationsMadeHereOrBelow_asWhatARestoredUpstreamMayLack() throws {
        let (_, laptop, session) = try syncedLaptop(writing: 0)
        let stranger = try durable("stranger", seed: 9)
        try stranger.perform { _ = try $0.write(collection: "people", record: "from-afar", [.put(field: "name", value: "Afar")]) }
        var bundle: [UInt8] = []
        _ = try stranger.perform { try $0.exportBundle { bundle += $0 } }
        _ = try laptop.perform { try $0.importBundle(bundle) }
        _ = try session.run()
        XCTAssertGreaterThan(try laptop.perform { try $0.compactLog(keepAcknowledgedSeconds: 0).operationsRemoved }, 0)
        XCTAssertEqual(try laptop.perform { try $0.pushableCompactedThrough() }, 0, "nothing of its own was compacted")
        try laptop.perform { _ = try $0.write(collection: "people", record: "mine", [.put(field: "name", value: "Mine")]) }
        _ = try session.run()
        let latest = try laptop.perform { try $0.latestSequence() }
        _ = try laptop.perform { try $0.compactLog(keepAcknowledgedSeconds: 0) }
        XCTAssertEqual(try laptop.perform { try $0.pushableCompactedThrough() }, latest, "its own write, compacted, is")
    }

    func test_compaction_foldsSettledRecords_readersSeeTheSame_andAMergeUnfoldsWhatItTouches() throws {
        let (hub, _, _) = try makeHub(people: 60)
        // A twin holding the same operations, never compacted: what the hub must keep agreeing with.
        let twin = try durable("twin", seed: 9)
        let all = try hub.perform { try $0.log(after: 0, limit: 10_000).compactMap(\.operation) }
        _ = try twin.perform { try $0.applyRemote(all) }
        // A conflict on p1, so folded entries include two live values of one key.
        let other = try durable("other", seed: 10)
        _ = try other.perform { try $0.applyRemote(all) }
        let rival = try other.perform { try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Rival")]) }
        let own = try hub.perform { try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Own")]) }
        for replica in [hub, twin] { _ = try replica.perform { try $0.applyRemote(rival + own) } }
        _ = try twin.perform { try $0.applyRemote(own) }
        let before = (digest: try digest(hub), p1: try hub.perform { try $0.get(collection: "people", record: "p1") },
                      conflicts: try hub.perform { try $0.conflicts() })
        XCTAssertEqual(before.conflicts.count, 1)
        XCTAssertEqual(try digest(twin), before.digest)

        let report = try hub.perform { try $0.compactLog() }
        XCTAssertEqual(report.recordsFolded, 60, "no reader registered: every record's history is settled")
        func rows(_ table: String) throws -> Int64 {
            try hub.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM \(table)") ?? -1 } }
        }
        XCTAssertEqual(try rows("entry_rows"), 0)
        XCTAssertEqual(try rows("folded_entries"), 60)
        // Values kept once: a register value its typed column gives back is left out of the body,
        // a losing value of a conflict is kept in it.
        let folded = try hub.perform { replica in
            try replica.withDatabase { db in
                try db.query("SELECT d.rid, d.body, r.record FROM folded_entries d JOIN records r ON r.rid = d.rid").map { row in
                    (record: row.text(2)!, entries: try FoldedEntries.decode(row.blob(1)!, record: row.integer(0)!))
                }
            }
        }
        let flagged = folded.flatMap(\.entries).filter(\.valueInColumn)
        XCTAssertGreaterThan(flagged.count, 60, "every person's name at least is kept in its column alone")
        XCTAssertTrue(flagged.allSatisfy { $0.value == nil })
        let p1 = try XCTUnwrap(folded.first { $0.record == "p1" }).entries.filter { $0.value == "\"Rival\"" || $0.valueInColumn }
        XCTAssertTrue(p1.contains { $0.value == "\"Rival\"" && !$0.valueInColumn }, "the losing value stays in the body")
        XCTAssertEqual(try digest(hub), before.digest, "the digest reads folded entries as rows")
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p1") }, before.p1)
        XCTAssertEqual(try hub.perform { try $0.conflicts() }, before.conflicts)
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])

        // Resolving the conflict on the hub writes to p1: the merge unfolds p1 alone.
        let resolution = try hub.perform { try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Resolved")]) }
        XCTAssertEqual(try rows("folded_entries"), 59)
        XCTAssertGreaterThan(try rows("entry_rows"), 0)
        XCTAssertEqual(hub.perform { $0.recordsUnfolded }, 1)
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "p1")?.fields["name"] }, "Resolved")
        XCTAssertEqual(try hub.perform { try $0.conflicts() }, [], "the write superseded both folded values")
        _ = try twin.perform { try $0.applyRemote(resolution) }
        XCTAssertEqual(try digest(hub), try digest(twin), "a folded and unfolded replica agrees with one never compacted")
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])

        // Erasing a folded record leaves none of its entries.
        _ = try hub.perform { try $0.write(collection: "people", record: "p2", [.erase]) }
        XCTAssertEqual(try rows("folded_entries"), 58)
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])

        // A typed row lost under a folded record loses the values it kept: `chorus check` says so.
        try hub.perform { replica in try replica.withDatabase { try $0.run("DELETE FROM people WHERE id = 'p3'") } }
        let problems = try hub.perform { try $0.invariantViolations() }
        XCTAssertTrue(problems.contains { $0.contains("values kept in typed columns cannot be read (1)") }, "\(problems)")
    }

    /// A register value the typed column cannot give back byte for byte stays in the folded body:
    /// a boolean (its INTEGER column holds 1 or 0); an integer, a text with escapes and a null are
    /// given back exactly. What the readers see is unchanged, and unfolding puts every value back
    /// exactly.
    func test_folding_keepsInItsBodyWhatATypedColumnCannotGiveBack() throws {
        let replica = try durable("alone", seed: 3)
        let writes: [(field: String, value: JSONValue, inColumn: Bool)] = [
            ("openToMentoring", .bool(true), false), ("openToMentoring", .bool(false), false), ("hoursPerWeekAvailable", .integer(7), true),
            ("name", .string("plain \u{e9} \"quoted\" \u{1}"), true), ("name", .null, true),
        ]
        for (index, write) in writes.enumerated() {
            _ = try replica.perform { try $0.write(collection: "people", record: "v\(index)", [.put(field: write.field, value: write.value)]) }
        }
        func people() throws -> [RecordSnapshot?] {
            try replica.perform { replica in try (0..<writes.count).map { try replica.get(collection: "people", record: "v\($0)") } }
        }
        let before = (digest: try digest(replica), people: try people())
        XCTAssertEqual(try replica.perform { try $0.compactLog() }.recordsFolded, writes.count)
        let kept = try replica.perform { replica in
            try replica.withDatabase { db in
                try db.query("SELECT d.rid, d.body FROM folded_entries d JOIN records r ON r.rid = d.rid ORDER BY r.record").map { row in
                    try FoldedEntries.decode(row.blob(1)!, record: row.integer(0)!).contains(where: \.valueInColumn)
                }
            }
        }
        XCTAssertEqual(kept, writes.map(\.inColumn))
        XCTAssertEqual(try digest(replica), before.digest)
        XCTAssertEqual(try people(), before.people)
        XCTAssertEqual(try replica.perform { try $0.invariantViolations() }, [])
        // Unfolded by a write to another field, each value is back in its row exactly.
        for index in writes.indices {
            _ = try replica.perform { try $0.write(collection: "people", record: "v\(index)", [.put(field: "title", value: "T")]) }
        }
        XCTAssertEqual(replica.perform { $0.recordsUnfolded }, writes.count)
        let unfolded = try replica.perform { replica in
            try replica.withDatabase { db in
                try writes.indices.map { index in
                    try db.queryScalarText("SELECT e.value FROM entries e JOIN records r ON r.rid = e.rid WHERE r.record = ? AND e.field = ?",
                                           "v\(index)", writes[index].field) ?? "NULL"
                }
            }
        }
        XCTAssertEqual(unfolded, writes.map(\.value.canonicalText))
        XCTAssertEqual(try replica.perform { try $0.invariantViolations() }, [])
    }

    func test_sequencesAndIds_outliveTheLog() throws {
        let replica = try durable("alone", seed: 7)
        let made = try replica.perform { replica in
            try (0..<300).flatMap { try replica.write(collection: "people", record: "p\($0)", [.put(field: "name", value: "P")]) }
        }
        let latest = try replica.perform { try $0.latestSequence() }
        XCTAssertEqual(try replica.perform { try $0.compactLog(through: 3).floor }, 3, "one write a block: compacted exactly through the bound")
        let blocks = try blockCount(replica)
        XCTAssertEqual(try replica.perform { try $0.compactLog(through: 2).floor }, 3)
        XCTAssertEqual(try blockCount(replica), blocks, "a bound the log is already past still bounds: nothing more goes")
        XCTAssertEqual(try replica.perform { try $0.compactLog().floor }, latest, "no reader: a standalone replica compacts everything")
        XCTAssertEqual(try blockCount(replica), 0)
        let before = try digest(replica)
        let again = try replica.perform { try $0.applyRemote(made) }
        XCTAssertEqual(again.applied, 0, "ids stay known: a compacted operation received again is a duplicate")
        XCTAssertEqual(try digest(replica), before)
        XCTAssertTrue(try replica.perform { try $0.hasOperation(made[0].id) })

        // Reopened (the sequence is read from storage, not a cache), the next write takes the next sequence.
        let reopened = ReplicaExecutor(try Replica.open(at: .directory(folder.appending("alone")),
                                                        configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000)))
        _ = try reopened.perform { try $0.write(collection: "people", record: "new", [.put(field: "name", value: "N")]) }
        XCTAssertEqual(try reopened.perform { try $0.log(after: latest).map(\.sequence) }, [latest + 1], "no sequence is used twice")
        XCTAssertEqual(try reopened.perform { try $0.invariantViolations() }, [])

        // What needs the removed operations says so, and changes nothing.
        XCTAssertThrowsError(try reopened.perform { try $0.exportBundle(since: 0) { _ in } }) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .historyCompacted)
        }
        XCTAssertNoThrow(try reopened.perform { try $0.exportBundle(since: latest) { _ in } })
        XCTAssertTrue(try reopened.perform { try $0.recordsTouched(after: 3).erasedSince }, "a derived index kept from before rebuilds")
        XCTAssertThrowsError(try reopened.perform { try $0.setUpstream(url: "http://new-hub", tokenFile: "/dev/null") }) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .historyCompacted, "a new upstream could not be sent the compacted history")
        }
        XCTAssertNil(try reopened.perform { try $0.upstream() })
    }

    func test_aNewReplica_ofACompactedHub_startsFromItsSnapshot_andAFullReplicaBehindIsToldWhy() throws {
        limits.snapshotSequenceMin = 1_000_000   // far above this log: the snapshot is taken because the log is compacted
        let (hub, service, router) = try makeHub(people: 200)
        let (old, oldTransport, oldSession) = try client("old", seed: 2, hub: hub, router: router, snapshots: false)
        _ = try oldSession.run()
        _ = try oldSession.run()   // its first pull says what the last sync committed
        try old.perform { _ = try $0.write(collection: "people", record: "from-old", [.put(field: "name", value: "Old")]) }
        // `old` falls behind with a write of its own; the hub compacts what everyone committed.
        try hub.perform { _ = try $0.write(collection: "people", record: "later", [.put(field: "name", value: "Later")]) }
        service.flushActivity()
        let floor = try hub.perform { try $0.compactLog().floor }
        XCTAssertGreaterThan(floor, 0)
        XCTAssertEqual(try oldTransport.info().compactedThrough, floor, "info says how far the log is compacted")

        let (laptop, transport, session) = try client("laptop", seed: 4, hub: hub, router: router)
        XCTAssertThrowsError(try transport.pull(after: 0, afterOperation: nil, limit: 10, waitingToPush: 0, committed: 0)) { error in
            XCTAssertEqual((error as? SyncError)?.status, 410, "a pull below the compaction point is refused")
        }
        let report = try session.run(compareDigests: true)
        XCTAssertGreaterThan(report.snapshotOperations, 0, "it started from the snapshot")
        XCTAssertNil(report.snapshotRefused)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try laptop.perform { try $0.compactionFloor() }, try hub.perform { try $0.latestSequence() },
                       "it knows which history it never had: the snapshot's copy leaves all of it out, not only what the hub compacted")
        XCTAssertEqual(try laptop.perform { try $0.invariantViolations() }, [])
        XCTAssertEqual(try laptop.perform { try $0.pendingPushCount() }, 0, "what the snapshot brought never waits to go up")
        try laptop.perform { _ = try $0.write(collection: "people", record: "from-laptop", [.put(field: "name", value: "New")]) }
        XCTAssertEqual(try session.run(compareDigests: true).pushApplied, 1, "afterwards it pushes its own writes as any replica does")
        XCTAssertNotNil(try hub.perform { try $0.get(collection: "people", record: "from-laptop") })

        // `old` has pulled beyond the compaction point: it syncs as before.
        XCTAssertEqual(try oldSession.run(compareDigests: true).digestMatches, true)

        // The same upstream at a new address keeps the cursors; another upstream is refused.
        let cursors = try laptop.perform { try ($0.upstream()!.pullCursor, $0.upstream()!.pushCursor) }
        try laptop.perform { try $0.setUpstream(url: "https://hub.example", tokenFile: "/dev/null") }
        XCTAssertEqual(try laptop.perform { try ($0.upstream()!.pullCursor, $0.upstream()!.pushCursor) }.0, cursors.0)
        XCTAssertEqual(try session.run(compareDigests: true).digestMatches, true, "it syncs on at the new address")
        XCTAssertThrowsError(try laptop.perform { try $0.recordUpstream(replica: ReplicaID(hex: "00000000000000000000000000000001")!) }) { error in
            XCTAssertTrue((error as? ChorusError)?.hint?.contains("join a new, empty folder") ?? false, "\(error)")
        }

        // A replica that wrote before its first sync cannot catch up by pulling: once its writes
        // went up, it starts again from the snapshot, which holds them. The hub writes a new copy
        // for it: the one it served the laptop a moment ago lacks them.
        let (stale, _, staleSession) = try client("stale", seed: 5, hub: hub, router: router)
        try stale.perform { _ = try $0.write(collection: "people", record: "from-stale", [.put(field: "name", value: "Stale")]) }
        let restart = try staleSession.run(compareDigests: true)
        XCTAssertEqual(restart.pushApplied, 1)
        XCTAssertGreaterThan(restart.snapshotOperations, 0, "started again from the snapshot")
        XCTAssertNil(restart.snapshotRefused)
        XCTAssertEqual(restart.digestMatches, true)
        XCTAssertEqual(try stale.perform { try $0.get(collection: "people", record: "from-stale")?.fields["name"] }, "Stale", "its own write kept")
        XCTAssertEqual(try stale.perform { try $0.invariantViolations() }, [])
        XCTAssertEqual(try stale.perform { try $0.logGeneration() }, 1, "its log numbered anew")
        try stale.perform { _ = try $0.write(collection: "people", record: "from-stale", [.put(field: "title", value: "Back")]) }
        XCTAssertEqual(try staleSession.run(compareDigests: true).pushApplied, 1, "its next write goes up: the push cursor is the snapshot's")
        XCTAssertEqual(try hub.perform { try $0.get(collection: "people", record: "from-stale")?.fields["title"] }, "Back")

        // One with replicas registered below it cannot: their cursors count its log. It is told so
        // after its own changes went up, and nothing of it is lost or changed.
        let (relay, _, relaySession) = try client("relay", seed: 7, hub: hub, router: router)
        _ = try relay.perform { try $0.addPeer(name: "below", role: .replica) }
        try relay.perform { _ = try $0.write(collection: "people", record: "from-relay", [.put(field: "name", value: "Relay")]) }
        let relayDigest = try digest(relay)
        XCTAssertThrowsError(try relaySession.run()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 410)
            XCTAssertTrue((error as? SyncError)?.hint?.contains("join a new, empty folder") ?? false, "\(error)")
        }
        XCTAssertEqual(try relay.perform { try $0.pendingPushCount() }, 0, "its change went up before it was told")
        XCTAssertNotNil(try hub.perform { try $0.get(collection: "people", record: "from-relay") })
        XCTAssertEqual(try digest(relay), relayDigest, "nothing of it changed")

        // An empty replica that refuses snapshots is told to take one.
        let (_, _, refusing) = try client("refusing", seed: 6, hub: hub, router: router, snapshots: false)
        XCTAssertThrowsError(try refusing.run()) { error in
            XCTAssertTrue((error as? SyncError)?.hint?.contains("without --no-snapshot") ?? false, "\(error)")
        }
    }

    /// Starting again from a snapshot, a replica refuses one that lacks an operation it holds (a
    /// copy written before its last push): nothing changes, and it can take a newer one.
    func test_startingAgainFromASnapshot_refusesOneLackingWhatTheReplicaHolds() throws {
        let (hub, _, router) = try makeHub(people: 100)
        _ = try hub.perform { try $0.compactLog() }
        let old = try Replica.writeSnapshot(of: hub.perform { $0.location }, schema: PeopleSchema.current)
        defer { Replica.removeSnapshotFile(old.path) }
        let (late, _, lateSession) = try client("late", seed: 8, hub: hub, router: router, snapshots: false)
        try late.perform { _ = try $0.write(collection: "people", record: "from-late", [.put(field: "name", value: "Late")]) }
        XCTAssertThrowsError(try lateSession.run(), "without snapshots it cannot catch up")   // but its write went up
        XCTAssertEqual(try late.perform { try $0.canReplaceWithSnapshot() }, true)
        let before = try digest(late)
        let hubID = hub.perform { $0.id }
        XCTAssertThrowsError(try late.perform { try $0.adoptSnapshot(at: old.path, through: old.through, from: hubID, replacing: true) }) { error in
            XCTAssertTrue((error as? ChorusError)?.message.contains("lacks its operation") ?? false, "\(error)")
        }
        XCTAssertEqual(try digest(late), before, "nothing changed")
        XCTAssertEqual(try late.perform { try $0.logGeneration() }, 0)

        let fresh = try Replica.writeSnapshot(of: hub.perform { $0.location }, schema: PeopleSchema.current)
        defer { Replica.removeSnapshotFile(fresh.path) }
        _ = try late.perform { try $0.adoptSnapshot(at: fresh.path, through: fresh.through, from: hubID, replacing: true) }
        XCTAssertEqual(try digest(late), try digest(hub))
        XCTAssertEqual(try late.perform { try $0.upstream()?.pushCursor }, fresh.through)
        XCTAssertEqual(try late.perform { try $0.invariantViolations() }, [])
    }

    /// Starting again must never drop what only this replica holds: a replica restored from an
    /// older backup (its new writes reuse ids the hub holds with other content) and one holding
    /// operations it may not push (here merged from a replica not registered on the hub) are
    /// refused, changed in nothing and told what to do; operations of a record erased here
    /// before they were pushed (which never go up) do not hold it back.
    func test_startingAgain_refusesWhatOnlyThisReplicaHolds_butNotWhatItErased() throws {
        let (hub, service, router) = try makeHub(people: 50)
        // Restored from a backup taken after its first write, beside a counters file naming none
        // (an operator's `reserved 0`; with no file its counter would leap past the lost ids): its
        // counter is back at 1, so its next write reuses id 2.
        let (restored, restoredSession) = try restoredLaptop(hub: hub, service: service, router: router, compacting: true, reserved: 0)
        try restored.perform { _ = try $0.write(collection: "people", record: "l-restored", [.put(field: "name", value: "After the restore")]) }
        let before = try digest(restored)
        let hubBefore = try digest(hub)
        // The hub's word on which of its own operations it holds (`info?own=1`) shows it lacks 3 and
        // 4, and that its unsent write's id, 2, is held: refused before anything is pushed, each time.
        for _ in 0..<2 {
            XCTAssertThrowsError(try restoredSession.run()) { error in
                XCTAssertTrue((error as? ChorusError)?.message.contains("restored from a backup of itself") ?? false, "\(error)")
                XCTAssertTrue((error as? ChorusError)?.message.contains("it lacks at least 2 of its own operations that the upstream holds") ?? false, "\(error)")
                XCTAssertTrue((error as? ChorusError)?.message.contains("1 operation made here and not sent yet carries an id the upstream holds (first \(restored.perform { $0.id.hex }):2)") ?? false, "\(error)")
                XCTAssertTrue((error as? ChorusError)?.hint?.contains("join a new, empty folder") ?? false, "\(error)")
            }
        }
        XCTAssertEqual(try digest(hub), hubBefore, "nothing reached the hub")
        XCTAssertEqual(try digest(restored), before, "nothing of it changed")
        XCTAssertEqual(try restored.perform { try $0.get(collection: "people", record: "l-restored")?.fields["name"] }, "After the restore")

        // Holding an operation it may not push (merged from a replica the hub does not know).
        let stranger = try ReplicaFactory.memory(name: "stranger", clock: clock, seed: 9)
        _ = try stranger.write(collection: "people", record: "s-1", [.put(field: "name", value: "Only here")])
        let (holder, _, holderSession) = try client("holder", seed: 3, hub: hub, router: router)
        try holder.perform { _ = try $0.applyRemote(try stranger.log(limit: 10).compactMap(\.operation)) }
        let holderBefore = try digest(holder)
        XCTAssertThrowsError(try holderSession.run()) { error in
            XCTAssertTrue((error as? SyncError)?.message.contains("which only it holds") ?? false, "\(error)")
            XCTAssertTrue((error as? SyncError)?.hint?.contains("export it") ?? false, "\(error)")
        }
        XCTAssertEqual(try digest(holder), holderBefore)

        // A record written and erased here before any push: only the erase goes up; it starts again.
        let (eraser, _, eraserSession) = try client("eraser", seed: 4, hub: hub, router: router)
        try eraser.perform { replica in
            _ = try replica.write(collection: "people", record: "e-gone", [.put(field: "name", value: "Gone")])
            _ = try replica.write(collection: "people", record: "e-gone", [.erase])
            _ = try replica.write(collection: "people", record: "e-kept", [.put(field: "name", value: "Kept")])
        }
        let restart = try eraserSession.run(compareDigests: true)
        XCTAssertGreaterThan(restart.snapshotOperations, 0, "\(restart.snapshotRefused ?? "")")
        XCTAssertEqual(restart.digestMatches, true)
        XCTAssertEqual(try eraser.perform { try $0.get(collection: "people", record: "e-kept")?.fields["name"] }, "Kept")
        XCTAssertEqual(try eraser.perform { try $0.isErased(collection: "people", record: "e-gone") }, true)
    }

    /// Once compacted, `log_ids` may hold more than the log, never less: `chorus check` names
    /// an origin whose logged operations its intervals no longer cover.
    func test_check_namesLogIDsThatNoLongerCoverTheLog_onceCompacted() throws {
        let (hub, _, _) = try makeHub(people: 200)
        let latest = try hub.perform { try $0.latestSequence() }
        XCTAssertEqual(try hub.perform { try $0.compactLog(through: latest / 2).floor }, latest / 2)
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])
        try hub.perform { try $0.withDatabase { try $0.execute("UPDATE log_ids SET last = last - 10") } }
        XCTAssertTrue(try hub.perform { try $0.invariantViolations() }.contains { $0.hasPrefix("origins whose log_ids disagree with the log") })
    }

    func test_openConflicts_keepTheirAuthors_untilResolved() throws {
        let (hub, service, router) = try makeHub(people: 300)
        let (ana, anaSession, bo, boSession) = try anaAndBo(hub: hub, router: router)
        try writeTitle(ana, "p1", "Lead", by: "p-ana")
        try writeTitle(bo, "p1", "Coach", by: "p-bo")
        _ = try anaSession.run()
        _ = try boSession.run()
        _ = try anaSession.run(compareDigests: true)
        _ = try boSession.run(compareDigests: true)
        // Many more writes, so the conflict's values sit in blocks below the compaction point.
        try writeLater(hub, count: 600)
        _ = try anaSession.run(compareDigests: true)
        _ = try boSession.run(compareDigests: true)
        service.flushActivity()
        XCTAssertEqual(try conflictAuthors(hub), ["p-ana", "p-bo"])
        let report = try hub.perform { try $0.compactLog() }
        XCTAssertEqual(report.floor, try hub.perform { try $0.latestSequence() })
        XCTAssertGreaterThan(report.blocksKeptForConflicts, 0)
        XCTAssertEqual(try conflictAuthors(hub), ["p-ana", "p-bo"], "admins still see who wrote each value")
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])

        let conflict = try hub.perform { try $0.conflicts().first! }
        _ = try hub.perform { try $0.resolveConflict(id: conflict.id, .value("Lead"), by: "admin") }
        _ = try anaSession.run(compareDigests: true)
        _ = try boSession.run(compareDigests: true)
        service.flushActivity()
        let after = try hub.perform { try $0.compactLog() }
        XCTAssertEqual(after.blocksKeptForConflicts, 0, "resolved: nothing is kept for it any more")
        XCTAssertEqual(try blockCount(hub), 0)
    }

    /// A conflict that forms after a value's operation was compacted (its writer's value reached
    /// the hub and every replica registered there; the other's comes later from elsewhere, here a
    /// bundle) still names both writers: the compacted one's author was kept as its operation
    /// left the log. It goes when the value is superseded and that is compacted, or the record erased.
    func test_aConflictFormedAfterCompaction_namesTheCompactedValuesAuthor() throws {
        let (hub, service, router) = try makeHub(people: 300)
        let (ana, _, anaSession) = try client("ana", seed: 2, hub: hub, router: router)
        let bo = try durable("bo", seed: 3)   // not registered at the hub: its writes come by bundle
        _ = try anaSession.run()
        try writeTitle(ana, "p1", "Lead", by: "p-ana")   // over the hub's title, which ana pulled
        try writeTitle(bo, "p1", "Coach", by: "p-bo")
        _ = try anaSession.run()
        try writeLater(hub, count: 600)
        _ = try anaSession.run(compareDigests: true)
        service.flushActivity()
        // The kept authors of a person's values (a resolution's own record, by its admin, keeps its too).
        let keptAuthors = { (record: String) in
            try hub.perform { try $0.withDatabase {
                try $0.query("SELECT k.author FROM kept_authors k JOIN records r ON r.rid = k.rid WHERE r.collection = 'people' AND r.record = ? ORDER BY k.author",
                             record).compactMap { $0.text(0) }
            } }
        }
        XCTAssertEqual(try hub.perform { try $0.compactLog() }.floor, try hub.perform { try $0.latestSequence() })
        XCTAssertEqual(try keptAuthors("p1"), ["p-ana"], "ana's live, attributed value; nothing for the unattributed ones")

        // A replica started from the compacted hub's snapshot has the kept author too.
        let snapshot = try Replica.writeSnapshot(of: hub.perform { $0.location }, schema: PeopleSchema.current)
        defer { Replica.removeSnapshotFile(snapshot.path) }
        let carol = try durable("carol", seed: 4)
        _ = try carol.perform { try $0.adoptSnapshot(at: snapshot.path, through: snapshot.through, from: hub.perform { $0.id }, replacing: false) }

        let fromBo = try bo.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation) }
        for replica in [hub, carol] { _ = try replica.perform { try $0.applyRemote(fromBo) } }
        XCTAssertEqual(try conflictAuthors(hub), ["p-ana", "p-bo"], "the compacted value's writer is named")
        XCTAssertEqual(try conflictAuthors(carol), ["p-ana", "p-bo"], "and on the replica started from its snapshot")
        XCTAssertEqual(try hub.perform { try $0.invariantViolations() }, [])

        let conflict = try hub.perform { try $0.conflicts().first! }
        _ = try hub.perform { try $0.resolveConflict(id: conflict.id, .value("Lead"), by: "admin") }
        _ = try anaSession.run(compareDigests: true)
        _ = try anaSession.run(compareDigests: true)
        service.flushActivity()
        XCTAssertEqual(try hub.perform { try $0.compactLog() }.floor, try hub.perform { try $0.latestSequence() })
        XCTAssertEqual(try keptAuthors("p1"), ["admin"], "ana's superseded by the resolution's value, and that compacted: forgotten, the resolution's kept")

        try writeTitle(hub, "p2", "Coach", by: "p-hub")
        _ = try anaSession.run(compareDigests: true)
        _ = try anaSession.run(compareDigests: true)
        service.flushActivity()
        _ = try hub.perform { try $0.compactLog() }
        XCTAssertEqual(try keptAuthors("p2"), ["p-hub"])
        let p2 = try hub.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT rid FROM records WHERE collection = 'people' AND record = 'p2'") } }
        _ = try hub.perform { try $0.write(collection: "people", record: "p2", [.erase]) }
        XCTAssertEqual(try hub.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM kept_authors WHERE rid = ?", p2) } }, 0,
                       "an erasure takes its record's kept authors")
    }

    /// A snapshot leaves out the history every replica that synced has committed, though the hub
    /// keeps its log: the authors of live values among it travel in the copy, so a replica
    /// started from it names them when a concurrent write from elsewhere makes a conflict there.
    func test_aReplicaStartedFromASnapshot_namesTheAuthorsOfTheHistoryLeftOut() throws {
        let (hub, service, router) = try makeHub(people: 300)
        let (ana, _, anaSession) = try client("ana", seed: 2, hub: hub, router: router)
        let bo = try durable("bo", seed: 3)
        _ = try anaSession.run()
        try writeTitle(ana, "p1", "Lead", by: "p-ana")
        _ = try anaSession.run(compareDigests: true)
        _ = try anaSession.run(compareDigests: true)
        service.flushActivity()
        try writeTitle(bo, "p1", "Coach", by: "p-bo")
        let snapshot = try Replica.writeSnapshot(of: hub.perform { $0.location }, schema: PeopleSchema.current)
        defer { Replica.removeSnapshotFile(snapshot.path) }
        let carol = try durable("carol", seed: 4)
        _ = try carol.perform { try $0.adoptSnapshot(at: snapshot.path, through: snapshot.through, from: hub.perform { $0.id }, replacing: false) }
        XCTAssertEqual(try blockCount(carol), 0, "the history was left out of the copy")
        XCTAssertGreaterThan(try blockCount(hub), 0, "and kept on the hub")
        _ = try carol.perform { try $0.applyRemote(try bo.perform { try $0.log(after: 0, limit: 1000).compactMap(\.operation) }) }
        XCTAssertEqual(try conflictAuthors(carol), ["p-ana", "p-bo"])
    }

    /// A snapshot brings the state, not the history: its copy's log is compacted through its end
    /// whether or not the hub's is, but for the blocks naming an open conflict's values, so the
    /// new replica's admins still see who wrote each. The hub keeps its whole log.
    func test_aSnapshot_leavesTheHistoryBehind_butKeepsAnOpenConflictsAuthors() throws {
        limits.snapshotSequenceMin = 0
        limits.snapshotReuseSeconds = 0   // carol's copy is written for her, not ana's served again
        let (hub, service, router) = try makeHub(people: 300)
        let (ana, anaSession, bo, boSession) = try anaAndBo(hub: hub, router: router)
        try writeTitle(ana, "p1", "Lead", by: "p-ana")
        try writeTitle(bo, "p1", "Coach", by: "p-bo")
        _ = try anaSession.run()
        _ = try boSession.run()
        try writeLater(hub, count: 600)
        // Both have committed all of it (each pull says what the one before committed): no
        // replica can write concurrently with any of it any more.
        for _ in 0..<2 { _ = try anaSession.run(); _ = try boSession.run() }
        service.flushActivity()
        let latest = try hub.perform { try $0.latestSequence() }
        let hubBlocks = try blockCount(hub)
        XCTAssertEqual(try conflictAuthors(hub), ["p-ana", "p-bo"])

        let (carol, _, carolSession) = try client("carol", seed: 4, hub: hub, router: router)
        let report = try carolSession.run(compareDigests: true)
        XCTAssertEqual(report.snapshotOperations, latest, "every operation's effect came in the snapshot")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try carol.perform { try $0.compactionFloor() }, latest, "it holds no history, and knows it")
        let carolBlocks = try blockCount(carol)
        XCTAssertGreaterThan(carolBlocks, 0, "the blocks of the conflicted record's live values came")
        XCTAssertLessThanOrEqual(carolBlocks, 3, "and no others: the hub's first writes, ana's push and bo's")
        XCTAssertGreaterThan(hubBlocks, 3 * carolBlocks)
        XCTAssertEqual(try conflictAuthors(carol), ["p-ana", "p-bo"], "its admins see who wrote each value")
        XCTAssertEqual(try carol.perform { try $0.invariantViolations() }, [])
        XCTAssertEqual(try hub.perform { try $0.compactionFloor() }, 0, "the hub's log is its own: nothing of it went")
        XCTAssertEqual(try blockCount(hub), hubBlocks)

        // What needs the history says so; the ids stayed, so an old operation is still a duplicate.
        XCTAssertThrowsError(try carol.perform { try $0.exportBundle(since: 0) { _ in } }) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .historyCompacted)
        }
        let old = try XCTUnwrap(try hub.perform { try $0.log(after: 0, limit: 3) }.compactMap(\.operation).first)
        XCTAssertEqual(try carol.perform { try $0.applyRemote([old]) }.duplicates, 1, "an operation the snapshot brought the effect of is not applied again")
        XCTAssertEqual(try carolSession.run(compareDigests: true).digestMatches, true)
    }

    /// A conflict that forms after the copy, between a value the copy holds and a write made
    /// offline before it, still names both authors on the new replica: the copy keeps every
    /// block after what each replica that has synced has committed, since such a replica may
    /// still write concurrently with it.
    func test_aSnapshot_keepsWhatAReplicaBehindMayStillConflictWith() throws {
        limits.snapshotSequenceMin = 0
        limits.snapshotReuseSeconds = 0
        let (hub, service, router) = try makeHub(people: 300)
        let (ana, _, anaSession) = try client("ana", seed: 2, hub: hub, router: router)
        let (bo, _, boSession) = try client("bo", seed: 3, hub: hub, router: router)
        for _ in 0..<2 { _ = try anaSession.run(); _ = try boSession.run() }
        // Bo writes offline; ana's concurrent write reaches the hub, and she syncs again.
        try writeTitle(bo, "p2", "Coach", by: "p-bo")
        try writeTitle(ana, "p2", "Lead", by: "p-ana")
        for _ in 0..<2 { _ = try anaSession.run() }
        service.flushActivity()   // what each says it has committed, as the node records every 2 s
        XCTAssertEqual(try hub.perform { try $0.conflicts() }.count, 0, "no conflict yet: bo's write is not there")
        let hold = try XCTUnwrap(try hub.perform { try $0.snapshotHistoryHold() }, "bo holds the copies' history back")
        XCTAssertEqual(hold.holder, .replica("bo"), "and `chorus status` names him")
        XCTAssertLessThan(hold.sequence, try hub.perform { try $0.latestSequence() })

        let (carol, _, carolSession) = try client("carol", seed: 4, hub: hub, router: router)
        XCTAssertGreaterThan(try carolSession.run().snapshotOperations, 0)
        XCTAssertEqual(try carol.perform { try $0.compactionFloor() }, try hub.perform { try $0.latestSequence() })
        _ = try boSession.run()   // bo pushes before it pulls: the conflict forms on the hub
        _ = try carolSession.run(compareDigests: true)
        for replica in [hub, carol] {
            XCTAssertEqual(try conflictAuthors(replica), ["p-ana", "p-bo"], "both authors, on the hub and on the replica that started after ana's write")
        }
        XCTAssertEqual(try carol.perform { try $0.invariantViolations() }, [])
    }

    /// A write made while a pull runs is concurrent with the pages merged after it, and goes up
    /// only at the next sync: until then the replica says it committed no further than where it
    /// was when it wrote, so a copy taken meanwhile keeps the history the write may conflict with.
    func test_aWriteMadeWhileAPullRuns_holdsTheCommittedCursorUntilItIsPushed() throws {
        limits.snapshotSequenceMin = 0
        limits.snapshotReuseSeconds = 0
        limits.pullPageOperationsMax = 50
        let (hub, service, router) = try makeHub(people: 100)
        var (bo, _, boSession) = try client("bo", seed: 2, hub: hub, router: router)
        for _ in 0..<2 { _ = try boSession.run() }
        // Later history on the hub, p2's title among it, in pages after bo's first.
        try writeLater(hub, count: 200)
        try writeTitle(hub, "p2", "Lead", by: "p-hub")
        try writeLater(hub, count: 20)
        let latest = try hub.perform { try $0.latestSequence() }
        // Bo writes p2's title after his pull's first page, before it reaches the hub's write.
        var cursorWhenWritten: Int64?
        boSession.progress = { message in
            guard cursorWhenWritten == nil, message.hasPrefix("pulled") else { return }
            cursorWhenWritten = try? bo.perform { try $0.upstream()?.pullCursor }
            try? self.writeTitle(bo, "p2", "Coach", by: "p-bo")
        }
        _ = try boSession.run(compareDigests: true)
        let written = try XCTUnwrap(cursorWhenWritten, "the pull took several pages")
        XCTAssertLessThan(written, latest)
        XCTAssertEqual(try bo.perform { try $0.upstream()?.pullCursor }, latest, "bo pulled it all")
        service.flushActivity()
        let hold = try XCTUnwrap(try hub.perform { try $0.snapshotHistoryHold() }, "bo's write waits to go up")
        XCTAssertEqual(hold.holder, .replica("bo"))
        XCTAssertLessThanOrEqual(hold.sequence, written, "bo said he committed no further than where he wrote")

        let (carol, _, carolSession) = try client("carol", seed: 3, hub: hub, router: router)
        XCTAssertGreaterThan(try carolSession.run().snapshotOperations, 0)
        boSession.progress = { _ in }
        _ = try boSession.run()   // the write goes up: the conflict forms on the hub
        _ = try carolSession.run()
        for replica in [hub, carol] {
            XCTAssertEqual(try conflictAuthors(replica), ["p-bo", "p-hub"], "both authors, on the replica that started before bo's write went up too")
        }
        _ = try boSession.run()
        service.flushActivity()
        XCTAssertNotEqual(try hub.perform { try $0.snapshotHistoryHold() }?.holder, .replica("bo"), "pushed, bo says he committed all he pulled again")
    }

    /// A new replica that writes during its first pull of the log has committed nothing it may
    /// not conflict with: it says 0, and the upstream counts it at 0 (not at the `after` of its
    /// pulls) until the write has gone up.
    func test_aWriteMadeDuringTheFirstPull_holdsTheWholeHistoryInCopies() throws {
        limits.snapshotSequenceMin = 0
        limits.snapshotReuseSeconds = 0
        limits.pullPageOperationsMax = 50
        let (hub, service, router) = try makeHub(people: 100)
        try writeTitle(hub, "p2", "Lead", by: "p-hub")
        try writeLater(hub, count: 200)
        let (bo, transport, boSession) = try client("bo", seed: 2, hub: hub, router: router, snapshots: false)
        // Bo writes as his first pull request goes out, before he holds anything of the hub's.
        var first = SyncSession(executor: bo, transport: BeforePulls(transport, writingFirst: { try? self.writeTitle(bo, "p2", "Coach", by: "p-bo") }),
                                limits: limits, wallClock: clock)
        first.usesSnapshots = false
        _ = try first.run()
        XCTAssertEqual(try bo.perform { try $0.upstream()?.pullCursor }, try hub.perform { try $0.latestSequence() }, "he pulled it all, pages of it")
        service.flushActivity()
        XCTAssertEqual(try hub.perform { try $0.snapshotHistoryHold() }, CompactionHold(holder: .replica("bo"), sequence: 0))

        let (carol, _, carolSession) = try client("carol", seed: 3, hub: hub, router: router)
        XCTAssertGreaterThan(try carolSession.run().snapshotOperations, 0)
        _ = try boSession.run()
        _ = try carolSession.run()
        for replica in [hub, carol] { XCTAssertEqual(try conflictAuthors(replica), ["p-bo", "p-hub"]) }
    }

    /// A write made after the push, before the pull's first page is merged, waits for the next
    /// sync too: the pull says no more than where it started.
    func test_aWriteMadeBeforeThePullsFirstPage_holdsTheCommittedCursorWhereThePullStarted() throws {
        let (hub, service, bo, transport, _, start) = try boBehindLaterHistory()
        // Bo writes as his first pull request goes out: after the push, before any page merges.
        let writing = BeforePulls(transport, writingFirst: { try? self.writeTitle(bo, "p2", "Coach", by: "p-bo") })
        _ = try SyncSession(executor: bo, transport: writing, limits: limits, wallClock: clock).run(compareDigests: true)
        XCTAssertEqual(try bo.perform { try $0.upstream()?.pullCursor }, start + 200, "bo pulled the hub's later history, pages of it")
        try assertBoHeld(at: start, hub: hub, service: service)
    }

    /// Bo, synced twice on a hub of 100 people whose log then grew by 200 operations (pulled in
    /// pages of 50), and his pull cursor before them.
    func boBehindLaterHistory() throws
        -> (hub: ReplicaExecutor, service: SyncService, bo: ReplicaExecutor, transport: InProcessTransport, boSession: SyncSession, start: Int64) {
        limits.pullPageOperationsMax = 50
        let (hub, service, router) = try makeHub(people: 100)
        let (bo, transport, boSession) = try client("bo", seed: 2, hub: hub, router: router)
        for _ in 0..<2 { _ = try boSession.run() }
        let start = try XCTUnwrap(try bo.perform { try $0.upstream()?.pullCursor })
        try writeLater(hub, count: 200)
        return (hub, service, bo, transport, boSession, start)
    }

    /// The hub's copies hold the history after `start` for bo, whose write waits to go up.
    func assertBoHeld(at start: Int64, hub: ReplicaExecutor, service: SyncService, file: StaticString = #filePath, line: UInt = #line) throws {
        service.flushActivity()
        let hold = try XCTUnwrap(try hub.perform { try $0.snapshotHistoryHold() }, "bo's write waits to go up", file: file, line: line)
        XCTAssertEqual(hold.holder, .replica("bo"), file: file, line: line)
        XCTAssertEqual(hold.sequence, start, "bo said he committed only where his pull started", file: file, line: line)
    }

    /// A write made while the push's last page is on its way (read already, so the page lacks it)
    /// waits for the next sync: the pull that follows counts it and says no more than where it
    /// started.
    func test_aWriteMadeWhileThePushIsOnItsWay_holdsTheCommittedCursorWhereThePullStarted() throws {
        let (hub, service, bo, transport, boSession, start) = try boBehindLaterHistory()
        try writeTitle(bo, "p1", "Lead", by: "p-bo")
        let writing = BeforePulls(transport) { _ in }
        writing.beforePush = { try? self.writeTitle(bo, "p2", "Coach", by: "p-bo") }
        let report = try SyncSession(executor: bo, transport: writing, limits: limits, wallClock: clock).run(compareDigests: true)
        XCTAssertEqual(report.pushedOperations, 1, "the page read before the write went up without it")
        XCTAssertEqual(try bo.perform { try $0.pendingPushCount() }, 1, "the write waits for the next sync")
        XCTAssertEqual(try bo.perform { try $0.upstream()?.pullCursor }, start + 201, "bo pulled the hub's later history and his own write back")
        try assertBoHeld(at: start, hub: hub, service: service)

        writing.beforePush = {}
        XCTAssertEqual(try boSession.run().pushedOperations, 1)
        _ = try boSession.run()
        service.flushActivity()
        XCTAssertNil(try hub.perform { try $0.snapshotHistoryHold() }, "pushed, bo says all he holds")
    }

    /// A transport that runs `before` as each pull request goes out, with how many went before it
    /// (what it throws is the request's failure), and `beforePush` as each push request does.
    final class BeforePulls: SyncTransport, @unchecked Sendable {
        let inner: any SyncTransport
        let before: (Int) throws -> Void
        var beforePush: () -> Void = {}
        var pulls = 0
        init(_ inner: any SyncTransport, before: @escaping (Int) throws -> Void) { (self.inner, self.before) = (inner, before) }
        /// Runs `write` once, as the first pull request goes out.
        convenience init(_ inner: any SyncTransport, writingFirst write: @escaping () -> Void) {
            self.init(inner) { if $0 == 0 { write() } }
        }
        func info(ownOperations: Bool) throws -> InfoResponse { try inner.info(ownOperations: ownOperations) }
        func push(body: [UInt8]) throws -> PushResponse {
            beforePush()
            return try inner.push(body: body)
        }
        func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64, own: Bool) throws -> PullResponse {
            pulls += 1
            try before(pulls - 1)
            return try inner.pull(after: after, afterOperation: afterOperation, limit: limit, waitingToPush: waitingToPush, committed: committed, own: own)
        }
        func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse { try inner.digest(reporting: local) }
        func snapshot(storage: String, reaching: Int64, into path: String, progress: @escaping (Int64, Int64) -> Void) throws -> Int64 {
            try inner.snapshot(storage: storage, reaching: reaching, into: path, progress: progress)
        }
    }

    /// A replica that took a snapshot and synced once asked for the page after it with the cursor
    /// from before it (nothing committed), yet holds the copy's state: the page being the last, it
    /// asks once more and says what it holds, so a later copy keeps what it may write concurrently
    /// with, and no more.
    func test_aReplicaThatSyncedOnceFromASnapshot_stillHoldsLaterCopies() throws {
        limits.snapshotSequenceMin = 0
        limits.snapshotReuseSeconds = 0
        let (hub, service, router) = try makeHub(people: 300)
        let (ana, _, anaSession) = try client("ana", seed: 2, hub: hub, router: router)
        let (carol, _, carolSession) = try client("carol", seed: 3, hub: hub, router: router)
        for _ in 0..<2 { _ = try anaSession.run() }
        XCTAssertGreaterThan(try carolSession.run().snapshotOperations, 0)   // once, the page after the snapshot the last
        service.flushActivity()
        XCTAssertNotEqual(try hub.perform { try $0.snapshotHistoryHold() }?.holder, .replica("carol"), "carol said what she holds after the snapshot")
        try writeTitle(ana, "p3", "Lead", by: "p-ana")
        for _ in 0..<2 { _ = try anaSession.run() }
        try writeTitle(carol, "p3", "Coach", by: "p-carol")
        service.flushActivity()
        let (dave, _, daveSession) = try client("dave", seed: 4, hub: hub, router: router)
        XCTAssertGreaterThan(try daveSession.run().snapshotOperations, 0)
        _ = try carolSession.run()
        _ = try daveSession.run()
        XCTAssertEqual(try conflictAuthors(dave), ["p-ana", "p-carol"])
    }

    /// The request made only to say what a replica holds after its snapshot may fail: the sync
    /// has taken everything by then, and succeeds; the next one says it.
    func test_theRequestSayingWhatASnapshotBrought_mayFail() throws {
        limits.snapshotSequenceMin = 0
        let (hub, _, router) = try makeHub(people: 100)
        let (carol, transport, _) = try client("carol", seed: 3, hub: hub, router: router)
        let failing = BeforePulls(transport) { if $0 == 1 { throw SyncError(status: 0, "the link went down") } }
        let report = try SyncSession(executor: carol, transport: failing, limits: limits, wallClock: clock).run()
        XCTAssertGreaterThan(report.snapshotOperations, 0)
        XCTAssertEqual(failing.pulls, 2, "the page after the snapshot, then the one that failed")
        XCTAssertEqual(try digest(carol), try digest(hub))
    }

    /// A block holding a conflict's value can reach past the settled sequence (a replica's
    /// committed cursor falls where a page ended, inside a block): the copy takes it once.
    func test_aSnapshot_takesAConflictsBlockReachingPastTheSettledSequenceOnce() throws {
        let (hub, service, router) = try makeHub(people: 100)
        let (ana, anaSession, bo, boSession) = try anaAndBo(hub: hub, router: router)
        try writeTitle(ana, "p1", "Lead", by: "p-ana")
        _ = try anaSession.run()
        // Bo's concurrent value first, then more writes: one push, one block, the value at its start.
        try bo.perform { replica in
            _ = try replica.write(collection: "people", record: "p1", [.put(field: "title", value: "Coach")], by: "p-bo")
            for index in 0..<5 { _ = try replica.write(collection: "people", record: "b\(index)", [.put(field: "name", value: "B")]) }
        }
        _ = try boSession.run()
        service.flushActivity()
        let (first, last) = try hub.perform { replica in
            try replica.withDatabase { db in
                let row = try XCTUnwrap(try db.queryRow("SELECT first_seq, last_seq FROM log_blocks ORDER BY last_seq DESC LIMIT 1"))
                return (row.integer(0)!, row.integer(1)!)
            }
        }
        XCTAssertGreaterThan(last, first + 2, "bo's push is one block of several operations")
        XCTAssertEqual(try hub.perform { try $0.conflicts() }.count, 1)
        try hub.perform { try $0.withDatabase { try $0.run("UPDATE peers SET committed_seq = ?", first + 2) } }
        let file = try hub.perform { try Replica.writeSnapshot(of: $0.location, schema: $0.configuration.schema) }
        defer { Replica.removeSnapshotFile(file.path) }
        let copy = try Database(path: file.path)
        XCTAssertEqual(try copy.queryScalarInteger("SELECT count(*) FROM log_blocks WHERE last_seq = ?", last), 1, "the block, once")
        XCTAssertEqual(file.through, last)
    }

    /// A copy written before the log was compacted past it is never served again: its replica
    /// would be left below the compaction point, unable to pull what came after.
    func test_aSnapshotOlderThanTheCompactionPoint_isNotServedAgain() throws {
        limits.snapshotSequenceMin = 0
        let (hub, service, router) = try makeHub(people: 100)
        let (first, _, firstSession) = try client("first", seed: 2, hub: hub, router: router)
        XCTAssertGreaterThan(try firstSession.run().snapshotOperations, 0)   // the hub caches this copy for a minute
        try writeLater(hub, count: 300)
        _ = try firstSession.run(compareDigests: true)
        service.flushActivity()
        let floor = try hub.perform { try $0.compactLog().floor }
        XCTAssertGreaterThan(floor, 300, "past the cached copy")
        let (second, _, secondSession) = try client("second", seed: 3, hub: hub, router: router)
        let report = try secondSession.run(compareDigests: true)
        XCTAssertNil(report.snapshotRefused)
        XCTAssertEqual(report.digestMatches, true, "a fresh copy, reaching the compaction point")
        XCTAssertGreaterThanOrEqual(try second.perform { try $0.upstream()!.pullCursor }, floor)
        XCTAssertEqual(try digest(first), try digest(second))
    }
}
