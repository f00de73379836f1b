import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusTesting
import ChorusNode
import ChorusPeople

/// An admin's value settling a conflict passes what a person's write of it would (http.md, "a
/// `value` follows the platform's value rules"): a null visibility once made private feedback
/// readable by every employee, and a resolution made a person their own manager.
final class ResolutionRulesTests: XCTestCase {
    var clock: ManualClock!
    var stockholm: Replica!
    var newYork: Replica!

    override func setUpWithError() throws {
        (clock, stockholm, newYork) = try ReplicaFactory.twoOffices()
        for person in ["p-a", "p-b", "p-c"] { try stockholm.write(collection: "people", record: person, [.put(field: "name", value: .string(person))]) }
        try stockholm.write(collection: "feedback", record: "f-1", [.put(field: "from", value: "p-a"), .put(field: "to", value: "p-b"),
                                                                    .put(field: "kind", value: "feedback"), .put(field: "body", value: "a private concern"),
                                                                    .put(field: "visibility", value: "private")])
        try stockholm.write(collection: "opportunities", record: "o-1", [.put(field: "title", value: "Lead"), .put(field: "owner", value: "p-a")])
        try exchange()
    }

    private func exchange() throws {
        try newYork.applyRemote(try stockholm.log(limit: 100_000).compactMap(\.operation))
        try stockholm.applyRemote(try newYork.log(limit: 100_000).compactMap(\.operation))
    }

    /// Two offices write `field` of the record apart; the conflict's id.
    private func conflict(_ collection: String, _ record: String, _ field: String, _ one: JSONValue, _ other: JSONValue) throws -> String {
        clock.advance(by: 10)
        try stockholm.write(collection: collection, record: record, [.put(field: field, value: one)])
        try newYork.write(collection: collection, record: record, [.put(field: field, value: other)])
        try exchange()
        return try XCTUnwrap(try stockholm.conflicts().first { $0.record == record && $0.field == field }).id
    }

    private func refusal(_ id: String, _ value: JSONValue) -> String {
        let digest = try? stockholm.digest()
        var refused = ""
        XCTAssertThrowsError(try stockholm.resolveConflict(id: id, .value(value), by: "admin", checkingValue: PeopleAPI.checkResolution(stockholm))) {
            refused = ($0 as? SyncError).map { "\($0.status) \($0.message)" } ?? ($0 as? ChorusError).map { "400 \($0.message)" } ?? "\($0)"
        }
        XCTAssertEqual(try? stockholm.digest(), digest, "nothing written")
        return refused
    }

    func test_feedbackValues_followTheRulesFeedbackIsGivenBy() throws {
        let visibility = try conflict("feedback", "f-1", "visibility", "managerOnly", "privateAndManager")
        XCTAssertEqual(refusal(visibility, .null), "400 feedback.visibility: must be one of public, private, privateAndManager, managerOnly")
        XCTAssertEqual(refusal(visibility, "everyone-please"), "400 feedback.visibility: must be one of public, private, privateAndManager, managerOnly")
        try stockholm.resolveConflict(id: visibility, .value("private"), by: "admin", checkingValue: PeopleAPI.checkResolution(stockholm))

        let body = try conflict("feedback", "f-1", "body", "one", "two")
        XCTAssertTrue(refusal(body, .string(String(repeating: "x", count: 4001))).hasPrefix("400 feedback.body: must be a message of 1 to 4000"))
        XCTAssertTrue(refusal(body, "ok\u{1B}[2J").contains("control character"))
        XCTAssertTrue(refusal(body, "   ").hasPrefix("400 feedback.body"))

        let to = try conflict("feedback", "f-1", "to", "p-b", "p-c")
        XCTAssertEqual(refusal(to, "p-nobody"), "422 no person p-nobody")
        XCTAssertEqual(refusal(to, "p-a"), "422 feedback goes to someone else")
        try stockholm.resolveConflict(id: to, .value("p-c"), by: "admin", checkingValue: PeopleAPI.checkResolution(stockholm))
        XCTAssertEqual(try stockholm.get(collection: "feedback", record: "f-1")?.fields["to"], "p-c")
    }

