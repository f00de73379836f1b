import XCTest
import Foundation
import ChorusCore
@testable import ChorusReplica
import ChorusTesting
import SQLiteKit

/// A snapshot starts from the bytes its template keeps (`EmptyStorageTemplate`), not from a new
/// migration: bytes the migrations would not make show in the copy, and the writer refuses it.
final class EmptyStorageTemplateTests: XCTestCase {
    func test_aSnapshot_startsFromTheKeptBytes() throws {
        let folder = try TemporaryDirectory(prefix: "chorus-template")
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let replica = try ReplicaFactory.durable(at: folder.appending("hub"), name: "hub", configuration: ReplicaFactory.configuration(clock: clock), seed: 1)
        _ = try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        let schema = replica.configuration.schema

        // The migrated empty database, with one table more.
        let scratch = folder.appending("extra.sqlite")
        let database = try Replica.emptySnapshotDatabase(at: scratch, schema: schema, from: nil, keep: nil)
        try database.execute("CREATE TABLE extra(x)")
        let extra = try Data(contentsOf: URL(fileURLWithPath: scratch))
        let template = EmptyStorageTemplate()
        template.keep(extra)

        XCTAssertThrowsError(try Replica.writeSnapshot(of: replica.location, schema: schema, template: template), "written from the kept bytes") { error in
            XCTAssertTrue((error as? ChorusError)?.message.contains("schema differs") ?? false, "\(error)")
        }
        let plain = try Replica.writeSnapshot(of: replica.location, schema: schema, template: EmptyStorageTemplate())
        Replica.removeSnapshotFile(plain.path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.appending("hub")).filter { $0.hasPrefix(Replica.snapshotFilePrefix) }, [],
                       "the refused copy is removed")
    }
}
