import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting

/// Which operation ids the log holds (`log_ids`, intervals per origin) finds every duplicate,
/// whatever the order operations come in and whoever else writes the same file; the copy a replica
/// keeps between batches is never trusted past another connection's commit.
final class LoggedIDsTests: XCTestCase {
    var folder: TemporaryDirectory!
    var clock: ManualClock!
    var configuration: Replica.Configuration!
    var replica: Replica!
    /// Eight operations of another replica, counters 1 to 8.
    var remote: [ChorusCore.Operation] = []

    override func setUpWithError() throws {
        folder = try TemporaryDirectory()
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        replica = try ReplicaFactory.durable(at: folder.path, configuration: configuration, seed: 61)
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 62)
        for index in 1...8 { try other.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("Name \(index)"))]) }
        remote = try other.log(limit: 100).compactMap(\.operation)
        XCTAssertEqual(remote.map(\.id.counter), Array(1...8))
    }

    override func tearDown() {
        replica = nil
        folder.remove()
    }

    func test_operationsInAnyOrder_repeatedAcrossBatches_applyOnce() throws {
        for seed in testSeeds(count: 20, base: 0x1065) {
            let scratch = try TemporaryDirectory()
            defer { scratch.remove() }
            var rng = SeededGenerator(seed: seed)
            let target = try Replica.create(at: .directory(scratch.path), name: "t", configuration: configuration, using: &rng)
            var applied = 0
            for _ in 0..<6 {
                let batch = (0..<Int(rng.next() % 6)).map { _ in rng.pick(remote) }
                applied += try target.applyRemote(batch).applied
                XCTAssertEqual(try target.invariantViolations(), [], "seed \(seed)")
            }
            applied += try target.applyRemote(remote.shuffled(using: &rng)).applied
            XCTAssertEqual(applied, remote.count, "seed \(seed): each operation applied exactly once")
            XCTAssertEqual(try target.applyRemote(remote).duplicates, remote.count, "seed \(seed)")
            XCTAssertEqual(try target.invariantViolations(), [], "seed \(seed)")
        }
    }

    func test_anotherConnectionsCommit_isSeen_soNothingIsLoggedTwice() throws {
        XCTAssertEqual(try replica.applyRemote(Array(remote[0..<3])).applied, 3)
        // This replica now keeps counters 1 to 3 of the other in memory. Another process logs 4 to 6.
        let beside = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertEqual(try beside.applyRemote(Array(remote[0..<6])).applied, 3)

        let report = try replica.applyRemote(remote)
        XCTAssertEqual(report.duplicates, 6, "counters 4 to 6 were logged by the other connection")
        XCTAssertEqual(report.applied, 2)
        XCTAssertEqual(try replica.invariantViolations(), [])
        XCTAssertEqual(try beside.applyRemote(remote).duplicates, 8, "and the other connection sees this one's")
    }

    func test_ownOperationsComingBack_areDuplicates_andLocalWritesKeepOneInterval() throws {
        var own: [ChorusCore.Operation] = []
        for index in 1...5 { own += try replica.write(collection: "people", record: "q\(index)", [.put(field: "title", value: "T")]) }
        XCTAssertEqual(try replica.applyRemote(own).duplicates, own.count)
        XCTAssertTrue(try replica.hasOperation(own[2].id))
        XCTAssertFalse(try replica.hasOperation(OperationID(replica: own[0].id.replica, counter: 99)))
        XCTAssertEqual(try replica.invariantViolations(), [])
        let reopened = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertEqual(try reopened.applyRemote(own).duplicates, own.count, "a fresh connection reads the same from the file")
    }
}
