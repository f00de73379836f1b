import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting
import SQLiteKit

/// The log is kept in blocks of operations (`LogBlock`, `log_blocks`): what goes in comes out, in
/// order, whatever the block boundaries; a damaged block is refused with a storage error, never
/// read past or trusted.
final class LogBlockTests: XCTestCase {
    /// `Protocol/vectors/log-blocks.json`: the body a snapshot's `log_blocks` rows hold, which
    /// another implementation must read (and, to serve pulls from a copy, write).
    func test_protocolVectors_encodeToTheirBody_decodeInOrder_andMalformedOnesAreRefused() throws {
        let vectors = try ProtocolVectors.load("log-blocks.json")
        XCTAssertGreaterThanOrEqual(vectors.count, 4)
        for vector in vectors {
            let name = vector["name"]?.stringValue ?? "?"
            guard case .array(let items)? = vector["entries"], let hex = vector["body"]?.stringValue, let live = vector["live"]?.integerValue else {
                return XCTFail("\(name): malformed vector")
            }
            var encoder = LogBlock.Encoder()
            var expected: [(replica: String, counter: UInt64, rid: Int64?, payload: String?)] = []
            for item in items {
                let replica = try XCTUnwrap(item["replica"]?.stringValue, name)
                let counter = UInt64(try XCTUnwrap(item["counter"]?.integerValue, name))
                let rid = item["rid"]?.integerValue, payload = item["payload"]?.stringValue
                encoder.append(replica: try XCTUnwrap(Hex.decode(replica), name), counter: counter, rid: rid, payload: payload.map { Array($0.utf8) })
                expected.append((replica, counter, rid, payload))
            }
            XCTAssertEqual(Hex.encode(encoder.bytes), hex, name)
            XCTAssertEqual(Int64(encoder.live), live, name)
            var decoded: [(replica: String, counter: UInt64, rid: Int64?, payload: String?)] = []
            let count = try (try XCTUnwrap(Hex.decode(hex), name)).withUnsafeBytes { body in
                try LogBlock.forEach(in: body, block: 1) { _, entry in
                    decoded.append((Hex.encode(Array(entry.replica)), entry.counter, entry.rid, entry.payloadText))
                    return true
                }
            }
            XCTAssertEqual(count, items.count, name)
            XCTAssertEqual(decoded.map { "\($0)" }, expected.map { "\($0)" }, name)
        }
        let malformed = try ProtocolVectors.load("log-blocks.json", array: "malformed")
        XCTAssertGreaterThanOrEqual(malformed.count, 5)
        for vector in malformed {
            let name = vector["name"]?.stringValue ?? "?"
            let body = try XCTUnwrap(vector["body"]?.stringValue.flatMap(Hex.decode), name)
            XCTAssertThrowsError(try body.withUnsafeBytes { try LogBlock.forEach(in: $0, block: 1) { _, _ in true } }, name) { error in
                XCTAssertEqual((error as? ChorusError)?.code, .storage, name)
            }
        }
    }

