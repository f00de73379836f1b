import XCTest
import ChorusCore
import ChorusReplica
import ChorusTesting
import SQLiteKit

/// Bundles: the offline exchange format. Anything wrong with one is refused with nothing applied.
final class BundleTests: XCTestCase {
    var clock: ManualClock!
    var source: Replica!
    var target: Replica!

    override func setUpWithError() throws {
        clock = ManualClock(milliseconds: 1_790_000_000_000)
        source = try ReplicaFactory.memory(name: "office", clock: clock, seed: 5)
        target = try ReplicaFactory.memory(name: "laptop", clock: clock, seed: 6)
        try source.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada"), .add(field: "guilds", element: "web")])
        try source.write(collection: "feedback", record: "f1", [.increment(field: "highFives", by: 1)])
    }

    private func export(since: Int64 = 0) throws -> (OperationBundle.Header, [UInt8]) {
        var bytes: [UInt8] = []
        let header = try source.exportBundle(since: since) { bytes += $0 }
        return (header, bytes)
    }

    func test_exportImport_converges_andReimportAppliesNothing() throws {
        let (header, bytes) = try export()
        XCTAssertEqual(header.operations, 3)
        XCTAssertEqual(try target.importBundle(bytes).1.applied, 3)
        XCTAssertEqual(try target.digest(), try source.digest())
        let again = try target.importBundle(bytes).1
        XCTAssertEqual(again.applied, 0)
        XCTAssertEqual(again.duplicates, 3)
    }

    /// A bundle larger than a batch merges batch by batch, and says how far it got after each
    /// commit, ending at the whole bundle.
    func test_import_reportsProgress_afterEachBatch() throws {
        var configuration = ReplicaFactory.configuration(clock: clock)
        configuration.limits.operationsPerBatchMax = 7
        var rng = SeededGenerator(seed: 7)
        let small = try Replica.create(at: .memory, name: "small-batches", configuration: configuration, using: &rng)
        for index in 0..<10 { try source.write(collection: "people", record: "q\(index)", [.put(field: "name", value: .string("N\(index)"))]) }
        let (header, bytes) = try export()
        XCTAssertEqual(header.operations, 13)
        var heard: [String] = []
        let report = try small.importBundle(bytes) { merged, total in
            // Heard after the batch committed: the log already holds what it says.
            let logged = (try? small.statistics().operations) ?? -1
            heard.append("\(merged)/\(total) logged \(logged)")
        }.1
        XCTAssertEqual(report.applied, 13)
        XCTAssertEqual(heard, ["7/13 logged 7", "13/13 logged 13"])
        XCTAssertEqual(try small.digest(), try source.digest())
    }

    func test_since_exportsOnlyNewerOperations() throws {
        let (first, _) = try export()
        try source.write(collection: "people", record: "p1", [.put(field: "title", value: "Lead")])
        let (second, bytes) = try export(since: first.until)
        XCTAssertEqual(second.operations, 1)
        XCTAssertEqual(second.since, first.until)
        let (_, operations) = try OperationBundle.read(bytes, limits: .default)
        XCTAssertEqual(operations.first?.field, "title")
    }

    /// Lines are counted and decoded one by one (a bundle of a gigabyte of newlines under a
    /// header announcing as many once took 16 GB as line ranges): an empty line is a line, the
    /// count is compared before any is decoded, and the line a fault is on is named.
    func test_linesOfABundle_areCountedThenDecodedOneByOne() throws {
        let (header, bytes) = try export()
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast(2)  // the trailer, and the empty text after the last newline
        let operations = Array(lines.dropFirst())
        func sealed(_ announced: Int, _ body: [String]) -> [UInt8] {
            let headerText = lines[0].replacingOccurrences(of: "\"operations\":\(header.operations)", with: "\"operations\":\(announced)")
            let content = Array(([headerText] + body).map { $0 + "\n" }.joined().utf8)
            return content + Array("{\"sha256\":\"\(SHA256.hash(content).hexString)\"}\n".utf8)
        }
        XCTAssertEqual(try OperationBundle.read(sealed(operations.count, operations), limits: .default).1.count, operations.count, "as exported")
        XCTAssertEqual(try OperationBundle.read(sealed(0, []), limits: .default).1.count, 0, "a header alone")
        for (announced, body, message) in [(operations.count + 1, operations + [""], "bundle line \(operations.count + 2):"),
                                           (2, [operations[0], "", operations[1]], "announces 2 operations but holds 3"),
                                           (1_000, [String](repeating: "", count: 1_000), "bundle line 2:"),
                                           (operations.count - 1, operations, "holds \(operations.count)")] {
            XCTAssertThrowsError(try OperationBundle.read(sealed(announced, body), limits: .default), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(message): \(error)")
            }
        }
        // The origin's name is a replica name: printed by `import`, it held any text.
        for name in ["", String(repeating: "n", count: 65), "a\\u001b[2Jb"] {
            lines[0] = lines[0].replacingOccurrences(of: "\"originName\":\"\(header.originName)\"", with: "\"originName\":\"\(name)\"")
            XCTAssertThrowsError(try OperationBundle.read(sealed(operations.count, operations), limits: .default), name) { error in
                XCTAssertTrue("\(error)".contains("originName must be a replica name"), "\(name): \(error)")
            }
            lines[0] = lines[0].replacingOccurrences(of: "\"originName\":\"\(name)\"", with: "\"originName\":\"\(header.originName)\"")
        }
    }

