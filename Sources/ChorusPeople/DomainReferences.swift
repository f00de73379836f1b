import ChorusCore
import ChorusReplica

/// Checks that a write refers to things this node knows: the person and ability an observation
/// is about, the abilities of career steps, a person's manager and the squad, tribe and chapter
/// they are in (a team of that kind: a mistyped one dropped them from every team's size), the
/// milestones an ability's examples and role requirements name (and a milestone removed while
/// people stand at it or observations cite it), the team owning a team objective and its quarter,
/// the person filling an opportunity (and the office of one in an office), the people and badge of a feedback item an admin settles,
/// and that an email is not someone else's; and that an opportunity's dates are days its years
/// have, in order. Checked when a person writes; what arrives by sync is merged as it is
/// (an office may learn of an ability after an observation of it), and duplicate emails that
/// two offices create at once are conflicts admins resolve. A reference to nothing answers 422 (the
/// request is well formed; what it names is not there); an email already taken answers 409.
public enum DomainReferences {
    public struct Problem: Error, Equatable, Sendable {
        public let status: Int
        public let message: String
    }

    /// How far up the management chain a new manager is followed looking for the person it is
    /// written on (a loop). A deeper chain than any company's is cut there and let through.
    public static let managerChainLengthMax = 64

    /// 409 when `email` is already another person's here (case aside), or nil. Writes outside the
    /// API check this too (`chorus put`): only two replicas apart make a duplicate-email conflict.
    public static func takenEmail(_ email: String, writtenOn person: String, replica: Replica) throws -> Problem? {
        let taken = try replica.withDatabase { db in
            try db.queryScalarText("SELECT id FROM people WHERE email = ? COLLATE NOCASE AND id <> ? AND _deleted = 0 LIMIT 1", email, person)
        }
        return taken.map { Problem(status: 409, message: "\(email.prefix(200)) is already the email of \($0)") }
    }

    /// The problem writing `body` brings to the record. On a record that exists, a problem it had
    /// before the write (an objective from before quarters were required, an opportunity synced
    /// without its office, two offices' dates crossed) is not the write's: it would refuse every
    /// later edit of the record, even the one that mends it. On a new record every problem is.
    /// Every problem is gathered, before and after, so a write's own is found whatever the record
    /// already had (comparing only the first let a write through behind an older problem).
    public static func introducedProblem(collection: String, recordID: String, existing: [String: JSONValue]?, body: [String: JSONValue],
                                         replica: Replica) throws -> Problem? {
        let found = try problems(collection: collection, recordID: recordID, existing: existing, body: body, replica: replica)
        guard let existing, !found.isEmpty else { return found.first }
        let before = try problems(collection: collection, recordID: recordID, existing: existing, body: [:], replica: replica)
        return found.first { !before.contains($0) }
    }