    func test_encodedEntries_decodeToTheSame_andEveryDamagedBodyIsRefusedOrReadInBounds() throws {
        for seed in testSeeds(count: 100, base: 0xB10C) {
            var random = SeededGenerator(seed: seed)
            var encoder = LogBlock.Encoder()
            var expected: [(replica: [UInt8], counter: UInt64, rid: Int64?, payload: [UInt8]?)] = []
            for _ in 0..<Int(random.next() % 40 + 1) {
                let replica = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
                let counter = random.chance(0.1) ? UInt64.max : random.next() % 100_000
                let rid: Int64? = random.chance(0.2) ? nil : (random.chance(0.1) ? Int64.max - 1 : Int64(random.next() % 10_000))
                let payload: [UInt8]? = random.chance(0.2) ? nil : (0..<Int(random.next() % 300)).map { _ in UInt8.random(in: 0...255, using: &random) }
                encoder.append(replica: replica, counter: counter, rid: rid, payload: payload)
                expected.append((replica, counter, rid, payload))
            }
            XCTAssertEqual(encoder.count, expected.count)
            XCTAssertEqual(encoder.live, expected.filter { $0.payload != nil }.count)
            var decoded: [(replica: [UInt8], counter: UInt64, rid: Int64?, payload: [UInt8]?)] = []
            let count = try encoder.bytes.withUnsafeBytes { body in
                try LogBlock.forEach(in: body, block: 1) { _, entry in
                    decoded.append((Array(entry.replica), entry.counter, entry.rid, entry.payload.map(Array.init)))
                    return true
                }
            }
            XCTAssertEqual(count, expected.count, "seed \(seed)")
            XCTAssertTrue(zip(decoded, expected).allSatisfy { $0.replica == $1.replica && $0.counter == $1.counter && $0.rid == $1.rid && $0.payload == $1.payload },
                          "seed \(seed)")

            // Damage: cut anywhere, or change a byte. Either refused, or every entry read stays in the body.
            var damaged = encoder.bytes
            if random.chance(0.5) {
                damaged.removeLast(Int(random.next() % UInt64(damaged.count)) + 1)
            } else {
                damaged[Int(random.next() % UInt64(damaged.count))] = UInt8.random(in: 0...255, using: &random)
            }
            do {
                _ = try damaged.withUnsafeBytes { body in
                    try LogBlock.forEach(in: body, block: 7) { _, entry in
                        XCTAssertEqual(entry.replica.count, 16, "seed \(seed)")
                        if let payload = entry.payload, let base = body.baseAddress, let start = payload.baseAddress {
                            XCTAssertTrue(start >= base && start + payload.count <= base + body.count, "seed \(seed): payload within the body")
                        }
                        return true
                    }
                }
            } catch let error as ChorusError {
                XCTAssertEqual(error.code, .storage, "seed \(seed)")
                XCTAssertTrue(error.message.contains("log block ending at sequence 7 is damaged"), "seed \(seed): \(error.message)")
            }
        }
    }

    func test_aBatchLargerThanABlock_readsBackInOrder_fromAnyCursor_andPagesAcrossBlocks() throws {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let source = try ReplicaFactory.memory(name: "source", clock: clock, seed: 71)
        for index in 0..<700 { try source.write(collection: "people", record: "p\(index)", [.put(field: "name", value: .string("N\(index)"))]) }
        let operations = try source.log(limit: 10_000).compactMap(\.operation)
        XCTAssertEqual(operations.count, 700)
        let target = try ReplicaFactory.memory(name: "target", clock: clock, seed: 72)
        XCTAssertEqual(try target.applyRemote(operations, source: "upstream").applied, 700, "one batch, three blocks")
        XCTAssertEqual(try target.latestSequence(), 700)
        XCTAssertEqual(try target.statistics().operations, 700)
        for (after, limit) in [(0, 700), (0, 1), (255, 3), (256, 1), (511, 300), (699, 5), (700, 5)] {
            XCTAssertEqual(try target.log(after: Int64(after), limit: limit).map(\.operation?.id), Array(operations.dropFirst(after).prefix(limit)).map(\.id),
                           "after \(after), limit \(limit)")
        }
        var cursor: Int64 = 0, pulled: [String] = []
        repeat {
            let page = try target.logPage(after: cursor, excludingSource: nil, operationsMax: 97, bytesMax: 1 << 20)
            pulled += page.operations
            cursor = page.next
            if !page.hasMore { break }
        } while true
        XCTAssertEqual(pulled, operations.map { OperationCodec().canonicalText($0) }, "every operation once, in order, across blocks")
        XCTAssertEqual(try target.logPage(after: 0, excludingSource: "upstream", operationsMax: 1000, bytesMax: 1 << 20).operations, [],
                       "nothing is sent back where it came from")
        for since in [0, 1, 255, 256, 300, 699, 700] {
            XCTAssertEqual(try target.exportBundle(since: Int64(since)) { _ in }.operations, 700 - since,
                           "a bundle's count, from the blocks' live counts and the block holding the cursor, since \(since)")
        }
        XCTAssertEqual(try target.pendingPushCount(), 0, "operations from upstream are not pushed back")
        XCTAssertEqual(try target.invariantViolations(), [])
    }