    func test_truncatedBundle_isRefusedAtEveryLength() throws {
        let (_, bytes) = try export()
        let before = try target.digest()
        for length in stride(from: 0, to: bytes.count, by: 7) {
            XCTAssertThrowsError(try target.importBundle(Array(bytes[..<length])), "length \(length)") { error in
                XCTAssertEqual((error as? ChorusError)?.code, .corruptBundle)
                XCTAssertTrue("\(error)".contains(length == 0 ? "the file is empty" : "not a complete Chorus bundle"), "length \(length): \(error)")
            }
        }
        XCTAssertEqual(try target.digest(), before)
    }

    /// An empty file, or one that is not a bundle at all, is said to be so: both were called
    /// truncated, with a hint to look for a copy that failed.
    func test_anEmptyFileOrOneThatIsNotABundle_isSaidToBeSo() throws {
        let before = try target.digest()
        for (text, said) in [("", "the file is empty"), ("hello\n", "not a Chorus bundle: its first line is not a chorus-bundle header"),
                             ("{\"format\":\"zip\"}\n{}\n", "not a Chorus bundle"), (String(repeating: "x", count: 10_000), "not a Chorus bundle")] {
            XCTAssertThrowsError(try target.importBundle(Array(text.utf8)), said) { error in
                XCTAssertEqual((error as? ChorusError)?.code, .corruptBundle)
                XCTAssertTrue("\(error)".contains(said), "\(error)")
                XCTAssertFalse("\(error)".contains("truncated"), "\(error)")
            }
        }
        XCTAssertEqual(try target.digest(), before)
    }

