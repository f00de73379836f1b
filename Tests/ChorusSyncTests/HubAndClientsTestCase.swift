import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting

/// What the snapshot and compaction tests share: replicas in folders under the test's own, one
/// manual clock, and clients registered on a hub and synced through its router in process.
/// Subclasses set `folderPrefix` and may change `limits` in `setUpWithError` after `super`.
class HubAndClientsTestCase: XCTestCase {
    var folder: TemporaryDirectory!
    var clock: ManualClock!
    var limits = Limits.default
    var folderPrefix: String { "chorus-sync" }

    override func setUpWithError() throws {
        folder = try TemporaryDirectory(prefix: folderPrefix)
        clock = ManualClock(milliseconds: 1_700_000_100_000)
    }

    override func tearDown() { folder.remove() }

    /// A replica in its own folder under the test's, with the test's clock.
    func durable(_ name: String, seed: UInt64) throws -> ReplicaExecutor {
        ReplicaExecutor(try ReplicaFactory.durable(at: folder.appending(name), name: name,
                                                   configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000), seed: seed))
    }

    /// A client registered on the hub behind `router` (for `person`'s laptop, when given), with its session.
    func client(_ name: String, seed: UInt64, hub: ReplicaExecutor, router: NodeRouter, snapshots: Bool = true, person: String? = nil,
                role: Peer.Role = .replica) throws -> (ReplicaExecutor, InProcessTransport, SyncSession) {
        let executor = try durable(name, seed: seed)
        try executor.perform { try $0.setUpstream(url: "http://hub", tokenFile: "/dev/null") }
        let token = try hub.perform { try $0.addPeer(name: name, role: role, person: person) }
        let transport = InProcessTransport(router: router, token: token, replica: executor.perform { $0.id }, limits: limits)
        var session = SyncSession(executor: executor, transport: transport, limits: limits, wallClock: clock)
        session.usesSnapshots = snapshots
        return (executor, transport, session)
    }

    func digest(_ executor: ReplicaExecutor) throws -> String { try executor.perform { try $0.digest().hexString } }

    /// A laptop that wrote `l-1` and synced, was backed up, then wrote `l-2` to `l-4` and synced;
    /// then its folder restored from the backup (its database only: its counter back at 1, unless
    /// `reserved` writes a counter file reserving past it). With `compacting`, the hub compacts
    /// its log before the restored folder syncs, so no block of the lost operations is left.
    func restoredLaptop(hub: ReplicaExecutor, service: SyncService, router: NodeRouter, compacting: Bool, reserved: UInt64? = nil)
        throws -> (ReplicaExecutor, SyncSession) {
        let (laptop, transport, session) = try client("laptop-\(compacting)", seed: 2, hub: hub, router: router)
        try laptop.perform { _ = try $0.write(collection: "people", record: "l-1", [.put(field: "name", value: "Before the backup")]) }
        _ = try session.run()
        let backup = folder.appending("backup-\(compacting).sqlite")
        try laptop.perform { try $0.withDatabase { try $0.run("VACUUM INTO ?", backup) } }
        for index in 2...4 { try laptop.perform { _ = try $0.write(collection: "people", record: "l-\(index)", [.put(field: "name", value: "After the backup")]) } }
        _ = try session.run()
        _ = try session.run()   // its pull says the last one is committed
        if compacting {
            service.flushActivity()
            XCTAssertEqual(try hub.perform { try $0.compactLog().floor }, try hub.perform { try $0.latestSequence() })
        }
        let restoredFolder = folder.appending("restored-\(compacting)-\(reserved ?? 0)")
        try FileManager.default.createDirectory(atPath: restoredFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: backup, toPath: (restoredFolder as NSString).appendingPathComponent(Replica.databaseFileName))
        if let reserved { try "reserved \(reserved)\n".write(toFile: (restoredFolder as NSString).appendingPathComponent("chorus.counters"), atomically: true, encoding: .utf8) }
        let restored = ReplicaExecutor(try Replica.open(at: .directory(restoredFolder),
                                                        configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000)))
        var restoredSession = SyncSession(executor: restored, transport: transport, limits: limits, wallClock: clock)
        restoredSession.usesSnapshots = true
        return (restored, restoredSession)
    }

    /// A hub holding `steps` operations of a seeded workload, served by a started `Node` on a free
    /// loopback port (the caller stops it), for tests over real sockets.
    func servedHub(steps: Int, name: String = "hub") throws -> Node {
        let hubReplica = try ReplicaFactory.durable(at: folder.appending(name), name: name,
                                                    configuration: ReplicaFactory.configuration(clock: clock, driftMilliseconds: 3_600_000), seed: 1)
        var workload = WorkloadGenerator(seed: 5)
        _ = try hubReplica.applyRemote(workload.generate(steps: steps))
        let node = Node(replica: hubReplica, configuration: nodeConfiguration())
        try node.start()
        return node
    }

    /// A node on a free loopback port with the test's limits and clock, syncing upstream hourly
    /// (never, in a test), logging nowhere.
    func nodeConfiguration() -> Node.Configuration {
        var configuration = Node.Configuration()
        configuration.port = 0
        configuration.syncIntervalSeconds = 3600
        configuration.limits = limits
        configuration.wallClock = clock
        configuration.log = { _ in }
        return configuration
    }
}
