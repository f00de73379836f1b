import ChorusReplica
import ChorusCore

/// Who may read a private record, beside feedback (whose four levels are in `Feedback`).
///
/// | record | private: who reads it |
/// |---|---|
/// | objective of a person (private, or a draft) | the person and their manager |
/// | objective of a team | its members, by the team's kind: a squad's, tribe's or chapter's are the people naming it as theirs; a guild's, those who joined it |
/// | objective of a department | the people of its tribes (those whose tribe's parent it is) |
/// | observation | the person observed, its author, and the person's manager (since they became it) |
///
/// A person's squad, tribe and chapter are set by their manager (`WritePolicy.managerFields`);
/// guilds are communities anyone joins, so a guild's private objectives are its joiners', and a
/// guild's membership reads no other kind of team's; a team's kind never changes once set
/// (`WritePolicy`). A team `lookup` does not find (never written here, erased, or deleted:
/// the people API's lookup skips deleted records) counts the people naming it as their squad,
/// tribe or chapter; a person it does not find is nobody's manager and no team's member. Team records themselves
/// are open to everyone (a reorganisation is an ordinary edit, attributed in the log): whoever sets
/// their own tribe's `parent` to a department reads that department's private objectives.
///
/// What a person may not read is never sent: lists leave it out and a direct read answers 404,
/// so nobody learns it exists.
public enum ReadPolicy {
    /// The objectives every person reads, as an SQL condition on the `objectives` table: public
    /// and not a draft (the company's published objectives; `mayRead` for the others).
    public static let publishedObjectivesSQL = "coalesce(visibility, 'public') = 'public' AND coalesce(status, 'published') <> 'draft'"

    /// `person`'s manager, as their profile names them, when `lookup` finds both profiles: a person
    /// whose profile is deleted (they left) is nobody's manager, so they no longer read their former
    /// reports' private records, and the reports set their own manager again (`WritePolicy`).
    public static func manager(of person: String, lookup: (String, String) throws -> [String: JSONValue]?) rethrows -> String? {
        guard let manager = try lookup("people", person)?["manager"]?.stringValue, try lookup("people", manager) != nil else { return nil }
        return manager
    }

    /// Whether `manager` has been `report`'s manager since the record was made: the private records
    /// others write about a person for their manager (manager-only feedback, private observations)
    /// are read by the manager they were written for, and those after. A person whose manager left
    /// names a new one themselves (`WritePolicy`), and a sweep found that a friend so named read
    /// every manager-only item about them written before. Compared by the hybrid clock's wall
    /// times: the write of the `manager` value the profile shows against the record's oldest value.
    /// Writing the same manager again over HTTP is no write (`PeopleAPI.changes`); an admin's
    /// resolution of a conflict on it, or the manager leaving and coming back, starts again. Two
    /// offices' clocks may be apart by up to the skew bound, so a record and a manager change made
    /// at two offices within it may be ordered either way.
    public static func managedSinceMade(collection: String, record: String, replica: Replica) -> (_ report: String, _ manager: String) throws -> Bool {
        { report, manager in
            guard let made = try madeAt(collection: collection, record: record, replica: replica) else { return true }
            return readsSince(try managerSince(report: report, manager: manager, replica: replica), made: made)
        }
    }

    /// Whether a manager since `since` reads a record made at `made`: when it was made or later
    /// (none found holds nothing back).
    public static func readsSince(_ since: Int64?, made: Int64) -> Bool { since.map { $0 <= made } ?? true }

    /// When the record was made: the wall time of the field written once when it is made (a
    /// feedback item's `from`, an observation's `person`, as `madeField` names), else of its oldest
    /// value; nil when it has none here.
    public static func madeAt(collection: String, record: String, replica: Replica) throws -> Int64? {
        try replica.withDatabase { db in
            // By the record's own rid: a join to the entries view read every entry (a review).
            guard let rid = try db.queryScalarInteger("SELECT rid FROM records WHERE collection = ? AND record = ?", collection, record) else { return nil }
            if let field = madeField[collection], let made = try db.queryScalarInteger("SELECT min(wall) FROM entries WHERE rid = ? AND field = ?", rid, field) {
                return made
            }
            return try db.queryScalarInteger("SELECT min(wall) FROM entries WHERE rid = ?", rid)
        }
    }