    func test_tamperedBundle_isRefused() throws {
        let (_, bytes) = try export()
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "Ada", with: "Eve")
        XCTAssertThrowsError(try target.importBundle(Array(text.utf8))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .corruptBundle)
            XCTAssertTrue("\(error)".contains("checksum"))
        }
        XCTAssertEqual(try target.statistics().operations, 0)
    }

    /// A bundle rebuilt with a valid checksum around a damaged body: an operation line with bytes
    /// that are not UTF-8, or a blank line the header does not count. Refused, nothing applied.
    func test_rehashedBundleWithABadLine_isRefused_withTheLineNamed() throws {
        let (_, bytes) = try export()
        func rehashed(_ body: [UInt8]) -> [UInt8] {
            body + Array((JSONValue.object(["sha256": .string(SHA256.hash(body).hexString)]).canonicalText + "\n").utf8)
        }
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        lines.removeLast(2)  // the trailer, and the empty text after the last newline
        XCTAssertEqual(lines.count, 4, "a header and three operations")

        var notUTF8 = lines
        let at = try XCTUnwrap(notUTF8[1].firstIndex(of: UInt8(ascii: "A")), "the line writing \"Ada\"")
        notUTF8[1][at] = 0xFF
        XCTAssertThrowsError(try target.importBundle(rehashed(Array(notUTF8.joined(separator: [0x0A])) + [0x0A]))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .malformedInput)
            XCTAssertTrue("\(error)".contains("bundle line 2: operation: invalid JSON"), "\(error)")
            XCTAssertTrue("\(error)".contains("not valid UTF-8"), "\(error)")
        }
        var blank = lines
        blank.insert([], at: 2)
        XCTAssertThrowsError(try target.importBundle(rehashed(Array(blank.joined(separator: [0x0A])) + [0x0A]))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .corruptBundle)
            XCTAssertTrue("\(error)".contains("announces 3 operations but holds 4"), "\(error)")
        }
        XCTAssertEqual(try target.statistics().operations, 0)
        // The same body rebuilt untouched imports: the test's framing is right.
        XCTAssertEqual(try target.importBundle(rehashed(Array(lines.joined(separator: [0x0A])) + [0x0A])).1.applied, 3)
    }

    func test_bundleFromTheFuture_isRefusedWhole() throws {
        let skewed = try ReplicaFactory.memory(name: "skewed", clock: OffsetClock(base: clock, offsetMilliseconds: 3_600_000), seed: 9)
        try skewed.write(collection: "people", record: "p9", [.put(field: "name", value: "Future")])
        var bytes: [UInt8] = []
        try skewed.exportBundle { bytes += $0 }
        XCTAssertThrowsError(try target.importBundle(bytes)) { XCTAssertEqual(($0 as? ChorusError)?.code, .clockSkew) }
        XCTAssertEqual(try target.statistics().operations, 0)
    }

    /// A new replica that takes history before its first write (a bundle imported into a new
    /// folder, as a laptop off the network starts) numbers its own writes from 1, opened again or
    /// not: only a folder restored without its `chorus.counters` leaps its counters. The file was
    /// written at a new replica's first write only, so one that imported first looked restored,
    /// and its first write took counter 2^32 + 1.
    func test_aNewReplicaThatImportsBeforeItsFirstWrite_numbersItsWritesFromOne() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 31)
        let configuration = ReplicaFactory.configuration(clock: clock)
        _ = try source.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        let (_, bytes) = try export()
        do {
            let laptop = try Replica.create(at: .directory(folder.path), name: "laptop", configuration: configuration, using: &rng)
            XCTAssertGreaterThan(try laptop.importBundle(bytes).1.applied, 0)
        }
        let reopened = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertFalse(reopened.countersFileMissing, "a new replica's folder has its counters file")
        XCTAssertNil(reopened.counterRestoredFrom)
        let first = try reopened.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L")])[0]
        XCTAssertEqual(first.id.counter, 1, "no leap: nothing was restored")
    }
}

/// The bundle format is part of the protocol: Protocol/vectors/bundles.json pins a bundle's bytes,
/// and the bundles a reader refuses whole.
final class BundleVectorTests: XCTestCase {
    func test_protocolVectors_bundlesReadAsPinned_andTheBrokenOnesAreRefused() throws {
        let codec = OperationCodec()
        for vector in try ProtocolVectors.load("bundles.json") {
            let name = vector["name"]?.stringValue ?? "?"
            let text = try XCTUnwrap(vector["text"]?.stringValue, name)
            let (header, operations) = try OperationBundle.read(Array(text.utf8), limits: .default)
            let pinned = try XCTUnwrap(vector["header"], name)
            XCTAssertEqual(header.origin.hex, pinned["origin"]?.stringValue, name)
            XCTAssertEqual(header.originName, pinned["originName"]?.stringValue, name)
            XCTAssertEqual(header.since, pinned["since"]?.integerValue, name)
            XCTAssertEqual(header.until, pinned["until"]?.integerValue, name)
            XCTAssertEqual(Int64(header.operations), pinned["operations"]?.integerValue, name)
            XCTAssertEqual(operations.map(codec.canonicalText), vector["canonical"]?.arrayValue?.compactMap(\.stringValue), name)
            // The writer's header line is the pinned one: canonical JSON, keys in byte order.
            XCTAssertEqual(OperationBundle.headerLine(header), String(text.prefix { $0 != "\n" }), name)
        }
        let invalid = try ProtocolVectors.load("bundles.json", array: "invalid")
        XCTAssertGreaterThanOrEqual(invalid.count, 5)
        for vector in invalid {
            let text = try XCTUnwrap(vector["text"]?.stringValue)
            XCTAssertThrowsError(try OperationBundle.read(Array(text.utf8), limits: .default), vector["name"]?.stringValue ?? "?")
        }
    }
}

