import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting

/// The state digest is kept while nothing commits, and taken again after any commit: by this
/// replica (a local write, a merge, an erase, a resolution), or by another process on the same file.
/// A digest that answers from the cache is always the one a fresh reader computes from the rows.
final class DigestCacheTests: XCTestCase {
    var folder: TemporaryDirectory!
    var clock: ManualClock!
    var configuration: Replica.Configuration!
    var replica: Replica!

    override func setUpWithError() throws {
        folder = try TemporaryDirectory()
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        replica = try ReplicaFactory.durable(at: folder.path, configuration: configuration, seed: 41)
        try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
    }

    override func tearDown() {
        replica = nil
        folder.remove()
    }

    /// The digest a second connection computes from the rows, with no cache of its own.
    private func digestFromTheRows() throws -> SHA256.Digest {
        try Replica.open(at: .directory(folder.path), configuration: configuration).digest()
    }

    func test_askingAgainWithNothingCommitted_answersFromTheCache() throws {
        let first = try replica.digestSnapshot()
        let computed = replica.digestsComputed
        XCTAssertEqual(try replica.digestSnapshot(), first)
        XCTAssertEqual(try replica.digest(), first.digest)
        XCTAssertEqual(replica.digestsComputed, computed, "nothing committed, so the rows are not read again")
        XCTAssertEqual(first.through, try replica.latestSequence())
        XCTAssertEqual(first.digest, try digestFromTheRows())
    }

    func test_everyKindOfOwnCommit_makesTheDigestFresh() throws {
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 42)
        try other.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L.")])
        let commits: [(String, () throws -> Void)] = [
            ("local write", { try self.replica.write(collection: "people", record: "p2", [.put(field: "title", value: "Engineer")]) }),
            ("merge", { try self.replica.applyRemote(try other.log(limit: 100).compactMap(\.operation)) }),
            ("resolution", { try self.replica.resolve(collection: "people", record: "p1", field: "name", .value("Ada Lovelace")) }),
            ("erase", { try self.replica.write(collection: "people", record: "p2", [.erase]) }),
        ]
        var seen = [try replica.digest()]
        for (name, commit) in commits {
            clock.advance(by: 5)
            try commit()
            let digest = try replica.digest()
            XCTAssertFalse(seen.contains(digest), "a \(name) changes the state, so the digest must change")
            XCTAssertEqual(digest, try digestFromTheRows(), "after a \(name), the digest is the rows' digest")
            seen.append(digest)
        }
    }

    func test_anotherConnectionsCommit_makesTheDigestFresh() throws {
        let before = try replica.digestSnapshot()
        // A CLI command writing beside `chorus serve` holds its own connection.
        let cli = try Replica.open(at: .directory(folder.path), configuration: configuration)
        try cli.write(collection: "people", record: "p9", [.put(field: "title", value: "Designer")])
        let after = try replica.digestSnapshot()
        XCTAssertNotEqual(after.digest, before.digest)
        XCTAssertEqual(after.digest, try cli.digest())
        XCTAssertEqual(after.through, try cli.latestSequence())
    }

    /// A hub notes who synced when, and what digest each reported, on every verifying sync: those
    /// writes touch no merge state, so the digest stays cached; a merge write after them does not.
    func test_bookkeepingWrites_keepTheDigest_andAMergeWriteAfterThemDoesNot() throws {
        let before = try replica.digestSnapshot()
        let computed = replica.digestsComputed
        let token = try replica.addPeer(name: "laptop", role: .replica)
        var rng = SeededGenerator(seed: 43)
        let peer = try XCTUnwrap(try replica.peer(forToken: token))
        _ = try replica.bindPeer(peer, to: ReplicaID.random(using: &rng))
        try replica.recordReportedDigest(peer: "laptop", digest: before.digest.hexString, matched: true)
        var activity = PeerActivity()
        activity.lastSeenWall = 1_790_000_000_500
        try replica.recordPeerActivity(["laptop": activity])
        try replica.setRelayed(peer: "laptop", replicas: [])
        try replica.setUpstream(url: "http://127.0.0.1:9", tokenFile: "/dev/null")
        try replica.recordUpstream(pullCursor: 3, attempt: true)
        XCTAssertEqual(try replica.digestSnapshot(), before)
        XCTAssertEqual(replica.digestsComputed, computed, "bookkeeping changed no merge state, so the rows are not read again")
        XCTAssertEqual(before.digest, try digestFromTheRows())

        clock.advance(by: 5)
        try replica.write(collection: "people", record: "p1", [.put(field: "title", value: "Engineer")])
        XCTAssertNotEqual(try replica.digest(), before.digest)
        XCTAssertEqual(try replica.digest(), try digestFromTheRows())
    }

    func test_insideATransactionThatRollsBack_theUncommittedDigestIsNeverCached() throws {
        let committed = try replica.digest()
        let uncommitted = try replica.withRolledBackState {
            try replica.write(collection: "people", record: "p1", [.put(field: "title", value: "Never")])
            return try replica.digest()
        }
        XCTAssertNotEqual(uncommitted, committed, "inside the transaction the digest sees its writes")
        XCTAssertEqual(try replica.digest(), committed, "after the rollback the digest is the committed state's")
    }
}
