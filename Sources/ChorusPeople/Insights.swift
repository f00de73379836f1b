import ChorusCore
import ChorusReplica
import SQLiteKit

/// Insights for the people team, computed locally from the materialised tables.
public struct Insights: Sendable {
    public struct TeamSize: Sendable, Equatable {
        public let team: String
        public let name: String
        public let people: Int
        public let flag: String?
    }

    public struct SkillBalance: Sendable, Equatable {
        public let skill: String
        public let label: String
        /// Open opportunities requiring it.
        public let demand: Int
        /// People who have it at the level asked or above (any level counts if unsure).
        public let supply: Int
        public let supplyByOffice: [String: Int]
        public let supplyByTribe: [String: Int]
    }

    public struct AbilityHealth: Sendable, Equatable {
        public let ability: String
        public let name: String
        public let roles: Int
        public let observations: Int
        public let peopleWithMilestone: Int
        public let lastUpdatedWall: UInt64?
        public let flags: [String]
    }

    public let tribes: [TeamSize]
    public let squads: [TeamSize]
    public let skills: [SkillBalance]
    public let abilities: [AbilityHealth]

    /// Tribe size beyond which the Spotify model suggests splitting (about 100 people).
    public static let tribeSplitAt = 100
    /// The healthy squad range.
    public static let squadSizes = 5...10
    /// An ability not updated for this long is flagged (two years).
    public static let staleAfterMilliseconds: UInt64 = 2 * 365 * 24 * 3600 * 1000