/// The state digest is part of the protocol: pinned by a vector so other implementations can check theirs.
final class DigestVectorTests: XCTestCase {
    func test_digestOfTheOperationVectors_matchesThePinnedValue() throws {
        let codec = OperationCodec()
        let vectors = try ProtocolVectors.load("operations.json")
        let operations = try vectors.compactMap { vector -> ChorusCore.Operation? in
            guard let json = vector["operation"], json["action"] != "erase" else { return nil }
            return try codec.decode(json)
        }
        let expected = try XCTUnwrap(try ProtocolVectors.load("digest.json").first?["digest"]?.stringValue)
        for order in [operations, operations.reversed()] {
            let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_001_000), seed: 1)
            try replica.applyRemote(order)
            XCTAssertEqual(try replica.digest().hexString, expected)
        }
    }

    /// Concurrent writes: the digest frames which sibling displays (derived from the entries, never
    /// stored), and it is the same whichever order, and however often, the writes arrive.
    func test_digestOfConcurrentWrites_matchesThePinnedValue_inEveryOrder() throws {
        let codec = OperationCodec()
        for vector in try ProtocolVectors.load("digest.json") {
            guard let list = vector["operations"]?.arrayValue else { continue }
            let operations = try list.map { try codec.decode($0) }
            let expected = try XCTUnwrap(vector["digest"]?.stringValue)
            let displays = try XCTUnwrap(vector["displays"]?.objectValue)
            var rng = SeededGenerator(seed: 0xD16E57)
            for round in 0..<6 {
                let order = round == 0 ? operations : round == 1 ? operations.reversed() : operations.shuffled(using: &rng)
                let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_001_000), seed: 1)
                for operation in order { try replica.applyRemote([operation]) }
                try replica.applyRemote(order)
                XCTAssertEqual(try replica.digest().hexString, expected, "round \(round), seed 0xD16E57")
                XCTAssertEqual(try replica.invariantViolations(), [])
                let shown = Dictionary(uniqueKeysWithValues: try replica.conflicts().map { conflict in
                    let path = [conflict.collection, conflict.record, conflict.field ?? ""] + (conflict.key.map { [$0] } ?? [])
                    return (path.joined(separator: "/"), JSONValue.string(conflict.displayed.description))
                })
                XCTAssertEqual(shown, displays, "round \(round)")
                let person = try XCTUnwrap(replica.get(collection: "people", record: "p-9"))
                XCTAssertEqual(person.fields["title"], .string("Designer"), "the same tie is broken by replica bytes")
                XCTAssertEqual(person.fields["skills"], .object(["swift": .integer(3)]), "the later wall displays")
            }
        }
    }
}

