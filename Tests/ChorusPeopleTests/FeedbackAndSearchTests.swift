import XCTest
import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusTesting

/// The people both feedback suites start with: an author, a recipient whose manager is boss, and
/// a colleague.
func writeFourPeople(_ replica: Replica) throws {
        try replica.writeMany([
            ("people", "author", [.put(field: "name", value: "Author")]),
            ("people", "recipient", [.put(field: "name", value: "Recipient"), .put(field: "manager", value: "boss")]),
            ("people", "boss", [.put(field: "name", value: "Boss")]),
            ("people", "colleague", [.put(field: "name", value: "Colleague")]),
        ])
}

final class FeedbackVisibilityTests: XCTestCase {
    var replica: Replica!
    let clock = ManualClock(milliseconds: 1_790_000_000_000)

    override func setUpWithError() throws {
        replica = try ReplicaFactory.memory(clock: clock, seed: 4)
        try writeFourPeople(replica)
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
        try replica.write(collection: "badges", record: "badge-x", [.put(field: "name", value: "X")])
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "recipient", kind: "feedback", body: "Hi", visibility: "private", badge: "badge-x") },
                       .invalidValue, "a badge goes with praise or thanks")
        XCTAssertNoThrow(try Feedback.give(replica, from: "author", to: "recipient", kind: "praise", body: "Hi", visibility: "public", badge: "badge-x"))
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "recipient", kind: "praise", body: "  ", visibility: "public") }, .invalidValue)
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "recipient", kind: "praise", body: "Hi", visibility: "everyone") }, .invalidValue)
        XCTAssertEqual(code { try Feedback.give(replica, from: "author", to: "author", kind: "praise", body: "Hi", visibility: "public") }, .invalidValue)
        let id = try Feedback.give(replica, from: "author", to: "recipient", kind: "thanks", body: "Thank you!", visibility: "public")
        let logged = try replica.log(limit: 1000).compactMap(\.operation).filter { $0.record == id }
        XCTAssertFalse(logged.isEmpty)
        XCTAssertTrue(logged.allSatisfy { $0.author == "author" }, "every write is attributed to the person acting")
    }
}

/// What people do with recognition once given: comments (bounded, listed newest first), high-fives
/// (not one's own), withdrawing one's own item or comment, and who a manager reads for.
final class FeedbackLifecycleTests: XCTestCase {
    var replica: Replica!
    let clock = ManualClock(milliseconds: 1_790_000_000_000)

    override func setUpWithError() throws {
        replica = try ReplicaFactory.memory(clock: clock, seed: 6)
        try writeFourPeople(replica)
    }

    func code(_ body: () throws -> Void) -> ChorusError.Code? { do { try body(); return nil } catch { return (error as? ChorusError)?.code } }

    func test_commentsAreBounded_andListsCarryTheNewest() throws {
        let id = try Feedback.give(replica, from: "author", to: "recipient", kind: "praise", body: "Great launch", visibility: "public")
        for index in 0..<Feedback.commentsPerItemMax {
            _ = try Feedback.comment(replica, on: id, by: index % 2 == 0 ? "colleague" : "boss", body: "Comment \(index)", at: Int64(index))
        }
        XCTAssertEqual(code { _ = try Feedback.comment(self.replica, on: id, by: "colleague", body: "One more", at: 0) }, .invalidState)
        let item = try XCTUnwrap(try replica.get(collection: "feedback", record: id))
        let listed = Feedback.listed(item)
        XCTAssertEqual(listed["commentCount"], .integer(Int64(Feedback.commentsPerItemMax)))
        XCTAssertEqual(listed["comments"]?.arrayValue?.count, Feedback.commentsListedMax)
        XCTAssertEqual(listed["comments"]?.arrayValue?.last?["value"]?["body"], .string("Comment \(Feedback.commentsPerItemMax - 1)"), "the newest")
        XCTAssertEqual(Feedback.whole(item)["comments"]?.arrayValue?.count, Feedback.commentsPerItemMax, "read alone, all of them")
    }

