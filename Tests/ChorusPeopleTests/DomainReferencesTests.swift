import XCTest
import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusTesting

/// What a person's write names must be there: teams of the right kind, an ability's own
/// milestones, an objective's quarter. (Sync merges whatever arrives; these are checked on writes.)
final class DomainReferencesTests: XCTestCase {
    var replica: Replica!

    override func setUpWithError() throws {
        replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_700_000_000_000), seed: 4)
        try replica.writeMany([
            ("teams", "squad-1", [.put(field: "name", value: "Search"), .put(field: "kind", value: "squad")]),
            ("teams", "tribe-1", [.put(field: "name", value: "Discovery"), .put(field: "kind", value: "tribe")]),
            ("abilities", "ab-w", [.put(field: "name", value: "Writes clearly"),
                                   .mapSet(field: "milestones", key: "1", value: ["title": "Clear notes"]),
                                   .mapSet(field: "milestones", key: "2", value: ["title": "Clear designs"])]),
            ("people", "p-1", [.put(field: "name", value: "Ana"), .mapSet(field: "careerSteps", key: "ab-w", value: 2)]),
            ("people", "p-2", [.put(field: "name", value: "Bo")]),
        ])
    }

    func problem(_ collection: String, _ record: String, _ body: [String: JSONValue]) throws -> String? {
        let existing = try replica.get(collection: collection, record: record)?.fields
        return try DomainReferences.problems(collection: collection, recordID: record, existing: existing, body: body, replica: replica).first?.message
    }

    func test_squadTribeAndChapter_nameATeamOfThatKind() throws {
        XCTAssertNil(try problem("people", "p-2", ["squad": "squad-1", "tribe": "tribe-1"]))
        XCTAssertEqual(try problem("people", "p-2", ["squad": "squad-bogus"]), "no team squad-bogus to be the squad")
        XCTAssertEqual(try problem("people", "p-2", ["tribe": "squad-1"]), "squad-1 is a squad, not a tribe")
        XCTAssertEqual(try problem("people", "p-2", ["chapter": "tribe-1"]), "tribe-1 is a tribe, not a chapter")
        XCTAssertNil(try problem("people", "p-2", ["squad": .null]), "leaving a squad names nothing")
    }

    func test_anAbilitysExamplesAndRoleRequirements_nameMilestonesItDefines() throws {
        XCTAssertNil(try problem("abilities", "ab-w", ["examples": ["e1": ["milestone": 2, "text": "A clear design doc"]]]))
        XCTAssertEqual(try problem("abilities", "ab-w", ["examples": ["e5": ["milestone": 5, "text": "A book"]]]),
                       "examples[e5]: Writes clearly has no milestone 5 (it defines 1, 2)")
        XCTAssertEqual(try problem("abilities", "ab-w", ["roleRequirements": ["designer": 5]]),
                       "roleRequirements[designer]: Writes clearly has no milestone 5 (it defines 1, 2)")
        XCTAssertNil(try problem("abilities", "ab-w", ["roleRequirements": ["designer": 2]]))
        XCTAssertNil(try problem("abilities", "ab-w", ["milestones": ["5": ["title": "Writes the book"]], "roleRequirements": ["designer": 5]]),
                     "a milestone defined in the same write")
        XCTAssertNil(try problem("abilities", "ab-new", ["name": "Listens", "roleRequirements": ["designer": 3]]), "no milestones defined yet: nothing to hold to")
        // An entry that already names nothing (from sync, or `chorus map-set`) refuses only a
        // write that touches it, not every later edit of the ability.
        _ = try replica.write(collection: "abilities", record: "ab-w", [.mapSet(field: "examples", key: "e9", value: ["milestone": 5, "text": "A book"])])
        XCTAssertNil(try problem("abilities", "ab-w", ["examples": ["e1": ["milestone": 1, "text": "Notes"]]]))
        XCTAssertNil(try problem("abilities", "ab-w", ["milestones": ["3": ["title": "Clear strategy"]]]))
        XCTAssertEqual(try problem("abilities", "ab-w", ["examples": ["e9": ["milestone": 5, "text": "A longer book"]]]),
                       "examples[e9]: Writes clearly has no milestone 5 (it defines 1, 2)")
        // Removing a milestone an entry names leaves that entry naming nothing.
        _ = try replica.write(collection: "abilities", record: "ab-w", [.mapSet(field: "roleRequirements", key: "designer", value: 1)])
        XCTAssertEqual(try problem("abilities", "ab-w", ["milestones": ["1": .null]]),
                       "roleRequirements[designer]: Writes clearly has no milestone 1 (it defines 2)")
    }

    func test_aMilestoneInUse_cannotBeRemoved_untilNobodyStandsAtIt() throws {
        XCTAssertEqual(try problem("abilities", "ab-w", ["milestones": ["2": .null]]),
                       "milestone 2 of Writes clearly is in use (1 people at it, 0 public observations citing it): move them first")
        XCTAssertNil(try problem("abilities", "ab-w", ["milestones": ["1": .null]]), "nobody at milestone 1")
        _ = try replica.write(collection: "observations", record: "obs-1", [.put(field: "person", value: "p-2"), .put(field: "ability", value: "ab-w"),
                                                                            .put(field: "milestone", value: 1)])
        XCTAssertEqual(try problem("abilities", "ab-w", ["milestones": ["1": .null]]),
                       "milestone 1 of Writes clearly is in use (0 people at it, 1 public observations citing it): move them first")
        _ = try replica.write(collection: "people", record: "p-1", [.mapSet(field: "careerSteps", key: "ab-w", value: 1)])
        _ = try replica.write(collection: "observations", record: "obs-1", [.put(field: "milestone", value: 2)])
        XCTAssertEqual(try problem("abilities", "ab-w", ["milestones": ["2": .null]]),
                       "milestone 2 of Writes clearly is in use (0 people at it, 1 public observations citing it): move them first")
        // A private one is not counted: the refusal would tell the writer it exists.
        _ = try replica.write(collection: "observations", record: "obs-1", [.put(field: "visibility", value: "private")])
        XCTAssertNil(try problem("abilities", "ab-w", ["milestones": ["2": .null]]), "a private observation tells nobody it exists")
        _ = try replica.write(collection: "observations", record: "obs-1", [.put(field: "visibility", value: "public")])
        _ = try replica.write(collection: "observations", record: "obs-1", [.delete])
        XCTAssertNil(try problem("abilities", "ab-w", ["milestones": ["2": .null]]), "a withdrawn observation cites nothing")
    }

    /// An ability that defined no milestones (any 1 to 5 went) defining its first leaves out the
    /// others: people at those are in use as if they were removed.
    func test_anAbilitysFirstMilestones_leaveNobodyAtOneItDoesNotDefine() throws {
        _ = try replica.write(collection: "abilities", record: "ab-open", [.put(field: "name", value: "Listens")])
        _ = try replica.write(collection: "people", record: "p-2", [.mapSet(field: "careerSteps", key: "ab-open", value: 5)])
        XCTAssertEqual(try problem("abilities", "ab-open", ["milestones": ["1": ["title": "Hears"], "2": ["title": "Asks"]]]),
                       "milestone 5 of Listens is in use (1 people at it, 0 public observations citing it): move them first")
        XCTAssertNil(try problem("abilities", "ab-open", ["milestones": ["5": ["title": "Listens well"]]]))
    }

    /// Every problem is gathered, so one a write brings is told apart from those the record had.
    func test_problems_gathersEveryProblem_andAWritesOwnIsFoundBehindAnOlderOne() throws {
        _ = try replica.write(collection: "opportunities", record: "o-1", [.put(field: "title", value: "Pairing"), .put(field: "location", value: "remote"),
                                                                           .put(field: "startDate", value: "2026-03-01"), .put(field: "endDate", value: "2026-02-01")])
        let existing = try replica.get(collection: "opportunities", record: "o-1")?.fields
        let both = try DomainReferences.problems(collection: "opportunities", recordID: "o-1", existing: existing, body: ["location": "office"], replica: replica)
        XCTAssertEqual(both.map(\.message), ["endDate 2026-02-01 is before startDate 2026-03-01", "an opportunity in an office says which office"])
        XCTAssertEqual(try DomainReferences.introducedProblem(collection: "opportunities", recordID: "o-1", existing: existing, body: ["location": "office"],
                                                              replica: replica)?.message, "an opportunity in an office says which office")
        XCTAssertNil(try DomainReferences.introducedProblem(collection: "opportunities", recordID: "o-1", existing: existing, body: ["title": "Pair"],
                                                            replica: replica), "the record's own problem is not the write's")
    }

    func test_anObjective_needsAQuarter() throws {
        XCTAssertEqual(try problem("objectives", "o-1", ["owner": "p-1", "ownerKind": "person", "title": "Ship"]),
                       "an objective needs a quarter, \(DomainRules.quarterForm)")
        XCTAssertNil(try problem("objectives", "o-1", ["owner": "p-1", "ownerKind": "person", "title": "Ship", "quarter": "2026-Q4"]))
    }

    func test_anObservation_isOfSomeoneElse() throws {
        let body: [String: JSONValue] = ["person": "p-1", "ability": "ab-w", "milestone": 2, "author": "p-1"]
        XCTAssertEqual(try problem("observations", "obs-9", body),
                       "an observation is of someone else; ask a colleague or your manager to record what they saw")
        XCTAssertNil(try problem("observations", "obs-9", body.merging(["author": "p-2"]) { $1 }))
    }
}