/// Opening, creating and reopening replica folders.
final class ReplicaStorageTests: XCTestCase {
    /// A database restored from a backup never hands out again the ids of operations the replica
    /// made after the backup, which other replicas hold: they would drop the new operations as
    /// duplicates, and differ from it for good (found restoring a hub as its guide says).
    func test_aDatabaseRestoredFromABackup_writesOnPastEveryIdItHandedOut() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        var rng = SeededGenerator(seed: 9)
        let configuration = ReplicaFactory.configuration(clock: clock)
        let database = folder.appending(Replica.databaseFileName), backup = folder.appending("backup.sqlite")
        var hub: Replica? = try Replica.create(at: .directory(folder.path), name: "hub", configuration: configuration, using: &rng)
        try hub!.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])
        try hub!.withDatabase { try $0.execute("VACUUM INTO '\(backup)'") }
        // After the backup: more than a block of operations, which an office pulls.
        let changes = (0..<110).map { Change.mapSet(field: "skills", key: "skill-\($0)", value: 3) }
        let after = try hub!.writeMany((0..<11).map { ("people", "p\($0 + 2)", changes) })
        let office = try ReplicaFactory.memory(name: "office", clock: clock, seed: 10)
        try office.applyRemote(try hub!.log(limit: 100_000).compactMap(\.operation))
        hub = nil
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        try FileManager.default.copyItem(atPath: backup, toPath: database)

        let restored = try Replica.open(at: .directory(folder.path), configuration: configuration)
        let reserved = try XCTUnwrap(restored.counterRestoredFrom, "more than a block behind: said")
        XCTAssertEqual(reserved.stored, 1)
        XCTAssertGreaterThanOrEqual(reserved.reserved, after.last!.id.counter)
        let next = try restored.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada Lovelace")])[0]
        XCTAssertGreaterThan(next.id.counter, after.map(\.id.counter).max()!, "no id handed out before the restore is handed out again")
        XCTAssertEqual(try office.applyRemote([next]).applied, 1, "the office takes it as the new operation it is")
        XCTAssertEqual(try office.get(collection: "people", record: "p1")?.fields["name"], "Ada Lovelace")
    }

    /// An operation in the replica's own name far past every counter it knows of (2^40) was not
    /// made there: refused, with its batch, and the replica writes on. One at 2^63-1 in a forged
    /// bundle once left it unable to write again. Its own operations coming back past the counters
    /// it knows of (a folder restored with a stale `chorus.counters`) are taken, and move its counter.
    func test_anOperationInOwnNameFarPastEveryCounterKnown_isRefused_andTheReplicaWritesOn() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        var rng = SeededGenerator(seed: 12)
        let replica = try Replica.create(at: .directory(folder.path), name: "laptop", configuration: ReplicaFactory.configuration(clock: clock), using: &rng)
        let made = try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])[0]
        let digest = try replica.digest()
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 13)
        let honest = try other.write(collection: "people", record: "p2", [.put(field: "name", value: "Bo")])[0]
        func own(_ counter: UInt64, _ record: String) -> ChorusCore.Operation {
            Operation(id: OperationID(replica: replica.id, counter: counter), timestamp: made.timestamp, collection: "people",
                      record: record, field: "name", action: .set(value: "Mine", supersedes: []))
        }
        for counter: UInt64 in [UInt64(Int64.max), 1_001 + (1 << 40) + 1] {
            XCTAssertThrowsError(try replica.applyRemote([honest, own(counter, "p9")]), "\(counter)") { error in
                XCTAssertTrue("\(error)".contains("more than 2^40 past every one it knows of (1001)"), "\(error)")
            }
            XCTAssertEqual(try replica.digest(), digest, "nothing of the batch applied")
        }
        let next = try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L")])[0]
        XCTAssertEqual(next.id.counter, made.id.counter + 1, "the counter did not move")
        // Past the counters it knows of, within reach: its own, from before a restore.
        XCTAssertEqual(try replica.applyRemote([honest, own(50_000, "p8")]).applied, 2)
        XCTAssertGreaterThan(try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])[0].id.counter, 50_000,
                             "the counter moved past it")
    }

    /// The same operation past the call's first batch: refused before any batch commits, so
    /// nothing of the call is applied. Checked only as each operation merged, a bundle holding
    /// one past its first 25,000 operations had those committed, while `chorus import` said
    /// nothing of its batch was applied (a read-only audit).
    func test_anOperationInOwnNameFarPastEveryCounter_pastTheFirstBatch_leavesNothingApplied() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        var configuration = ReplicaFactory.configuration(clock: clock)
        configuration.limits.operationsPerBatchMax = 10
        var rng = SeededGenerator(seed: 15)
        let replica = try Replica.create(at: .directory(folder.path), name: "laptop", configuration: configuration, using: &rng)
        _ = try replica.write(collection: "people", record: "p-own", [.put(field: "name", value: "Ada")])
        let digest = try replica.digest()
        let other = try ReplicaFactory.memory(name: "other", clock: clock, seed: 16)
        let honest = try other.writeMany((0..<35).map { ("people", "p\($0)", [Change.put(field: "name", value: .string("P\($0)"))]) })
        let forged = Operation(id: OperationID(replica: replica.id, counter: 1 << 41), timestamp: honest[0].timestamp, collection: "people",
                               record: "p-own", field: "name", action: .set(value: "Mine", supersedes: []))
        XCTAssertThrowsError(try replica.applyRemote(honest + [forged])) { error in
            XCTAssertTrue("\(error)".contains("more than 2^40 past every one it knows of"), "\(error)")
        }
        XCTAssertEqual(try replica.digest(), digest, "none of the four batches before it committed")
        XCTAssertNil(try replica.get(collection: "people", record: "p0"))
    }

    /// An operation whose id the log holds, arriving with other content (a replica restored with
    /// its counters, a forged bundle), is a duplicate and changes nothing: it once made its
    /// record's row, an empty record no other replica had, and the digests differed for good.
    func test_aHeldIdWithOtherContent_isADuplicate_andChangesNothing() throws {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let writer = try ReplicaFactory.memory(name: "writer", clock: clock, seed: 21)
        let reader = try ReplicaFactory.memory(name: "reader", clock: clock, seed: 22)
        let op = try writer.write(collection: "people", record: "p-1", [Change.put(field: "title", value: "real")])[0]
        XCTAssertEqual(try reader.applyRemote([op]).applied, 1)
        let before = try reader.digest()
        let forged = Operation(id: op.id, timestamp: op.timestamp, collection: "people", record: "phantom", field: "title", action: .set(value: "other", supersedes: []))
        let report = try reader.applyRemote([forged])
        XCTAssertEqual(report.duplicates, 1)
        XCTAssertEqual(report.applied, 0)
        XCTAssertNil(try reader.get(collection: "people", record: "phantom"), "no empty record made")
        XCTAssertEqual(try reader.digest(), before)
        XCTAssertEqual(try reader.digest(), try writer.digest())
    }

    /// The reservation file: written durably, never back, and a damaged one is an error that says what it is.
    func test_counterReservation_isKeptAheadAndADamagedFileIsRefused() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 11)
        let replica = try Replica.create(at: .directory(folder.path), name: "r", using: &rng)
        let file = folder.appending("chorus.counters")
        XCTAssertEqual(String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: file)), as: UTF8.self), "reserved 0 after 0\n",
                       "nothing reserved before the first write, and the file there, so a missing one means a restore")
        let op = try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])[0]
        XCTAssertEqual(String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: file)), as: UTF8.self), "reserved \(op.id.counter + 1_000) after \(op.id.counter)\n", "once committed, the file names the counter committed")
        // A batch of thousands (a seed) reserves a block past its last counter, not as many
        // again: reopened, the replica is not taken for one restored from a backup.
        let many = try replica.writeMany((0..<30).map { ("people", "p\($0 + 2)", (0..<100).map { Change.mapSet(field: "skills", key: "s\($0)", value: 2) }) })
        XCTAssertEqual(String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: file)), as: UTF8.self),
                       "reserved \(many.last!.id.counter + 1_000) after \(many.last!.id.counter)\n")
        XCTAssertNil(try Replica.open(at: .directory(folder.path)).counterRestoredFrom, "a seeded replica was not restored from a backup")
        for damaged in ["reserved lots\n", "reserved 5 after 9\n", "reserved 5 before 1\n", "reserved 5 after\n", "reserved 5 after 1 after 1\n"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(damaged.utf8)))
            XCTAssertThrowsError(try Replica.open(at: .directory(folder.path)), damaged) { error in
                XCTAssertEqual((error as? ChorusError)?.code, .storage)
                XCTAssertTrue((error as? ChorusError)?.message.contains("chorus.counters is damaged") ?? false, "\(error)")
            }
        }
    }

    /// A batch of more than a block of ids (a seed) cut after its reservation, before its commit
    /// (a kill, a full disk), lost nothing: the next open says nothing of a backup, and the ids
    /// it reserved are never handed out. It once said the database was "restored from a backup, or
    /// lost its last commits" at every such start. A file from before the committed counter was
    /// named is read as it was.
    func test_aBatchCutAfterItsReservation_isNotTakenForARestoredDatabase() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 14)
        let replica = try Replica.create(at: .directory(folder.path), name: "r", using: &rng)
        let first = try replica.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])[0]
        struct Cut: Error {}
        var cutLast: UInt64 = 0
        XCTAssertThrowsError(try replica.withDatabase { database in
            try database.transaction {
                // Two batches, each past the reservation: the second's reservation must not name
                // the first's counter, which was never committed.
                _ = try replica.writeMany((0..<15).map { ("people", "p\($0 + 2)", (0..<100).map { Change.mapSet(field: "skills", key: "s\($0)", value: 2) }) })
                let made = try replica.writeMany((0..<15).map { ("people", "p\($0 + 20)", (0..<100).map { Change.mapSet(field: "skills", key: "s\($0)", value: 2) }) })
                cutLast = made.last!.id.counter
                throw Cut()
            }
        })
        XCTAssertGreaterThan(cutLast, first.id.counter + 1_000, "the cut batch reserved more than a block past what is committed")
        XCTAssertEqual(String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: folder.appending("chorus.counters"))), as: UTF8.self),
                       "reserved \(cutLast + 1_000) after \(first.id.counter)\n", "the file names the counter committed before the cut batch")
        let reopened = try Replica.open(at: .directory(folder.path))
        XCTAssertNil(reopened.counterRestoredFrom, "nothing committed was lost")
        XCTAssertNil(try reopened.get(collection: "people", record: "p2"), "the cut batch is not there")
        XCTAssertGreaterThan(try reopened.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada L")])[0].id.counter, cutLast,
                             "no id the cut batch reserved is handed out")
        // The same lead in a file from before: more than a block, said as before.
        try "reserved \(cutLast + 5_000)\n".write(toFile: folder.appending("chorus.counters"), atomically: true, encoding: .utf8)
        XCTAssertNotNil(try Replica.open(at: .directory(folder.path)).counterRestoredFrom)
    }

    func test_reopen_keepsIdentityCounterAndClock() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        var rng = SeededGenerator(seed: 1)
        let configuration = ReplicaFactory.configuration(clock: clock, synchronous: .full)
        let created = try Replica.create(at: .directory(folder.path), name: "hq", configuration: configuration, using: &rng)
        let first = try created.write(collection: "people", record: "p1", [.put(field: "name", value: "Ada")])[0]
        clock.set(1_000)   // the wall clock jumps back while the replica is closed
        let reopened = try Replica.open(at: .directory(folder.path), configuration: configuration)
        XCTAssertEqual(reopened.id, created.id)
        XCTAssertEqual(reopened.name, "hq")
        let second = try reopened.write(collection: "people", record: "p1", [.put(field: "name", value: "Bo")])[0]
        XCTAssertGreaterThan(second.id.counter, first.id.counter, "the counter is persisted (and reserved ahead: CounterReservation)")
        XCTAssertLessThanOrEqual(second.id.counter, first.id.counter + 1 + 1_000, "at most a block of ids skipped")
        XCTAssertGreaterThan(second.timestamp, first.timestamp, "the clock is persisted, so it never goes backwards")
        XCTAssertThrowsError(try Replica.create(at: .directory(folder.path), name: "again", configuration: configuration, using: &rng)) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .replicaAlreadyInitialised)
        }
    }

    /// A database file that holds no replica is never written to by opening it: an empty one
    /// (a copy cut short) says to run init, which replaces it; another SQLite database is refused
    /// as it is, and init will not overwrite it.
    func test_open_anEmptyOrForeignDatabaseFile_writesNothing_andInitReplacesOnlyTheEmptyOne() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let file = folder.appending(Replica.databaseFileName)
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        XCTAssertThrowsError(try Replica.open(at: .directory(folder.path))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .replicaNotInitialised)
            XCTAssertTrue((error as? ChorusError)?.message.contains("its database file is empty") ?? false, "\(error)")
        }
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int, 0, "nothing written into it")
        var rng = SeededGenerator(seed: 4)
        XCTAssertNoThrow(try Replica.create(at: .directory(folder.path), name: "fresh", using: &rng), "init replaces an empty file")

        let other = try TemporaryDirectory()
        defer { other.remove() }
        let foreign = other.appending(Replica.databaseFileName)
        var rollback = Database.Options()
        rollback.journalModeWAL = false   // as most programs leave their files
        // Another program's, with a `meta` table of its own as many have.
        try Database(path: foreign, options: rollback).execute("CREATE TABLE notes(body TEXT); CREATE TABLE meta(key TEXT, value TEXT)")
        let before = try Data(contentsOf: URL(fileURLWithPath: foreign))
        XCTAssertThrowsError(try Replica.open(at: .directory(other.path))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .storage)
            XCTAssertTrue((error as? ChorusError)?.message.contains("not a Chorus replica") ?? false, "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: foreign)), before, "not a byte changed: no schema, not even the journal mode")
        XCTAssertFalse(FileManager.default.fileExists(atPath: foreign + "-wal"), "no write-ahead log made beside it")
        XCTAssertThrowsError(try Replica.create(at: .directory(other.path), name: "again", using: &rng)) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .replicaAlreadyInitialised)
        }

        // Another program's with a `schema_migrations` of its own (as Rails, golang-migrate and
        // Ecto make) and data: neither opened nor taken for an init cut short, and never deleted.
        let rails = try TemporaryDirectory()
        defer { rails.remove() }
        let theirs = rails.appending(Replica.databaseFileName)
        try Database(path: theirs, options: rollback).execute("""
            CREATE TABLE schema_migrations(version TEXT PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000000');
            CREATE TABLE meta(key TEXT, value TEXT); CREATE TABLE invoices(total INTEGER); INSERT INTO invoices VALUES (42);
            """)
        let railsBefore = try Data(contentsOf: URL(fileURLWithPath: theirs))
        XCTAssertThrowsError(try Replica.open(at: .directory(rails.path))) { XCTAssertTrue("\($0)".contains("not a Chorus replica"), "\($0)") }
        XCTAssertThrowsError(try Replica.create(at: .directory(rails.path), name: "over", using: &rng)) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .replicaAlreadyInitialised)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: theirs)), railsBefore, "not a byte of it changed")
    }

    /// What an `init` cut short leaves (its tables partly made, no replica named yet) is replaced
    /// by the next `init`, and opening it says so; a replica holding records is never replaced,
    /// whatever is missing from it.
    func test_anInitCutShort_isReplacedByTheNextInit_butADamagedReplicaIsNot() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 8)
        func unnamed(_ replica: Replica) throws { try replica.withDatabase { try $0.execute("DELETE FROM meta WHERE key = 'replica_id'") } }
        try unnamed(try Replica.create(at: .directory(folder.path), name: "cut", using: &rng))
        XCTAssertThrowsError(try Replica.open(at: .directory(folder.path))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .replicaNotInitialised, "so `serve` makes the replica")
            XCTAssertTrue((error as? ChorusError)?.message.contains("`chorus init` was cut short here") ?? false, "\(error)")
        }
        let again = try Replica.create(at: .directory(folder.path), name: "again", using: &rng)
        XCTAssertEqual(again.name, "again")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appending(Replica.databaseFileName + ".unfinished-init")), "moved aside, not deleted")

        let damaged = try TemporaryDirectory()
        defer { damaged.remove() }
        let holding = try Replica.create(at: .directory(damaged.path), name: "holding", using: &rng)
        try holding.write(collection: "people", record: "p-1", [.put(field: "name", value: "Ada")])
        try unnamed(holding)
        XCTAssertThrowsError(try Replica.create(at: .directory(damaged.path), name: "over", using: &rng)) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .replicaAlreadyInitialised)
        }
        XCTAssertThrowsError(try Replica.open(at: .directory(damaged.path))) { error in
            XCTAssertTrue((error as? ChorusError)?.hint?.contains("restore it from a backup") ?? false, "\(error)")
        }
    }

    /// Cut shorter: the file switched to a write-ahead log and nothing more, or Chorus's empty
    /// migrations table alone (its own transaction, before the first migration's). Both were
    /// refused as another program's database by `init` and `serve` alike.
    func test_anInitCutBeforeItsFirstMigration_isReplacedToo_butAnotherProgramsEmptyTableIsNot() throws {
        var rng = SeededGenerator(seed: 9)
        let states = ["", "CREATE TABLE schema_migrations(name TEXT PRIMARY KEY NOT NULL, applied_order INTEGER NOT NULL) STRICT"]
        for state in states {
            let folder = try TemporaryDirectory()
            defer { folder.remove() }
            let database = try Database(path: folder.appending(Replica.databaseFileName))
            try database.execute("PRAGMA journal_mode = WAL")
            if !state.isEmpty { try database.execute(state) }
            XCTAssertThrowsError(try Replica.open(at: .directory(folder.path)), "\(state)") { error in
                XCTAssertEqual((error as? ChorusError)?.code, .replicaNotInitialised, "\(error)")
                XCTAssertTrue((error as? ChorusError)?.message.contains("cut short") ?? false, "\(error)")
            }
            XCTAssertEqual(try Replica.create(at: .directory(folder.path), name: "again", using: &rng).name, "again", state)
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appending(Replica.databaseFileName + ".unfinished-init")), "moved aside, not deleted")
        }
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let other = try Database(path: folder.appending(Replica.databaseFileName))
        try other.execute("CREATE TABLE schema_migrations(version TEXT PRIMARY KEY)")
        XCTAssertThrowsError(try Replica.create(at: .directory(folder.path), name: "over", using: &rng)) {
            XCTAssertEqual(($0 as? ChorusError)?.code, .replicaAlreadyInitialised, "Rails' empty migrations table is not Chorus's")
        }
    }

    func test_open_missingFolder_saysToRunInit() throws {
        XCTAssertThrowsError(try Replica.open(at: .directory("/nonexistent/chorus"))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .replicaNotInitialised)
            XCTAssertTrue((error as? ChorusError)?.hint?.contains("chorus init") ?? false)
        }
    }
}

/// Two processes (here: two connections) writing one replica folder never reuse an operation id.
final class SharedFolderTests: XCTestCase {
    func test_twoConnectionsOnOneFolder_neverReuseCountersOrGoBackInTime() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        var rng = SeededGenerator(seed: 3)
        let configuration = ReplicaFactory.configuration(clock: clock)
        let server = try Replica.create(at: .directory(folder.path), name: "node", configuration: configuration, using: &rng)
        let cli = try Replica.open(at: .directory(folder.path), configuration: configuration)
        var ids = Set<OperationID>()
        var last = HybridTimestamp.zero
        for round in 0..<20 {
            let writer = round % 3 == 0 ? server : cli
            let op = try writer.write(collection: "people", record: "p1", [.put(field: "title", value: .string("t\(round)"))])[0]
            XCTAssertTrue(ids.insert(op.id).inserted, "operation id \(op.id) reused")
            XCTAssertGreaterThan(op.timestamp, last)
            last = op.timestamp
        }
        XCTAssertEqual(try server.get(collection: "people", record: "p1")?.fields["title"], "t19")
    }
}
