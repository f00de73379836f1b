import XCTest
import ChorusCore
import ChorusTesting
@testable import ChorusReplica
import SQLiteKit

/// A database edited or damaged under a replica: reading it is a storage error that says what
/// to do, never a trap that takes the node down (each of these trapped before).
final class DamagedReadsTests: XCTestCase {
    private func replicaWithAComment(_ folder: TemporaryDirectory) throws -> Replica {
        var rng = SeededGenerator(seed: 5)
        let replica = try Replica.create(at: .directory(folder.path), name: "office", using: &rng)
        _ = try replica.write(collection: "feedback", record: "fb-1", [.put(field: "body", value: "Thanks!"),
                                                                     .append(field: "comments", value: .object(["author": "p-1", "body": "Agreed"]))])
        return replica
    }

    private func assertDamaged(_ expression: @autoclosure () throws -> Any, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .storage, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(phrase), "\(error)", file: file, line: line)
            XCTAssertTrue((error as? ChorusError)?.hint?.contains("chorus check") ?? false, file: file, line: line)
        }
    }

    func test_aStoredReplicaIDThatIsNot16Bytes_isAStorageError_whenARecordIsRead() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let replica = try replicaWithAComment(folder)
        try replica.withDatabase { try $0.run("UPDATE origins SET replica = x'0102'") }
        assertDamaged(try replica.get(collection: "feedback", record: "fb-1") as Any, "is 2 bytes, not 16")
    }

    func test_aBlockMiscounted_isAStorageError_whenExported_notATrap() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let replica = try replicaWithAComment(folder)
        try replica.withDatabase { try $0.run("UPDATE log_blocks SET live = live + 1") }
        assertDamaged(try replica.exportBundle { _ in }, "blocks count")
    }
}
