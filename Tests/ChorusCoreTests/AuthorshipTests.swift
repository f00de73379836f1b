import XCTest
import ChorusCore

/// A laptop registered for one person writes only as them (`Authorship`): its operations name
/// that person as author, and nothing they say was made, written or joined names anyone else.
final class AuthorshipTests: XCTestCase {
    private let replica = ReplicaID(hex: "0123456789abcdef0123456789abcdef")!

    private func operation(_ collection: String, _ field: String?, _ action: Action, author: String?) -> ChorusCore.Operation {
        ChorusCore.Operation(id: OperationID(replica: replica, counter: 1), timestamp: HybridTimestamp(wall: 1_790_000_000_000, logical: 0),
                  collection: collection, record: "r-1", field: field, action: action, author: author)
    }

    func test_anOperationOfTheBoundPerson_thatNamesOnlyThem_isTheirs() {
        let theirs: [ChorusCore.Operation] = [
            operation("people", "title", .set(value: "Lead", supersedes: []), author: "p-1"),
            operation("feedback", "from", .set(value: "p-1", supersedes: []), author: "p-1"),
            operation("feedback", "to", .set(value: "p-2", supersedes: []), author: "p-1"),
            operation("observations", "author", .set(value: "p-1", supersedes: []), author: "p-1"),
            operation("opportunities", "owner", .set(value: "p-1", supersedes: []), author: "p-1"),
            operation("badges", "createdBy", .set(value: "p-1", supersedes: []), author: "p-1"),
            operation("opportunities", "interested", .add(element: "p-1"), author: "p-1"),
            operation("opportunities", "interested", .remove(element: "p-1", supersedes: []), author: "p-1"),
            operation("feedback", "comments", .append(value: .object(["author": "p-1", "body": "Well done"])), author: "p-1"),
            operation("feedback", "highFives", .increment(by: 1), author: "p-1"),
            // Someone else's profile, by its person's own rules (WritePolicy), not refused here.
            operation("people", "manager", .set(value: "p-9", supersedes: []), author: "p-1"),
            operation("teams", "members", .add(element: "p-2"), author: "p-1"),
            operation("feedback", nil, .delete(observed: []), author: "p-1"),
        ]
        for op in theirs { XCTAssertNil(Authorship.refusal(of: op, boundTo: "p-1"), "\(op.collection).\(op.field ?? "-")") }
    }

    func test_anOperationInAnotherNameOrInNoName_isRefused() {
        XCTAssertEqual(Authorship.refusal(of: operation("people", "title", .set(value: "Lead", supersedes: []), author: "p-2"), boundTo: "p-1"),
                       "it is made in the name of p-2")
        XCTAssertEqual(Authorship.refusal(of: operation("people", "title", .set(value: "Lead", supersedes: []), author: nil), boundTo: "p-1"),
                       "it names no person as its author")
    }

    func test_whatSaysSomeoneElseMadeWroteOrJoinedIt_isRefused() {
        let cases: [(ChorusCore.Operation, String)] = [
            (operation("feedback", "from", .set(value: "p-2", supersedes: []), author: "p-1"), "it sets feedback.from to p-2"),
            (operation("observations", "author", .set(value: .null, supersedes: []), author: "p-1"), "it sets observations.author to no one"),
            (operation("opportunities", "owner", .set(value: 7, supersedes: []), author: "p-1"), "it sets opportunities.owner to a value that is no person id (integer)"),
            (operation("badges", "createdBy", .set(value: "p-3", supersedes: []), author: "p-1"), "it sets badges.createdBy to p-3"),
            (operation("opportunities", "interested", .add(element: "p-2"), author: "p-1"), "it changes opportunities.interested for p-2"),
            (operation("opportunities", "interested", .remove(element: "p-2", supersedes: []), author: "p-1"), "it changes opportunities.interested for p-2"),
            (operation("feedback", "comments", .append(value: .object(["author": "p-2", "body": "Me too"])), author: "p-1"),
             "its entry of feedback.comments names p-2 as its author"),
            (operation("feedback", "comments", .append(value: .object(["body": "Anonymous"])), author: "p-1"),
             "its entry of feedback.comments names no one as its author"),
        ]
        for (op, refusal) in cases { XCTAssertEqual(Authorship.refusal(of: op, boundTo: "p-1"), refusal) }
    }

