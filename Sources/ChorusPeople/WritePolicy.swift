import ChorusCore

/// Who may change what on the people platform. One place, used by the HTTP API and the web page,
/// and documented in `Docs/reference/http.md` ("Who may change what").
///
/// | collection | create | update |
/// |---|---|---|
/// | `people` | anyone (onboarding) | the person, or their manager; `manager`, `careerSteps`, `squad`, `tribe` and `chapter` only the manager (the person, if they have none) |
/// | `opportunities` | anyone; they become its owner | the owner |
/// | `objectives` | a person's: the person or their manager; a team's: anyone | the same, for the objective before and after the change; a team's `visibility` and `status` only its members |
/// | `observations` | anyone; they become its author | the author |
/// | `badges` | anyone; they become its creator | the creator (built-in badges: anyone, and they stay without one) |
/// | `teams` | anyone | anyone; `kind` never changes once set |
/// | `abilities` | anyone | anyone |
///
/// Everything is attributed (the operation log names the person), so the open rows are open by
/// design, the way the seeds describe a company that trusts its people; concurrent edits are
/// conflicts admins see. The owner fields (`owner`, `author`, `createdBy`) name the person acting
/// when left out, cannot name someone else, are set only when the record is made, and never
/// change: nobody writes in another's name or takes over what someone else made (a built-in
/// badge, made with no creator, stays everyone's). Who reads a team's objective (`visibility`,
/// and `status`: a draft is read as a private one) is its members' to change: anyone else
/// could hide a team's objectives from the whole company, themselves included, for good.
public enum WritePolicy {
    /// The field naming who owns a record, for the collections written through the generic routes
    /// (feedback's `from` is `Feedback.give`'s): `Authorship.madeByField`, which a laptop bound to
    /// a person is held to as well.
    public static let ownerField = Authorship.madeByField.filter { ["opportunities", "observations", "badges"].contains($0.key) }

    /// Fields only Chorus sets: `opportunities.interested` is each person's own, through
    /// `POST`/`DELETE /api/v1/opportunities/{id}/interest` (written directly, nobody signs another up).
    public static let systemFields: Set<String> = ["badges.isCustom", "opportunities.interested"]

    /// Fields of a profile that only the person's manager changes (the person, when they have no manager).
    /// Squad, tribe and chapter say which teams' private objectives a person reads (`ReadPolicy`),
    /// so a person does not join one by editing their own profile; guilds are joined freely.
    public static let managerFields: Set<String> = ["manager", "careerSteps", "squad", "tribe", "chapter"]

    /// A refused write: what is wrong and what to do instead.
    public struct Refusal: Error, Equatable, Sendable {
        public let message: String
        public let hint: String
    }

