import XCTest
import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusTesting

final class FeedbackVisibilityTests: XCTestCase {
    var replica: Replica!

    override func setUpWithError() throws {
        replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_000_000), seed: 4)
        try replica.writeMany([
            ("people", "author", [.put(field: "name", value: "Author")]),
            ("people", "recipient", [.put(field: "name", value: "Recipient"), .put(field: "manager", value: "boss")]),
            ("people", "boss", [.put(field: "name", value: "Boss")]),
            ("people", "colleague", [.put(field: "name", value: "Colleague")]),
        ])
    }

    /// For each visibility level: exactly who may read the item.
    func test_eachVisibilityLevel_readersAndNonReaders() throws {
        let expected: [String: Set<String>] = [
            "public": ["author", "recipient", "boss", "colleague", "(nobody)"],
            "private": ["author", "recipient"],
            "privateAndManager": ["author", "recipient", "boss"],
            "managerOnly": ["author", "boss"],
        ]
        for (visibility, readers) in expected {
            let id = try Feedback.give(replica, from: "author", to: "recipient", kind: "feedback", body: "About the demo (\(visibility))", visibility: visibility)
            for viewer in ["author", "recipient", "boss", "colleague", "(nobody)"] {
                let visible = try Feedback.visibleItems(replica, viewer: viewer == "(nobody)" ? nil : viewer).contains { $0.id == id }
                XCTAssertEqual(visible, readers.contains(viewer), "\(visibility) item read by \(viewer)")
            }
        }
    }

    func test_give_validates_andAttributesTheWrite() throws {
        func code(_ body: () throws -> Void) -> ChorusError.Code? { do { try body(); return nil } catch { return (error as? ChorusError)?.code } }
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "nobody", kind: "praise", body: "Hi", visibility: "public") }, .recordNotFound)
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "recipient", kind: "shout", body: "Hi", visibility: "public") }, .invalidValue)
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "recipient", kind: "praise", body: "  ", visibility: "public") }, .invalidValue)
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "recipient", kind: "praise", body: "Hi", visibility: "everyone") }, .invalidValue)
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "author", kind: "praise", body: "Hi", visibility: "public") }, .invalidValue)
        let id = try Feedback.give(replica, from: "author", to: "recipient", kind: "thanks", body: "Thank you!", visibility: "public")
        let logged = try replica.log(limit: 1000).compactMap(\.operation).filter { $0.record == id }
        XCTAssertFalse(logged.isEmpty)
        XCTAssertTrue(logged.allSatisfy { $0.author == "author" }, "every write is attributed to the person acting")
    }
}

final class PeopleSearchTests: XCTestCase {
    func test_searchByNameAndSkill_withPrefixesAndSynonyms_andIndexFollowsEdits() throws {
        let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_000_000), seed: 5)
        let python = SkillTaxonomy.esco.resolve("Python (computer programming)").id
        try replica.writeMany([
            ("people", "p-ana", [.put(field: "name", value: "Ana Souza"), .mapSet(field: "skills", key: python, value: 4)]),
            ("people", "p-bo", [.put(field: "name", value: "Bo Lindqvist"), .mapSet(field: "skills", key: "SQL", value: 3)]),
        ])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "ana pyth").map(\.id), ["p-ana"])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "python").map(\.id), ["p-ana"])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "lindq").map(\.id), ["p-bo"])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "\"; DROP TABLE people; --").map(\.id), [], "no query syntax gets through")
        try replica.write(collection: "people", record: "p-bo", [.put(field: "name", value: "Bo Python-Fan")])
        XCTAssertEqual(Set(try PeopleDirectory.search(replica, query: "python").map(\.id)), ["p-ana", "p-bo"], "the index follows edits")
        try replica.write(collection: "people", record: "p-ana", [.delete])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "python").map(\.id), ["p-bo"], "deleted people are not found")
        try replica.write(collection: "people", record: "p-bo", [.mapRemove(field: "skills", key: "SQL")])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "sql").map(\.id), [], "a removed skill is no longer found")
        try replica.write(collection: "people", record: "p-cy", [.put(field: "name", value: "Cy Python")])
        try replica.write(collection: "people", record: "p-bo", [.erase])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "python").map(\.id), ["p-cy"], "an erase (which rewrites the log) is followed")
    }

    func test_incrementalIndex_equalsAFullRebuild_afterManyRandomEdits() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_000_000), seed: 6)
        let names = ["Ana", "Bo", "Cy", "Dee", "Eli"], skills = ["SQL", "Python (computer programming)", "DevOps", "statistics"]
        func contents() throws -> [String] {
            try replica.withDatabase { db in try db.query("SELECT id, name, title, skills FROM people_search ORDER BY id").map { row in
                (0..<4).map { row.text($0) ?? "" }.joined(separator: "|") } }
        }
        for round in 0..<40 {
            let person = "p-\(Int.random(in: 0..<8, using: &rng))"
            if let existing = try replica.get(collection: "people", record: person), !existing.isVisible {
                try replica.write(collection: "people", record: person, [.restore])
                continue
            }
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: try replica.write(collection: "people", record: person, [.put(field: "name", value: .string(names.randomElement(using: &rng)!))])
            case 1: try replica.write(collection: "people", record: person, [.mapSet(field: "skills", key: skills.randomElement(using: &rng)!, value: 3)])
            case 2: try replica.write(collection: "people", record: person, [.put(field: "title", value: .string("T\(round)"))])
            default: if try replica.get(collection: "people", record: person) != nil { try replica.write(collection: "people", record: person, [.delete]) }
            }
            if round % 3 == 0 { _ = try PeopleDirectory.search(replica, query: "a") }
        }
        _ = try PeopleDirectory.search(replica, query: "a")
        let incremental = try contents()
        try replica.withDatabase { db in try db.execute("DELETE FROM people_search_state") }
        _ = try PeopleDirectory.search(replica, query: "a")
        XCTAssertEqual(incremental, try contents(), "seed \(seed): the incremental index differs from a full rebuild")
    }
}