    /// Every problem with writing `body` over `existing` (nil on create), in the order checked.
    public static func problems(collection: String, recordID: String, existing: [String: JSONValue]?, body: [String: JSONValue],
                                replica: Replica) throws -> [Problem] {
        func live(_ collection: String, _ id: String) throws -> RecordSnapshot? {
            guard let record = try replica.get(collection: collection, record: id), record.isVisible else { return nil }
            return record
        }
        var found: [Problem] = []
        func add(_ message: String) { found.append(Problem(status: 422, message: message)) }
        let after = body.merging(existing ?? [:]) { given, _ in given }
        switch collection {
        case "observations":
            for field in ["person", "ability", "milestone"] where after[field] == nil || after[field] == .null {
                add("an observation needs person, ability and milestone; \(field) is missing")
            }
            if let person = body["person"]?.stringValue, try live("people", person) == nil { add("no person \(person.prefix(128))") }
            // Observations are evidence others give: one of oneself would count toward the
            // framework's health and one's own step as if a colleague had seen it.
            if let person = after["person"]?.stringValue, person == after["author"]?.stringValue {
                add("an observation is of someone else; ask a colleague or your manager to record what they saw")
            }
            if let abilityID = after["ability"]?.stringValue {
                if let ability = try live("abilities", abilityID) {
                    if let milestone = after["milestone"]?.integerValue, let problem = undefined(milestone, in: ability) { found.append(problem) }
                } else {
                    add("no ability \(abilityID.prefix(128))")
                }
            }
        case "people":
            if case .object(let steps)? = body["careerSteps"] {
                for (abilityID, milestone) in steps.sorted(by: { $0.key < $1.key }) where milestone != .null {
                    guard let ability = try live("abilities", abilityID) else { add("careerSteps: no ability \(abilityID.prefix(128))"); continue }
                    if let level = milestone.numberValue.flatMap({ Int64(exactly: $0) }), let problem = undefined(level, in: ability) { found.append(problem) }
                }
            }
            if let manager = body["manager"]?.stringValue {
                if manager == recordID {
                    add("nobody is their own manager")
                } else if try live("people", manager) == nil {
                    add("no person \(manager.prefix(128)) to be the manager")
                } else {
                    // Nor someone who reports to the person, up the chain: who reports to whom would
                    // loop, and a report would edit their manager's profile and read what a manager reads.
                    var above = manager
                    for _ in 0..<managerChainLengthMax {
                        guard let next = try live("people", above)?.fields["manager"]?.stringValue else { break }
                        if next == recordID {
                            add("\(manager.prefix(128)) reports to \(recordID.prefix(128))\(above == manager ? "" : " (through \(above.prefix(128)))"), so cannot be their manager")
                            break
                        }
                        above = next
                    }
                }
            }
            if let email = body["email"]?.stringValue, let problem = try takenEmail(email, writtenOn: recordID, replica: replica) { found.append(problem) }
            // Guilds are left free: people start one by joining it.
            for field in ["squad", "tribe", "chapter"] {
                guard let teamID = body[field]?.stringValue else { continue }
                guard let team = try live("teams", teamID) else { add("no team \(teamID.prefix(128)) to be the \(field)"); continue }
                let kind = team.fields["kind"]?.stringValue
                if kind != field { add("\(teamID.prefix(128)) is a \(kind ?? "team without a kind"), not a \(field)") }
            }
        case "abilities":
            if let problem = try abilityProblem(recordID: recordID, existing: existing, body: body, replica: replica) { found.append(problem) }
        case "opportunities":
            if let person = body["filledBy"]?.stringValue, try live("people", person) == nil { add("no person \(person.prefix(128)) to fill it") }
            for field in ["startDate", "endDate"] {
                guard let date = body[field]?.stringValue, date.hasSuffix("-02-29"), let year = Int(date.prefix(4)) else { continue }
                if !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) { add("\(field): \(year) has no 29 February") }
            }
            // Both are `YYYY-MM-DD`, so text order is date order.
            if let start = after["startDate"]?.stringValue, let end = after["endDate"]?.stringValue, end < start {
                add("endDate \(end) is before startDate \(start)")
            }
            if let problem = DomainRules.officeProblem(location: after["location"]?.stringValue, office: after["office"]?.stringValue) { add(problem) }
        case "feedback":
            // Only an admin settling a conflict writes these one by one (`give` checks them whole).
            for field in ["from", "to"] {
                if let person = body[field]?.stringValue, try live("people", person) == nil { add("no person \(person.prefix(128))") }
            }
            if let from = after["from"]?.stringValue, from == after["to"]?.stringValue { add("feedback goes to someone else") }
            if let badge = body["badge"]?.stringValue, try live("badges", badge) == nil { add("no badge \(badge.prefix(128))") }
            if let refusal = Feedback.badgeRefusal(kind: after["kind"]?.stringValue ?? "feedback", badge: after["badge"]?.stringValue) {
                add(refusal.message)
            }
        case "objectives":
            let kind = after["ownerKind"]?.stringValue ?? "person"
            // Objectives are quarterly: one without a quarter was listed under none, in every list.
            if after["quarter"]?.stringValue == nil { add("an objective needs a quarter, \(DomainRules.quarterForm)") }
            if let owner = after["owner"]?.stringValue {
                if kind == "person" {
                    if try live("people", owner) == nil { add("no person \(owner.prefix(128)) to own it") }
                } else if let team = try live("teams", owner) {
                    let teamKind = team.fields["kind"]?.stringValue
                    if (kind == "department") != (teamKind == "department") {
                        add("\(owner.prefix(128)) is a \(teamKind ?? "team without a kind"), not a \(kind)")
                    }
                } else {
                    add("no team \(owner.prefix(128)) to own it")
                }
            } else {
                add("an objective needs an owner")
            }
        default:
            break
        }
        return found
    }

    /// An ability's own references: the milestones its examples and role requirements name must
    /// be ones it defines (when it defines any), and a milestone removed must not be one people
    /// stand at or public observations cite (they would name a milestone that is not there, which
    /// a write of them is refused for). Only what the write touches is checked: the entries it
    /// sets, and those left naming a milestone it removes, so an older entry that names nothing
    /// (from sync, or `chorus map-set`) does not refuse every later edit of the ability.
    /// Private observations are not counted: the refusal would tell the writer one exists.
    static func abilityProblem(recordID: String, existing: [String: JSONValue]?, body: [String: JSONValue], replica: Replica) throws -> Problem? {
        let milestones = patched(existing?["milestones"], body["milestones"])
        let defined = Set(milestones.keys.compactMap { Int64($0) })
        let before = existing?["milestones"]?.objectValue ?? [:]
        // The milestones that stop being defined: those removed, or, when an ability that defined
        // none (any 1 to 5 went) defines its first, every one it leaves out.
        let beforeDefined = Set(before.keys.compactMap { Int64($0) })
        let removed = beforeDefined.isEmpty && !defined.isEmpty ? Set(Int64(1)...5).subtracting(defined)
            : Set((body["milestones"]?.objectValue ?? [:]).compactMap { key, value in value == .null && before[key] != nil ? Int64(key) : nil })
        let name = (body["name"] ?? existing?["name"])?.stringValue ?? recordID
        let definedText = defined.sorted().map(String.init).joined(separator: ", ")
        if !defined.isEmpty {
            for (field, milestoneOf) in [("examples", { (value: JSONValue) in value["milestone"] }), ("roleRequirements", { (value: JSONValue) in value })] {
                let set = body[field]?.objectValue ?? [:]
                for (key, value) in patched(existing?[field], body[field]).sorted(by: { $0.key < $1.key }) {
                    guard let milestone = milestoneOf(value)?.numberValue.flatMap({ Int64(exactly: $0) }), !defined.contains(milestone),
                          set[key] != nil || removed.contains(milestone) else { continue }
                    return Problem(status: 422, message: "\(field)[\(key.prefix(128))]: \(name.prefix(128)) has no milestone \(milestone) (it defines \(definedText))")
                }
            }
        }
        for milestone in removed.sorted() {
            let (people, observations) = try replica.withDatabase { db in
                (try db.queryScalarInteger("""
                    SELECT count(*) FROM people__careerSteps s JOIN people p ON p.id = s.id AND p._deleted = 0 WHERE s.key = ? AND s.value = ?
                    """, recordID, milestone) ?? 0,
                 try db.queryScalarInteger("""
                    SELECT count(*) FROM observations WHERE ability = ? AND milestone = ? AND _deleted = 0 AND coalesce(visibility, 'public') = 'public'
                    """, recordID, milestone) ?? 0)
            }
            if people > 0 || observations > 0 {
                return Problem(status: 422, message: "milestone \(milestone) of \(name.prefix(128)) is in use (\(people) people at it, \(observations) public observations citing it): move them first")
            }
        }
        return nil
    }

    /// A map field after a write: the body's keys over the record's, a null removing its key.
    static func patched(_ existing: JSONValue?, _ change: JSONValue?) -> [String: JSONValue] {
        var map = existing?.objectValue ?? [:]
        // Removed explicitly: `map[key] = nil` would store JSON null (JSONValue takes `nil` as null).
        for (key, value) in change?.objectValue ?? [:] {
            if value == .null { map.removeValue(forKey: key) } else { map[key] = value }
        }
        return map
    }

    /// A milestone the ability does not define (when it defines any: 003's abilities stop at 4).
    static func undefined(_ milestone: Int64, in ability: RecordSnapshot) -> Problem? {
        guard case .object(let milestones)? = ability.fields["milestones"], !milestones.isEmpty, milestones[String(milestone)] == nil else { return nil }
        let defined = milestones.keys.sorted().joined(separator: ", ")
        return Problem(status: 422, message: "\(ability.fields["name"]?.stringValue ?? ability.id) has no milestone \(milestone) (it defines \(defined))")
    }
}
