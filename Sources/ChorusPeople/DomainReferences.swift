import ChorusCore
import ChorusReplica

/// Checks that a write refers to things this node knows: the person and ability an observation
/// is about, the abilities of career steps, a person's manager, the team owning a team objective,
/// the person filling an opportunity, the people and badge of a feedback item an admin settles,
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

    /// The first problem with writing `body` over `existing` (nil on create), or nil.
    public static func problem(collection: String, recordID: String, existing: [String: JSONValue]?, body: [String: JSONValue],
                               replica: Replica) throws -> Problem? {
        func live(_ collection: String, _ id: String) throws -> RecordSnapshot? {
            guard let record = try replica.get(collection: collection, record: id), record.isVisible else { return nil }
            return record
        }
        let after = body.merging(existing ?? [:]) { given, _ in given }
        switch collection {
        case "observations":
            for field in ["person", "ability", "milestone"] where after[field] == nil || after[field] == .null {
                return Problem(status: 422, message: "an observation needs person, ability and milestone; \(field) is missing")
            }
            if let person = body["person"]?.stringValue, try live("people", person) == nil { return Problem(status: 422, message: "no person \(person.prefix(128))") }
            if let abilityID = after["ability"]?.stringValue {
                guard let ability = try live("abilities", abilityID) else { return Problem(status: 422, message: "no ability \(abilityID.prefix(128))") }
                if let milestone = after["milestone"]?.integerValue, let problem = undefined(milestone, in: ability) { return problem }
            }
        case "people":
            if case .object(let steps)? = body["careerSteps"] {
                for (abilityID, milestone) in steps.sorted(by: { $0.key < $1.key }) where milestone != .null {
                    guard let ability = try live("abilities", abilityID) else { return Problem(status: 422, message: "careerSteps: no ability \(abilityID.prefix(128))") }
                    if let level = milestone.numberValue.flatMap({ Int64(exactly: $0) }), let problem = undefined(level, in: ability) { return problem }
                }
            }
            if let manager = body["manager"]?.stringValue {
                if manager == recordID { return Problem(status: 422, message: "nobody is their own manager") }
                if try live("people", manager) == nil { return Problem(status: 422, message: "no person \(manager.prefix(128)) to be the manager") }
                // Nor someone who reports to the person, up the chain: who reports to whom would
                // loop, and a report would edit their manager's profile and read what a manager reads.
                var above = manager
                for _ in 0..<managerChainLengthMax {
                    guard let next = try live("people", above)?.fields["manager"]?.stringValue else { break }
                    if next == recordID {
                        return Problem(status: 422, message: "\(manager.prefix(128)) reports to \(recordID.prefix(128))\(above == manager ? "" : " (through \(above.prefix(128)))"), so cannot be their manager")
                    }
                    above = next
                }
            }
            if let email = body["email"]?.stringValue, let problem = try takenEmail(email, writtenOn: recordID, replica: replica) { return problem }
        case "opportunities":
            if let person = body["filledBy"]?.stringValue, try live("people", person) == nil { return Problem(status: 422, message: "no person \(person.prefix(128)) to fill it") }
            for field in ["startDate", "endDate"] {
                guard let date = body[field]?.stringValue, date.hasSuffix("-02-29"), let year = Int(date.prefix(4)) else { continue }
                if !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) { return Problem(status: 422, message: "\(field): \(year) has no 29 February") }
            }
            // Both are `YYYY-MM-DD`, so text order is date order.
            if let start = after["startDate"]?.stringValue, let end = after["endDate"]?.stringValue, end < start {
                return Problem(status: 422, message: "endDate \(end) is before startDate \(start)")
            }
        case "feedback":
            // Only an admin settling a conflict writes these one by one (`give` checks them whole).
            for field in ["from", "to"] {
                if let person = body[field]?.stringValue, try live("people", person) == nil { return Problem(status: 422, message: "no person \(person.prefix(128))") }
            }
            if let from = after["from"]?.stringValue, from == after["to"]?.stringValue { return Problem(status: 422, message: "feedback goes to someone else") }
            if let badge = body["badge"]?.stringValue {
                if try live("badges", badge) == nil { return Problem(status: 422, message: "no badge \(badge.prefix(128))") }
            }
            if let refusal = Feedback.badgeRefusal(kind: after["kind"]?.stringValue ?? "feedback", badge: after["badge"]?.stringValue) {
                return Problem(status: 422, message: refusal.message)
            }
        case "objectives":
            let kind = after["ownerKind"]?.stringValue ?? "person"
            guard let owner = after["owner"]?.stringValue else { return Problem(status: 422, message: "an objective needs an owner") }
            if kind == "person" {
                if try live("people", owner) == nil { return Problem(status: 422, message: "no person \(owner.prefix(128)) to own it") }
            } else {
                guard let team = try live("teams", owner) else { return Problem(status: 422, message: "no team \(owner.prefix(128)) to own it") }
                let teamKind = team.fields["kind"]?.stringValue
                if (kind == "department") != (teamKind == "department") {
                    return Problem(status: 422, message: "\(owner.prefix(128)) is a \(teamKind ?? "team without a kind"), not a \(kind)")
                }
            }
        default:
            break
        }
        return nil
    }

    /// A milestone the ability does not define (when it defines any: 003's abilities stop at 4).
    static func undefined(_ milestone: Int64, in ability: RecordSnapshot) -> Problem? {
        guard case .object(let milestones)? = ability.fields["milestones"], !milestones.isEmpty, milestones[String(milestone)] == nil else { return nil }
        let defined = milestones.keys.sorted().joined(separator: ", ")
        return Problem(status: 422, message: "\(ability.fields["name"]?.stringValue ?? ability.id) has no milestone \(milestone) (it defines \(defined))")
    }
}