    /// Why `person` may not make this write, or nil when they may. `existing` is the record's
    /// fields before the write (nil on create); `body` the fields written; `lookup(collection, id)`
    /// reads another record's live fields (a person, a team), as `ReadPolicy.mayRead` does.
    public static func refusal(collection: String, recordID: String, existing: [String: JSONValue]?, body: [String: JSONValue],
                               person: String, lookup: (String, String) throws -> [String: JSONValue]?) rethrows -> Refusal? {
        func managerOf(_ id: String) throws -> String? { try ReadPolicy.manager(of: id, lookup: lookup) }
        if let system = body.keys.sorted().first(where: { systemFields.contains("\(collection).\($0)") }) {
            return Refusal(message: "\(system) is set by Chorus", hint: system == "interested"
                ? "each person registers their own interest: POST /api/v1/opportunities/{id}/interest" : "leave \(system) out")
        }
        // An owner field is never cleared: a record left without one would be anyone's to claim.
        let ownerFields = collection == "objectives" ? ["owner", "ownerKind"] : ownerField[collection].map { [$0] } ?? []
        if let field = ownerFields.first(where: { body[$0] == .null }) {
            return Refusal(message: "\(field) cannot be cleared", hint: "leave \(field) out")
        }
        if let field = ownerField[collection], let named = body[field]?.stringValue {
            if let current = existing?[field]?.stringValue, named != current {
                return Refusal(message: "\(field) cannot change once set (it is \(current))", hint: "leave \(field) out; post a new one instead")
            }
            if let existing, existing[field] == nil {
                return Refusal(message: "\(field) is set when the record is made: this one has none, and stays everyone's to change",
                               hint: "leave \(field) out")
            }
            if existing?[field] == nil, named != person {
                return Refusal(message: "\(field) must be you (\(person)): nobody writes in another person's name", hint: "leave \(field) out: it becomes you")
            }
        }
        switch collection {
        case "people":
            guard existing != nil else { return nil }
            let manager = try managerOf(recordID)
            let isManager = manager != nil && manager == person
            if let field = body.keys.sorted().first(where: managerFields.contains), !isManager, !(manager == nil && recordID == person) {
                return Refusal(message: "\(field) is changed by the person's manager\(manager.map { " (\($0))" } ?? "")",
                               hint: "ask the manager to make this change")
            }
            if recordID == person || isManager { return nil }
            return Refusal(message: "a profile is edited by its person or their manager", hint: "ask \(recordID) or their manager")
        case "objectives":
            // Whose objective it is never changes once set: taking a team's over as one's own, or
            // handing one's own to someone else, is a new objective.
            // One with an owner and no kind is read as a person's (as everywhere): its kind is set too.
            var settled = existing ?? [:]
            if settled["owner"].map({ $0 != .null }) ?? false, settled["ownerKind"] == nil || settled["ownerKind"] == .null { settled["ownerKind"] = "person" }
            if existing != nil, let field = ["ownerKind", "owner"].first(where: { name in
                body[name].map { given in settled[name].map { $0 != .null && $0 != given } ?? false } ?? false
            }) {
                return Refusal(message: "\(field) of an objective cannot change once set (it is \(settled[field]?.stringValue ?? "?"))",
                               hint: "leave \(field) out; create a new objective instead")
            }
            // The objective before the change (if any) and after it must both be the person's to set.
            var states: [[String: JSONValue]] = [body.merging(existing ?? [:]) { given, _ in given }]
            if let existing { states.append(existing) }
            for (index, state) in states.enumerated() where state["ownerKind"]?.stringValue ?? "person" == "person" {
                guard let owner = state["owner"]?.stringValue else { continue }
                guard try lookup("people", owner) != nil else {
                    // The objective as it is, of a person with no profile here (they left, or it
                    // has not synced yet): no one here can be told to be them or their manager,
                    // and the references' check lets through a problem the record had already,
                    // so anyone could edit, hide or unpublish it (a read-only audit).
                    if existing != nil && index == states.count - 1 && owner != person {
                        return Refusal(message: "this objective is \(owner)'s, who has no profile here: no one here can change it for them",
                                       hint: "change it where \(owner)'s profile is, or restore their profile first")
                    }
                    // A new owner with no profile here is a reference to nothing: the references'
                    // check says so (422, "no person ..."), where this said to ask them.
                    continue
                }
                if try owner != person && managerOf(owner) != person {
                    return Refusal(message: "a person's objectives are set by that person or their manager", hint: "ask \(owner) or their manager")
                }
            }
            let after = states[0]
            if after["ownerKind"]?.stringValue ?? "person" != "person", let team = after["owner"]?.stringValue,
               let field = [("visibility", "public"), ("status", "published")].first(where: { name, unset in
                   body[name].map { ($0.stringValue ?? unset) != (existing?[name]?.stringValue ?? unset) } ?? false
               })?.0,
               try !(lookup("people", person).map { try ReadPolicy.isMember($0, of: team, lookup: lookup) } ?? false) {
                return Refusal(message: "the \(field) of team \(team)'s objective is set by its members: it says who reads the objective",
                               hint: "ask a member of \(team)")
            }
            return nil
        case "teams":
            // Which people a team's private objectives are read by follows its kind (`ReadPolicy`):
            // a squad turned guild would be joined by anyone, and its people would lose it.
            if let kind = existing?["kind"]?.stringValue, let given = body["kind"], given != .string(kind) {
                return Refusal(message: "a team's kind cannot change once set (it is \(kind))", hint: "create a new team of the other kind instead")
            }
            return nil
        default:
            guard existing != nil, let field = ownerField[collection], let owner = existing?[field]?.stringValue else { return nil }
            return owner == person ? nil : Refusal(message: "only its \(field == "createdBy" ? "creator" : field) (\(owner)) may change it",
                                                   hint: "ask \(owner)")
        }
    }
}