    func test_highFives_areForOthers_andAnAuthorWithdrawsTheirOwn() throws {
        let id = try Feedback.give(replica, from: "author", to: "recipient", kind: "thanks", body: "Thank you", visibility: "public")
        XCTAssertEqual(code { _ = try Feedback.highFive(self.replica, on: id, by: "author") }, .invalidState)
        XCTAssertEqual(try Feedback.highFive(replica, on: id, by: "colleague").fields["highFives"], 1)
        let comment = try Feedback.comment(replica, on: id, by: "colleague", body: "Yes!", at: 1)
        let entry = try XCTUnwrap(comment.fields["comments"]?.arrayValue?.first?["entry"]?.stringValue)
        XCTAssertEqual(code { _ = try Feedback.withdrawComment(self.replica, on: id, entry: entry, by: "recipient") }, .refused, "only its writer")
        XCTAssertEqual(try Feedback.withdrawComment(replica, on: id, entry: entry, by: "colleague").fields["comments"]?.arrayValue?.count ?? 0, 0)
        XCTAssertEqual(code { try Feedback.withdraw(self.replica, id: id, by: "recipient") }, .refused, "the recipient reads it, and does not withdraw it")
        try Feedback.withdraw(replica, id: id, by: "author")
        XCTAssertNil(try Feedback.visibleItem(replica, id: id, viewer: "author"))
        XCTAssertFalse(try Feedback.visibleItems(replica, viewer: nil).contains { $0.id == id }, "off the feed")
    }

    func test_managerOnly_needsAManager_toReadIt() throws {
        XCTAssertEqual(code { try Feedback.give(self.replica, from: "author", to: "colleague", kind: "feedback", body: "Hi", visibility: "managerOnly") },
                       .invalidState, "nobody but the author would read it")
        XCTAssertNoThrow(try Feedback.give(replica, from: "author", to: "colleague", kind: "feedback", body: "Hi", visibility: "privateAndManager"))
    }

    /// A person whose manager left names a new one themselves; what others wrote for the manager
    /// before is not the new one's to read (a sweep made a friend the manager and read it all).
    func test_aManagerReads_whatWasWrittenForTheManager_sinceTheyBecameIt() throws {
        let before = try Feedback.give(replica, from: "author", to: "recipient", kind: "feedback", body: "For your manager", visibility: "managerOnly")
        let shared = try Feedback.give(replica, from: "author", to: "recipient", kind: "feedback", body: "For both", visibility: "privateAndManager")
        try replica.write(collection: "observations", record: "obs-before", [.put(field: "person", value: "recipient"), .put(field: "author", value: "author"),
                                                                              .put(field: "visibility", value: "private")])
        clock.advance(by: 60_000)
        try replica.write(collection: "people", record: "recipient", [.put(field: "manager", value: "colleague")])
        clock.advance(by: 60_000)
        let after = try Feedback.give(replica, from: "author", to: "recipient", kind: "feedback", body: "For the new manager", visibility: "managerOnly")
        let read = Set(try Feedback.visibleItems(replica, viewer: "colleague").map(\.id))
        XCTAssertEqual(read, [after], "the new manager reads what was written since")
        XCTAssertNil(try Feedback.visibleItem(replica, id: before, viewer: "colleague"))
        XCTAssertNotNil(try Feedback.visibleItem(replica, id: shared, viewer: "recipient"), "the recipient still reads their own")
        let lookup = ReadPolicy.visibleFields(replica)
        let observation = try XCTUnwrap(try replica.get(collection: "observations", record: "obs-before"))
        XCTAssertFalse(try ReadPolicy.mayRead(collection: "observations", fields: observation.fields, viewer: "colleague", lookup: lookup,
                                              managedSinceMade: ReadPolicy.managedSinceMade(collection: "observations", record: "obs-before", replica: replica)))
        XCTAssertTrue(try ReadPolicy.mayRead(collection: "observations", fields: observation.fields, viewer: "recipient", lookup: lookup,
                                             managedSinceMade: ReadPolicy.managedSinceMade(collection: "observations", record: "obs-before", replica: replica)))
    }

    /// A visibility this version does not know (a newer version's, arriving by sync, where values
    /// are not checked) is read as private: it once made an objective or observation readable by
    /// everyone, where the objectives list hid it. None given is public.
    func test_anUnknownVisibility_isReadAsPrivate() throws {
        let lookup: (String, String) throws -> [String: JSONValue]? = { _, _ in nil }
        for collection in ["objectives", "observations"] {
            let owned: [String: JSONValue] = collection == "objectives" ? ["owner": "owner", "ownerKind": "person"] : ["person": "owner", "author": "owner"]
            for (visibility, everyone) in [(JSONValue?.none, true), (.some(.null), true), (.some("public"), true), (.some("private"), false),
                                           (.some("secret"), false), (.some(.integer(1)), false)] {
                var fields = owned
                fields["visibility"] = visibility
                XCTAssertEqual(try ReadPolicy.mayRead(collection: collection, fields: fields, viewer: "someone", lookup: lookup, managedSinceMade: { _, _ in false }),
                               everyone, "\(collection) \(String(describing: visibility))")
                XCTAssertTrue(try ReadPolicy.mayRead(collection: collection, fields: fields, viewer: "owner", lookup: lookup, managedSinceMade: { _, _ in false }))
            }
        }
    }

