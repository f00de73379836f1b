import Foundation
import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting

private typealias Op = ChorusCore.Operation

/// Every operation of a call is checked (clock, field kinds) before it is applied; a long call is
/// checked on two threads, a half each, while it merges (`ChecksAhead`). Whichever half a bad
/// operation is in, and whichever batch, the call is refused whole, with the error of the first
/// bad one in order.
final class RemoteChecksTests: XCTestCase {
    var clock: ManualClock!
    var oslo: Replica!
    var target: Replica!
    fileprivate var good: [Op] = []

    override func setUpWithError() throws {
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        oslo = try ReplicaFactory.memory(name: "oslo", clock: clock, seed: 1)
        target = try ReplicaFactory.memory(name: "target", clock: clock, seed: 2)
        var batch: [(collection: String, record: String, changes: [Change])] = []
        for index in 0..<(Replica.checksSplitMin / 5 + 10) {
            batch.append(("people", "p\(index)", ["name", "title", "office", "email", "squad"].map { .put(field: $0, value: .string("\($0) \(index)")) }))
        }
        try oslo.writeMany(batch)
        good = try oslo.log(after: 0, limit: 100_000).compactMap(\.operation)
        XCTAssertGreaterThanOrEqual(good.count, Replica.checksSplitMin, "long enough to be checked on two threads")
    }

    /// `good` with the operation at `index` made an `add` to a register (a kind the schema refuses).
    private func wrongKind(at index: Int, in operations: [Op]) -> [Op] {
        var operations = operations
        let op = operations[index]
        operations[index] = Op(id: op.id, timestamp: op.timestamp, collection: "people", record: op.record, field: "title", action: .add(element: "x"))
        return operations
    }