    public static func compute(_ replica: Replica, now: UInt64, taxonomy: SkillTaxonomy = .esco) throws -> Insights {
        try replica.withDatabase { db in
            // One pass over people per column (a count per team would scan the people once per team).
            func sizes(_ column: String, kind: String) throws -> [(String, String, Int)] {
                var counts: [String: Int] = [:]
                try db.forEachRow("SELECT \(column), count(*) FROM people WHERE _deleted = 0 AND \(column) IS NOT NULL GROUP BY \(column)") { row in
                    counts[row.text(0)!] = Int(row.integer(1) ?? 0)
                }
                return try db.query("SELECT id, coalesce(name, id) FROM teams WHERE _deleted = 0 AND kind = ? ORDER BY id", kind)
                    .map { ($0.text(0)!, $0.text(1)!, counts[$0.text(0)!] ?? 0) }
            }
            let tribes = try sizes("tribe", kind: "tribe").map { id, name, count in
                TeamSize(team: id, name: name, people: count, flag: count > tribeSplitAt ? "over \(tribeSplitAt) people: time to split" : nil)
            }
            let squads = try sizes("squad", kind: "squad").map { id, name, count in
                TeamSize(team: id, name: name, people: count,
                         flag: squadSizes.contains(count) ? nil : (count < squadSizes.lowerBound ? "under \(squadSizes.lowerBound) people" : "over \(squadSizes.upperBound) people"))
            }
            // Demand: open opportunities' required skills with their minimum level.
            var demand: [String: (count: Int, minLevel: Int)] = [:]
            try db.forEachRow("""
                SELECT r.key, r.value FROM opportunities__requiredSkills r JOIN opportunities o ON o.id = r.id
                WHERE o._deleted = 0 AND coalesce(o.status, 'open') = 'open'
                """) { row in
                let skill = taxonomy.resolve(row.text(0)!).id
                let level = Requirement.level((try? JSONParser().parse(row.text(1) ?? "{}"))?["minLevel"]?.numberValue)
                let current = demand[skill] ?? (0, 5)
                demand[skill] = (current.count + 1, min(current.minLevel, level))
            }
            var supply: [String: (total: Int, office: [String: Int], tribe: [String: Int])] = [:]
            try db.forEachRow("""
                SELECT s.key, s.value, coalesce(p.office, '(none)'), coalesce(p.tribe, '(none)') FROM people__skills s
                JOIN people p ON p.id = s.id WHERE p._deleted = 0
                """) { row in
                let skill = taxonomy.resolve(row.text(0)!).id
                guard let wanted = demand[skill], Int(row.integer(1) ?? 0) >= wanted.minLevel else { return }
                var entry = supply[skill] ?? (0, [:], [:])
                entry.total += 1
                entry.office[row.text(2)!, default: 0] += 1
                entry.tribe[row.text(3)!, default: 0] += 1
                supply[skill] = entry
            }
            let skills = demand.keys.sorted().map { skill in
                SkillBalance(skill: skill, label: taxonomy.skills[skill]?.label ?? taxonomy.resolve(skill).label, demand: demand[skill]!.count,
                             supply: supply[skill]?.total ?? 0, supplyByOffice: supply[skill]?.office ?? [:], supplyByTribe: supply[skill]?.tribe ?? [:])
            }.sorted { ($0.demand - $0.supply, $1.skill) > ($1.demand - $1.supply, $0.skill) }
            // Career framework health (003).
            let abilities = try db.query("SELECT id, coalesce(name, id), _rid FROM abilities WHERE _deleted = 0 ORDER BY id").map { row -> AbilityHealth in
                let id = row.text(0)!
                let roles = Int(try db.queryScalarInteger("SELECT count(*) FROM abilities__roleRequirements WHERE id = ?", id) ?? 0)
                // Public ones only: insights need no identity, and a count that moves would tell
                // that a private observation was written about the ability (`ReadPolicy`).
                let observations = Int(try db.queryScalarInteger(
                    "SELECT count(*) FROM observations WHERE _deleted = 0 AND ability = ? AND coalesce(visibility, 'public') != 'private'", id) ?? 0)
                let achieved = Int(try db.queryScalarInteger("""
                    SELECT count(*) FROM people__careerSteps c JOIN people p ON p.id = c.id WHERE p._deleted = 0 AND c.key = ? AND c.value >= 1
                    """, id) ?? 0)
                let updated = try db.queryScalarInteger("SELECT max(wall) FROM entries WHERE rid = ?", row.integer(2)!).map(UInt64.init)
                var flags: [String] = []
                if roles == 0 { flags.append("used by no role") }
                if observations == 0 { flags.append("no public observations") }
                if achieved == 0 { flags.append("no one has achieved a milestone") }
                if let updated, now > updated, now - updated > staleAfterMilliseconds { flags.append("not updated for over two years") }
                return AbilityHealth(ability: id, name: row.text(1)!, roles: roles, observations: observations, peopleWithMilestone: achieved,
                                     lastUpdatedWall: updated, flags: flags)
            }
            return Insights(tribes: tribes, squads: squads, skills: skills, abilities: abilities)
        }
    }

    public var json: JSONValue {
        func team(_ t: TeamSize) -> JSONValue {
            .object(["team": .string(t.team), "name": .string(t.name), "people": .integer(Int64(t.people)), "flag": t.flag.map(JSONValue.string) ?? .null])
        }
        func counts(_ d: [String: Int]) -> JSONValue { .object(d.mapValues { .integer(Int64($0)) }) }
        return .object([
            "tribes": .array(tribes.map(team)), "squads": .array(squads.map(team)),
            "skills": .array(skills.map { .object(["skill": .string($0.skill), "label": .string($0.label), "demand": .integer(Int64($0.demand)),
                                                   "supply": .integer(Int64($0.supply)), "supplyByOffice": counts($0.supplyByOffice),
                                                   "supplyByTribe": counts($0.supplyByTribe)]) }),
            "abilities": .array(abilities.map { .object(["ability": .string($0.ability), "name": .string($0.name), "roles": .integer(Int64($0.roles)),
                                                         "observations": .integer(Int64($0.observations)), "peopleWithMilestone": .integer(Int64($0.peopleWithMilestone)),
                                                         "lastUpdated": $0.lastUpdatedWall.map { .integer(Int64($0)) } ?? .null,
                                                         "flags": .array($0.flags.map(JSONValue.string))]) }),
        ])
    }
}