    /// The feed is in the order items were given: editing a message does not bring it to the top.
    func test_feedOrder_isWhenGiven_notWhenEdited() throws {
        let first = try Feedback.give(replica, from: "author", to: "recipient", kind: "thanks", body: "First", visibility: "public")
        clock.advance(by: 1000)
        let second = try Feedback.give(replica, from: "author", to: "recipient", kind: "thanks", body: "Second", visibility: "public")
        clock.advance(by: 1000)
        try replica.write(collection: "feedback", record: first, [.put(field: "body", value: "First, edited")])
        XCTAssertEqual(try Feedback.visibleItems(replica, viewer: nil).map(\.id), [second, first])
    }

    /// Pages go on from the last item shown: a thanks given between two pages repeats nothing
    /// (by offset it pushed the last item of one page onto the next).
    func test_pagesByCursor_areNotShiftedByNewItems() throws {
        var given: [String] = []
        for index in 0..<5 {
            given.append(try Feedback.give(replica, from: "author", to: "recipient", kind: "thanks", body: "Thanks \(index)", visibility: "public"))
            clock.advance(by: 1000)
        }
        let first = try Feedback.visiblePage(replica, viewer: nil, after: nil, limit: 2)
        XCTAssertEqual(first.items.map(\.id), [given[4], given[3]])
        let cursor = try XCTUnwrap(first.next)
        XCTAssertEqual(Feedback.PageCursor(cursor.text), cursor, "the cursor reads back from its text")
        _ = try Feedback.give(replica, from: "colleague", to: "recipient", kind: "thanks", body: "Meanwhile", visibility: "public")
        let second = try Feedback.visiblePage(replica, viewer: nil, after: cursor, limit: 2)
        XCTAssertEqual(second.items.map(\.id), [given[2], given[1]])
        let last = try Feedback.visiblePage(replica, viewer: nil, after: try XCTUnwrap(second.next), limit: 2)
        XCTAssertEqual(last.items.map(\.id), [given[0]])
        XCTAssertNil(last.next, "nothing follows the last page")
        for text in ["", "12", ":fb-1", "x:fb-1", "12:", "-1:fb-1"] { XCTAssertNil(Feedback.PageCursor(text), text) }
        XCTAssertEqual(Feedback.PageCursor("10:\u{1F3FB}"), Feedback.PageCursor(given: 10, id: "\u{1F3FB}"), "a colon and a modifier are one Character, and still a cursor")
    }
}

/// The feed's kept order (`FeedOrder`) against what the feed computed for each request before:
/// after random gifts, edits, deletes, restores, merges of older items and an erasure, read now
/// and then in between, the feed lists what the whole computation lists, in its order.
final class FeedOrderTests: XCTestCase {
    func test_keptOrder_equalsTheWholeComputation_afterRandomChanges() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let replica = try ReplicaFactory.memory(clock: clock, seed: 7)
        let other = try ReplicaFactory.memory(clock: clock, seed: 8)
        try writeFourPeople(replica)
        let people = ["author", "recipient", "boss", "colleague"]
        func whole(about person: String?) throws -> [String] {
            try replica.withDatabase { db in
                try db.query("""
                    SELECT id FROM (
                        SELECT f.id AS id, coalesce((SELECT min(e.wall) FROM entries e WHERE e.rid = f._rid AND e.field = 'from'), 0) AS given FROM feedback f
                        WHERE f._deleted = 0 AND (?1 IS NULL OR f."to" = ?1))
                    ORDER BY given DESC, id DESC
                    """, person).compactMap { $0.text(0) }
            }
        }
        func kept(about person: String?) throws -> [String] {
            try Feedback.visiblePage(replica, viewer: nil, about: person, after: nil, limit: 1000).items.map(\.id)
        }
        var given: [String] = []
        for round in 0..<60 {
            clock.advance(by: UInt64.random(in: 1...2000, using: &rng))
            switch Int.random(in: 0..<6, using: &rng) {
            case 0, 1:
                let from = people.randomElement(using: &rng)!
                given.append(try Feedback.give(replica, from: from, to: people.filter { $0 != from }.randomElement(using: &rng)!,
                                               kind: "thanks", body: "Thanks \(round)", visibility: "public"))
            case 2:
                // Given on another replica, merged now: placed by when it was given.
                let id = "fb-merged-\(round)"
                try other.write(collection: "feedback", record: id, [.put(field: "from", value: "colleague"), .put(field: "to", value: "recipient"),
                                                                        .put(field: "kind", value: "thanks"), .put(field: "visibility", value: "public")])
                try replica.applyRemote(try other.log(limit: 10_000).compactMap(\.operation))
            case 3:
                if let id = given.randomElement(using: &rng) { try? replica.write(collection: "feedback", record: id, [.put(field: "body", value: .string("Edited \(round)"))]) }
            case 4:
                if let id = given.randomElement(using: &rng), let record = try replica.get(collection: "feedback", record: id) {
                    try replica.write(collection: "feedback", record: id, [record.isVisible ? .delete : .restore])
                }
            default:
                if round == 45, let id = given.first { try replica.write(collection: "feedback", record: id, [.erase]) }
            }
            if Int.random(in: 0..<3, using: &rng) == 0 {
                XCTAssertEqual(try kept(about: nil), try whole(about: nil), "seed \(seed), round \(round)")
            }
        }
        XCTAssertEqual(try kept(about: nil), try whole(about: nil), "seed \(seed)")
        XCTAssertEqual(try kept(about: "recipient"), try whole(about: "recipient"), "seed \(seed)")
        XCTAssertGreaterThan(try whole(about: nil).count, 10, "seed \(seed): enough items to order")
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