    private func assertNothingApplied(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try target.log(after: 0, limit: 10).count, 0, "nothing of the call was applied", file: file, line: line)
        XCTAssertFalse(try target.hasOperation(good[0].id), file: file, line: line)
    }

    func test_aBadOperationInTheSecondHalf_refusesTheWholeCall() throws {
        let bad = wrongKind(at: good.count - 3, in: good)
        XCTAssertThrowsError(try target.applyRemote(bad)) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .wrongFieldKind)
            XCTAssertTrue((error as? ChorusError)?.message.contains("\(bad[good.count - 3].id)") ?? false, "\(error)")
        }
        try assertNothingApplied()
    }

    func test_badOperationsInBothHalves_nameTheFirst() throws {
        let bad = wrongKind(at: good.count - 3, in: wrongKind(at: 7, in: good))
        XCTAssertThrowsError(try target.applyRemote(bad)) { error in
            XCTAssertTrue((error as? ChorusError)?.message.contains("\(bad[7].id)") ?? false, "the first in order: \(error)")
        }
        try assertNothingApplied()
    }

    func test_anOperationFromTheFutureInTheSecondHalf_refusesTheWholeCall() throws {
        var bad = good
        let op = bad[bad.count - 1]
        bad[bad.count - 1] = Op(id: op.id, timestamp: HybridTimestamp(wall: clock.nowMilliseconds() + 3_600_000, logical: 0),
                                collection: op.collection, record: op.record, field: op.field, action: op.action)
        XCTAssertThrowsError(try target.applyRemote(bad)) { XCTAssertEqual(($0 as? ChorusError)?.code, .clockSkew) }
        try assertNothingApplied()
        // The same operations, all good, are applied.
        XCTAssertEqual(try target.applyRemote(good).applied, good.count)
        XCTAssertEqual(try target.digest(), try oslo.digest())
    }

    /// A replica beside `target` whose batches are `perBatch` operations long, so a long call is
    /// merged in several transactions.
    private func replica(batchesOf perBatch: Int) throws -> Replica {
        var configuration = ReplicaFactory.configuration(clock: clock)
        configuration.limits.operationsPerBatchMax = perBatch
        var rng = SeededGenerator(seed: 3)
        return try Replica.create(at: .memory, name: "batched", configuration: configuration, using: &rng)
    }

    func test_noOperationIsAppliedBeforeItsCheckPasses() throws {
        // A timestamp past any clock's range: refused by the check; merged unchecked, it would
        // not fit an entry's wall column, and the process would stop.
        var bad = good
        let op = bad[300]
        bad[300] = Op(id: op.id, timestamp: HybridTimestamp(wall: UInt64.max, logical: 0),
                      collection: op.collection, record: op.record, field: op.field, action: op.action)
        // Its check is held back, so the merge reaches it first and must wait.
        target.checkPause = { index in if index == 300 { Thread.sleep(forTimeInterval: 0.2) } }
        XCTAssertThrowsError(try target.applyRemote(bad)) { XCTAssertEqual(($0 as? ChorusError)?.code, .clockSkew) }
        try assertNothingApplied()
    }

    func test_anOperationPastAnyClockAhead_isRefused_whereverItIsEncoded() throws {
        // Operations after the first chunk are encoded on another thread ahead of the merge, and
        // of their checks: encoding one stamped past `Int64.max` must not stop the process.
        XCTAssertGreaterThan(good.count, 3_000)
        for index in [1_500, 3_000] {
            var bad = good
            let op = bad[index]
            bad[index] = Op(id: op.id, timestamp: HybridTimestamp(wall: UInt64.max, logical: 0),
                            collection: op.collection, record: op.record, field: op.field, action: op.action)
            XCTAssertThrowsError(try target.applyRemote(bad)) { XCTAssertEqual(($0 as? ChorusError)?.code, .clockSkew, "at \(index)") }
            try assertNothingApplied()
        }
    }

    func test_aBadOperationInTheLastBatch_refusesTheBatchesBeforeIt() throws {
        let batched = try replica(batchesOf: 500)
        XCTAssertGreaterThan(good.count / 500, 5, "the call spans many batches")
        let badIndex = good.count - 2
        let bad = wrongKind(at: badIndex, in: good)
        // The bad operation's check is held back, so it fails long after the merge of the first
        // batch is done: that batch must still wait for it, not commit.
        batched.checkPause = { index in if index == badIndex { Thread.sleep(forTimeInterval: 0.3) } }
        XCTAssertThrowsError(try batched.applyRemote(bad)) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .wrongFieldKind)
            XCTAssertTrue((error as? ChorusError)?.message.contains("\(bad[badIndex].id)") ?? false, "\(error)")
        }
        XCTAssertEqual(try batched.log(after: 0, limit: 10).count, 0, "no batch before the bad operation's committed")
        batched.checkPause = nil
        XCTAssertEqual(try batched.applyRemote(good).applied, good.count)
        XCTAssertEqual(try batched.digest(), try oslo.digest())
    }

    func test_badOperationsInTwoBatches_nameTheFirst_withTheFirstBatchesBad() throws {
        let batched = try replica(batchesOf: 700)
        let bad = wrongKind(at: good.count - 1, in: wrongKind(at: 1_000, in: good))
        XCTAssertThrowsError(try batched.applyRemote(bad)) { error in
            XCTAssertTrue((error as? ChorusError)?.message.contains("\(bad[1_000].id)") ?? false, "the first in order: \(error)")
        }
        XCTAssertEqual(try batched.log(after: 0, limit: 10).count, 0)
    }

    /// Whatever the batch size, wherever the bad operations are (none, one or two, of either
    /// kind), and whichever check is held back, a long call is applied whole, or refused whole
    /// with the first bad operation's error.
    func test_longCalls_areAppliedWholeOrRefusedWhole_withTheFirstBadOperationsError() throws {
        for seed in testSeeds(count: 8, base: 0xC4EC_A5) {
            var random = SeededGenerator(seed: seed)
            let batched = try replica(batchesOf: Int(random.next() % 3_000) + 200)
            var bad = good
            var badIndexes: [Int] = []
            for _ in 0..<Int(random.next() % 3) {
                let index = Int(random.next() % UInt64(good.count))
                if random.chance(0.5) {
                    bad = wrongKind(at: index, in: bad)
                } else {
                    let op = bad[index]
                    bad[index] = Op(id: op.id, timestamp: HybridTimestamp(wall: clock.nowMilliseconds() + 3_600_000, logical: 0),
                                    collection: op.collection, record: op.record, field: op.field, action: op.action)
                }
                badIndexes.append(index)
            }
            let held = Int(random.next() % UInt64(good.count))
            batched.checkPause = { index in if index == held { Thread.sleep(forTimeInterval: 0.05) } }
            if let first = badIndexes.min() {
                XCTAssertThrowsError(try batched.applyRemote(bad), "seed \(seed)") { error in
                    XCTAssertTrue((error as? ChorusError)?.message.contains("\(bad[first].id)") ?? false,
                                  "seed \(seed): the first bad operation is at \(first): \(error)")
                }
                XCTAssertEqual(try batched.log(after: 0, limit: 10).count, 0, "seed \(seed): nothing applied")
            } else {
                XCTAssertEqual(try batched.applyRemote(bad).applied, good.count, "seed \(seed)")
                XCTAssertEqual(try batched.digest(), try oslo.digest(), "seed \(seed)")
            }
        }
    }
}

/// One thread's run of checks (`RemoteChecks`): each operation against its own field's kind,
/// whatever was looked up before it, and every operation against the clock as the run found it.
final class RemoteChecksRunTests: XCTestCase {
    let clock = ManualClock(milliseconds: 1_790_000_000_000)
    let replica = ReplicaID(hex: "0123456789abcdef0123456789abcdef")!

