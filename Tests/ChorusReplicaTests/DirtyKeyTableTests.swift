import XCTest
@testable import ChorusReplica

/// The keys a batch changed (`BatchState.DirtyKeyTable`, an open-addressed table): one slot per key,
/// told apart by row id, field number and the key's bytes, in the order first changed, however
/// many keys the batch has.
final class DirtyKeyTableTests: XCTestCase {
    private func key(_ rid: Int64, _ fieldNo: Int64, _ key: String = "") -> BatchState.DirtyKey {
        BatchState.DirtyKey(rid: rid, field: "f\(fieldNo)", key: key, fieldNo: fieldNo)
    }

    func test_eachKey_hasOneSlot_inTheOrderFirstChanged_asTheTableGrows() {
        var table = BatchState.DirtyKeyTable()
        var keys: [BatchState.DirtyKey] = []
        for rid in Int64(1)...400 {
            for fieldNo in Int64(1)...4 { keys.append(key(rid, fieldNo)) }
            // Map keys and set elements of one field: same row id and field, other keys.
            for element in 0..<3 { keys.append(key(rid, 9, "skill \(element)")) }
        }
        for (index, key) in keys.enumerated() { XCTAssertEqual(table.slot(key), index) }
        for (index, key) in keys.enumerated().reversed() { XCTAssertEqual(table.slot(key), index, "found again") }
        XCTAssertEqual(table.changes.count, keys.count, "one change per key")
        XCTAssertEqual(table.inRecordOrder().map(\.key.rid), keys.map(\.rid))
    }

    func test_aReservedTable_growsPastWhatWasReserved() {
        var table = BatchState.DirtyKeyTable()
        table.reserveCapacity(10)
        for rid in Int64(0)..<1_000 { XCTAssertEqual(table.slot(key(rid, 1)), Int(rid)) }
        for rid in Int64(0)..<1_000 { XCTAssertEqual(table.slot(key(rid, 1)), Int(rid)) }
    }

    func test_keysThatDifferInOnePart_haveTheirOwnSlots() {
        var table = BatchState.DirtyKeyTable()
        XCTAssertEqual(table.slot(key(1, 2)), 0)
        XCTAssertEqual(table.slot(key(2, 1)), 1, "row id and field number swapped")
        XCTAssertEqual(table.slot(key(1, 3)), 2)
        XCTAssertEqual(table.slot(key(1, 2, "a")), 3)
        // Canonically equivalent keys are two keys in storage and on the wire.
        XCTAssertEqual(table.slot(key(1, 2, "caf\u{E9}")), 4)
        XCTAssertEqual(table.slot(key(1, 2, "cafe\u{301}")), 5)
        XCTAssertEqual(table.slot(key(1, 2)), 0)
        XCTAssertEqual(table.slot(key(1, 2, "caf\u{E9}")), 4)
    }
}
