import XCTest
import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusTesting

final class InsightsTests: XCTestCase {
    func test_teamSizes_skillsSupplyAndDemand_andFrameworkHealth() throws {
        let clock = ManualClock(milliseconds: 1_700_000_000_000)
        let replica = try ReplicaFactory.memory(clock: clock, seed: 3)
        try replica.writeMany([
            ("teams", "tribe-big", [.put(field: "name", value: "Big tribe"), .put(field: "kind", value: "tribe")]),
            ("teams", "squad-small", [.put(field: "name", value: "Small squad"), .put(field: "kind", value: "squad")]),
            ("abilities", "ability-old", [.put(field: "name", value: "Old ability")]),
            ("abilities", "ability-used", [.put(field: "name", value: "Used ability"), .mapSet(field: "roleRequirements", key: "developer", value: 1)]),
        ])
        clock.advance(by: 3 * 365 * 24 * 3600 * 1000)
        var writes: [(collection: String, record: String, changes: [Change])] = []
        for index in 0..<101 {
            writes.append(("people", "p-\(index)", [.put(field: "name", value: .string("P\(index)")), .put(field: "tribe", value: "tribe-big"),
                                                    .put(field: "office", value: .string(index % 2 == 0 ? "Stockholm" : "Tokyo")),
                                                    .mapSet(field: "skills", key: "SQL", value: .integer(Int64(1 + index % 5)))]))
        }
        for index in 0..<3 { writes[index].changes.append(.put(field: "squad", value: "squad-small")) }
        writes[0].changes.append(.mapSet(field: "careerSteps", key: "ability-used", value: 2))
        writes.append(("observations", "obs-1", [.put(field: "person", value: "p-0"), .put(field: "ability", value: "ability-used"), .put(field: "milestone", value: 2)]))
        writes.append(("abilities", "ability-used", [.put(field: "description", value: "refreshed")]))
        writes.append(("opportunities", "o-1", [.put(field: "status", value: "open"),
                                                .mapSet(field: "requiredSkills", key: "SQL", value: ["minLevel": 4, "weight": 1, "mustHave": false])]))
        try replica.writeMany(writes)

        let insights = try Insights.compute(replica, now: clock.nowMilliseconds())
        XCTAssertEqual(insights.tribes.first?.people, 101)
        XCTAssertEqual(insights.tribes.first?.flag, "over 100 people: time to split")
        XCTAssertEqual(insights.squads.first?.flag, "under 5 people")
        let sql = try XCTUnwrap(insights.skills.first)
        XCTAssertEqual(sql.demand, 1)
        XCTAssertEqual(sql.supply, (0..<101).filter { 1 + $0 % 5 >= 4 }.count, "only people at the level asked count")
        XCTAssertEqual(sql.supplyByOffice.values.reduce(0, +), sql.supply)
        let old = try XCTUnwrap(insights.abilities.first { $0.ability == "ability-old" })
        XCTAssertEqual(old.flags, ["used by no role", "no public observations", "no one has achieved a milestone", "not updated for over two years"])
        let used = try XCTUnwrap(insights.abilities.first { $0.ability == "ability-used" })
        XCTAssertEqual(used.flags, [], "used by a role, observed, achieved and recently updated")
    }

    /// What a sweep found the figures leaving out or counting twice: people in no team listed, an
    /// empty tribe, two keys naming one skill, observations of a person who left.
    func test_figuresCountEachOnce_andSayWhomTheyLeaveOut() throws {
        let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_700_000_000_000), seed: 5)
        var writes: [(collection: String, record: String, changes: [Change])] = [
            ("teams", "tribe-1", [.put(field: "name", value: "One"), .put(field: "kind", value: "tribe")]),
            ("teams", "tribe-empty", [.put(field: "name", value: "Empty"), .put(field: "kind", value: "tribe")]),
            ("teams", "squad-1", [.put(field: "name", value: "Kept"), .put(field: "kind", value: "squad")]),
            ("teams", "squad-gone", [.put(field: "name", value: "Gone"), .put(field: "kind", value: "squad")]),
            ("abilities", "ab", [.put(field: "name", value: "Writes")]),
        ]
        for index in 0..<6 {
            writes.append(("people", "p-\(index)", [.put(field: "name", value: .string("P\(index)")),
                                                    .put(field: "tribe", value: index == 5 ? "tribe-unknown" : "tribe-1"),
                                                    .put(field: "squad", value: index < 2 ? "squad-gone" : index < 5 ? "squad-1" : .null),
                                                    .mapSet(field: "skills", key: "SQL", value: 2)]))
        }
        writes[10].changes.append(.mapSet(field: "skills", key: "sql", value: 4))   // p-5, after the five teams and abilities
        writes.append(("opportunities", "o-1", [.put(field: "status", value: "open"),
                                                .mapSet(field: "requiredSkills", key: "SQL", value: ["minLevel": 3]),
                                                .mapSet(field: "requiredSkills", key: "sql", value: ["minLevel": 2])]))
        for (id, person) in [("obs-1", "p-1"), ("obs-2", "p-2")] {
            writes.append(("observations", id, [.put(field: "person", value: .string(person)), .put(field: "ability", value: "ab"),
                                                .put(field: "milestone", value: 1), .put(field: "author", value: "p-3")]))
        }
        try replica.writeMany(writes)
        try replica.writeMany([("teams", "squad-gone", [.delete]), ("people", "p-1", [.delete])])

        let insights = try Insights.compute(replica, now: 1_700_000_000_000)
        XCTAssertEqual(insights.withoutTribe, 1, "p-5 names a tribe that is not here")
        XCTAssertEqual(insights.withoutSquad, 2, "p-0 in a deleted squad, p-5 in none (p-1 left)")
        XCTAssertEqual(insights.tribes.first { $0.team == "tribe-empty" }?.flag, "no people")
        let sql = try XCTUnwrap(insights.skills.first)
        XCTAssertEqual(sql.demand, 1, "one opportunity, however many of its keys name the skill")
        XCTAssertEqual(sql.level, 2, "counted at the lowest level asked")
        XCTAssertEqual(sql.supply, 5, "each person here once (p-5's two keys are one skill)")
        XCTAssertEqual(insights.abilities.first?.observations, 1, "the observation of a person who left is not counted")
    }
}
