import ChorusCore

/// Who may change what on the people platform. One place, used by the HTTP API and the web page,
/// and documented in `Docs/reference/http.md`.
///
/// | collection | create | update |
/// |---|---|---|
/// | `people` | anyone (onboarding) | the person, or their manager |
/// | `opportunities` | anyone; they become its owner | the owner |
/// | `objectives` | a person's own, or any team's | a person's: the person or their manager; a team's: anyone |
/// | `observations` | anyone; they become its author | the author |
/// | `badges` | anyone; they become its creator | the creator (built-in badges: anyone) |
/// | `teams`, `abilities` | anyone | anyone |
///
/// Everything is attributed (the operation log names the person), so the open rows are open by
/// design, the way the seeds describe a company that trusts its people; concurrent edits are
/// conflicts admins see. The owner fields (`owner`, `author`, `createdBy`) name the person acting
/// when left out, and cannot name someone else: nobody posts in another's name.
public enum WritePolicy {
    /// The field naming who owns a record, for collections that have one.
    public static let ownerField = ["opportunities": "owner", "observations": "author", "badges": "createdBy"]

    /// Why `person` may not make this write, or nil when they may. `existing` is the record's
    /// fields before the write (nil on create); `body` the fields written.
    public static func refusal(collection: String, recordID: String, existing: [String: JSONValue]?, body: [String: JSONValue],
                               person: String, managerOf: (String) throws -> String?) rethrows -> String? {
        let field = ownerField[collection]
        if let field, let named = body[field]?.stringValue, named != person {
            return "\(field) must be you (\(person)): nobody writes in another person's name"
        }
        guard let existing else {   // create
            if collection == "objectives", body["ownerKind"]?.stringValue ?? "person" == "person",
               let owner = body["owner"]?.stringValue, owner != person, try managerOf(owner) != person {
                return "a person's objectives are set by that person or their manager"
            }
            return nil
        }
        switch collection {
        case "people":
            if try recordID == person || managerOf(recordID) == person { return nil }
            return "a profile is edited by its person or their manager"
        case "objectives":
            guard existing["ownerKind"]?.stringValue ?? "person" == "person", let owner = existing["owner"]?.stringValue else { return nil }
            if try owner == person || managerOf(owner) == person { return nil }
            return "a person's objectives are updated by that person or their manager"
        default:
            guard let field, let owner = existing[field]?.stringValue else { return nil }
            return owner == person ? nil : "only its \(field == "createdBy" ? "creator" : field) (\(owner)) may change it"
        }
    }
}