    /// What waits to go somewhere is counted from the blocks' live counts, and the one block read
    /// where the cursor falls: erased values are not counted, and what came from where it would go
    /// is left out (upstream's operations are not pushed, a peer's not sent back to it).
    func test_waitingCounts_leaveOutErasedValuesAndWhereOperationsCameFrom() throws {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let upstream = try ReplicaFactory.memory(name: "upstream", clock: clock, seed: 76)
        for index in 0..<700 { try upstream.write(collection: "people", record: "u\(index)", [.put(field: "name", value: "N")]) }
        let laptop = try ReplicaFactory.memory(name: "laptop", clock: clock, seed: 77)
        for index in 0..<2 { try laptop.write(collection: "people", record: "l\(index)", [.put(field: "name", value: "L")]) }
        let office = try ReplicaFactory.memory(name: "office", clock: clock, seed: 78)
        try office.applyRemote(try upstream.log(limit: 10_000).compactMap(\.operation), source: "upstream")
        for index in 1...3 { try office.write(collection: "people", record: "q\(index)", [.put(field: "name", value: "Q")]) }
        try office.applyRemote(try laptop.log(limit: 10).compactMap(\.operation), source: "peer:laptop")
        try office.write(collection: "people", record: "q2", [.erase])
        try office.setUpstream(url: "http://127.0.0.1:9", tokenFile: "/nonexistent")
        _ = try office.addPeer(name: "laptop", role: .replica)

        XCTAssertEqual(try office.pendingPushCount(), 5, "q1, q3, the erase and the laptop's two; q2's value is gone")
        XCTAssertEqual(try office.exportBundle(since: 0) { _ in }.operations, 705)
        XCTAssertEqual(try office.exportBundle(since: 300) { _ in }.operations, 405, "the cursor inside a block")
        let laptopHealth = try XCTUnwrap(try office.replicaHealth(silentAfterMilliseconds: 60_000).first { $0.name == "laptop" })
        XCTAssertEqual(laptopHealth.waitingDown, 703, "everything but the laptop's own and q2's erased value")
        XCTAssertEqual(try office.invariantViolations(), [])
    }

    func test_aDamagedBlockOnDisk_isAStorageError_andChecksReportIt() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        let replica = try ReplicaFactory.durable(at: folder.path, configuration: configuration, seed: 73)
        try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        let database = try Database(path: folder.path + "/" + Replica.databaseFileName)
        try database.execute("UPDATE log_blocks SET body = substr(body, 1, 20)")

        let reopened = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertThrowsError(try reopened.log(after: 0)) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .storage)
            XCTAssertTrue((error as? ChorusError)?.hint?.contains("chorus check") ?? false)
        }
        XCTAssertEqual(try reopened.invariantViolations().filter { $0.contains("log block ending at sequence 1 is damaged") }.count, 1,
                       "`chorus check` names the damaged block")
    }

    /// A block holding more operations than its sequences is refused before any is handed out,
    /// even to a reader that would stop after the first: otherwise a pull page could hand out an
    /// operation under a sequence of the next block, and a peer's cursor would skip past others.
    func test_aBlockMiscountingItsSequences_isRefusedBeforeAnyIsHandedOut() throws {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let source = try ReplicaFactory.memory(name: "source", clock: clock, seed: 74)
        for index in 0..<3 { try source.write(collection: "people", record: "p\(index)", [.put(field: "name", value: "N")]) }
        let replica = try ReplicaFactory.memory(name: "target", clock: clock, seed: 75)
        try replica.applyRemote(try source.log(limit: 10).compactMap(\.operation))
        try replica.withDatabase { try $0.execute("UPDATE log_blocks SET first_seq = 2") }
        XCTAssertThrowsError(try replica.log(after: 0, limit: 1)) { error in
            XCTAssertTrue((error as? ChorusError)?.message.contains("does not hold one operation for each of its 2 sequences") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try replica.logPage(after: 0, excludingSource: nil, operationsMax: 1, bytesMax: 1 << 20))
    }
}
