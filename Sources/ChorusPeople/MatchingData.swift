import ChorusCore
import ChorusReplica
import SQLiteKit

/// Reads what matching needs from a replica's materialised tables, in bulk (one query per table).
public enum MatchingData {
    /// Today's UTC date by the replica's clock, as dates are written: what an opportunity's end
    /// date is compared with.
    public static func today(of replica: Replica) -> String {
        DomainRules.date(unixMilliseconds: replica.configuration.wallClock.nowMilliseconds())
    }

    /// Every visible person, as matching sees them; only `person` when given (one person's
    /// matches should not read the whole directory).
    public static func candidates(_ replica: Replica, only person: String? = nil, taxonomy: SkillTaxonomy = .esco) throws -> [Candidate] {
        try replica.withDatabase { db in
            let filter = person == nil ? "" : " WHERE id = ?"
            let parameters: [SQLiteBindable] = person.map { [$0] } ?? []
            var skills: [String: [String: Int]] = [:]
            try db.forEachRow("SELECT id, key, value FROM people__skills\(filter)", parameters: parameters) { row in
                // Two keys naming one skill (typed at one office, an ESCO id at another): the
                // higher level counts, not the key that sorts last (as `Insights` counts it).
                if let level = row.integer(2) {
                    let id = taxonomy.resolve(row.text(1)!).id, person = row.text(0)!
                    skills[person, default: [:]][id] = max(skills[person]?[id] ?? 1, Int(max(1, min(5, level))))
                }
            }
            var goals: [String: Set<String>] = [:]
            try db.forEachRow("SELECT id, element FROM people__developmentGoals\(filter)", parameters: parameters) { row in
                goals[row.text(0)!, default: []].insert(taxonomy.resolve(row.text(1)!).id)
            }
            // Past roles' skills: the brief matches on experience too (it was read by nothing).
            var roles: [String: [JSONValue]] = [:]
            try db.forEachRow("SELECT id, value FROM people__experience\(filter)", parameters: parameters) { row in
                if let text = row.text(1), let value = try? JSONParser().parse(text) { roles[row.text(0)!, default: []].append(value) }
            }
            return try db.query("SELECT id, hoursPerWeekAvailable FROM people WHERE _deleted = 0\(person == nil ? "" : " AND id = ?") ORDER BY id",
                                parameters: parameters).map { row in
                let id = row.text(0)!
                return Candidate(id: id, skills: skills[id] ?? [:], goals: goals[id] ?? [], hoursPerWeek: row.integer(1).map(Int.init),
                                 experienced: Candidate.experienced(roles[id] ?? [], taxonomy: taxonomy))
            }
        }
    }

    /// Every visible opportunity (only open ones unless asked), as matching sees them; only
    /// `opportunity` when given.
    public static func opportunities(_ replica: Replica, includeClosed: Bool = false, only opportunity: String? = nil,
                                     taxonomy: SkillTaxonomy = .esco) throws -> [OpportunityProfile] {
        try replica.withDatabase { db in
            let filter = opportunity == nil ? "" : " WHERE id = ?"
            let parameters: [SQLiteBindable] = opportunity.map { [$0] } ?? []
            var required: [String: [Requirement]] = [:]
            try db.forEachRow("SELECT id, key, value FROM opportunities__requiredSkills\(filter) ORDER BY id, key", parameters: parameters) { row in
                let spec = (try? JSONParser().parse(row.text(2) ?? "{}")) ?? .object([:])
                required[row.text(0)!, default: []].append(Requirement(skill: taxonomy.resolve(row.text(1)!).id,
                                                                        minLevel: Requirement.level(spec["minLevel"]?.numberValue),
                                                                        weight: spec["weight"]?.numberValue ?? 1, mustHave: spec["mustHave"]?.boolValue ?? false))
            }
            var learnable: [String: Set<String>] = [:]
            try db.forEachRow("SELECT id, element FROM opportunities__learnableSkills\(filter)", parameters: parameters) { row in
                learnable[row.text(0)!, default: []].insert(taxonomy.resolve(row.text(1)!).id)
            }
            // One that ended reads `ended`, and is matched to no one, as one closed: its status may
            // still say open (a read-only audit found them matched, and taking interest, years on).
            let today = MatchingData.today(of: replica)
            return try db.query("SELECT id, hoursPerWeek, status, owner, endDate FROM opportunities WHERE _deleted = 0\(opportunity == nil ? "" : " AND id = ?") ORDER BY id",
                                parameters: parameters).compactMap { row in
                let id = row.text(0)!
                let written = row.text(2) ?? "open"
                let status = written == "open" && DomainRules.hasEnded(endDate: row.text(4), today: today) ? DomainRules.endedStatus : written
                if !includeClosed, status != "open" { return nil }
                return OpportunityProfile(id: id, required: required[id] ?? [], learnable: learnable[id] ?? [], hoursPerWeek: row.integer(1).map(Int.init),
                                          owner: row.text(3), status: status)
            }
        }
    }
}
