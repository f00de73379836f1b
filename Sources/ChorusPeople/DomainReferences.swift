import ChorusCore
import ChorusReplica

/// Checks that a write refers to things this node knows: the person and ability an observation
/// is about, the abilities of career steps, the team owning a team objective, and that an email
/// is not someone else's. Checked when a person writes; what arrives by sync is merged as it is
/// (an office may learn of an ability after an observation of it), and duplicate emails that
/// two offices create at once are conflicts admins resolve. A reference to nothing answers 422 (the
/// request is well formed; what it names is not there); an email already taken answers 409.
public enum DomainReferences {
    public struct Problem: Error, Equatable, Sendable {
        public let status: Int
        public let message: String
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
            if let ability = body["ability"]?.stringValue, try live("abilities", ability) == nil { return Problem(status: 422, message: "no ability \(ability.prefix(128))") }
        case "people":
            if case .object(let steps)? = body["careerSteps"] {
                for (ability, milestone) in steps.sorted(by: { $0.key < $1.key }) where milestone != .null {
                    if try live("abilities", ability) == nil { return Problem(status: 422, message: "careerSteps: no ability \(ability.prefix(128))") }
                }
            }
            if let manager = body["manager"]?.stringValue {
                if manager == recordID { return Problem(status: 422, message: "nobody is their own manager") }
                if try live("people", manager) == nil { return Problem(status: 422, message: "no person \(manager.prefix(128)) to be the manager") }
            }
            if let email = body["email"]?.stringValue {
                let taken = try replica.withDatabase { db in
                    try db.queryScalarText("SELECT id FROM people WHERE email = ? COLLATE NOCASE AND id <> ? AND _deleted = 0 LIMIT 1", email, recordID)
                }
                if let taken { return Problem(status: 409, message: "\(email.prefix(200)) is already the email of \(taken)") }
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
}