    /// Chinese and Japanese, written without spaces, are found by any part, in order (a title was
    /// found only from its start), and accents by their letters.
    func test_search_findsAnyPartOfTextWrittenWithoutSpaces() throws {
        let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_000_000), seed: 6)
        try replica.writeMany([
            ("people", "p-li", [.put(field: "name", value: "李伟"), .put(field: "title", value: "高级软件工程师（分布式系统）")]),
            ("people", "p-yamada", [.put(field: "name", value: "山田太郎"), .put(field: "title", value: "エンジニア")]),
            ("people", "p-zoe", [.put(field: "name", value: "Zoe\u{0308} Ame\u{0301}lie Nguye\u{0302}\u{0303}n")]),
        ])
        for query in ["软件工程师", "高级", "分布式", "系统", "李伟", "工程师 高级"] {
            XCTAssertEqual(try PeopleDirectory.search(replica, query: query).map(\.id), ["p-li"], query)
        }
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "程工").map(\.id), [], "the characters stand together, in order")
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "太郎").map(\.id), ["p-yamada"])
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "ジニ").map(\.id), ["p-yamada"], "kana too")
        XCTAssertEqual(try PeopleDirectory.search(replica, query: "zoe nguyen").map(\.id), ["p-zoe"])
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

    /// A replica that starts again from its upstream's snapshot (below its compaction point) has
    /// its log numbered anew: the search index, kept by log sequence, is built again rather than
    /// brought up to date from sequences that now mean other operations.
    func test_index_isBuiltAgain_whenTheLogStartsAgainFromASnapshot() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = ReplicaFactory.configuration(clock: ManualClock(milliseconds: 1_790_000_000_000))
        let hub = try ReplicaFactory.durable(at: folder.appending("hub"), name: "hub", configuration: configuration, seed: 1)
        try hub.writeMany((0..<40).map { ("people", "h-\($0)", [.put(field: "name", value: .string("Hubperson \($0)"))]) })
        XCTAssertEqual(try hub.compactLog().floor, 40)
        try hub.writeMany((0..<5).map { ("people", "late-\($0)", [.put(field: "name", value: .string("Latecomer \($0)"))]) })

        let laptop = try ReplicaFactory.durable(at: folder.appending("laptop"), name: "laptop", configuration: configuration, seed: 2)
        try laptop.writeMany((0..<60).map { ("people", "l-\($0)", [.put(field: "name", value: .string("Lapperson \($0)"))]) })
        XCTAssertEqual(try PeopleDirectory.search(laptop, query: "lapperson", limit: 100).count, 60, "indexed through the laptop's sequence 60")
        // Its writes reach the hub (as a push would), then it starts again from the hub's copy.
        try hub.applyRemote(try laptop.log(limit: 1000).compactMap(\.operation))
        try laptop.setUpstream(url: "http://hub", tokenFile: "/dev/null")
        try laptop.recordUpstream(pushCursor: try laptop.latestSequence())
        let copy = try Replica.writeSnapshot(of: hub.location, schema: PeopleSchema.current)
        defer { Replica.removeSnapshotFile(copy.path) }
        _ = try laptop.adoptSnapshot(at: copy.path, through: copy.through, from: hub.id, replacing: true)

        XCTAssertGreaterThan(try laptop.latestSequence(), 60)
        XCTAssertEqual(try PeopleDirectory.search(laptop, query: "latecomer").count, 5, "the hub's people logged at the laptop's old sequences 41 to 45")
        XCTAssertEqual(try PeopleDirectory.search(laptop, query: "hubperson", limit: 100).count, 40)
        XCTAssertEqual(try PeopleDirectory.search(laptop, query: "lapperson", limit: 100).count, 60)
    }
}
