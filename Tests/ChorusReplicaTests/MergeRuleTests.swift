import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting
import SQLiteKit

private typealias Op = ChorusCore.Operation

/// The merge rules of `Docs/merge.md`, one behaviour per test, on real (in-memory) replicas.
final class MergeRuleTests: XCTestCase {
    var clock: ManualClock!
    var stockholm: Replica!
    var newYork: Replica!

    override func setUpWithError() throws {
        (clock, stockholm, newYork) = try ReplicaFactory.twoOffices()
    }

    private func exchange() throws {
        let fromStockholm = try stockholm.log(limit: 100_000).compactMap(\.operation)
        let fromNewYork = try newYork.log(limit: 100_000).compactMap(\.operation)
        try newYork.applyRemote(fromStockholm)
        try stockholm.applyRemote(fromNewYork)
        XCTAssertEqual(try stockholm.digest(), try newYork.digest(), "replicas must converge after exchanging everything")
        XCTAssertEqual(try stockholm.invariantViolations(), [])
        XCTAssertEqual(try newYork.invariantViolations(), [])
    }

    private func field(_ replica: Replica, _ name: String, _ collection: String = "people", _ record: String = "p1") throws -> JSONValue? {
        try replica.get(collection: collection, record: record)?.fields[name]
    }

    // MARK: Registers

