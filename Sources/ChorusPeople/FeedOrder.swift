import ChorusCore
import ChorusReplica
import SQLiteKit

/// The feed's order, kept on the replica's connection (`temp.feed_order`): each feedback item
/// held and not deleted, with its recipient and when it was given (the wall time of its `from`,
/// `ReadPolicy.madeField`), indexed newest first.
///
/// Why: the feed worked out when every item was given, and sorted them all, for each request:
/// 36 to 56 ms a page at 5,000 items (release build, `chorus seed --people 10000`), growing with
/// the feedback a company keeps, while the replica's one queue waited. Kept here, a page is an
/// index walk. It is brought up to date before each read, as the people search is
/// (`LogFollowedIndex`): the records the log touched since, or all of it again after an
/// erasure, a compaction past what it had seen, or a log started again from a snapshot.
enum FeedOrder {
    /// Brings `temp.feed_order` up to date with `replica`'s log (`LogFollowedIndex`).
    static func refresh(_ replica: Replica) throws {
        let made = ReadPolicy.madeField["feedback"] ?? "from"
        try replica.withDatabase { db in
            try db.execute("""
                CREATE TABLE IF NOT EXISTS temp.feed_order(rid INTEGER PRIMARY KEY, id TEXT NOT NULL, recipient TEXT, given INTEGER NOT NULL);
                CREATE INDEX IF NOT EXISTS temp.feed_order_given ON feed_order(given DESC, id DESC);
                CREATE INDEX IF NOT EXISTS temp.feed_order_recipient ON feed_order(recipient, given DESC, id DESC);
                """)
        }
        try LogFollowedIndex.refresh(replica, stateTable: "feed_order_state", all: { db in
            try db.execute("DELETE FROM temp.feed_order")
            try db.run(insertSQL, made)
        }, record: { db, rid in
            try db.run("DELETE FROM temp.feed_order WHERE rid = ?", rid)
            try db.run(insertSQL + " AND f._rid = ?2", made, rid)
        })
    }

    /// The items held and not deleted, with when each was given (`?1`: the made field's name).
    /// Unordered: the index orders them.
    private static let insertSQL = """
        INSERT INTO temp.feed_order(rid, id, recipient, given)
            SELECT f._rid, f.id, f."to", coalesce((SELECT min(e.wall) FROM entries e WHERE e.rid = f._rid AND e.field = ?1), 0)
            FROM main.feedback f WHERE f._deleted = 0
        """

    /// Up to `limit` items (id and when given) newest first, after `cursor`, only to `recipient`
    /// when given, as the order was at the last `refresh`.
    static func page(_ replica: Replica, recipient: String?, after cursor: Feedback.PageCursor?, limit: Int) throws -> [(id: String, given: Int64)] {
        try replica.withDatabase { db in
            let after = cursor == nil ? "" : " AND (given < ?2 OR (given = ?2 AND id < ?3))"
            let sql = recipient == nil
                ? "SELECT id, given FROM temp.feed_order WHERE ?1 IS NULL\(after) ORDER BY given DESC, id DESC LIMIT ?4"
                : "SELECT id, given FROM temp.feed_order WHERE recipient = ?1\(after) ORDER BY given DESC, id DESC LIMIT ?4"
            return try db.query(sql, recipient, cursor?.given, cursor?.id, limit).compactMap { row in row.text(0).map { ($0, row.integer(1) ?? 0) } }
        }
    }
}