    private func checks() -> RemoteChecks {
        RemoteChecks(clock: HybridClock(wallClock: clock), schema: PeopleSchema.current,
                     own: OwnCounterBound(replica: ReplicaID(hex: "fedcba9876543210fedcba9876543210")!, known: 0, reservation: nil))
    }

    private func op(_ counter: UInt64, _ field: String, _ action: Action, collection: String = "people", wall: UInt64? = nil) -> Op {
        Op(id: OperationID(replica: replica, counter: counter), timestamp: HybridTimestamp(wall: wall ?? clock.nowMilliseconds(), logical: 0),
           collection: collection, record: "p1", field: field, action: action)
    }

    private func assertRefused(_ checks: inout RemoteChecks, _ op: Op, _ code: ChorusError.Code, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try checks.check(op)
            XCTFail("\(op.action.name) on \(op.field ?? "") passed", file: file, line: line)
        } catch {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        }
    }

    func test_eachOperation_isCheckedAgainstItsOwnFieldsKind_whateverWasLookedUpBefore() throws {
        var checks = checks()
        let set = Action.set(value: .string("Engineer"), supersedes: [])
        try checks.check(op(1, "title", set))
        try checks.check(op(2, "developmentGoals", .add(element: "swift")))
        try checks.check(op(3, "title", set))
        // Both fields are known now: each keeps its own kind.
        assertRefused(&checks, op(4, "developmentGoals", set), .wrongFieldKind)
        assertRefused(&checks, op(5, "title", .add(element: "x")), .wrongFieldKind)
        // A field of the same name in a collection this replica does not know passes (a newer
        // replica wrote it); so does an unknown field of a known collection.
        try checks.check(op(6, "title", .add(element: "x"), collection: "gadgets"))
        try checks.check(op(7, "hobbies", .add(element: "chess")))
        assertRefused(&checks, op(8, "title", .add(element: "x")), .wrongFieldKind)
    }

    func test_fieldsInARepeatingOrder_areEachCheckedAgainstTheirOwnKind_andTheirOwnCollection() throws {
        var checks = checks()
        let set = Action.set(value: .string("x"), supersedes: [])
        let cycle: [(String, Action)] = [("name", set), ("developmentGoals", .add(element: "swift")), ("title", set)]
        for round in 0..<3 {
            for (index, (field, action)) in cycle.enumerated() { try checks.check(op(UInt64(round * 10 + index + 1), field, action)) }
        }
        // The field tried first is the one after the last found (`developmentGoals` after `name`).
        try checks.check(op(100, "name", set))
        assertRefused(&checks, op(101, "developmentGoals", set), .wrongFieldKind)
        try checks.check(op(102, "name", set))
        // The same field's name in a collection this replica does not know: not the known one.
        try checks.check(op(103, "developmentGoals", set, collection: "gadgets"))
        try checks.check(op(104, "title", set))
        assertRefused(&checks, op(105, "name", .add(element: "x")), .wrongFieldKind)
    }

    func test_moreFieldsThanARunRemembers_areEachStillChecked() throws {
        var checks = checks()
        let fields = (0..<(RemoteChecks.fieldsKnownMax * 2)).map { "unknown\($0)" }
        for (index, field) in fields.enumerated() { try checks.check(op(UInt64(index + 1), field, .add(element: "x"))) }
        // `title` is looked up after the remembered fields were replaced, twice over.
        try checks.check(op(100, "title", .set(value: .string("Designer"), supersedes: [])))
        for (index, field) in fields.enumerated() { try checks.check(op(UInt64(200 + index), field, .set(value: .null, supersedes: []))) }
        assertRefused(&checks, op(300, "title", .add(element: "x")), .wrongFieldKind)
    }

    func test_theClock_isReadWhenTheRunStarts_soALaterReadingLetsNoMoreThrough() throws {
        let start = clock.nowMilliseconds(), drift = Limits.default.clockDriftMillisecondsMax
        var checks = checks()
        try checks.check(op(1, "title", .set(value: .null, supersedes: []), wall: start + drift))
        clock.advance(by: 60_000)
        // Within the drift of the clock now, not of the clock when the run started: refused.
        assertRefused(&checks, op(2, "title", .set(value: .null, supersedes: []), wall: start + drift + 1), .clockSkew)
        // A new run reads the clock again.
        var next = self.checks()
        try next.check(op(2, "title", .set(value: .null, supersedes: []), wall: start + drift + 1))
    }

    func test_aTimestampPastTheSupportedRange_isRefused_evenWithinTheDrift() throws {
        clock.set(HybridTimestamp.wallMax)
        var checks = checks()
        try checks.check(op(1, "title", .set(value: .null, supersedes: []), wall: HybridTimestamp.wallMax))
        assertRefused(&checks, op(2, "title", .set(value: .null, supersedes: []), wall: HybridTimestamp.wallMax + 1), .malformedInput)
    }
}
