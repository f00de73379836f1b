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
        let taken = table.takeInRecordOrder()
        XCTAssertEqual(taken.order, Array(keys.indices), "in row-id order already")
        XCTAssertEqual(taken.keys.map(\.rid), keys.map(\.rid))
        XCTAssertEqual(taken.changes.count, keys.count)
        XCTAssertEqual(table.changes.count, 0, "taken out")
        XCTAssertEqual(table.slot(keys[5]), 0, "an empty table again")
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

    func test_keysTakenOut_comeInRowIDOrder_eachRecordsKeysInTheOrderFirstChanged() {
        var table = BatchState.DirtyKeyTable()
        let keys = [key(5, 1), key(2, 3), key(5, 2), key(2, 1), key(9, 1), key(2, 2, "x"), key(5, 1, "y")]
        for key in keys { _ = table.slot(key) }
        let taken = table.takeInRecordOrder()
        XCTAssertEqual(taken.order, [1, 3, 5, 0, 2, 6, 4])
        XCTAssertEqual(taken.order.map { taken.keys[$0].rid }, [2, 2, 2, 5, 5, 5, 9])
    }
}
