import ChorusCore

/// Who may read a private record, beside feedback (whose four levels are in `Feedback`).
///
/// | record | private: who reads it |
/// |---|---|
/// | objective of a person | the person and their manager |
/// | objective of a team or department | its members (squad, tribe, chapter or guild) |
///
/// A person's squad, tribe and chapter are set by their manager (`WritePolicy.managerFields`);
/// guilds are communities anyone joins, so a guild's private objectives are its joiners'.
/// | observation | the person observed, its author, and the person's manager |
///
/// What a person may not read is never sent: lists leave it out and a direct read answers 404,
/// so nobody learns it exists.
public enum ReadPolicy {
    /// Whether `viewer` may read the record; `person` reads a person's fields.
    public static func mayRead(collection: String, fields: [String: JSONValue], viewer: String?,
                               person: (String) throws -> [String: JSONValue]?) rethrows -> Bool {
        switch collection {
        case "objectives":
            guard fields["visibility"]?.stringValue == "private" else { return true }
            guard let viewer, let owner = fields["owner"]?.stringValue else { return false }
            if fields["ownerKind"]?.stringValue ?? "person" == "person" {
                return try viewer == owner || person(owner)?["manager"]?.stringValue == viewer
            }
            guard let me = try person(viewer) else { return false }
            let teams = ["squad", "tribe", "chapter"].compactMap { me[$0]?.stringValue } + (me["guilds"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            return teams.contains(owner)
        case "observations":
            guard fields["visibility"]?.stringValue == "private" else { return true }
            guard let viewer else { return false }
            let observed = fields["person"]?.stringValue
            if viewer == observed || viewer == fields["author"]?.stringValue { return true }
            return try observed.flatMap { try person($0)?["manager"]?.stringValue } == viewer
        default:
            return true
        }
    }
}
