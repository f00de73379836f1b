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
        /// Open opportunities requiring it (each once, however many of its keys name the skill).
        public let demand: Int
        /// The lowest level an open opportunity asks of it: what supply is counted at.
        public let level: Int
        /// People who have it at `level` or above (each once: two keys naming one skill count as
        /// the person's higher level).
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
    /// People counted in no tribe listed (none named, or one deleted or not a tribe here), and
    /// likewise for squads: the sizes above leave them out, so this says how many.
    public let withoutTribe: Int
    public let withoutSquad: Int
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
            // A tribe's size is the people naming it as their tribe (not its squads' people: a
            // squad's `parent` says where it sits, a person's `tribe` where they belong).
            let tribes = try sizes("tribe", kind: "tribe").map { id, name, count in
                TeamSize(team: id, name: name, people: count,
                         flag: count > tribeSplitAt ? "over \(tribeSplitAt) people: time to split" : count == 0 ? "no people" : nil)
            }
            let squads = try sizes("squad", kind: "squad").map { id, name, count in
                TeamSize(team: id, name: name, people: count,
                         flag: squadSizes.contains(count) ? nil : (count < squadSizes.lowerBound ? "under \(squadSizes.lowerBound) people" : "over \(squadSizes.upperBound) people"))
            }
            // One pass over people for both.
            let without = try db.queryRow("""
                SELECT coalesce(sum(NOT EXISTS (SELECT 1 FROM teams t WHERE t.id = p.tribe AND t._deleted = 0 AND t.kind = 'tribe')), 0),
                       coalesce(sum(NOT EXISTS (SELECT 1 FROM teams t WHERE t.id = p.squad AND t._deleted = 0 AND t.kind = 'squad')), 0)
                FROM people p WHERE p._deleted = 0
                """)
            let withoutTribe = Int(without?.integer(0) ?? 0), withoutSquad = Int(without?.integer(1) ?? 0)
            // Demand: the open opportunities asking for each skill, and the lowest level asked;
            // those that ended are not open (`DomainRules.hasEnded`). Two keys of one opportunity
            // may name one skill ("SQL" and "sql", written a key at a time): the opportunity
            // counts once, as matching counts it once.
            var demand: [String: (opportunities: Set<String>, minLevel: Int)] = [:]
            try db.forEachRow("""
                SELECT r.key, r.value, r.id FROM opportunities__requiredSkills r JOIN opportunities o ON o.id = r.id
                WHERE o._deleted = 0 AND coalesce(o.status, 'open') = 'open' AND NOT \(DomainRules.endedSQL("o.endDate", today: "?"))
                """, parameters: [DomainRules.date(unixMilliseconds: now)]) { row in
                let skill = taxonomy.resolve(row.text(0)!).id
                let level = Requirement.level((try? JSONParser().parse(row.text(1) ?? "{}"))?["minLevel"]?.numberValue)
                var current = demand[skill] ?? ([], 5)
                current.opportunities.insert(row.text(2)!)
                current.minLevel = min(current.minLevel, level)
                demand[skill] = current
            }
            // Supply: each person once per skill, at the highest level their keys for it give.
            var held: [String: [String: (level: Int, office: String, tribe: String)]] = [:]
            try db.forEachRow("""
                SELECT s.key, s.value, coalesce(p.office, '(none)'), coalesce(p.tribe, '(none)'), p.id FROM people__skills s
                JOIN people p ON p.id = s.id WHERE p._deleted = 0
                """) { row in
                let skill = taxonomy.resolve(row.text(0)!).id
                guard demand[skill] != nil else { return }
                let level = Int(row.integer(1) ?? 0), person = row.text(4)!
                if let known = held[skill]?[person], known.level >= level { return }
                held[skill, default: [:]][person] = (level, row.text(2)!, row.text(3)!)
            }
            var supply: [String: (total: Int, office: [String: Int], tribe: [String: Int])] = [:]
            for (skill, people) in held {
                let wanted = demand[skill]!.minLevel
                var entry: (total: Int, office: [String: Int], tribe: [String: Int]) = (0, [:], [:])
                for person in people.values where person.level >= wanted {
                    entry.total += 1
                    entry.office[person.office, default: 0] += 1
                    entry.tribe[person.tribe, default: 0] += 1
                }
                supply[skill] = entry
            }
            let skills = demand.keys.sorted().map { skill in
                SkillBalance(skill: skill, label: taxonomy.skills[skill]?.label ?? taxonomy.resolve(skill).label, demand: demand[skill]!.opportunities.count,
                             level: demand[skill]!.minLevel,
                             supply: supply[skill]?.total ?? 0, supplyByOffice: supply[skill]?.office ?? [:], supplyByTribe: supply[skill]?.tribe ?? [:])
            }.sorted { ($0.demand - $0.supply, $1.skill) > ($1.demand - $1.supply, $0.skill) }
            // Career framework health (003).
            let abilities = try db.query("SELECT id, coalesce(name, id), _rid FROM abilities WHERE _deleted = 0 ORDER BY id").map { row -> AbilityHealth in
                let id = row.text(0)!
                let roles = Int(try db.queryScalarInteger("SELECT count(*) FROM abilities__roleRequirements WHERE id = ?", id) ?? 0)
                // Public ones only: insights need no identity, and a count that moves would tell
                // that a private observation was written about the ability (`ReadPolicy`). Of people
                // still here, as the milestones beside them (a deleted person's are not served).
                let observations = Int(try db.queryScalarInteger("""
                    SELECT count(*) FROM observations o JOIN people p ON p.id = o.person AND p._deleted = 0
                    WHERE o._deleted = 0 AND o.ability = ? AND coalesce(o.visibility, 'public') = 'public'
                    """, id) ?? 0)
                let achieved = Int(try db.queryScalarInteger("""
                    SELECT count(*) FROM people__careerSteps c JOIN people p ON p.id = c.id WHERE p._deleted = 0 AND c.key = ? AND c.value >= 1
                    """, id) ?? 0)
                // The newest value the ability holds. A removal leaves no value behind, so an edit
                // that only removes (a role requirement dropped) does not count as an update.
                let updated = try db.queryScalarInteger("SELECT max(wall) FROM entries WHERE rid = ?", row.integer(2)!).map(UInt64.init(clamping:))
                var flags: [String] = []
                if roles == 0 { flags.append("used by no role") }
                if observations == 0 { flags.append("no public observations") }
                if achieved == 0 { flags.append("no one has achieved a milestone") }
                if let updated, now > updated, now - updated > staleAfterMilliseconds { flags.append("not updated for over two years") }
                return AbilityHealth(ability: id, name: row.text(1)!, roles: roles, observations: observations, peopleWithMilestone: achieved,
                                     lastUpdatedWall: updated, flags: flags)
            }
            return Insights(tribes: tribes, squads: squads, withoutTribe: withoutTribe, withoutSquad: withoutSquad, skills: skills, abilities: abilities)
        }
    }

    public var json: JSONValue {
        func team(_ t: TeamSize) -> JSONValue {
            .object(["team": .string(t.team), "name": .string(t.name), "people": .integer(Int64(t.people)), "flag": t.flag.map(JSONValue.string) ?? .null])
        }
        func counts(_ d: [String: Int]) -> JSONValue { .object(d.mapValues { .integer(Int64($0)) }) }
        return .object([
            "tribes": .array(tribes.map(team)), "squads": .array(squads.map(team)),
            "withoutTribe": .integer(Int64(withoutTribe)), "withoutSquad": .integer(Int64(withoutSquad)),
            "skills": .array(skills.map { .object(["skill": .string($0.skill), "label": .string($0.label), "demand": .integer(Int64($0.demand)),
                                                   "level": .integer(Int64($0.level)),
                                                   "supply": .integer(Int64($0.supply)), "supplyByOffice": counts($0.supplyByOffice),
                                                   "supplyByTribe": counts($0.supplyByTribe)]) }),
            "abilities": .array(abilities.map { .object(["ability": .string($0.ability), "name": .string($0.name), "roles": .integer(Int64($0.roles)),
                                                         "observations": .integer(Int64($0.observations)), "peopleWithMilestone": .integer(Int64($0.peopleWithMilestone)),
                                                         "lastUpdated": $0.lastUpdatedWall.map { .integer(Int64($0)) } ?? .null,
                                                         "flags": .array($0.flags.map(JSONValue.string))]) }),
        ])
    }
}