    /// The same field name in another collection says nothing of who made the record.
    func test_aMadeByFieldName_countsOnlyInItsOwnCollection() {
        XCTAssertNil(Authorship.refusal(of: operation("objectives", "owner", .set(value: "p-2", supersedes: []), author: "p-1"), boundTo: "p-1"),
                     "a manager writes a report's objective, owned by the report")
        XCTAssertNil(Authorship.refusal(of: operation("people", "from", .set(value: "p-2", supersedes: []), author: "p-1"), boundTo: "p-1"))
    }

    /// With what the node holds: a record someone else made takes only what anyone may write,
    /// nobody claims what no one made, and one withdraws only one's own comments and interest.
    func test_whatAnotherMade_takesOnlyWhatAnyoneMayWrite_andOnesOwnEntriesWithdrawn() throws {
        let other = ReplicaID(hex: "ffeeddccbbaa99887766554433221100")!
        let theirComment = OperationID(replica: other, counter: 7), myComment = OperationID(replica: other, counter: 8)
        let theirInterest = OperationID(replica: other, counter: 9), myInterest = OperationID(replica: other, counter: 10)
        let facts = Authorship.Facts(
            maker: { _, record in
                switch record {
                case "theirs": return .person("p-2")
                case "mine": return .person("p-1")
                case "built-in": return .noOne(writtenOnlyBy: other)
                case "half-sent": return .noOne(writtenOnlyBy: self.replica)
                case "erased": return .erased
                default: return .notHeld
                }
            },
            entry: { _, _, _, entry in
                switch entry {
                case theirComment: return Authorship.HeldEntry(key: "", value: .object(["author": "p-2", "body": "Theirs"]))
                case myComment: return Authorship.HeldEntry(key: "", value: .object(["author": "p-1", "body": "Mine"]))
                case theirInterest: return Authorship.HeldEntry(key: "p-2", value: nil)
                case myInterest: return Authorship.HeldEntry(key: "p-1", value: nil)
                default: return nil
                }
            },
            making: [Authorship.recordKey("feedback", "new")])
        func refusal(_ collection: String, _ record: String, _ field: String?, _ action: Action) throws -> String? {
            let op = ChorusCore.Operation(id: OperationID(replica: replica, counter: 1), timestamp: HybridTimestamp(wall: 1_790_000_000_000, logical: 0),
                                          collection: collection, record: record, field: field, action: action, author: "p-1")
            return try Authorship.refusal(of: op, boundTo: "p-1", facts: facts)
        }
        XCTAssertEqual(try refusal("feedback", "theirs", "body", .set(value: "Edited", supersedes: [])), "it changes feedback/theirs, which p-2 made")
        XCTAssertEqual(try refusal("feedback", "theirs", nil, .delete(observed: [])), "it changes feedback/theirs, which p-2 made")
        XCTAssertEqual(try refusal("feedback", "theirs", "from", .set(value: "p-1", supersedes: [])), "it changes feedback/theirs, which p-2 made",
                       "taking over what another made")
        XCTAssertNil(try refusal("feedback", "theirs", "highFives", .increment(by: 1)))
        XCTAssertEqual(try refusal("feedback", "theirs", "highFives", .increment(by: 50)), "it adds 50 high-fives at once, where each is one")
        XCTAssertEqual(try refusal("feedback", "mine", "highFives", .increment(by: 1)), "it high-fives an item of its own")
        XCTAssertNil(try refusal("feedback", "theirs", "comments", .append(value: .object(["author": "p-1", "body": "Yes"]))))
        XCTAssertNil(try refusal("opportunities", "theirs", "interested", .add(element: "p-1")))
        XCTAssertEqual(try refusal("feedback", "theirs", "comments", .retract(supersedes: [theirComment])),
                       "it withdraws p-2's entry \(theirComment) of feedback.comments")
        XCTAssertNil(try refusal("feedback", "theirs", "comments", .retract(supersedes: [myComment])))
        XCTAssertEqual(try refusal("feedback", "theirs", "comments", .retract(supersedes: [OperationID(replica: other, counter: 99)])),
                       "it withdraws entry \(OperationID(replica: other, counter: 99)) of feedback.comments, which is not held here",
                       "another's next comment, withdrawn before it arrives")
        XCTAssertNil(try refusal("feedback", "theirs", "comments", .retract(supersedes: [OperationID(replica: replica, counter: 5)])),
                     "its own, written and withdrawn before either travelled")
        XCTAssertEqual(try refusal("opportunities", "theirs", "interested", .remove(element: "p-1", supersedes: [theirInterest])),
                       "it withdraws p-2's entry \(theirInterest) of opportunities.interested", "the element named is not what is removed")
        XCTAssertNil(try refusal("opportunities", "theirs", "interested", .remove(element: "p-1", supersedes: [myInterest])))
        XCTAssertNil(try refusal("feedback", "mine", "body", .set(value: "Edited", supersedes: [])))
        XCTAssertNil(try refusal("feedback", "mine", nil, .delete(observed: [])), "withdrawing one's own")
        XCTAssertNil(try refusal("badges", "built-in", "name", .set(value: "Team player", supersedes: [])), "a built-in badge is everyone's")
        XCTAssertEqual(try refusal("badges", "built-in", "createdBy", .set(value: "p-1", supersedes: [])),
                       "it claims badges/built-in, which no one made (everyone's)")
        XCTAssertNil(try refusal("badges", "half-sent", "createdBy", .set(value: "p-1", supersedes: [])),
                     "its own record, whose first fields went up in an earlier page")
        XCTAssertNil(try refusal("feedback", "new", "body", .set(value: "Hello", supersedes: [])), "a record being made, its from in the same write")
        XCTAssertEqual(try refusal("feedback", "in-transit", "body", .set(value: "Words in another's mouth", supersedes: [])),
                       "it writes feedback/in-transit, which is not here yet and which it does not make (no from in the same write)")
        XCTAssertEqual(try refusal("feedback", "in-transit", "comments", .append(value: .object(["author": "p-1", "body": "First!"]))),
                       "it writes feedback/in-transit, which is not here yet and which it does not make (no from in the same write)")
        XCTAssertNil(try refusal("feedback", "erased", "comments", .append(value: .object(["author": "p-1", "body": "Late"]))),
                     "written offline to what was erased meanwhile: dropped by the merge, not refused")
        XCTAssertEqual(try refusal("badges", "built-in", nil, .delete(observed: [])), "it deletes or restores badges/built-in, which no one made (everyone's)")
        XCTAssertNil(try refusal("badges", "half-sent", nil, .delete(observed: [])))
        XCTAssertNil(try refusal("people", "p-2", "title", .set(value: "Lead", supersedes: [])), "no maker: WritePolicy's, where people write")
        XCTAssertEqual(try refusal("people", "p-2", nil, .delete(observed: [])),
                       "it deletes or restores a profile, which is an admin's to do, on an office node or the hub")
        XCTAssertEqual(try refusal("people", "p-2", nil, .restore(supersedes: [])),
                       "it deletes or restores a profile, which is an admin's to do, on an office node or the hub")
        XCTAssertNil(try refusal("objectives", "o-1", nil, .delete(observed: [])))
        XCTAssertEqual(try refusal("people", "", nil, .erase(recordHash: Array(repeating: 0, count: 32))),
                       "it erases a record, which is an admin's to do, on an office node or the hub")
    }
}
