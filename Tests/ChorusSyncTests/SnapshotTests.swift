import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting
import HTTP1
import SQLiteKit

/// Snapshot bootstrap (Protocol/sync-v1.md section 4.6): a new replica that starts from its
/// upstream's database copy ends where one that replays the whole log ends, takes nothing private
/// to the upstream, and refuses a damaged or forged copy without changing anything.
final class SnapshotTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-snapshot" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        limits.snapshotSequenceMin = 0
    }

    func router(_ hub: ReplicaExecutor, limits: Limits? = nil) -> NodeRouter {
        let limits = limits ?? self.limits
        return NodeRouter(service: SyncService(executor: hub, limits: limits, wallClock: clock, watch: hub.perform { $0.openChangeWatch() }), limits: limits)
    }

    func test_newReplica_fromSnapshot_endsWhereReplayEnds_forSeededWorkloads() throws {
        for seed in testSeeds(count: 12, base: 0x5A4B_0000) {
            let hub = try durable("hub-\(seed)", seed: seed)
            var workload = WorkloadGenerator(seed: seed)
            let operations = workload.generate(steps: 40 + Int(seed % 60))
            try hub.perform { _ = try $0.applyRemote(operations) }
            let hubRouter = router(hub)
            let (fromSnapshot, _, snapshotSession) = try client("snap-\(seed)", seed: seed &+ 1, hub: hub, router: hubRouter)
            let (replaying, _, replaySession) = try client("replay-\(seed)", seed: seed &+ 2, hub: hub, router: hubRouter, snapshots: false)

            let report = try snapshotSession.run(compareDigests: true)
            let latest = try hub.perform { try $0.latestSequence() }
            XCTAssertEqual(report.snapshotOperations, latest, "seed \(seed): the whole log came in the snapshot")
            XCTAssertNil(report.snapshotRefused, "seed \(seed)")
            XCTAssertEqual(report.pulledOperations, 0, "seed \(seed): nothing left to pull after the snapshot")
            XCTAssertEqual(report.digestMatches, true, "seed \(seed) (replay with CHORUS_SEED=\(seed))")
            _ = try replaySession.run()
            XCTAssertEqual(try digest(fromSnapshot), try digest(replaying), "seed \(seed): snapshot and replay end alike")
            XCTAssertEqual(try fromSnapshot.perform { try $0.invariantViolations() }, [], "seed \(seed)")
            XCTAssertEqual(try fromSnapshot.perform { try $0.upstream()?.pullCursor }, latest, "seed \(seed)")
            XCTAssertEqual(try fromSnapshot.perform { try $0.pendingPushCount() }, 0, "seed \(seed): what came from upstream never waits to go back up")
            let highWater = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0)"
            XCTAssertEqual(try fromSnapshot.perform { try $0.withDatabase { try $0.queryScalarInteger(highWater) } },
                           try hub.perform { try $0.withDatabase { try $0.queryScalarInteger(highWater) } },
                           "seed \(seed): record ids the hub used (erased ones too) are never handed out again")

            // Afterwards it syncs like any replica: the hub's new writes come down, its own go up,
            // and nothing that came in the snapshot is pushed back.
            try hub.perform { _ = try $0.write(collection: "people", record: "after-\(seed)", [.put(field: "name", value: "Later")]) }
            try fromSnapshot.perform { _ = try $0.write(collection: "people", record: "mine-\(seed)", [.put(field: "name", value: "Mine")]) }
            let next = try snapshotSession.run(compareDigests: true)
            XCTAssertEqual(next.pushedOperations, 1, "seed \(seed): only its own write goes up")
            XCTAssertEqual(next.pullApplied, 1, "seed \(seed)")
            XCTAssertEqual(next.snapshotOperations, 0, "seed \(seed): a replica that holds data never takes a snapshot")
            XCTAssertEqual(next.digestMatches, true, "seed \(seed)")
            XCTAssertEqual(try fromSnapshot.perform { try $0.invariantViolations() }, [], "seed \(seed)")
        }
    }

    func test_snapshot_holdsNothingPrivateToTheUpstream() throws {
        let hub = try durable("hub", seed: 1)
        var workload = WorkloadGenerator(seed: 3)
        try hub.perform { replica in
            _ = try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
            // Pushed by a registered replica: its name is in the log's `source` column here.
            _ = try replica.applyRemote(workload.generate(steps: 30), source: "peer:zq-pusher-secret")
            try replica.setUpstream(url: "http://secret-upstream.example", tokenFile: "/etc/chorus/secret-token")
        }
        let tokens = try hub.perform { replica in try ["zq-office-secret", "zq-laptop-secret"].map { try replica.addPeer(name: $0, role: .relay) } }
        let file = try hub.perform { try Replica.writeSnapshot(of: $0.location, schema: $0.configuration.schema) }
        defer { Replica.removeSnapshotFile(file.path) }
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: file.path))
        for secret in tokens.map(Replica.tokenHash) + ["secret-upstream", "secret-token", "zq-office-secret", "zq-laptop-secret", "zq-pusher-secret"] {
            XCTAssertNil(bytes.range(of: Data(secret.utf8)), "\(secret) is not in the snapshot's bytes")
        }
        let copy = try Database(path: file.path)
        XCTAssertEqual(try copy.queryScalarInteger("SELECT (SELECT count(*) FROM peers) + (SELECT count(*) FROM upstream) + (SELECT count(*) FROM peer_relayed)"), 0)
        XCTAssertEqual(file.through, try hub.perform { try $0.latestSequence() })
        XCTAssertGreaterThanOrEqual(try copy.queryScalarInteger("SELECT count(*) FROM people") ?? 0, 1, "the state travels")
        XCTAssertEqual(try copy.queryScalarInteger("SELECT count(*) FROM log_blocks WHERE source IS NOT NULL OR received_wall IS NOT NULL"), 0,
                       "where and when each block arrived stays with the upstream")
        XCTAssertTrue(try hub.perform { try $0.peers().count } == 2, "the upstream keeps its own")
    }

    /// A new replica takes the snapshot page for page, whole: its own identity, registered tokens
    /// and upstream stay its own, the log is marked as come from upstream, and the file stays a
    /// write-ahead-logged database that opens again as it was.
    func test_newReplica_takesTheSnapshotWhole_keepingWhatIsItsOwn() throws {
        let hub = try durable("hub", seed: 1)
        var workload = WorkloadGenerator(seed: 5)
        try hub.perform { replica in
            _ = try replica.applyRemote(workload.generate(steps: 60), source: "peer:pusher")
            try replica.setUpstream(url: "http://hub-upstream.example", tokenFile: "/etc/hub-token")
        }
        _ = try hub.perform { try $0.addPeer(name: "office", role: .relay) }
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router(hub))
        let admin = try laptop.perform { try $0.addPeer(name: "laptop-admin", role: .admin) }
        let (id, name, peersBefore) = try laptop.perform { ($0.id, $0.name, try $0.peers().map(\.name)) }
        clock.advance(by: 5_000)
        let report = try session.run(compareDigests: true)
        XCTAssertGreaterThan(report.snapshotOperations, 0, report.snapshotRefused ?? "")
        XCTAssertEqual(report.digestMatches, true)
        try laptop.perform { replica in
            // The pages went through the write-ahead log; their checkpoint ran beside the sync.
            let checkpoint = try XCTUnwrap(replica.snapshotCheckpoint, "the pages were taken whole, and their checkpoint left to a thread")
            XCTAssertNoThrow(try checkpoint.wait())
            XCTAssertEqual(replica.id, id)
            XCTAssertEqual(replica.name, name)
            XCTAssertEqual(try replica.peers().map(\.name), peersBefore, "its own tokens, not the hub's")
            XCTAssertNotNil(try replica.peer(forToken: admin), "and they still answer")
            XCTAssertEqual(try replica.upstream()?.url, "http://hub", "its own upstream, not the hub's")
            XCTAssertEqual(try replica.upstream()?.pullCursor, try hub.perform { try $0.latestSequence() })
            try replica.withDatabase { db in
                XCTAssertEqual(try db.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'"), id.hex)
                XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM log_blocks WHERE source IS NOT 'upstream' OR received_wall IS NOT ?",
                                                         Int64(clock.nowMilliseconds())), 0, "every block came from upstream, now")
                XCTAssertEqual(try db.queryScalarInteger("SELECT count(*) FROM log_ids WHERE received_wall IS NOT ?", Int64(clock.nowMilliseconds())), 0)
                XCTAssertEqual(try db.queryScalarText("PRAGMA journal_mode"), "wal")
            }
            XCTAssertEqual(try replica.integrityCheck(), [])
            XCTAssertEqual(try replica.invariantViolations(), [])
        }
        // Another connection to the file sees it whole, in write-ahead-log mode.
        var options = Database.Options()
        options.isReadOnly = true
        let reader = try Database(path: folder.appending("laptop") + "/chorus.sqlite", options: options)
        XCTAssertEqual(try reader.queryScalarText("PRAGMA journal_mode"), "wal")
        XCTAssertEqual(try reader.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'"), id.hex)
        XCTAssertEqual(try reader.queryScalarInteger("SELECT count(*) FROM records"), try hub.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM records") } })
    }

    /// The backup copies a file's header as it is, and no content check looks at it: a file whose
    /// header carries what Chorus never sets (a user version, an application id) or free pages
    /// (their old bytes would come along, out of reach of any erasure) is taken row by row, and
    /// none of it reaches the replica. A hub's own copies, the first and those made from its
    /// kept empty database, are taken page for page.
    func test_snapshotWithAHeaderChorusNeverWrites_isTakenRowByRow() throws {
        let hub = try durable("hub", seed: 1)
        var workload = WorkloadGenerator(seed: 7)
        try hub.perform { _ = try $0.applyRemote(workload.generate(steps: 40)) }
        let expected = try digest(hub)
        let hubID = hub.perform { $0.id }
        let hubRouter = router(hub)
        let cases: [(String, String?)] = [
            ("the hub's first copy", nil), ("a copy from the hub's kept empty database", nil),
            ("a user version", "PRAGMA user_version=7"), ("an application id", "PRAGMA application_id=9"),
            ("free pages", "CREATE TABLE junk(x); INSERT INTO junk VALUES (zeroblob(20000)); DROP TABLE junk;"),
        ]
        for (index, (name, sql)) in cases.enumerated() {
            let (laptop, transport, _) = try client("laptop-\(index)", seed: UInt64(20 + index), hub: hub, router: hubRouter)
            transport.intercept = { target, response in
                guard target == "/sync/v1/snapshot", let sql else { return response }
                return self.checksummed(try self.altered(response, sql))
            }
            let path = folder.appending("direct-\(index).sqlite")
            defer { Replica.removeSnapshotFile(path) }
            let through = try transport.snapshot(storage: laptop.perform { $0.storageVersion }, into: path)
            let adoption = try laptop.perform { try $0.adoptSnapshot(at: path, through: through, from: hubID) }
            XCTAssertEqual(adoption.tookPages, sql == nil, name)
            XCTAssertEqual(try digest(laptop), expected, name)
            try laptop.perform { replica in
                try replica.withDatabase { db in
                    XCTAssertEqual(try db.queryScalarInteger("PRAGMA user_version"), 0, name)
                    XCTAssertEqual(try db.queryScalarInteger("PRAGMA application_id"), 0, name)
                    XCTAssertEqual(try db.queryScalarText("PRAGMA journal_mode"), "wal", name)
                }
                XCTAssertEqual(try replica.integrityCheck(), [], name)
                XCTAssertEqual(try replica.invariantViolations(), [], name)
            }
        }
        // A replica in memory has no file for the snapshot's connection to attach: row by row.
        let inMemory = ReplicaExecutor(try ReplicaFactory.memory(name: "m", clock: clock, seed: 40, driftMilliseconds: 3_600_000))
        let file = try hub.perform { try Replica.writeSnapshot(of: $0.location, schema: $0.configuration.schema) }
        defer { Replica.removeSnapshotFile(file.path) }
        let id = inMemory.perform { $0.id }
        let adoption = try inMemory.perform { try $0.adoptSnapshot(at: file.path, through: file.through, from: hubID) }
        XCTAssertFalse(adoption.tookPages)
        XCTAssertEqual(try digest(inMemory), expected)
        let stored: String? = try inMemory.perform { replica in try replica.withDatabase { try $0.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'") } }
        XCTAssertEqual(stored, id.hex, "its own identity, not the hub's")
    }

    /// Record ids are never reused on a replica (`records` is AUTOINCREMENT), erased ones included:
    /// the snapshot brings the upstream's high-water mark, which can be above every record left.
    func test_snapshot_bringsTheRecordIdHighWaterMark_pastErasedRecords() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { replica in
            for id in ["p1", "p2", "p3"] { _ = try replica.write(collection: "people", record: id, [.put(field: "name", value: .string(id))]) }
            _ = try replica.write(collection: "people", record: "p3", [.erase])
        }
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: router(hub))
        XCTAssertGreaterThan(try session.run().snapshotOperations, 0)
        let highWater = "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
        XCTAssertEqual(try laptop.perform { try $0.withDatabase { try $0.queryScalarInteger(highWater) } }, 3)
        XCTAssertEqual(try laptop.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT max(rid) FROM records") } }, 2)
    }

    /// Every table is either replicated state or the replica's own: a new table must be sorted
    /// into one of the two here, or its rows would travel in (or be left out of) every snapshot.
    func test_everyTable_isSortedIntoReplicatedOrLocal() throws {
        let replica = try durable("r", seed: 1)
        let tables = try replica.perform { replica in
            try replica.withDatabase { try $0.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").compactMap { $0.text(0) } }
        }
        let engine: Set<String> = ["records", "entry_rows", "origins", "fields", "superseded", "counters", "deletes", "delete_observed", "erased", "conflicts",
                                   "conflicted_records", "log_blocks", "log_ids", "log_latest", "log_compaction", "folded_entries", "kept_authors"]
        let materialised = Set(tables.filter { $0.contains("__") } + PeopleSchema.current.collections.map(\.name))
        XCTAssertEqual(Set(tables), engine.union(materialised).union(Replica.snapshotLocalTables),
                       "a table neither replicated nor listed in Replica.snapshotLocalTables")
    }

    /// The page after the snapshot is asked for before the snapshot is taken (one round trip
    /// less): it says the replica has committed nothing yet (`Chorus-Cursor: 0`), and what the
    /// upstream logged after writing its copy comes down in it, applied once the copy is taken.
    /// Being the last, what the replica then holds is said with its digest, which the upstream's
    /// settled sequence counts it by (without a digest, one more pull says it: `CompactionTests`).
    func test_pageAfterTheSnapshot_isAskedForBeforeTheSnapshotIsTaken_andBringsWhatCameAfter() throws {
        let hub = try durable("hub", seed: 0x7A11)
        var workload = WorkloadGenerator(seed: 0x7A11)
        try hub.perform { _ = try $0.applyRemote(workload.generate(steps: 60)) }
        let (laptop, transport, session) = try client("laptop", seed: 0x7A12, hub: hub, router: router(hub))
        let pulls = PullsSeen()
        transport.observe = { request in
            if ["/sync/v1/pull", "/sync/v1/digest"].contains(request.head.path) {
                pulls.append(request.head.target, cursor: request.head.header(SyncProtocol.cursorHeader))
            }
        }
        let through = try hub.perform { try $0.latestSequence() }
        // The hub writes once its copy is out, so the page after the copy holds that write.
        transport.intercept = { target, response in
            if target.hasPrefix("/sync/v1/snapshot") {
                try hub.perform { _ = try $0.write(collection: "people", record: "after-copy", [.put(field: "name", value: "Late")]) }
            }
            return response
        }

        let report = try session.run(compareDigests: true)

        XCTAssertEqual(report.snapshotOperations, through)
        XCTAssertEqual(report.pullApplied, 1, "the write made after the copy came in the page after it")
        XCTAssertEqual(report.digestMatches, true)
        let asked = pulls.all
        XCTAssertEqual(asked.map(\.target), ["/sync/v1/pull?after=\(through)&limit=\(limits.pullPageOperationsMax)", "/sync/v1/digest"],
                       "one page, after the snapshot's end, then the digest")
        XCTAssertEqual(asked.map(\.cursor), ["0", "\(through + 1)"], "asked before the snapshot was taken: nothing committed yet; then all it holds")
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.pullCursor }, through + 1)
        XCTAssertEqual(try laptop.perform { try $0.invariantViolations() }, [])
    }

    /// A sync records when it was tried and when it succeeded for `chorus status` without a sync
    /// of the log each (a power cut may lose only that record), so the connection is set back to
    /// syncing each commit after each, and what it holds stays durable: the upstream's id, once,
    /// and the cursors.
    func test_syncRecordsItsAttemptAndSuccess_andLeavesEveryCommitSynced() throws {
        let hub = try durable("hub", seed: 0x5EC0)
        var workload = WorkloadGenerator(seed: 0x5EC0)
        try hub.perform { _ = try $0.applyRemote(workload.generate(steps: 40)) }
        // Durable at every commit, as a replica is outside the tests.
        var rng = SeededGenerator(seed: 0x5EC1)
        let laptop = ReplicaExecutor(try Replica.create(at: .directory(folder.appending("laptop")), name: "laptop",
                                                        configuration: ReplicaFactory.configuration(clock: clock, synchronous: .full), using: &rng))
        try laptop.perform { try $0.setUpstream(url: "http://hub", tokenFile: "/dev/null") }
        let token = try hub.perform { try $0.addPeer(name: "laptop", role: .replica) }
        let session = SyncSession(executor: laptop, transport: InProcessTransport(router: router(hub), token: token, replica: laptop.perform { $0.id }, limits: limits),
                                  limits: limits, wallClock: clock)
        let synchronous = { try laptop.perform { try $0.withDatabase { try $0.queryScalarInteger("PRAGMA synchronous") } } }
        XCTAssertEqual(try synchronous(), 2, "FULL before")

        for round in 1...2 {
            let report = try session.run()
            let upstream = try XCTUnwrap(try laptop.perform { try $0.upstream() })
            XCTAssertNotNil(upstream.lastAttemptWall, "round \(round)")
            XCTAssertNotNil(upstream.lastSuccessWall, "round \(round)")
            XCTAssertNil(upstream.lastError)
            XCTAssertEqual(upstream.replica, hub.perform { $0.id })
            XCTAssertEqual(upstream.pullCursor, try hub.perform { try $0.latestSequence() })
            XCTAssertEqual(try synchronous(), 2, "FULL again after round \(round) (\(report.snapshotOperations) from the snapshot)")
        }
        XCTAssertEqual(try digest(laptop), try digest(hub))
    }

    /// The upstream's id is kept from the first sync: another replica answering at the same
    /// address (an upstream replaced, or a wrong one) is refused before anything moves, and the
    /// refusal is what `chorus status` shows.
    func test_anotherReplicaAnsweringAsTheUpstream_isRefused_andTheFirstIdKept() throws {
        let hub = try durable("hub", seed: 0x1D01)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        let (laptop, _, session) = try client("laptop", seed: 0x1D02, hub: hub, router: router(hub))
        _ = try session.run()
        let other = try durable("other", seed: 0x1D03)
        let token = try other.perform { try $0.addPeer(name: "laptop", role: .replica) }
        let impostor = SyncSession(executor: laptop, transport: InProcessTransport(router: router(other), token: token, replica: laptop.perform { $0.id }, limits: limits),
                                   limits: limits, wallClock: clock)
        XCTAssertThrowsError(try impostor.run()) { error in
            XCTAssertTrue((error as? ChorusError)?.message.contains("the upstream is now replica \(other.perform { $0.id }.hex)") ?? false, "\(error)")
        }
        let upstream = try XCTUnwrap(try laptop.perform { try $0.upstream() })
        XCTAssertEqual(upstream.replica, hub.perform { $0.id })
        XCTAssertTrue(upstream.lastError?.contains("the upstream is now replica") ?? false, upstream.lastError ?? "no error recorded")
        XCTAssertEqual(try other.perform { try $0.latestSequence() }, 0, "nothing pushed to it")
    }

    func test_replicaHoldingOperations_neverTakesASnapshot_andAdoptingOneChangesNothing() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        let hubRouter = router(hub)
        let (laptop, _, session) = try client("laptop", seed: 2, hub: hub, router: hubRouter)
        try laptop.perform { _ = try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        let file = try hub.perform { try Replica.writeSnapshot(of: $0.location, schema: $0.configuration.schema) }
        defer { Replica.removeSnapshotFile(file.path) }
        let before = try digest(laptop)
        let hubID = hub.perform { $0.id }
        XCTAssertThrowsError(try laptop.perform { try $0.adoptSnapshot(at: file.path, through: file.through, from: hubID) }) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .invalidState)
        }
        XCTAssertEqual(try digest(laptop), before)
        let report = try session.run(compareDigests: true)
        XCTAssertEqual(report.snapshotOperations, 0)
        XCTAssertNil(report.snapshotRefused, "not even tried")
        XCTAssertEqual(report.digestMatches, true)
    }

    /// A replica whose folder was lost joins again with the same id: the snapshot holds its old
    /// operations, and its next write must not reuse one of their ids.
    func test_rejoinedReplica_movesItsCounterPastItsOwnOperationsInTheSnapshot() throws {
        let hub = try durable("hub", seed: 1)
        let hubRouter = router(hub)
        let (laptop, transport, session) = try client("laptop", seed: 7, hub: hub, router: hubRouter)
        for index in 0..<3 { try laptop.perform { _ = try $0.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("v\(index)"))]) } }
        _ = try session.run()
        let id = laptop.perform { $0.id }
        let again = try durable("laptop-again", seed: 7)
        XCTAssertEqual(again.perform { $0.id }, id, "the same seed makes the same id")
        try again.perform { try $0.setUpstream(url: "http://hub", tokenFile: "/dev/null") }
        let rejoined = SyncSession(executor: again, transport: transport, limits: limits, wallClock: clock)
        let report = try rejoined.run(compareDigests: true)
        XCTAssertEqual(report.snapshotOperations, 3)
        let next = try again.perform { try $0.write(collection: "people", record: "p9", [.put(field: "name", value: "new")]) }
        XCTAssertEqual(next.first?.id.counter, 4, "counters 1 to 3 are taken by the operations the snapshot brought back")
        let pushed = try rejoined.run()
        XCTAssertEqual(pushed.pushedOperations, 1, "its old operations came from upstream and are not sent back")
        XCTAssertEqual(pushed.pushApplied, 1, "the hub takes the new one as new")
    }

    /// A file's indexes can disagree with its tables and still pass `quick_check` (it does not
    /// compare them). A new replica takes a snapshot page for page, indexes as they are, so it
    /// checks with `integrity_check`, refuses this one, and pulls the log: sound and whole.
    func test_snapshotWhoseIndexesDisagreeWithItsTables_isRefused_andTheReplicaIsSound() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { replica in
            for index in 0..<40 {
                _ = try replica.write(collection: "people", record: "p\(index)", [.put(field: "squad", value: .string("squad-\(index % 7)")),
                                                                                .put(field: "tribe", value: .string("tribe-\(index % 3)"))])
            }
        }
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: router(hub))
        transport.intercept = { target, response in
            guard target == "/sync/v1/snapshot" else { return response }
            // Each of the two indexes now holds the other's entries.
            return self.checksummed(try self.altered(response, """
                CREATE TEMP TABLE swap AS SELECT name, rootpage FROM main.sqlite_schema WHERE name IN ('people_by_squad', 'people_by_tribe');
                PRAGMA writable_schema=ON;
                UPDATE main.sqlite_schema AS t SET rootpage = (SELECT s.rootpage FROM temp.swap s WHERE s.name != t.name)
                    WHERE t.name IN ('people_by_squad', 'people_by_tribe');
                """))
        }
        let report = try session.run(compareDigests: true)
        XCTAssertEqual(report.snapshotOperations, 0)
        XCTAssertTrue(report.snapshotRefused?.contains("missing from index people_by_squad") ?? false, report.snapshotRefused ?? "taken")
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertEqual(try laptop.perform { try $0.integrityCheck() }, [], "every index agrees with its table")
        XCTAssertEqual(try laptop.perform { try $0.invariantViolations() }, [])
        let bySquad = try laptop.perform { try $0.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM people INDEXED BY people_by_squad WHERE squad = 'squad-3'") } }
        XCTAssertEqual(bySquad, 6, "the index answers for its own column")
    }

    /// Each snapshot is a copy of the database on disk until its last byte is sent: an upstream
    /// keeps `snapshotsConcurrentMax` at most, however slowly they are read, and when all its
    /// places are taken it serves the newest copy rather than send a new replica to replay the log.
    func test_upstream_keepsAtMostSnapshotsConcurrentMax_untilTheirBodiesAreSent() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        var one = limits
        one.snapshotsConcurrentMax = 1
        one.snapshotReuseSeconds = 0   // no cache: only the places decide
        let hubRouter = router(hub, limits: one)
        let (laptop, transport, _) = try client("laptop", seed: 2, hub: hub, router: hubRouter)
        let storage = laptop.perform { $0.storageVersion }
        func ask() -> HTTPResponse {
            hubRouter.handle(transport.request("GET", "/sync/v1/snapshot", extraHeaders: [(SyncProtocol.storageHeader, storage)]))
        }
        func through(_ response: HTTPResponse?) -> String? { response?.header(SyncProtocol.snapshotThroughHeader) }
        var first: HTTPResponse? = ask()
        XCTAssertEqual(first?.status, 200)
        XCTAssertNotNil(first?.bodySource, "being sent")
        try hub.perform { _ = try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        var second: HTTPResponse? = ask()
        XCTAssertEqual(second?.status, 200)
        XCTAssertEqual(through(second), "1", "its one place is taken: the copy being sent is served again, not a new one")
        let folder = self.folder.appending("hub")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(Replica.snapshotFilePrefix) }, [],
                       "a snapshot being sent is unlinked from the folder as soon as it is open")
        first = nil
        second = nil
        XCTAssertEqual(through(ask()), "2", "once both responses are released, the place is free and a new copy is written")
    }

    /// Each answer sending a snapshot holds a thread while its client reads: one copy sent to any
    /// number of connections at once let one token's holder tie up every thread. An upstream sends
    /// `snapshotSendsPerReplicaMax` to one replica and `snapshotSendsMax` in all, and a place is
    /// given back when its answer's body is let go.
    func test_upstream_sendsAtMostSnapshotSendsMax_inAllAndToOneReplica() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        var few = limits
        few.snapshotSendsMax = 3
        few.snapshotSendsPerReplicaMax = 2
        let hubRouter = router(hub, limits: few)
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: hubRouter)
        let (_, other, _) = try client("other", seed: 3, hub: hub, router: hubRouter)
        let storage = laptop.perform { $0.storageVersion }
        func ask(_ transport: InProcessTransport) -> HTTPResponse {
            hubRouter.handle(transport.request("GET", "/sync/v1/snapshot", extraHeaders: [(SyncProtocol.storageHeader, storage)]))
        }
        var sending: [HTTPResponse] = [ask(transport), ask(transport)]
        XCTAssertEqual(sending.map(\.status), [200, 200])
        let third = ask(transport)
        XCTAssertEqual(third.status, 503, "two to one replica at once")
        XCTAssertTrue(String(decoding: third.body, as: UTF8.self).contains("2 to one replica"), String(decoding: third.body, as: UTF8.self))
        // The client waits for a busy upstream (a retryable failure), where it pulled the whole log instead.
        XCTAssertThrowsError(try session.run(compareDigests: false)) { error in
            XCTAssertEqual((error as? SyncError)?.status, 503, "\(error)")
            XCTAssertTrue((error as? SyncError)?.isRetryable ?? false)
        }
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.pullCursor }, 0, "nothing of the log was pulled")
        sending.append(ask(other))
        XCTAssertEqual(sending.last?.status, 200, "another replica has places of its own")
        XCTAssertEqual(ask(other).status, 503, "three in all")
        sending.removeFirst()
        XCTAssertEqual(ask(other).status, 200, "a place is given back when its answer is let go")
    }

    /// A morning of new laptops costs the upstream one copy a minute: the last one is served again
    /// while younger than `snapshotReuseSeconds`, to several readers at once, and a client that
    /// takes an older copy pulls what came after it.
    func test_upstream_servesItsLastSnapshotAgain_whileYoungerThanReuseSeconds() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        var reuse = limits
        reuse.snapshotsConcurrentMax = 1
        reuse.snapshotReuseSeconds = 60
        reuse.snapshotSendsPerReplicaMax = 4   // one client here holds its answers while it asks again
        let service = SyncService(executor: hub, limits: reuse, wallClock: clock)
        let hubRouter = NodeRouter(service: service, limits: reuse)
        let (laptop, transport, session) = try client("laptop", seed: 2, hub: hub, router: hubRouter)
        let storage = laptop.perform { $0.storageVersion }
        func ask() -> HTTPResponse {
            hubRouter.handle(transport.request("GET", "/sync/v1/snapshot", extraHeaders: [(SyncProtocol.storageHeader, storage)]))
        }
        let first = ask()
        try hub.perform { _ = try $0.write(collection: "people", record: "p2", [.put(field: "name", value: "Grace")]) }
        clock.advance(by: 30_000)
        let second = ask()
        XCTAssertEqual(second.status, 200, "served again although its one place is taken")
        XCTAssertEqual(second.header(SyncProtocol.snapshotChecksumHeader), first.header(SyncProtocol.snapshotChecksumHeader), "the same copy")
        XCTAssertEqual(second.header(SyncProtocol.snapshotThroughHeader), "1", "as of the first write")
        // Two responses read one open file, interleaved, each from its own offset.
        var a: [UInt8] = [], b: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1000)
        while true {
            let readA = buffer.withUnsafeMutableBytes { first.bodySource!.read(into: $0) }
            a += buffer[..<readA]
            let readB = buffer.withUnsafeMutableBytes { second.bodySource!.read(into: $0) }
            b += buffer[..<readB]
            if readA == 0 && readB == 0 { break }
        }
        XCTAssertEqual(a.count, Int(first.contentLength))
        XCTAssertEqual(a, b)

        let report = try session.run(compareDigests: true)
        XCTAssertEqual(report.snapshotOperations, 1, "the copy is as of the first write")
        XCTAssertEqual(report.pullApplied, 1, "the second write is pulled after it")
        XCTAssertEqual(report.digestMatches, true)

        try hub.perform { _ = try $0.write(collection: "people", record: "p3", [.put(field: "name", value: "Linus")]) }
        clock.advance(by: 31_000)
        service.expireSnapshotCache()
        XCTAssertEqual(ask().header(SyncProtocol.snapshotThroughHeader), "1",
                       "expired, but its place is held by the two responses above: served again rather than refused")
        withExtendedLifetime((first, second)) {}
    }

    // MARK: Refusals

    /// The response with its database changed by `sql`.
    func altered(_ response: HTTPResponse, _ sql: String) throws -> HTTPResponse {
        let path = folder.appending("tamper-\(UUID().uuidString).sqlite")
        defer { Replica.removeSnapshotFile(path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(response.wholeBody())))
        var options = Database.Options()
        options.journalModeWAL = false
        try Database(path: path, options: options).execute(sql)
        return HTTPResponse(status: 200, headers: response.headers, body: [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: path))))
    }

    /// The response with a checksum header that matches its body, as a forger would send it.
    func checksummed(_ response: HTTPResponse) -> HTTPResponse {
        let bytes = response.wholeBody()   // once: a body source reads to its end
        var hasher = XXHash64()
        hasher.update(bytes)
        var forged = HTTPResponse(status: 200, headers: response.headers.filter { $0.name != SyncProtocol.snapshotChecksumHeader }, body: bytes)
        forged.headers.append((SyncProtocol.snapshotChecksumHeader, XXHash64.hex(hasher.finalize())))
        return forged
    }

    func test_damagedOrForgedSnapshots_areRefused_changeNothing_andTheLogIsPulledInstead() throws {
        let hub = try durable("hub", seed: 1)
        var workload = WorkloadGenerator(seed: 99)
        try hub.perform { _ = try $0.applyRemote(workload.generate(steps: 80)) }
        // Remote operations leave their records folded; local writes keep entries in rows, which
        // the forgeries below alter too.
        for index in 0..<3 {
            _ = try hub.perform { try $0.write(collection: "people", record: "local-\(index)", [.put(field: "name", value: .string("Local \(index)")), .put(field: "title", value: "Engineer")]) }
        }
        let hubRouter = router(hub)
        func scrambled(_ response: HTTPResponse) -> HTTPResponse {
            var bytes = response.wholeBody()
            for offset in stride(from: 4096 * 2 + 100, to: bytes.count, by: 4096) { bytes[offset] ^= 0xFF }
            return HTTPResponse(status: 200, headers: response.headers, body: bytes)
        }
        /// One page in the middle of the file overwritten (bytes flipped in a page's unused space
        /// would change nothing the database holds).
        func garbled(_ response: HTTPResponse) -> HTTPResponse {
            var bytes = response.wholeBody()
            let page = bytes.count / 4096 / 2
            for offset in (page * 4096)..<((page + 1) * 4096) { bytes[offset] = 0x41 }
            return HTTPResponse(status: 200, headers: response.headers, body: bytes)
        }
        func cut(_ response: HTTPResponse) -> HTTPResponse {
            HTTPResponse(status: 200, headers: response.headers, body: Array(response.wholeBody().prefix(20_000)))
        }
        /// A page appended that no table, index or freelist holds, the header's page count
        /// raised to take it in: SQLite's own `integrity_check` may skip the page accounting that
        /// finds it (`Database.unaccountedPages`).
        func orphanPage(_ response: HTTPResponse) -> HTTPResponse {
            var bytes = response.wholeBody()
            let pages = bytes[28..<32].reduce(0) { $0 << 8 | Int($1) } + 1
            bytes += [0x0D] + [UInt8](repeating: 0, count: 4095)
            for index in 0..<4 { bytes[28 + index] = UInt8(truncatingIfNeeded: pages >> (24 - 8 * index)) }
            return HTTPResponse(status: 200, headers: response.headers, body: bytes)
        }
        func notADatabase(_ response: HTTPResponse) -> HTTPResponse {
            HTTPResponse(status: 200, headers: response.headers, body: Array(repeating: 0x41, count: 8192))
        }
        // Damage in transit keeps the upstream's checksum, and the transport refuses the bytes; a
        // forged file comes with a checksum that matches it, and the replica's checks refuse it.
        let damaged: [(String, (HTTPResponse) throws -> HTTPResponse)] = [
            ("pages scrambled", scrambled), ("bytes cut short", cut), ("not a database", notADatabase),
        ]
        // A well-formed folded body naming origin 99, which no snapshot's `origins` holds.
        let foreignOrigin = Hex.encode(FoldedEntries.encode([FoldedEntries.Entry(field: 1, key: "", origin: 99, counter: 1, wall: 1, logical: 0,
                                                                                 kind: 0, value: "\"x\"", seq: 1)]))
        // A folded body keeping a value in a typed column, given to a record of a collection
        // this build does not declare: it has no typed columns to read the value from.
        let keptInColumn = Hex.encode(FoldedEntries.encode([FoldedEntries.Entry(field: 1, key: "", origin: 1, counter: 1, wall: 1, logical: 0,
                                                                                kind: 0, value: nil, seq: 1, valueInColumn: true)]))
        // A person whose entries are replaced by a folded body keeping one register's value in
        // its typed column (format 2), then the typed row taken away, or its column made a blob:
        // the value could not be read.
        let (person, register) = try hub.perform { replica in
            try replica.withDatabase { db -> (Int64, Int64) in
                let row = try XCTUnwrap(db.queryRow("""
                    SELECT e.rid, e.field FROM entry_rows e JOIN records r ON r.rid = e.rid JOIN fields f ON f.no = e.field
                    WHERE r.collection = 'people' AND f.name IN ('name', 'title', 'email') ORDER BY e.rid LIMIT 1
                    """))
                return (row.integer(0)!, row.integer(1)!)
            }
        }
        let registerName = try hub.perform { replica in try replica.withDatabase { try db(queryName: register, $0) } }
        func db(queryName number: Int64, _ database: Database) throws -> String {
            try XCTUnwrap(database.queryScalarText("SELECT name FROM fields WHERE no = ?", number))
        }
        let keptBody = Hex.encode(FoldedEntries.encode([FoldedEntries.Entry(field: register, key: "", origin: 1, counter: 1, wall: 1, logical: 0,
                                                                            kind: 0, value: nil, seq: 1, valueInColumn: true)]))
        let foldPerson = "DELETE FROM entry_rows WHERE rid = \(person); INSERT INTO folded_entries(rid, body) VALUES (\(person), x'\(keptBody)');"
        let forged: [(String, (HTTPResponse) throws -> HTTPResponse)] = [
            ("a trigger", { try self.altered($0, "CREATE TRIGGER evil AFTER INSERT ON records BEGIN DELETE FROM entry_rows; END;") }),
            ("an extra table", { try self.altered($0, "CREATE TABLE extra(x);") }),
            ("a view", { try self.altered($0, "CREATE VIEW v AS SELECT 1;") }),
            ("another replica's copy", { try self.altered($0, "UPDATE meta SET value = '00000000000000000000000000000001' WHERE key = 'replica_id';") }),
            ("a clock a day ahead", { try self.altered($0, "UPDATE meta SET value = value + 86400000 WHERE key = 'clock_wall';") }),
            ("the upstream's peers", { try self.altered($0, "INSERT INTO peers(name, role, token_hash, created_wall) VALUES ('x', 'replica', 'h', 0);") }),
            ("another storage version", { try self.altered($0, "DELETE FROM schema_migrations WHERE name = '0011_conflicts_by_record';") }),
            ("a log ending elsewhere", { response in
                var changed = response
                changed.headers = response.headers.map { $0.name == SyncProtocol.snapshotThroughHeader ? ($0.name, "3") : $0 }
                return changed
            }),
            ("a view named like SQLite's statistics", { try self.altered($0, """
                PRAGMA writable_schema=ON;
                INSERT INTO sqlite_schema(type, name, tbl_name, rootpage, sql) VALUES ('view', 'sqlite_stat9', 'sqlite_stat9', 0, 'CREATE VIEW sqlite_stat9 AS SELECT 1');
                """) }),
            ("statistics tables (a copy is a fresh database: it has none)", { try self.altered($0, "ANALYZE;") }),
            ("a compaction point its log contradicts", { try self.altered($0, "INSERT OR REPLACE INTO log_compaction(id, through_seq) VALUES (1, 1);") }),
            ("an entry of an origin not in origins", { try self.altered($0, "UPDATE entry_rows SET origin = 99 WHERE seq = (SELECT min(seq) FROM entry_rows);") }),
            ("an entry of a field not in fields", { try self.altered($0, "UPDATE entry_rows SET field = 99 WHERE seq = (SELECT min(seq) FROM entry_rows);") }),
            ("an entry of an unknown kind", { try self.altered($0, "UPDATE entry_rows SET kind = 9 WHERE seq = (SELECT min(seq) FROM entry_rows);") }),
            ("a record's folded entries that do not decode", { try self.altered($0, "INSERT OR REPLACE INTO folded_entries(rid, body) SELECT min(rid), x'0105' FROM records;") }),
            ("a folded entry of an origin not in origins", { try self.altered($0, "INSERT OR REPLACE INTO folded_entries(rid, body) SELECT min(rid), x'\(foreignOrigin)' FROM records;") }),
            ("folded entries of a record not in records", { try self.altered($0, "INSERT INTO folded_entries(rid, body) SELECT max(rid) + 1, x'\(foreignOrigin)' FROM records;") }),
            ("a folded value kept in a typed column its record has not got", { try self.altered($0, """
                INSERT INTO records(collection, record, hash_prefix) VALUES ('undeclared', 'x', x'0011223344556677');
                INSERT INTO folded_entries(rid, body) SELECT max(rid), x'\(keptInColumn)' FROM records;
                """) }),
            ("a folded value kept in the column of a typed row that is missing", { try self.altered($0, foldPerson + "DELETE FROM people WHERE _rid = \(person);") }),
            ("a folded value kept in a typed column holding a blob", {
                try self.altered($0, foldPerson + "UPDATE people SET \"\(registerName)\" = x'00' WHERE _rid = \(person);")
            }),
            // In an INTEGER column a real that is not finite stays a real, and `integrity_check` says
            // nothing of it: only the content checks find it.
            ("a folded value kept in a typed column holding an infinity", {
                try self.altered($0, foldPerson + "UPDATE people SET \"hoursPerWeekAvailable\" = 9e999 WHERE _rid = \(person);")
            }),
            ("a folded value kept in a typed column holding a negative infinity", {
                try self.altered($0, foldPerson + "UPDATE people SET \"openToMentoring\" = -9e999 WHERE _rid = \(person);")
            }),
            ("a log with operations missing", { try self.altered($0, "UPDATE log_blocks SET first_seq = first_seq + 1 WHERE first_seq = 1;") }),
            ("a log block miscounting its live operations", { try self.altered($0, "UPDATE log_blocks SET live = live + 1 WHERE last_seq = (SELECT min(last_seq) FROM log_blocks);") }),
            ("a log block that does not decode", { try self.altered($0, "UPDATE log_blocks SET body = x'00' WHERE last_seq = (SELECT min(last_seq) FROM log_blocks);") }),
            ("a log block reaching below sequence 1", {
                try self.altered($0, "UPDATE log_blocks SET first_seq = -9223372036854775808 WHERE last_seq = (SELECT min(last_seq) FROM log_blocks);")
            }),
            ("bytes cut short, checksum to match", cut), ("not a database, checksum to match", notADatabase),
            // Taken page for page, its checks read it with no `quick_check` first: the damage is
            // found by the content checks or by `integrity_check`, whichever reaches it first.
            ("a page garbled, checksum to match", garbled),
            ("a page nothing holds, checksum to match", orphanPage),
        ]
        let cases = damaged.map { ($0.0, $0.1, false) } + forged.map { ($0.0, $0.1, true) }
        let expected = try digest(hub)
        for (index, (name, tamper, isForged)) in cases.enumerated() {
            let (laptop, transport, session) = try client("laptop-\(index)", seed: UInt64(10 + index), hub: hub, router: hubRouter)
            transport.intercept = { target, response in
                guard target == "/sync/v1/snapshot" else { return response }
                let changed = try tamper(response)
                return isForged ? self.checksummed(changed) : changed
            }
            let empty = try digest(laptop)
            let id = laptop.perform { $0.id }
            let path = folder.appending("direct-\(index).sqlite")
            if isForged {
                // Straight to the replica: refused, and nothing changed.
                let through = try transport.snapshot(storage: laptop.perform { $0.storageVersion }, into: path)
                XCTAssertThrowsError(try laptop.perform { try $0.adoptSnapshot(at: path, through: through, from: hub.perform { $0.id }) }, name)
            } else {
                XCTAssertThrowsError(try transport.snapshot(storage: laptop.perform { $0.storageVersion }, into: path), name) { error in
                    XCTAssertTrue((error as? SyncError)?.message.contains("checksum") ?? false, "\(name): \(error)")
                }
            }
            Replica.removeSnapshotFile(path)
            XCTAssertEqual(try digest(laptop), empty, "\(name): nothing of it was taken")
            XCTAssertEqual(try laptop.perform { try $0.latestSequence() }, 0, name)
            XCTAssertEqual(laptop.perform { $0.id }, id, name)
            // Through a sync: refused, said so, and the log pulled instead.
            let report = try session.run(compareDigests: true)
            XCTAssertNotNil(report.snapshotRefused, name)
            XCTAssertEqual(report.snapshotOperations, 0, name)
            XCTAssertEqual(report.digestMatches, true, "\(name): the pulled log gives the hub's state")
            XCTAssertEqual(try digest(laptop), expected, name)
            XCTAssertEqual(try laptop.perform { try $0.invariantViolations() }, [], name)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.appending("laptop-\(index)")).filter { $0.hasPrefix(Replica.snapshotFilePrefix) }
            XCTAssertEqual(leftovers, [], "\(name): the refused file is removed")
        }
    }

    func test_upstream_refusesSnapshotsItCannotServe() throws {
        let hub = try durable("hub", seed: 1)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        let hubRouter = router(hub)
        let (laptop, transport, _) = try client("laptop", seed: 2, hub: hub, router: hubRouter)
        let path = folder.appending("out.sqlite")
        defer { Replica.removeSnapshotFile(path) }
        func status(_ body: () throws -> Int64) -> Int? {
            do { _ = try body(); return 200 } catch { return (error as? SyncError)?.status }
        }
        XCTAssertEqual(status { try transport.snapshot(storage: "0009_log_ids_as_intervals", into: path) }, 409, "another storage version")
        XCTAssertEqual(status { try transport.snapshot(storage: laptop.perform { $0.storageVersion }, into: path) }, 200)
        let admin = try hub.perform { try $0.addPeer(name: "admin", role: .admin) }
        let asAdmin = InProcessTransport(router: hubRouter, token: admin, replica: laptop.perform { $0.id }, limits: limits)
        XCTAssertEqual(status { try asAdmin.snapshot(storage: laptop.perform { $0.storageVersion }, into: path) }, 403, "admin tokens take none")
        // A new replica joined with an admin token to a compacted hub is told so, not to sync
        // again for a snapshot (the log's pull, compacted, said that).
        let compacted = try durable("compacted", seed: 8)
        try compacted.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        let compactedAdmin = try compacted.perform { try $0.addPeer(name: "admin", role: .admin) }
        XCTAssertGreaterThan(try compacted.perform { try $0.compactLog().operationsRemoved }, 0)
        let newcomer = try durable("newcomer", seed: 7)
        let newcomerAsAdmin = InProcessTransport(router: router(compacted), token: compactedAdmin, replica: newcomer.perform { $0.id }, limits: limits)
        XCTAssertThrowsError(try SyncSession(executor: newcomer, transport: newcomerAsAdmin, limits: limits, wallClock: clock).run()) { error in
            XCTAssertEqual((error as? SyncError)?.code, .refused, "\(error)")
            XCTAssertTrue((error as? SyncError)?.message.contains("admin tokens cannot sync") ?? false, "\(error)")
        }
        var off = limits
        off.snapshotsConcurrentMax = 0
        let noSnapshots = router(hub, limits: off)
        let token = try hub.perform { try $0.addPeer(name: "other", role: .replica) }
        let stranger = try durable("stranger", seed: 6)
        let other = InProcessTransport(router: noSnapshots, token: token, replica: stranger.perform { $0.id }, limits: limits)
        XCTAssertNil(try other.info().snapshot, "no offer when snapshots are off")
        XCTAssertEqual(status { try other.snapshot(storage: laptop.perform { $0.storageVersion }, into: path) }, 404)
        let memoryHub = ReplicaExecutor(try ReplicaFactory.memory(name: "m", clock: clock, seed: 5))
        let memoryToken = try memoryHub.perform { try $0.addPeer(name: "c", role: .replica) }
        let toMemory = InProcessTransport(router: router(memoryHub), token: memoryToken, replica: stranger.perform { $0.id }, limits: limits)
        XCTAssertNil(try toMemory.info().snapshot, "an in-memory replica has no file to copy")
        XCTAssertNotNil(try transport.info().snapshot)
    }

    /// A new replica of a compacted upstream whose snapshot download is cut at its time limit
    /// cannot pull the log instead: the error says which limit to raise for this link, where it
    /// said only "sync again", and a slow link downloaded the snapshot from the start again, for good.
    func test_aSnapshotCutAtItsTimeLimit_fromACompactedUpstream_saysWhichLimitToRaise() throws {
        let node = try servedHub(steps: 200)
        let hub = node.executor
        defer { node.stop(graceSeconds: 1) }
        try hub.perform { replica in
            for index in 0..<20 { _ = try replica.write(collection: "people", record: "c-\(index)", [.put(field: "name", value: "Compacted")]) }
        }
        XCTAssertGreaterThan(try hub.perform { try $0.compactLog().operationsRemoved }, 0)
        let laptop = try durable("laptop", seed: 1_031)
        try laptop.perform { try $0.setUpstream(url: "http://127.0.0.1:\(node.port)", tokenFile: "/dev/null") }
        let token = try hub.perform { try $0.addPeer(name: "laptop", role: .replica) }
        var clientLimits = limits
        clientLimits.snapshotDownloadSecondsMax = 0.000_1
        let transport = HTTPTransport(baseURL: URL(string: "http://127.0.0.1:\(node.port)")!, token: token,
                                      replica: laptop.perform { $0.id }, limits: clientLimits, wallClock: clock)
        XCTAssertThrowsError(try SyncSession(executor: laptop, transport: transport, limits: clientLimits, wallClock: clock).run()) { error in
            XCTAssertEqual((error as? SyncError)?.status, 410, "\(error)")
            XCTAssertTrue((error as? SyncError)?.hint?.hasPrefix("raise snapshotDownloadSecondsMax") ?? false, "\((error as? SyncError)?.hint ?? "")")
            XCTAssertFalse((error as? SyncError)?.hint?.contains("pull") ?? true, "the log cannot be pulled: not said")
        }
    }

    /// Over real sockets: the body is streamed from the file, and a client's size limit cuts it.
    func test_overHTTP_theSnapshotStreams_andTheSizeLimitCutsIt() throws {
        let node = try servedHub(steps: 200)
        let hub = node.executor
        defer { node.stop(graceSeconds: 1) }
        // Whole, cut by size, cut by time (the overall cap, which the client enforces itself);
        // through the plain client, then URLSession (the https path).
        for usingURLSession in [false, true] {
            for (index, (bytesMax, secondsMax)) in [(Int64.max, 3600.0), (4096, 3600.0), (Int64.max, 0.000_1)].enumerated() {
                let name = "laptop\(usingURLSession ? 10 + index : index)"
                let laptop = try durable(name, seed: UInt64(1_003 + index + (usingURLSession ? 10 : 0)))   // not a seed of the workload's replicas
                try laptop.perform { try $0.setUpstream(url: "http://127.0.0.1:\(node.port)", tokenFile: "/dev/null") }
                let token = try hub.perform { try $0.addPeer(name: name, role: .replica) }
                var clientLimits = limits
                clientLimits.snapshotBytesMax = bytesMax
                clientLimits.snapshotDownloadSecondsMax = secondsMax
                let transport = HTTPTransport(baseURL: URL(string: "http://127.0.0.1:\(node.port)")!, token: token,
                                              replica: laptop.perform { $0.id }, limits: clientLimits, wallClock: clock, usingURLSession: usingURLSession)
                let report = try SyncSession(executor: laptop, transport: transport, limits: clientLimits, wallClock: clock).run(compareDigests: true)
                XCTAssertEqual(report.digestMatches, true, name)
                if index > 0 {
                    XCTAssertEqual(report.snapshotOperations, 0)
                    XCTAssertTrue(report.snapshotRefused?.contains(index == 1 ? "over 4096 bytes" : "download took over") ?? false, report.snapshotRefused ?? "nil")
                    XCTAssertGreaterThan(report.pullApplied, 0, "the log was pulled instead")
                } else {
                    XCTAssertEqual(report.snapshotOperations, try hub.perform { try $0.latestSequence() })
                }
            }
        }
    }
}

/// The pull requests a transport sent, from whichever thread sent them.
private final class PullsSeen: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [(target: String, cursor: String?)] = []

    func append(_ target: String, cursor: String?) { lock.withLock { seen.append((target, cursor)) } }
    var all: [(target: String, cursor: String?)] { lock.withLock { seen } }
}