    func test_register_concurrentWrites_areAConflictAndGreatestTimestampDisplays() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Engineer")])
        try exchange()
        clock.advance(by: 5)
        let early = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])[0]
        clock.advance(by: 5)
        let late = try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Staff Engineer")])[0]
        try exchange()
        XCTAssertEqual(try field(stockholm, "title"), "Staff Engineer")
        let conflicts = try stockholm.conflicts()
        XCTAssertEqual(conflicts.count, 1)
        XCTAssertEqual(conflicts[0].kind, .register)
        XCTAssertEqual(conflicts[0].displayed, late.id)
        XCTAssertEqual(Set(conflicts[0].siblings.map(\.operation)), [early.id, late.id], "the losing value stays visible")
        XCTAssertEqual(try newYork.conflicts(), conflicts, "every replica lists the same conflict")
    }

    func test_register_equalTimestamps_tieBreakByReplicaID() throws {
        let a = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "A")])[0]
        let b = try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "B")])[0]
        XCTAssertEqual(a.timestamp, b.timestamp)
        try exchange()
        let winner = a.id.replica > b.id.replica ? "A" : "B"
        XCTAssertEqual(try field(stockholm, "title"), JSONValue.string(winner))
        XCTAssertEqual(try field(newYork, "title"), JSONValue.string(winner))
    }

    func test_register_writeThatSupersedesAllSiblings_resolvesTheConflict() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "A")])
        try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "B")])
        try exchange()
        XCTAssertEqual(try stockholm.conflicts().count, 1)
        clock.advance(by: 1)
        try newYork.resolve(collection: "people", record: "p1", field: "title", .value("C"))
        XCTAssertEqual(try newYork.conflicts(), [])
        try exchange()
        XCTAssertEqual(try stockholm.conflicts(), [], "the resolution travels like any write")
        XCTAssertEqual(try field(stockholm, "title"), "C")
    }

    func test_resolve_keep_choosesTheLosingSibling() throws {
        let a = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Loser")])[0]
        clock.advance(by: 1)
        try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Winner")])
        try exchange()
        try stockholm.resolve(collection: "people", record: "p1", field: "title", .keep(a.id))
        try exchange()
        XCTAssertEqual(try field(newYork, "title"), "Loser")
        XCTAssertThrowsError(try stockholm.resolve(collection: "people", record: "p1", field: "title", .value("x"))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .invalidState, "no conflict left to resolve")
        }
    }

    func test_delivery_notCausal_supersedingWriteFirst_sameResult() throws {
        let first = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Old")])
        let second = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "New")])
        try newYork.applyRemote(second)
        XCTAssertEqual(try field(newYork, "title"), "New")
        try newYork.applyRemote(first)
        XCTAssertEqual(try field(newYork, "title"), "New", "a superseded write arriving late must not come back")
        XCTAssertEqual(try newYork.conflicts(), [])
        XCTAssertEqual(try newYork.digest(), try stockholm.digest())
    }

    /// `superseded` remembers only ids that may still arrive: superseding a live entry (its operation
    /// is in the log, so it cannot apply again) leaves no row; superseding one not yet here does.
    func test_supersededIds_recordedOnlyWhileTheyMayStillArrive() throws {
        func supersededRows(_ replica: Replica) throws -> Int64? {
            try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM superseded") }
        }
        let first = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Old")])
        let second = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "New")])
        XCTAssertEqual(second[0].action.referencedOperations, [first[0].id])
        XCTAssertEqual(try supersededRows(stockholm), 0, "the local edit removed a live entry: nothing to remember")
        try newYork.applyRemote(second)
        XCTAssertEqual(try supersededRows(newYork), 1, "the superseded write has not arrived: remembered")
        try newYork.applyRemote(first)
        XCTAssertEqual(try field(newYork, "title"), "New", "and it stays hidden when it does")
        try newYork.applyRemote(first + second)
        XCTAssertEqual(try field(newYork, "title"), "New")
        XCTAssertEqual(try newYork.digest(), try stockholm.digest())
        XCTAssertEqual(try newYork.invariantViolations(), [])
    }

    func test_applyRemote_duplicateIsIgnored() throws {
        let ops = try stockholm.write(collection: "feedback", record: "f1", [.increment(field: "highFives", by: 1)])
        XCTAssertEqual(try newYork.applyRemote(ops).applied, 1)
        let again = try newYork.applyRemote(ops + ops)
        XCTAssertEqual(again.applied, 0)
        XCTAssertEqual(again.duplicates, 2)
        XCTAssertEqual(try field(newYork, "highFives", "feedback", "f1"), 1, "a duplicate never counts twice")
    }

    // MARK: Sets, maps, counters, logs

    func test_set_addWins_overConcurrentRemove() throws {
        try stockholm.write(collection: "people", record: "p1", [.add(field: "guilds", element: "web")])
        try exchange()
        try stockholm.write(collection: "people", record: "p1", [.remove(field: "guilds", element: "web")])
        try newYork.write(collection: "people", record: "p1", [.add(field: "guilds", element: "web"), .add(field: "guilds", element: "data")])
        try exchange()
        XCTAssertEqual(try field(stockholm, "guilds"), ["data", "web"], "the concurrent add survives the remove")
        XCTAssertEqual(try stockholm.conflicts(), [], "sets never conflict")
        try stockholm.write(collection: "people", record: "p1", [.remove(field: "guilds", element: "web")])
        try exchange()
        XCTAssertEqual(try field(newYork, "guilds"), ["data"], "a remove that observed every add removes the element")
    }

    /// Adding an element the set holds again and again leaves it one tag of the replica's, not
    /// one per add: ten thousand adds once made a remove listing them all, which no upstream
    /// takes, and every later push of the node was refused. Another replica's add, concurrent with
    /// a remove, still wins over it.
    func test_set_addingAnElementHeld_keepsOneTag_andStillWinsOverAConcurrentRemove() throws {
        let made = try (0..<50).flatMap { _ in try stockholm.write(collection: "people", record: "p1", [.add(field: "guilds", element: "web")]) }
        XCTAssertEqual(made.count, 1, "added again where its own tag stands: nothing to make")
        try exchange()
        try newYork.write(collection: "people", record: "p1", [.add(field: "guilds", element: "web")])
        let removed = try stockholm.write(collection: "people", record: "p1", [.remove(field: "guilds", element: "web")])
        guard case .remove(_, let supersedes) = removed[0].action else { return XCTFail("\(removed)") }
        XCTAssertEqual(supersedes.count, 1, "one tag, whatever the number of adds")
        try exchange()
        XCTAssertEqual(try field(stockholm, "guilds"), ["web"], "New York's add, concurrent with the remove, wins")
        XCTAssertEqual(try stockholm.digest(), try newYork.digest())
    }

    /// An element holding more tags than one operation may list (older releases' adds) is
    /// removed by several removes, each within what an upstream takes.
    func test_set_removingAnElementOfMoreTagsThanOneOperationLists_makesSeveral() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try exchange()
        let source = ReplicaID(hex: "00112233445566778899aabbccddeeff")!
        let adds = (1...10_001).map { counter in
            Operation(id: OperationID(replica: source, counter: UInt64(counter)), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: UInt32(counter)),
                      collection: "people", record: "p1", field: "guilds", action: .add(element: "web"))
        }
        XCTAssertEqual(try stockholm.applyRemote(adds).applied, 10_001)
        let removes = try stockholm.write(collection: "people", record: "p1", [.remove(field: "guilds", element: "web")])
        XCTAssertEqual(removes.map { if case .remove(_, let ids) = $0.action { ids.count } else { -1 } }, [10_000, 1])
        XCTAssertEqual(try field(stockholm, "guilds") ?? [], [])
        XCTAssertEqual(try newYork.applyRemote(adds + removes).applied, 10_003, "taken whole by another replica")
        XCTAssertEqual(try newYork.digest(), try stockholm.digest())
    }

    func test_concurrentWritesOfOneValue_areNoConflict_untilAThirdValueJoinsThem() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Engineer"),
                                                                 .mapSet(field: "skills", key: "swift", value: 4)])
        try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Engineer"),
                                                               .mapSet(field: "skills", key: "swift", value: 4)])
        try exchange()
        XCTAssertEqual(try field(stockholm, "title"), "Engineer")
        XCTAssertEqual(try stockholm.conflicts(), [], "two offices that agree leave nothing to choose")
        XCTAssertEqual(try newYork.conflicts(), [])
        XCTAssertEqual(try stockholm.get(collection: "people", record: "p1")?.conflicts, [])
        XCTAssertEqual(try stockholm.statistics().conflicts, 0)
        XCTAssertEqual(try stockholm.invariantViolations(), [], "both entries stay live: the conflict index still holds the record")

        let london = try ReplicaFactory.memory(name: "london", clock: clock, seed: 33)
        let different = try london.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])[0]
        try stockholm.applyRemote([different])
        let conflicts = try stockholm.conflicts()
        XCTAssertEqual(conflicts.map(\.field), ["title"], "a different value makes it a conflict of all three")
        XCTAssertEqual(conflicts.first?.siblings.count, 3)
        XCTAssertEqual(try stockholm.get(collection: "people", record: "p1")?.conflicts, ["title"])
        XCTAssertEqual(try stockholm.statistics().conflicts, 1)
    }

    /// Values agree byte for byte, as the digest compares them: "é" and "e" with a combining
    /// accent are two values (Swift's `==` takes them for one), listed and counted alike.
    func test_valuesEqualOnlyAsUnicodeText_areAConflict_listedAndCountedAlike() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "Caf\u{E9}")])
        try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Cafe\u{301}")])
        try exchange()
        XCTAssertEqual(try stockholm.conflicts().map(\.field), ["title"])
        XCTAssertEqual(try stockholm.get(collection: "people", record: "p1")?.conflicts, ["title"])
        XCTAssertEqual(try stockholm.statistics().conflicts, Int64(try stockholm.conflicts().count))
    }

    func test_map_eachKeyIsARegister_andRemoveLosesToConcurrentSet() throws {
        try stockholm.write(collection: "people", record: "p1", [.mapSet(field: "skills", key: "swift", value: 3)])
        try exchange()
        try stockholm.write(collection: "people", record: "p1", [.mapRemove(field: "skills", key: "swift"), .mapSet(field: "skills", key: "sql", value: 2)])
        try newYork.write(collection: "people", record: "p1", [.mapSet(field: "skills", key: "swift", value: 4)])
        try exchange()
        XCTAssertEqual(try field(stockholm, "skills"), ["swift": 4, "sql": 2])
        try stockholm.write(collection: "people", record: "p1", [.mapSet(field: "skills", key: "sql", value: 5)])
        try newYork.write(collection: "people", record: "p1", [.mapSet(field: "skills", key: "sql", value: 1)])
        try exchange()
        let conflicts = try newYork.conflicts()
        XCTAssertEqual(conflicts.map(\.kind), [.map])
        XCTAssertEqual(conflicts.first?.key, "sql")
        let rows = try newYork.withDatabase { try $0.query("SELECT key, value FROM \"people__skills\" WHERE id = 'p1' ORDER BY key") }
        XCTAssertEqual(rows.map { $0.text(0)! }, ["sql", "swift"], "map keys are rows in the materialised side table")
    }

    func test_counter_sumsIncrementsFromEveryReplica() throws {
        try stockholm.write(collection: "feedback", record: "f1", [.increment(field: "highFives", by: 2)])
        try newYork.write(collection: "feedback", record: "f1", [.increment(field: "highFives", by: 3), .increment(field: "highFives", by: -1)])
        try exchange()
        XCTAssertEqual(try field(stockholm, "highFives", "feedback", "f1"), 4)
        let column = try stockholm.withDatabase { try $0.queryScalarInteger("SELECT highFives FROM feedback WHERE id = 'f1'") }
        XCTAssertEqual(column, 4, "the counter is a real column")
    }

    func test_log_entriesOrderedByTimestampThenReplica_andRetractable() throws {
        clock.advance(by: 10)
        let late = try stockholm.write(collection: "feedback", record: "f1", [.append(field: "comments", value: "second")])[0]
        clock.set(1_790_000_000_005)
        try newYork.write(collection: "feedback", record: "f1", [.append(field: "comments", value: "first")])
        try exchange()
        let entries = try field(stockholm, "comments", "feedback", "f1")?.arrayValue?.map { $0["value"]! }
        XCTAssertEqual(entries, ["first", "second"])
        try newYork.write(collection: "feedback", record: "f1", [.retract(field: "comments", entry: late.id)])
        try exchange()
        XCTAssertEqual(try field(stockholm, "comments", "feedback", "f1")?.arrayValue?.count, 1)
    }

    // MARK: Records: delete, restore, erase

    /// A person named `name`, given the title `a` at Stockholm and `b` at New York concurrently,
    /// both exchanged: a register conflict on both.
    private func concurrentTitles(_ record: String, name: String, _ a: String, _ b: String) throws {
        try stockholm.write(collection: "people", record: record, [.put(field: "name", value: .string(name))])
        try exchange()
        try stockholm.write(collection: "people", record: record, [.put(field: "title", value: .string(a))])
        try newYork.write(collection: "people", record: record, [.put(field: "title", value: .string(b))])
        try exchange()
    }

    /// People p1 (delete-wins): deleted at Stockholm while New York gave it a title, both exchanged.
    private func editedWhileDeleted() throws -> (delete: ChorusCore.Operation, edit: ChorusCore.Operation) {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try exchange()
        let delete = try stockholm.write(collection: "people", record: "p1", [.delete])[0]
        let edit = try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])[0]
        try exchange()
        return (delete, edit)
    }

    func test_deleteWins_concurrentEditKeptAsConflict() throws {
        let (delete, edit) = try editedWhileDeleted()
        let record = try XCTUnwrap(try stockholm.get(collection: "people", record: "p1"))
        XCTAssertFalse(record.isVisible, "people is delete-wins")
        let conflict = try XCTUnwrap(try stockholm.conflicts().first)
        XCTAssertEqual(conflict.kind, .editedWhileDeleted)
        XCTAssertEqual(conflict.displayed, delete.id)
        XCTAssertTrue(conflict.siblings.contains { $0.operation == edit.id && $0.value == "Lead" }, "the edit is never dropped")
        XCTAssertThrowsError(try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "x")])) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .recordDeleted)
        }
        try newYork.write(collection: "people", record: "p1", [.restore])
        try exchange()
        XCTAssertEqual(try stockholm.get(collection: "people", record: "p1")?.isVisible, true)
        XCTAssertEqual(try field(stockholm, "title"), "Lead", "restore brings the record back with its values")
        XCTAssertEqual(try stockholm.conflicts(), [])
    }

    /// Each edit made while the record was deleted says what it changed: the field, and the map key
    /// or set element. An admin choosing to restore sees what they keep, not "3" and "null".
    func test_editedWhileDeleted_namesTheFieldAndKeyOfEachEdit() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try exchange()
        try stockholm.write(collection: "people", record: "p1", [.delete])
        try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead"), .mapSet(field: "skills", key: "go", value: 3),
                                                               .add(field: "guilds", element: "g-9")])
        try exchange()
        let conflict = try XCTUnwrap(try stockholm.conflicts().first)
        XCTAssertEqual(conflict.kind, .editedWhileDeleted)
        let edits = conflict.siblings.filter { !$0.isDelete }.map { "\($0.field ?? "?")[\($0.key ?? "")]=\($0.value.canonicalText)" }.sorted()
        XCTAssertEqual(edits, ["guilds[g-9]=null", "skills[go]=3", "title[]=\"Lead\""])
        let json = try XCTUnwrap(conflict.siblings.first { $0.field == "skills" }?.json)
        XCTAssertEqual(json["field"], "skills")
        XCTAssertEqual(json["key"], "go")
        XCTAssertEqual(json["kind"], "map")
        XCTAssertEqual(conflict.siblings.first { $0.field == "guilds" }?.kind, .set)
        XCTAssertNil(conflict.siblings.first { $0.isDelete }?.json["field"], "the delete changed no field")
    }

    /// "Keep it deleted" on a delete-wins record: hidden, it is still deleted again by a delete that
    /// observes the concurrent edit, as an admin's resolution; the conflict is settled everywhere,
    /// the record stays hidden, and nothing was brought back on the way. A record deleted with no
    /// conflict is still refused a second delete.
    func test_deleteWins_keepItDeleted_settlesTheConflict_withoutARestore() throws {
        _ = try editedWhileDeleted()
        let conflict = try XCTUnwrap(try stockholm.conflicts().first)
        try stockholm.resolveConflict(id: conflict.id, .delete, by: "admin")
        XCTAssertEqual(try stockholm.conflicts(), [])
        try exchange()
        XCTAssertEqual(try newYork.conflicts(), [])
        XCTAssertEqual(try newYork.get(collection: "people", record: "p1")?.isVisible, false)
        XCTAssertEqual(try newYork.resolutions().first?.fields["choice"], "delete")
        XCTAssertThrowsError(try newYork.write(collection: "people", record: "p1", [.delete])) {
            XCTAssertEqual(($0 as? ChorusError)?.message, "people/p1 is already deleted")
        }
    }

    /// Values in conflict on a record deleted since wait, unlisted, while it is deleted: nothing
    /// displays them and no value can be written to settle them; restored, it lists them again.
    func test_aValueConflict_onARecordDeletedSince_waitsUnlisted_untilItIsRestored() throws {
        try concurrentTitles("p1", name: "Ada", "A", "B")
        XCTAssertEqual(try stockholm.conflicts().map(\.kind), [.register])
        try stockholm.write(collection: "people", record: "p1", [.delete])
        try exchange()
        XCTAssertEqual(try newYork.conflicts(), [], "deleted: nothing to settle while it is")
        XCTAssertEqual(try newYork.statistics().conflicts, 0)
        try newYork.write(collection: "people", record: "p1", [.restore])
        try exchange()
        XCTAssertEqual(try stockholm.conflicts().map(\.kind), [.register], "restored: the values in conflict are back, still to settle")
    }

    func test_updateWins_concurrentEditKeepsRecordVisible() throws {
        try stockholm.write(collection: "teams", record: "t1", [.put(field: "name", value: "Web")])
        try exchange()
        try stockholm.write(collection: "teams", record: "t1", [.delete])
        try newYork.write(collection: "teams", record: "t1", [.add(field: "members", element: "p1")])
        try exchange()
        XCTAssertEqual(try newYork.get(collection: "teams", record: "t1")?.isVisible, true, "teams is update-wins")
        XCTAssertEqual(try newYork.conflicts().map(\.kind), [.editedWhileDeleted])
        try newYork.write(collection: "teams", record: "t1", [.delete])
        try exchange()
        XCTAssertEqual(try stockholm.get(collection: "teams", record: "t1")?.isVisible, false, "a delete that saw the edit confirms it")
        XCTAssertEqual(try stockholm.conflicts(), [])
    }

    func test_deleteWithoutConcurrentEdits_isNoConflict() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try exchange()
        try newYork.write(collection: "people", record: "p1", [.delete])
        try exchange()
        XCTAssertEqual(try stockholm.conflicts(), [])
        XCTAssertEqual(try stockholm.list(collection: "people").map(\.id), [])
        XCTAssertEqual(try stockholm.list(collection: "people", includeDeleted: true).map(\.id), ["p1"])
    }

    /// A wall clock past the range every replica accepts refuses local writes: their operations
    /// could be read by no replica, this one's log included.
    func test_aLocalWrite_withTheClockPastTheAcceptedRange_isRefusedAndWritesNothing() throws {
        try stockholm.write(collection: "people", record: "p-1", [.put(field: "title", value: "Engineer")])
        let digest = try stockholm.digest(), logged = try stockholm.log(limit: 100).count
        clock.set(HybridTimestamp.wallMax + 1)
        XCTAssertThrowsError(try stockholm.write(collection: "people", record: "p-1", [.put(field: "title", value: "Lead")])) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .clockSkew, "\(error)")
        }
        XCTAssertEqual(try stockholm.digest(), digest)
        XCTAssertEqual(try stockholm.log(limit: 100).count, logged)
    }

    /// Two admins apart keeping different people's email: neither email is lost silently. Each
    /// person's email is then in conflict, the kept value against the cleared one, on every replica.
    func test_duplicateEmail_keptDifferentlyByTwoAdmins_leavesEachEmailInConflict_notBothCleared() throws {
        try stockholm.write(collection: "people", record: "p-a", [.put(field: "email", value: "same@example.com")])
        try newYork.write(collection: "people", record: "p-b", [.put(field: "email", value: "same@example.com")])
        try exchange()
        let duplicate = try XCTUnwrap(try stockholm.conflicts().first { $0.kind == .duplicateEmail })
        func sibling(of person: String) throws -> OperationID {
            try XCTUnwrap(duplicate.siblings.first { $0.value["person"]?.stringValue == person }).operation
        }
        try stockholm.resolveConflict(id: duplicate.id, .keep(try sibling(of: "p-a")), by: "admin-stockholm")
        clock.advance(by: 1)
        try newYork.resolveConflict(id: duplicate.id, .keep(try sibling(of: "p-b")), by: "admin-new-york")
        try exchange()
        let open = try stockholm.conflicts()
        XCTAssertEqual(open.map(\.kind), [.register, .register], "\(open)")
        XCTAssertEqual(open.map(\.record), ["p-a", "p-b"])
        for conflict in open {
            XCTAssertEqual(conflict.field, "email")
            XCTAssertEqual(Set(conflict.siblings.map(\.value)), ["same@example.com", .null], "the kept email against the cleared one")
        }
        XCTAssertEqual(try field(stockholm, "email", "people", "p-b"), "same@example.com", "the later admin's choice displays")
        XCTAssertEqual(try field(stockholm, "email", "people", "p-a"), .null)
        XCTAssertEqual(try newYork.conflicts(), open)
    }

    func test_duplicateEmail_keptByOneAdmin_isSettledEverywhere() throws {
        try stockholm.write(collection: "people", record: "p-a", [.put(field: "email", value: "same@example.com")])
        try newYork.write(collection: "people", record: "p-b", [.put(field: "email", value: "same@example.com")])
        try exchange()
        let duplicate = try XCTUnwrap(try newYork.conflicts().first { $0.kind == .duplicateEmail })
        XCTAssertEqual(try newYork.statistics().conflicts, Int64(try newYork.conflicts().count), "status counts it, as the list does")
        let kept = try XCTUnwrap(duplicate.siblings.first { $0.value["person"]?.stringValue == "p-b" }).operation
        try newYork.resolveConflict(id: duplicate.id, .keep(kept), by: "admin")
        try exchange()
        XCTAssertEqual(try stockholm.conflicts(), [])
        XCTAssertEqual(try stockholm.statistics().conflicts, 0)
        XCTAssertEqual(try field(stockholm, "email", "people", "p-b"), "same@example.com")
        XCTAssertEqual(try field(stockholm, "email", "people", "p-a"), .null)
    }

    /// Erasing a person forgets the admins' resolutions that hold their values: a duplicate email
    /// they were part of (any of its people), and nothing else, on every replica the erase reaches.
    func test_erasingAPerson_erasesTheResolutionsHoldingThem_andNoOthers() throws {
        try stockholm.write(collection: "people", record: "p-b", [.put(field: "email", value: "same@example.com")])
        try newYork.write(collection: "people", record: "p-a", [.put(field: "email", value: "same@example.com")])
        try stockholm.write(collection: "people", record: "p-c", [.put(field: "title", value: "Engineer")])
        try exchange()
        try newYork.write(collection: "people", record: "p-c", [.put(field: "title", value: "Lead")])
        try stockholm.write(collection: "people", record: "p-c", [.put(field: "title", value: "Staff")])
        try exchange()
        for conflict in try stockholm.conflicts(collection: "people") {
            let kept = try XCTUnwrap(conflict.siblings.first { !$0.isDelete }).operation
            try stockholm.resolveConflict(id: conflict.id, .keep(kept), by: "admin")
        }
        XCTAssertEqual(try stockholm.resolutions().count, 2, "the duplicate email and p-c's title")
        try exchange()
        try stockholm.write(collection: "people", record: "p-b", [.erase])
        let left = try stockholm.resolutions().compactMap { $0.fields["targetRecord"]?.stringValue }
        XCTAssertEqual(left, ["p-c"], "the duplicate email's resolution held p-b's email; p-c's is another person's")
        try exchange()
        XCTAssertEqual(try newYork.resolutions().compactMap { $0.fields["targetRecord"]?.stringValue }, ["p-c"], "erased there too")
    }

    /// A resolution made while another replica erases its record (each unaware of the other) is
    /// erased too, on both and wherever they go, in either order of arrival: whichever replica
    /// learns of both erases it, and the values it kept leave the database files.
    func test_aResolutionMadeConcurrentlyWithAnErasure_isErasedEverywhere() throws {
        try concurrentTitles("p-z", name: "Zed", "SECRET-A", "SECRET-B")
        let conflict = try XCTUnwrap(try stockholm.conflicts(collection: "people").first)
        let resolution = try stockholm.resolveConflict(id: conflict.id, .keep(XCTUnwrap(conflict.siblings.first { !$0.isDelete }).operation), by: "admin")
        // Deleted since (it still holds the values, and `restore` would show them): erased all the same.
        try stockholm.write(collection: "resolutions", record: resolution.id, [.delete])
        try newYork.write(collection: "people", record: "p-z", [.erase])
        XCTAssertEqual(try newYork.resolutions().count, 0, "the eraser has not seen the resolution")
        try exchange()
        XCTAssertTrue(try stockholm.isErased(collection: "resolutions", record: resolution.id), "the resolution arrived after the erase's on neither: it goes")
        XCTAssertTrue(try newYork.isErased(collection: "resolutions", record: resolution.id))
        try exchange()
        XCTAssertEqual(try stockholm.digest(), try newYork.digest())
        for replica in [stockholm!, newYork!] {
            let kept = try replica.log(limit: 1000).compactMap(\.operation).map(OperationCodec().canonicalText).filter { $0.contains("SECRET-") }
            XCTAssertEqual(kept, [], "no value of the erased person is left in \(replica.name)'s log")
        }
    }

    /// Killed between the merge that applied an erasure and the erasure of a resolution holding
    /// the erased person's values (a merge inside a caller's transaction leaves it so too): the
    /// next open erases it. It once waited for the next merge of an erasure or a resolution.
    func test_aResolutionLeftByAKillAfterTheErasuresMerge_isErasedWhenTheFolderIsOpenedAgain() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = ReplicaFactory.configuration(clock: clock)
        stockholm = try ReplicaFactory.durable(at: folder.path, name: "stockholm", configuration: configuration, seed: 11)
        try concurrentTitles("p-z", name: "Zed", "SECRET-A", "SECRET-B")
        let conflict = try XCTUnwrap(try stockholm.conflicts(collection: "people").first)
        let resolution = try stockholm.resolveConflict(id: conflict.id, .keep(XCTUnwrap(conflict.siblings.first { !$0.isDelete }).operation), by: "admin")
        func marks() throws -> Int64? { try stockholm.withDatabase { try $0.queryScalarInteger("SELECT value FROM meta WHERE key = 'resolutions_to_check'") } }
        XCTAssertNil(try marks(), "a resolution written here marks nothing: its write checks it (every later open would look)")
        let erasure = try newYork.write(collection: "people", record: "p-z", [.erase])
        try stockholm.withDatabase { database in try database.transaction { _ = try stockholm.applyRemote(erasure) } }
        XCTAssertEqual(try marks(), 1, "the merge's batch marked it")
        XCTAssertFalse(try stockholm.isErased(collection: "resolutions", record: resolution.id), "left as a kill leaves it")
        let reopened = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertTrue(try reopened.isErased(collection: "resolutions", record: resolution.id), "erased when opened again")
        XCTAssertNil(try reopened.withDatabase { try $0.queryScalarInteger("SELECT 1 FROM meta WHERE key = 'resolutions_to_check'") }, "and the mark gone")
    }

    func test_erase_isPermanentAndDropsLateOperations() throws {
        let early = try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try newYork.applyRemote(early)
        let offline = try newYork.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])
        try stockholm.write(collection: "people", record: "p1", [.erase])
        let report = try stockholm.applyRemote(offline)
        XCTAssertEqual(report.droppedForErasedRecords, 1)
        XCTAssertNil(try stockholm.get(collection: "people", record: "p1"))
        XCTAssertTrue(try stockholm.hasOperation(offline[0].id), "the id is kept so it is never applied")
        XCTAssertThrowsError(try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .recordErased)
        }
        try exchange()
        XCTAssertNil(try newYork.get(collection: "people", record: "p1"), "the erase travels and wins")
    }

    /// An erase that arrives before its record in one batch, on a replica that never erased
    /// anything, still drops the record's later operations: the batch asks whether any record was
    /// erased once (`BatchState.anyErased`), and the erase itself must change the answer.
    func test_anEraseArrivingBeforeItsRecord_inOneBatch_dropsTheRecordsOperations() throws {
        let writer = ReplicaID(hex: String(repeating: "ab", count: 16))!
        func op(_ counter: UInt64, _ record: String, field: String? = "name", _ action: Action) -> Op {
            Op(id: OperationID(replica: writer, counter: counter), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: UInt32(counter)),
               collection: "people", record: record, field: field, action: action)
        }
        let operations = [
            op(1, "p0", .set(value: .string("Ada"), supersedes: [])),
            op(2, "", field: nil, .erase(recordHash: Operation.recordHash(collection: "people", record: "p1"))),
            op(3, "p1", .set(value: .string("Bo"), supersedes: [])),
        ]
        let report = try newYork.applyRemote(operations)
        XCTAssertEqual(report.droppedForErasedRecords, 1)
        XCTAssertNil(try newYork.get(collection: "people", record: "p1"))
        XCTAssertEqual(try newYork.get(collection: "people", record: "p0")?.fields["name"], "Ada")
        // One operation a batch gives the same state.
        for operation in operations { try stockholm.applyRemote([operation]) }
        XCTAssertNil(try stockholm.get(collection: "people", record: "p1"))
        XCTAssertEqual(try stockholm.digest(), try newYork.digest())
    }

    /// A write that erases a record and then changes it is refused whole: the erase does not happen
    /// and the change is not silently dropped.
    func test_writeThatErasesThenChanges_isRefusedAndChangesNothing() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        let before = try stockholm.digest()
        XCTAssertThrowsError(try stockholm.write(collection: "people", record: "p1", [.erase, .put(field: "title", value: "Lead")])) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .recordErased)
        }
        XCTAssertEqual(try stockholm.get(collection: "people", record: "p1")?.fields["name"], "Ada")
        XCTAssertEqual(try stockholm.digest(), before)
        // The erase alone still works, and later writes to the id are refused.
        try stockholm.write(collection: "people", record: "p1", [.erase])
        XCTAssertNil(try stockholm.get(collection: "people", record: "p1"))
    }

    /// Names that Swift calls equal but whose bytes differ ("café" with "é" as one code point, and
    /// with "e" plus a combining accent) are two record ids and two map keys in storage, in the
    /// digest and on the wire. Applied in one batch or one at a time, they give the same state.
    func test_canonicallyEquivalentNames_stayDistinct_inAnyBatching() throws {
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        XCTAssertEqual(composed, decomposed, "Swift's String equality is canonical equivalence")
        XCTAssertNotEqual(Array(composed.utf8), Array(decomposed.utf8))
        let writer = ReplicaID(hex: String(repeating: "cd", count: 16))!
        func op(_ counter: UInt64, _ record: String, _ field: String, _ action: Action) -> Op {
            Op(id: OperationID(replica: writer, counter: counter), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: UInt32(counter)),
               collection: "people", record: record, field: field, action: action)
        }
        let operations = [
            op(1, composed, "title", .set(value: "A", supersedes: [])),
            op(2, decomposed, "title", .set(value: "B", supersedes: [])),
            op(3, "p1", "skills", .mapSet(key: composed, value: 3, supersedes: [])),
            op(4, "p1", "skills", .mapSet(key: decomposed, value: 4, supersedes: [])),
        ]
        try stockholm.applyRemote(operations)
        for operation in operations { try newYork.applyRemote([operation]) }
        for replica in [stockholm!, newYork!] {
            XCTAssertEqual(try replica.invariantViolations(), [], replica.name)
            XCTAssertEqual(try field(replica, "title", "people", composed), "A", replica.name)
            XCTAssertEqual(try field(replica, "title", "people", decomposed), "B", replica.name)
            XCTAssertEqual(try replica.conflicts(), [], "\(replica.name): one value per key, no conflict")
        }
        XCTAssertEqual(try stockholm.digest(), try newYork.digest())
    }

    /// A batch that changes many keys of an existing record reads the record's older entries in one
    /// query, walking them beside its own keys in byte order. Keys whose byte order is not Swift's
    /// String order ("e" + U+0301 + "x" sorts before "éa" in bytes, after it in Swift) must still
    /// meet their older entries, in both directions of the exchange.
    func test_manyKeysOfAnExistingRecord_meetTheirOlderEntries_inByteOrder() throws {
        let keys = ["\u{E9}a", "e\u{301}x", "a", "Z", "\u{65E5}\u{672C}", "sql"]
        try stockholm.write(collection: "people", record: "p1", keys.map { .mapSet(field: "skills", key: $0, value: 1) } + [.put(field: "title", value: "A")])
        try exchange()
        clock.advance(by: 5)
        try newYork.write(collection: "people", record: "p1", keys.map { .mapSet(field: "skills", key: $0, value: 2) } + [.put(field: "title", value: "B")])
        clock.advance(by: 5)
        try stockholm.write(collection: "people", record: "p1", keys.map { .mapSet(field: "skills", key: $0, value: 3) } + [.put(field: "title", value: "C")])
        try exchange()
        for replica in [stockholm!, newYork!] {
            let conflicts = try replica.conflicts()
            XCTAssertEqual(conflicts.count, keys.count + 1, replica.name)
            XCTAssertEqual(conflicts.map(\.key).compactMap { $0 }.map { Array($0.utf8) }.sorted(by: { $0.lexicographicallyPrecedes($1) }),
                           keys.map { Array($0.utf8) }.sorted(by: { $0.lexicographicallyPrecedes($1) }), replica.name)
            XCTAssertEqual(try field(replica, "title"), "C", "\(replica.name): the later write displays")
            XCTAssertEqual(try field(replica, "skills"), .object(Dictionary(uniqueKeysWithValues: keys.map { ($0, JSONValue.integer(3)) })), replica.name)
            XCTAssertEqual(try replica.get(collection: "people", record: "p1")?.conflicts.count, keys.count + 1, replica.name)
        }
        XCTAssertEqual(try stockholm.statistics().conflicts, Int64(keys.count + 1))
    }

    /// The same walk when the record's fields were numbered (`fields`, in the order a replica first
    /// met them) in an order other than their names': the query returns the older entries in
    /// order of field number, and the batch's keys must be walked in that order too, or the keys
    /// that sort differently by name miss their older entries and their conflicts go unseen.
    func test_manyKeysOfAnExistingRecord_withFieldsNumberedOutOfNameOrder_meetTheirOlderEntries() throws {
        let fields = ["title", "name", "email", "squad", "tribe"]
        XCTAssertNotEqual(fields, fields.sorted(), "numbered in an order their names do not sort in")
        try stockholm.write(collection: "people", record: "p1", fields.map { .put(field: $0, value: "first") })
        try exchange()
        clock.advance(by: 5)
        try newYork.write(collection: "people", record: "p1", fields.map { .put(field: $0, value: "new-york") })
        clock.advance(by: 5)
        try stockholm.write(collection: "people", record: "p1", fields.map { .put(field: $0, value: "stockholm") })
        try exchange()
        for replica in [stockholm!, newYork!] {
            let conflicts = try replica.conflicts()
            XCTAssertEqual(conflicts.compactMap(\.field).sorted(), fields.sorted(), "\(replica.name): every field holds both writes")
            XCTAssertEqual(try field(replica, "title"), "stockholm", "\(replica.name): the later write displays")
        }
    }

    /// The same walk with two fields whose names are canonically equivalent (Swift's `String` says
    /// they are equal; storage keeps them apart): each must meet its own older entry. Only one of
    /// them comes into conflict (the later writer supersedes what it saw of the other keys), so a
    /// walk that missed that key's older entry would leave its record out of the conflict index.
    /// Eight records in one batch, so a walk that ordered the two by Swift's equality would go
    /// wrong in some record whatever order the batch's table gave them.
    func test_manyKeysOfAnExistingRecord_withCanonicallyEquivalentFields_eachMeetItsOlderEntry() throws {
        let fields = ["caf\u{E9}", "cafe\u{301}", "extra", "zeta"]
        let concurrent = "cafe\u{301}"
        let first = ReplicaID(hex: String(repeating: "ab", count: 16))!, second = ReplicaID(hex: String(repeating: "cd", count: 16))!
        func ops(_ writer: ReplicaID, wall: UInt64, value: String, superseding earlier: [Op] = []) -> [Op] {
            var counter: UInt64 = 0
            return (1...8).flatMap { record in
                fields.map { field in
                    counter += 1
                    let seen = earlier.filter { $0.record == "p\(record)" && Array($0.field!.utf8) == Array(field.utf8) }
                    let supersedes = Array(field.utf8) == Array(concurrent.utf8) ? [] : seen.map(\.id)
                    return Op(id: OperationID(replica: writer, counter: counter), timestamp: HybridTimestamp(wall: wall, logical: 0),
                              collection: "people", record: "p\(record)", field: field, action: .set(value: .string(value), supersedes: supersedes))
                }
            }
        }
        let older = ops(first, wall: clock.nowMilliseconds(), value: "old")
        try stockholm.applyRemote(older)
        try stockholm.applyRemote(ops(second, wall: clock.nowMilliseconds() + 1, value: "new", superseding: older))
        XCTAssertEqual(try stockholm.invariantViolations(), [])
        let conflicts = try stockholm.conflicts()
        XCTAssertEqual(conflicts.count, 8, "one key of each record holds both writes")
        XCTAssertTrue(conflicts.allSatisfy { Array($0.field!.utf8) == Array(concurrent.utf8) && $0.siblings.count == 2 })
    }

    /// An undeclared field can hold a set element and a map key of the same name, written by
    /// replicas that disagree about the field. Only values (register and map entries) can be in
    /// conflict, so one of each is none, in either order of arrival.
    func test_undeclaredField_aSetElementAndAMapKeyOfOneName_areNoConflict_inEitherOrder() throws {
        let first = ReplicaID(hex: String(repeating: "ab", count: 16))!, second = ReplicaID(hex: String(repeating: "cd", count: 16))!
        let stamp = HybridTimestamp(wall: clock.nowMilliseconds(), logical: 0)
        let mapSet = Op(id: OperationID(replica: first, counter: 1), timestamp: stamp, collection: "people", record: "p1", field: "nick",
                        action: .mapSet(key: "a", value: 1, supersedes: []))
        let add = Op(id: OperationID(replica: second, counter: 1), timestamp: stamp, collection: "people", record: "p1", field: "nick",
                     action: .add(element: "a"))
        let later = Op(id: OperationID(replica: second, counter: 2), timestamp: stamp, collection: "people", record: "p1", field: "nick",
                       action: .mapSet(key: "a", value: 2, supersedes: []))
        try stockholm.applyRemote([mapSet])
        try stockholm.applyRemote([add])
        try newYork.applyRemote([add])
        try newYork.applyRemote([mapSet])
        for replica in [stockholm!, newYork!] {
            XCTAssertEqual(try replica.invariantViolations(), [], replica.name)
            XCTAssertEqual(try replica.conflicts(), [], replica.name)
        }
        // A second map write of the key is a conflict, and is listed, in either replica.
        try stockholm.applyRemote([later])
        try newYork.applyRemote([later])
        for replica in [stockholm!, newYork!] {
            XCTAssertEqual(try replica.invariantViolations(), [], replica.name)
            XCTAssertEqual(try replica.conflicts().map(\.field), ["nick"], replica.name)
        }
        XCTAssertEqual(try stockholm.digest(), try newYork.digest())
    }

    /// A field name canonically equivalent to a declared one but spelled with other bytes (a
    /// Kelvin sign for the K of `ownerKind`) is another field to storage: kept and passed on as an
    /// undeclared field, never materialised into the declared field's column.
    func test_aFieldNameEquivalentToADeclaredOne_isAnotherField_neverItsColumn() throws {
        let kelvin = "owner\u{212A}ind"
        XCTAssertEqual(kelvin, "ownerKind", "Swift's String equality is canonical equivalence")
        let writer = ReplicaID(hex: String(repeating: "ce", count: 16))!
        func op(_ counter: UInt64, _ field: String, _ value: String) -> Op {
            Op(id: OperationID(replica: writer, counter: counter), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: UInt32(counter)),
               collection: "objectives", record: "o1", field: field, action: .set(value: .string(value), supersedes: []))
        }
        for (replica, operations) in [(stockholm!, [op(1, "ownerKind", "team"), op(2, kelvin, "person")]),
                                      (newYork!, [op(2, kelvin, "person"), op(1, "ownerKind", "team")])] {
            try replica.applyRemote(operations)
            XCTAssertEqual(try replica.invariantViolations(), [], "\(replica.name): the column holds what the merge state displays")
            let column = try replica.withDatabase { try $0.queryScalarText("SELECT ownerKind FROM objectives WHERE id = 'o1'") }
            XCTAssertEqual(column, "team", replica.name)
        }
        XCTAssertEqual(try stockholm.digest(), try newYork.digest())
        XCTAssertThrowsError(try stockholm.write(collection: "objectives", record: "o2", [.put(field: kelvin, value: "team")])) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .unknownField, "a local write names the declared field by its bytes")
            XCTAssertTrue((error as? ChorusError)?.message.contains("non-ASCII") ?? false, "the error says why a look-alike name is unknown")
        }
    }

    // MARK: Versions and bad input

    func test_unknownCollectionsAndFields_areKeptAndPassedOn() throws {
        let future = Op(id: OperationID(replica: ReplicaID(hex: String(repeating: "ab", count: 16))!, counter: 1),
                        timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: 0),
                        collection: "squadRituals", record: "r1", field: "cadence", action: .set(value: "weekly", supersedes: []))
        let futureField = Op(id: OperationID(replica: future.id.replica, counter: 2), timestamp: future.timestamp,
                             collection: "people", record: "p1", field: "pronouns", action: .set(value: "she/her", supersedes: []))
        try stockholm.applyRemote([future, futureField])
        XCTAssertEqual(try field(stockholm, "cadence", "squadRituals", "r1"), "weekly")
        var exported: [UInt8] = []
        try stockholm.exportBundle { exported += $0 }
        try newYork.importBundle(exported)
        XCTAssertEqual(try field(newYork, "pronouns"), "she/her", "passed on through a replica that does not know the field")
        XCTAssertEqual(try newYork.digest(), try stockholm.digest())
    }

    func test_operationFromTheFuture_refusedWithSkew_andNothingOfTheBatchApplied() throws {
        let fine = try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        let skewed = try ReplicaFactory.memory(name: "skewed", clock: OffsetClock(base: clock, offsetMilliseconds: 3_600_000), seed: 33)
        let future = try skewed.write(collection: "people", record: "p2", [.put(field: "name", value: "Bo")])
        let before = try newYork.digest()
        XCTAssertThrowsError(try newYork.applyRemote(fine + future)) { error in
            let error = error as? ChorusError
            XCTAssertEqual(error?.code, .clockSkew)
            XCTAssertTrue(error?.message.contains("1 h") ?? false, "the error names the skew: \(error?.message ?? "")")
        }
        XCTAssertEqual(try newYork.digest(), before)
        XCTAssertFalse(try newYork.hasOperation(fine[0].id))
    }

    func test_remoteActionOfTheWrongKind_isRefused() throws {
        let bad = Op(id: OperationID(replica: stockholm.id, counter: 99), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: 0),
                     collection: "people", record: "p1", field: "title", action: .add(element: "x"))
        XCTAssertThrowsError(try newYork.applyRemote([bad])) { XCTAssertEqual(($0 as? ChorusError)?.code, .wrongFieldKind) }
    }

    func test_localWrite_validation() throws {
        func code(_ body: () throws -> Void) -> ChorusError.Code? {
            do { try body(); return nil } catch { return (error as? ChorusError)?.code }
        }
        XCTAssertEqual(code { try stockholm.write(collection: "nope", record: "p1", [.put(field: "x", value: 1)]) }, .unknownCollection)
        XCTAssertEqual(code { try stockholm.write(collection: "people", record: "p1", [.put(field: "nope", value: 1)]) }, .unknownField)
        XCTAssertEqual(code { try stockholm.write(collection: "people", record: "p1", [.add(field: "title", element: "x")]) }, .wrongFieldKind)
        XCTAssertEqual(code { try stockholm.write(collection: "people", record: "p1", [.put(field: "hoursPerWeekAvailable", value: "many")]) }, .invalidValue)
        XCTAssertEqual(code { try stockholm.write(collection: "people", record: String(repeating: "x", count: 129), [.put(field: "name", value: "A")]) }, .limitExceeded)
        XCTAssertEqual(code { try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: .string(String(repeating: "x", count: 70_000)))]) }, .limitExceeded)
        XCTAssertEqual(code { try stockholm.write(collection: "people", record: "p1", [.delete]) }, .recordNotFound)
        XCTAssertEqual(try stockholm.statistics().operations, 0, "nothing was written by refused changes")
    }

    func test_ownOperationComingBack_advancesTheCounter() throws {
        let future = Op(id: OperationID(replica: stockholm.id, counter: 50), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: 0),
                        collection: "people", record: "p1", field: "name", action: .set(value: "Ada", supersedes: []))
        try stockholm.applyRemote([future])
        let next = try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "x")])
        XCTAssertEqual(next[0].id.counter, 51, "an id this replica already used is never reused")
    }

    /// An operation of ours coming back with the last counter an id may hold was not made here
    /// (it is far past every counter this replica knows of): refused, where once it was taken and
    /// left nothing to count with. A replica whose stored counter is the last one (damaged, or
    /// forged by hand) refuses its next write with a hint, where it once trapped converting a
    /// counter past Int64.max, and what it holds stays readable.
    func test_ownOperationWithTheLastCounter_isRefused_andACounterAtTheLastRefusesTheNextWrite_insteadOfTrapping() throws {
        try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        let last = Op(id: OperationID(replica: stockholm.id, counter: UInt64(Int64.max)), timestamp: HybridTimestamp(wall: clock.nowMilliseconds(), logical: 0),
                      collection: "people", record: "p1", field: "name", action: .set(value: "Forged", supersedes: []))
        XCTAssertThrowsError(try stockholm.applyRemote([last])) { XCTAssertEqual(($0 as? ChorusError)?.code, .malformedInput) }
        XCTAssertEqual(try field(stockholm, "name"), "Ada")
        XCTAssertNoThrow(try stockholm.write(collection: "people", record: "p1", [.put(field: "title", value: "x")]), "it writes on")

        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = ReplicaFactory.configuration(clock: clock)
        _ = try ReplicaFactory.durable(at: folder.path, configuration: configuration, seed: 77).write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try Database(path: folder.path + "/" + Replica.databaseFileName).run("UPDATE meta SET value = ? WHERE key = 'counter'", Int64.max)
        let exhausted = try Replica.open(at: .directory(folder.path), configuration: configuration)
        let before = try exhausted.statistics().operations
        XCTAssertThrowsError(try exhausted.write(collection: "people", record: "p1", [.put(field: "title", value: "x")])) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .invalidState)
            XCTAssertNotNil(($0 as? ChorusError)?.hint)
        }
        XCTAssertEqual(try exhausted.statistics().operations, before, "nothing of the refused write was logged")
        XCTAssertEqual(try exhausted.get(collection: "people", record: "p1")?.fields["name"], "Ada")
    }

    /// A counter or clock in `meta` that no replica writes (negative, or a logical part past
    /// UInt32.max) is a storage error with a hint, at open and at a write that reads it again after
    /// another connection's commit; converting it unchecked once stopped the process.
    func test_aDamagedStoredCounterOrClock_isAStorageError_notATrap() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        let replica = try ReplicaFactory.durable(at: folder.path, configuration: configuration, seed: 76)
        try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        for (key, value) in [("counter", -1), ("clock_wall", -5), ("clock_logical", Int64(UInt32.max) + 1)] {
            let other = try Database(path: folder.path + "/" + Replica.databaseFileName)
            let kept = try other.queryScalarInteger("SELECT value FROM meta WHERE key = ?", key)
            try other.run("UPDATE meta SET value = ? WHERE key = ?", value, key)
            XCTAssertThrowsError(try replica.write(collection: "people", record: "p1", [.put(field: "title", value: "x")]), key) {
                XCTAssertEqual(($0 as? ChorusError)?.code, .storage)
                XCTAssertTrue(($0 as? ChorusError)?.hint?.contains("chorus check") ?? false)
            }
            XCTAssertThrowsError(try Replica.open(at: .directory(folder.path), configuration: configuration), key) {
                XCTAssertEqual(($0 as? ChorusError)?.code, .storage)
            }
            try other.run("UPDATE meta SET value = ? WHERE key = ?", kept, key)
        }
        XCTAssertNoThrow(try replica.write(collection: "people", record: "p1", [.put(field: "title", value: "x")]), "sound again, it writes")
    }

    func test_clockNeverGoesBackwards_evenWhenTheWallClockDoes() throws {
        clock.advance(by: 1000)
        let a = try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "A")])[0]
        clock.set(1_790_000_000_000)
        let b = try stockholm.write(collection: "people", record: "p1", [.put(field: "name", value: "B")])[0]
        XCTAssertGreaterThan(b.timestamp, a.timestamp)
        XCTAssertEqual(try field(stockholm, "name"), "B")
    }

    func test_materialisedTables_haveRealColumns() throws {
        try stockholm.write(collection: "people", record: "p1", [
            .put(field: "name", value: "Ada"), .put(field: "hoursPerWeekAvailable", value: 6),
            .put(field: "openToMentoring", value: true), .add(field: "guilds", element: "web"),
        ])
        let row = try stockholm.withDatabase { try $0.queryRow("SELECT name, hoursPerWeekAvailable, openToMentoring, _deleted FROM people WHERE id = 'p1'") }
        XCTAssertEqual(row?.values, [.text("Ada"), .integer(6), .integer(1), .integer(0)])
        let members = try stockholm.withDatabase { try $0.query("SELECT id FROM people__guilds WHERE element = 'web'") }
        XCTAssertEqual(members.map { $0.text(0) }, ["p1"])
    }
}
