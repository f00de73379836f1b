import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting

private typealias Op = ChorusCore.Operation

/// A collection name canonically equivalent to a declared one, but other bytes (a newer or
/// hostile replica's), is another collection: materialising never gives it the declared one's
/// fields or typed table, whichever of the two a batch meets first (`Replica.materialisedSQL(of:)`).
final class ExactCollectionNameTests: XCTestCase {
    func test_aLookAlikeCollection_neverTakesTheDeclaredOnesFieldsOrTable() throws {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        // A declared collection with a K, whose Kelvin-sign twin (U+212A) Swift's String calls equal.
        let kits = CollectionSchema("Kits", deletePolicy: .deleteWins, because: "a test's", fields: [
            FieldSchema("name", .register, .text), FieldSchema("tags", .set, .text),
        ])
        let lookAlike = "\u{212A}its"
        XCTAssertEqual(lookAlike, "Kits", "Swift's String equality is canonical equivalence")
        let writer = ReplicaID(hex: String(repeating: "cd", count: 16))!
        func op(_ counter: UInt64, _ collection: String, _ record: String, _ field: String, _ action: Action) -> Op {
            Op(id: OperationID(replica: writer, counter: counter), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: UInt32(counter)),
               collection: collection, record: record, field: field, action: action)
        }
        let declared = [op(1, "Kits", "k1", "name", .set(value: "declared", supersedes: [])), op(2, "Kits", "k1", "tags", .add(element: "a"))]
        let twin = [op(3, lookAlike, "k2", "name", .set(value: "twin", supersedes: [])), op(4, lookAlike, "k2", "tags", .add(element: "b"))]
        var digests: [String] = []
        for (index, operations) in [declared + twin, twin + declared].enumerated() {
            var configuration = ReplicaFactory.configuration(clock: clock)
            configuration.schema = Schema(version: PeopleSchema.current.version, collections: PeopleSchema.current.collections + [kits])
            var rng = SeededGenerator(seed: UInt64(index + 1))
            let replica = try Replica.create(at: .memory, name: "r\(index)", configuration: configuration, using: &rng)
            try replica.withDatabase { db in
                try db.execute("""
                    CREATE TABLE "Kits"(id TEXT NOT NULL UNIQUE, _rid INTEGER PRIMARY KEY, _deleted INTEGER NOT NULL DEFAULT 0, "name" TEXT);
                    CREATE TABLE "Kits__tags"(id TEXT NOT NULL, element TEXT NOT NULL, PRIMARY KEY(id, element)) WITHOUT ROWID;
                    """)
            }
            XCTAssertEqual(try replica.applyRemote(operations).applied, 4, "order \(index)")
            let rows = try replica.withDatabase { db in
                try db.query("SELECT id, name FROM \"Kits\" ORDER BY id").map { "\($0.text(0)!)=\($0.text(1) ?? "NULL")" }
            }
            XCTAssertEqual(rows, ["k1=declared"], "only the declared collection's record has a typed row (order \(index))")
            let tags = try replica.withDatabase { db in try db.query("SELECT id, element FROM \"Kits__tags\"").map { "\($0.text(0)!):\($0.text(1)!)" } }
            XCTAssertEqual(tags, ["k1:a"], "order \(index)")
            XCTAssertEqual(try replica.get(collection: lookAlike, record: "k2")?.fields["name"], .string("twin"), "the twin's record is kept, generically")
            digests.append(try replica.digest().description)
        }
        XCTAssertEqual(digests[0], digests[1])
    }
}
