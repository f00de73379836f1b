import XCTest
import ChorusCore
import ChorusTesting
@testable import ChorusReplica
import SQLiteKit

/// A start to set writes aside begins from what earlier starts left in `set_aside`.
final class SetAsideStartTests: XCTestCase {
    /// Rows made anew keep their operations until their start is over; a start killed after its
    /// last write was made anew, before it was over, left them. A new start drops those bytes:
    /// read by its own making anew, they were taken for its later writes, and left out what they
    /// wrote again (a review found it).
    func test_aNewStart_dropsWhatAnEarlierStartKeptOfWritesMadeAnew() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 12)
        let replica = try Replica.create(at: .directory(folder.path), name: "laptop", using: &rng)
        let written = try replica.write(collection: "people", record: "p-1", [.put(field: "title", value: "Stale")])[0]
        try replica.withDatabase { database in
            try database.run("INSERT INTO set_aside(seq, write_seq, counter, operation, state, wall, record_hash) VALUES (1, 1, 999999, ?, 3, 1, ?)",
                             Array(OperationCodec().canonicalText(written).utf8), written.recordHash)
        }
        _ = try replica.keepWaitingWrites(now: 2)
        XCTAssertEqual(try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state = 3 AND operation IS NOT NULL") }, 0)
        XCTAssertEqual(try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state = 3") }, 1, "its id stays known")
    }
}
