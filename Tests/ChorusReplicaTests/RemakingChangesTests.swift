import XCTest
import ChorusCore
import ChorusTesting
@testable import ChorusReplica

/// What a write made anew as the laptop's person keeps (`Replica.changes(remaking:before:deciding:)`):
/// what a later write that stands writes again is left out, and so is every edit of a record
/// that write leaves deleted; a delete or restore that does not stand (one of `deciding` it is
/// not) decides nothing.
final class RemakingChangesTests: XCTestCase {
    private let laptop = ReplicaID(bytes: Array(repeating: 7, count: 16))!
    private var counter: UInt64 = 0

    private func operation(_ action: Action, field: String? = nil, record: String = "fb-1") -> ChorusCore.Operation {
        counter += 1
        return ChorusCore.Operation(id: OperationID(replica: laptop, counter: counter), timestamp: HybridTimestamp(wall: 1_000 + counter, logical: 0),
                                    collection: "feedback", record: record, field: field, action: action)
    }

    private func edit(_ body: String, record: String = "fb-1") -> ChorusCore.Operation {
        operation(.set(value: .string(body), supersedes: []), field: "body", record: record)
    }

    private func remade(_ edit: ChorusCore.Operation, before later: [ChorusCore.Operation], deciding: [ChorusCore.Operation]) -> [Change] {
        let writes = Replica.changes(remaking: [edit], before: later, deciding: Set(deciding.map(\.id)))
        guard let (writes, leftOut) = writes else { return [] }
        XCTAssertEqual(leftOut.isEmpty, !writes.isEmpty, "one edit: made, or its id said left out")
        return writes.flatMap(\.changes)
    }

    func test_anEdit_isLeftOut_byALaterDeleteThatStands() {
        let body = edit("Edited"), delete = operation(.delete(observed: []))
        XCTAssertEqual(remade(body, before: [delete], deciding: [delete]), [])
    }

    func test_anEdit_isKept_whenTheLaterDeleteDoesNotStand() {
        let body = edit("Edited"), delete = operation(.delete(observed: []))
        XCTAssertEqual(remade(body, before: [delete], deciding: []), [.put(field: "body", value: "Edited")])
    }

    /// An edit, a delete made again, then a restore made anew: the item comes back, the edit with it.
    func test_anEdit_isKept_whenARestoreThatStandsFollowsTheDelete() {
        let body = edit("Edited"), delete = operation(.delete(observed: [])), restore = operation(.restore(supersedes: []))
        XCTAssertEqual(remade(body, before: [delete, restore], deciding: [delete, restore]), [.put(field: "body", value: "Edited")])
    }

    /// A restore refused for good (not the person's, the record here) brings nothing back: the
    /// delete that stands still decides, and the edit is not made over it.
    func test_anEdit_isLeftOut_whenTheRestoreAfterTheDeleteDoesNotStand() {
        let body = edit("Edited"), delete = operation(.delete(observed: [])), restore = operation(.restore(supersedes: []))
        XCTAssertEqual(remade(body, before: [delete, restore], deciding: [delete]), [])
    }

    func test_aDeleteOfAnotherRecord_decidesNothingHere() {
        let body = edit("Edited"), delete = operation(.delete(observed: []), record: "fb-2")
        XCTAssertEqual(remade(body, before: [delete], deciding: [delete]), [.put(field: "body", value: "Edited")])
    }

    func test_aLaterWriteOfTheSameField_leavesItOut_andOfAnotherFieldDoesNot() {
        let body = edit("Edited"), later = edit("Later"), title = operation(.set(value: "Title", supersedes: []), field: "kind")
        XCTAssertEqual(remade(body, before: [later], deciding: []), [])
        XCTAssertEqual(remade(body, before: [title], deciding: []), [.put(field: "body", value: "Edited")])
    }
}
