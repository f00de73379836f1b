import ChorusCore
import ChorusReplica

/// What goes with a person when they are erased (`chorus erase people ID`, the right to be
/// forgotten): the records about them and by them, whose values are theirs as much as their
/// profile's. Erasing the profile alone left private feedback about them, their objectives and
/// the observations of their work readable on every replica, and in every bundle exported after.
///
/// - feedback they gave or received (`from`, `to`);
/// - their own objectives (`ownerKind` person, `owner`);
/// - observations of them, or made by them (`person`, `author`).
///
/// Only what this replica holds when it erases: a record made meanwhile at an office that had
/// not yet learnt of the erasure arrives later, and `chorus erase people ID` run again erases it.
/// Mentions of the id elsewhere (a manager field, a team's members, interest in an opportunity,
/// a comment on someone else's feedback) are not content of theirs and stay.
public enum PersonErasure {
    /// The records, by collection then id; deleted ones included (a deleted record keeps its values).
    public static func relatedRecords(_ replica: Replica, of person: String) throws -> [(collection: String, id: String)] {
        let queries = [
            ("feedback", #"SELECT id FROM feedback WHERE "to" = ?1 OR "from" = ?1 ORDER BY id"#),
            ("objectives", "SELECT id FROM objectives WHERE owner = ?1 AND coalesce(ownerKind, 'person') = 'person' ORDER BY id"),
            ("observations", "SELECT id FROM observations WHERE person = ?1 OR author = ?1 ORDER BY id"),
        ]
        return try replica.withDatabase { db in
            try queries.flatMap { collection, sql in
                try db.query(sql, person).compactMap { $0.text(0) }.map { (collection: collection, id: $0) }
            }
        }
    }
}
