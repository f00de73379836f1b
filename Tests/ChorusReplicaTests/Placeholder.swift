import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting

final class SmokeTests: XCTestCase {
    func test_smoke() throws {
        var rng = SeededGenerator(seed: 1)
        var config = Replica.Configuration()
        let clock = ManualClock(milliseconds: 1_700_000_000_000)
        config.wallClock = clock
        let a = try Replica.create(at: .memory, name: "a", configuration: config, using: &rng)
        let b = try Replica.create(at: .memory, name: "b", configuration: config, using: &rng)
        let opsA = try a.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada"), .mapSet(field: "skills", key: "swift", value: 4), .add(field: "guilds", element: "g1")])
        try b.applyRemote(opsA)
        clock.advance(by: 10)
        let x = try a.write(collection: "people", record: "p1", [.put(field: "title", value: "Engineer")])
        let y = try b.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])
        try a.applyRemote(y); try b.applyRemote(x)
        XCTAssertEqual(try a.digest(), try b.digest())
        print(try a.get(collection: "people", record: "p1")!.json.prettyText)
        print(try a.conflicts().map(\.json.canonicalText))
    }
}
