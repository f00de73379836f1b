import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting
import SQLiteKit

/// The empty database every snapshot starts from (`EmptyStorageTemplate`) is made as an upstream
/// starts serving, on a thread of its own, so the first replica to join waits for no migrations;
/// snapshots written from it are what a client takes, and a preparation that fails costs nothing
/// but the time it took.
final class SnapshotTemplateTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-snapshot-template" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        limits.snapshotSequenceMin = 0
    }

    func snapshotFiles(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(Replica.snapshotFilePrefix) }
    }

    func test_prepared_keepsTheEmptyDatabase_leavesNoFile_andItsSnapshotsAreTakenWhole() throws {
        let hub = try durable("hub", seed: 1)
        var workload = WorkloadGenerator(seed: 7)
        try hub.perform { _ = try $0.applyRemote(workload.generate(steps: 60)) }
        let (location, schema) = hub.perform { ($0.location, $0.configuration.schema) }
        let hubFolder = folder.appending("hub")
        let template = EmptyStorageTemplate()
        XCTAssertFalse(template.isPrepared)
        // Scratch files a node killed while making one left: an old one goes, a young one stays
        // (another node could be making it).
        let old = (hubFolder as NSString).appendingPathComponent(Replica.snapshotFilePrefix + "template-old.sqlite")
        let young = (hubFolder as NSString).appendingPathComponent(Replica.snapshotFilePrefix + "template-young.sqlite")
        for path in [old, young] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))) }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-120)], ofItemAtPath: old)
        template.prepare(schema: schema, in: hubFolder)
        template.waitForPreparation()
        XCTAssertTrue(template.isPrepared, "the empty database was made")
        XCTAssertEqual(try snapshotFiles(in: hubFolder), [(young as NSString).lastPathComponent], "its scratch file is gone, and the old one left before")
        Replica.removeSnapshotFile(young)

        let fromTemplate = try Replica.writeSnapshot(of: location, schema: schema, template: template)
        defer { Replica.removeSnapshotFile(fromTemplate.path) }
        let migrated = try Replica.writeSnapshot(of: location, schema: schema)
        defer { Replica.removeSnapshotFile(migrated.path) }
        let schemaRows = { (path: String) in try Database(path: path, options: { var o = Database.Options(); o.isReadOnly = true; return o }()).schemaRows() }
        XCTAssertEqual(try schemaRows(fromTemplate.path), try schemaRows(migrated.path), "the same schema as a copy migrated from nothing")
        XCTAssertEqual(fromTemplate.checksum, migrated.checksum, "the same bytes")

        let laptop = try durable("laptop", seed: 2)
        let hubID = hub.perform { $0.id }
        let adoption = try laptop.perform { try $0.adoptSnapshot(at: fromTemplate.path, through: fromTemplate.through, from: hubID) }
        XCTAssertTrue(adoption.tookPages, "a new replica takes a snapshot written from the template page for page")
        XCTAssertEqual(try digest(laptop), try digest(hub))
        XCTAssertEqual(try laptop.perform { try $0.invariantViolations() }, [])
    }

    func test_preparationThatFails_leavesTheFirstSnapshotToMigrateItsOwn() throws {
        let hub = try durable("hub", seed: 3)
        try hub.perform { _ = try $0.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")]) }
        let (location, schema) = hub.perform { ($0.location, $0.configuration.schema) }
        let template = EmptyStorageTemplate()
        template.prepare(schema: schema, in: folder.appending("no-such-folder"))
        template.waitForPreparation()
        XCTAssertFalse(template.isPrepared, "no file could be made there")
        let file = try Replica.writeSnapshot(of: location, schema: schema, template: template)
        defer { Replica.removeSnapshotFile(file.path) }
        XCTAssertEqual(file.through, 1)
        XCTAssertTrue(template.isPrepared, "the first snapshot migrated its own copy and kept its empty database")
    }

    func test_startedNode_preparesItsSnapshots_onlyWhenItServesThem_andLeavesNothingWhenStopped() throws {
        let node = try servedHub(steps: 30)
        node.service.waitForSnapshotPreparation()
        XCTAssertTrue(node.service.isSnapshotTemplateReady, "made as the node started, before any replica asked")
        node.stop(graceSeconds: 1)
        XCTAssertEqual(try snapshotFiles(in: folder.appending("hub")), [])

        limits.snapshotsConcurrentMax = 0
        let quiet = try servedHub(steps: 30, name: "quiet")
        defer { quiet.stop(graceSeconds: 1) }
        quiet.service.waitForSnapshotPreparation()
        XCTAssertFalse(quiet.service.isSnapshotTemplateReady, "an upstream serving no snapshots makes no template")
        XCTAssertEqual(try snapshotFiles(in: folder.appending("quiet")), [])

        limits = Limits.default   // snapshots served: only the replica in memory keeps it from making one

        let inMemory = Node(replica: try ReplicaFactory.memory(name: "memory", clock: clock, seed: 4), configuration: nodeConfiguration())
        try inMemory.start()
        defer { inMemory.stop(graceSeconds: 1) }
        inMemory.service.waitForSnapshotPreparation()
        XCTAssertFalse(inMemory.service.isSnapshotTemplateReady, "a replica in memory serves no snapshots")
    }
}