    func test_references_areCheckedAsAPersonsWriteWouldBe() throws {
        let manager = try conflict("people", "p-a", "manager", "p-b", "p-c")
        XCTAssertEqual(refusal(manager, "p-a"), "422 nobody is their own manager")
        let filledBy = try conflict("opportunities", "o-1", "filledBy", "p-b", "p-c")
        XCTAssertEqual(refusal(filledBy, "p-nobody"), "422 no person p-nobody to fill it")
        try stockholm.resolveConflict(id: filledBy, .value("p-b"), by: "admin", checkingValue: PeopleAPI.checkResolution(stockholm))
    }

    /// A comment appended other than through the API (`chorus append`) has the shape and bounds
    /// the API writes.
    func test_aCommentAppendedByHand_followsTheCommentsRules() throws {
        let feedback = try XCTUnwrap(stockholm.configuration.schema.collection("feedback"))
        func refused(_ value: JSONValue) -> String? {
            do { try PeopleAPI.checkValues([.append(field: "comments", value: value)], in: feedback); return nil } catch { return error.message }
        }
        XCTAssertNil(refused(["author": "p-a", "body": "Nice work", "at": 1_790_000_000_000]))
        XCTAssertEqual(refused(["author": "p-a", "body": .string(String(repeating: "c", count: 1001))]), "feedback.comments: body must be 1 to 1000 characters, not blank")
        XCTAssertEqual(refused(["author": "p-a", "body": " "]), "feedback.comments: body must be 1 to 1000 characters, not blank")
        XCTAssertEqual(refused(["author": "p-a", "body": "x\u{1B}[31m"]), "feedback.comments: body holds U+1B, a control character")
        XCTAssertEqual(refused(["author": "p-a", "body": "hi", "junk": 1]), "feedback.comments: unknown member junk")
        XCTAssertEqual(refused(["body": "hi"]), "feedback.comments: author must be a person's id")
        XCTAssertEqual(refused(5), "feedback.comments: a comment is an object")
    }

    /// Feedback that names no visibility is private, whatever its kind: never public for naming
    /// nothing, nor for a kind changed to praise.
    func test_feedbackWithoutVisibility_isPrivate() throws {
        for kind: JSONValue in ["feedback", "praise", .null] {
            let item: [String: JSONValue] = ["from": "p-a", "to": "p-b", "kind": kind]
            XCTAssertFalse(Feedback.isVisible(item, to: "p-c", managerOf: { _ in nil }, managedSinceMade: { _, _ in true }), "\(kind)")
            XCTAssertTrue(Feedback.isVisible(item, to: "p-b", managerOf: { _ in nil }, managedSinceMade: { _, _ in true }), "\(kind)")
        }
    }

    /// A problem the record had before the value is not the value's: two offices that moved an
    /// opportunity's dates apart cross them, and its title can still be settled.
    func test_aProblemTheRecordAlreadyHad_doesNotRefuseAnotherFieldsValue() throws {
        try stockholm.write(collection: "opportunities", record: "o-1", [.put(field: "startDate", value: "2027-03-01"), .put(field: "endDate", value: "2027-01-01")])
        let title = try conflict("opportunities", "o-1", "title", "Lead", "Staff")
        try stockholm.resolveConflict(id: title, .value("Principal"), by: "admin", checkingValue: PeopleAPI.checkResolution(stockholm))
        XCTAssertEqual(try stockholm.get(collection: "opportunities", record: "o-1")?.fields["title"], "Principal")
        // A value of the field the problem is about is the value's to mend.
        let start = try conflict("opportunities", "o-1", "startDate", "2027-03-01", "2027-04-01")
        XCTAssertEqual(refusal(start, "2027-05-01"), "422 endDate 2027-01-01 is before startDate 2027-05-01")
        try stockholm.resolveConflict(id: start, .value("2026-12-01"), by: "admin", checkingValue: PeopleAPI.checkResolution(stockholm))
    }
}
