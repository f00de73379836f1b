import XCTest
import ChorusCore
import ChorusPeople
import ChorusReplica

/// Posting an opportunity from free text: skills resolve to ESCO, every value is checked.
final class PostingTests: XCTestCase {
    func test_posting_resolvesSkills_andChecksEveryValue() throws {
        var posting = Posting(title: "Search relevance sprint")
        posting.requiredSkills = ["python:3:must", "SQL:2:2", "Chorus internals"]
        posting.learnableSkills = ["kubernetes"]
        posting.hoursPerWeek = 6
        let changes = try posting.changes(owner: "p-4")
        let python = SkillTaxonomy.esco.resolve("Python (computer programming)").id
        XCTAssertTrue(changes.contains(.mapSet(field: "requiredSkills", key: python, value: ["minLevel": 3, "weight": 1, "mustHave": true])))
        XCTAssertTrue(changes.contains(.mapSet(field: "requiredSkills", key: "custom:chorus internals", value: ["minLevel": 1, "weight": 1, "mustHave": false])),
                      "a skill ESCO lacks is kept as a custom skill")
        XCTAssertTrue(changes.contains(.put(field: "owner", value: "p-4")))
        XCTAssertTrue(changes.contains(.put(field: "status", value: "open")))

        func refusal(_ change: (inout Posting) -> Void) -> String? {
            var bad = Posting(title: "T")
            change(&bad)
            do { _ = try bad.changes(owner: "p-4"); return nil } catch { return error.message }
        }
        XCTAssertNotNil(refusal { $0.requiredSkills = ["python:9"] }, "levels are 1-5")
        XCTAssertNotNil(refusal { $0.requiredSkills = ["python:x"] })
        XCTAssertNotNil(refusal { $0.requiredSkills = [":3"] })
        XCTAssertNotNil(refusal { $0.hoursPerWeek = 0 })
        XCTAssertNotNil(refusal { $0.kind = "gig" })
        XCTAssertEqual(refusal { $0.location = "office" }, "an opportunity in an office says which office")
        XCTAssertNil(refusal { $0.location = "office"; $0.office = "Stockholm" })
        XCTAssertNotNil(refusal { $0.betRank = 11 })
        XCTAssertNotNil(refusal { $0.title = "  " })
        XCTAssertNotNil(refusal { $0.learnableSkills = Array(repeating: "go", count: Posting.skillsMax + 1) })
        // Two names of one skill with two levels, as the API refuses it; the same one twice is one.
        XCTAssertTrue(refusal { $0.requiredSkills = ["python:3", "python3:4"] }?.contains("name the same skill") ?? false)
        XCTAssertNil(refusal { $0.requiredSkills = ["python:3", "Python:3"] })
    }
}