    /// The field each collection's records are made with and keep: when it was written is when the
    /// record was made (one seek; the feed orders by it too, `Feedback.visiblePage`).
    public static let madeField = ["feedback": "from", "observations": "person"]

    /// When `manager` became `report`'s manager: the newest live write of that value to the
    /// report's `manager` (nil when none is found: then nothing is held back).
    public static func managerSince(report: String, manager: String, replica: Replica) throws -> Int64? {
        try replica.withDatabase { db in
            guard let rid = try db.queryScalarInteger("SELECT rid FROM records WHERE collection = 'people' AND record = ?", report) else { return nil }
            return try db.queryScalarInteger("SELECT max(wall) FROM entries WHERE rid = ? AND field = 'manager' AND value = ?",
                                             rid, JSONValue.string(manager).canonicalText)
        }
    }

    /// `lookup(collection, id)` on `replica`: a record's live fields, nil when it is deleted, erased
    /// or never written here (what `mayRead` and `WritePolicy` take): a deleted profile (someone
    /// who left) is nobody's manager and no team's member, and a deleted team counts as one with
    /// no record.
    public static func visibleFields(_ replica: Replica) -> (String, String) throws -> [String: JSONValue]? {
        { collection, id in try replica.get(collection: collection, record: id).flatMap { $0.isVisible ? $0.fields : nil } }
    }

    /// Whether `viewer` may read the record; `lookup(collection, id)` reads another record's fields
    /// (a person, a team); `managedSinceMade(report, manager)` whether the manager has been so since
    /// the record was made (`managedSinceMade(collection:record:replica:)`; no default, so no
    /// caller reads without it).
    public static func mayRead(collection: String, fields: [String: JSONValue], viewer: String?,
                               lookup: (String, String) throws -> [String: JSONValue]?,
                               managedSinceMade: (String, String) throws -> Bool) rethrows -> Bool {
        switch collection {
        case "objectives":
            // A draft is not published yet: read as a private one is until it is.
            guard !isPublic(fields) || fields["status"]?.stringValue == "draft" else { return true }
            guard let viewer, let owner = fields["owner"]?.stringValue else { return false }
            if fields["ownerKind"]?.stringValue ?? "person" == "person" {
                return try viewer == owner || manager(of: owner, lookup: lookup) == viewer
            }
            guard let me = try lookup("people", viewer) else { return false }
            return try isMember(me, of: owner, lookup: lookup)
        case "observations":
            guard !isPublic(fields) else { return true }
            guard let viewer else { return false }
            let observed = fields["person"]?.stringValue
            if viewer == observed || viewer == fields["author"]?.stringValue { return true }
            guard let observed, try manager(of: observed, lookup: lookup) == viewer else { return false }
            return try managedSinceMade(observed, viewer)
        default:
            return true
        }
    }

    /// Whether a record's `visibility` lets everyone read it: `public`, or none given. Any other
    /// value is read as `private`: one this version does not know (from a newer one, through
    /// sync, where values are not checked against the platform's rules) once made an objective
    /// or observation readable by everyone, where lists (`publishedObjectivesSQL`) hid it.
    static func isPublic(_ fields: [String: JSONValue]) -> Bool {
        switch fields["visibility"] {
        case nil, .null?: return true
        case let value?: return value.stringValue == "public"
        }
    }

    /// Whether the person whose profile is `me` belongs to the team `team`, as its kind says.
    static func isMember(_ me: [String: JSONValue], of team: String, lookup: (String, String) throws -> [String: JSONValue]?) rethrows -> Bool {
        func named(_ field: String) -> Bool { me[field]?.stringValue == team }
        switch try lookup("teams", team)?["kind"]?.stringValue {
        case "squad"?: return named("squad")
        case "tribe"?: return named("tribe")
        case "chapter"?: return named("chapter")
        case "guild"?: return me["guilds"]?.arrayValue?.contains(.string(team)) ?? false
        case "department"?:
            return try me["tribe"]?.stringValue.flatMap { try lookup("teams", $0)?["parent"]?.stringValue } == team
        default:
            return named("squad") || named("tribe") || named("chapter")
        }
    }
}
