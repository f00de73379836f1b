import ChorusReplica
import SQLiteKit

/// An index kept in the replica connection's temporary schema and brought up to the log before
/// each read: the people search (`PeopleDirectory`) and the feed's order (`FeedOrder`).
///
/// Its state table names the log sequence it was built through and the log's generation (a log
/// started again from a snapshot is numbered anew). Only the records the log touched since are
/// indexed again; all of it is, the first time on a connection, after an erasure, after a
/// compaction past what it had seen, or in a new generation.
enum LogFollowedIndex {
    /// Brings the index whose state is kept in `stateTable` (created here, in `temp`) up to
    /// `replica`'s log: `record` indexes one record again (its rows removed first), `all` every
    /// one (the index emptied first), in one transaction with the state.
    static func refresh(_ replica: Replica, stateTable: String, all: (Database) throws -> Void, record: (Database, Int64) throws -> Void) throws {
        let latest = try replica.latestSequence()
        let generation = try replica.logGeneration()
        try replica.withDatabase { db in
            try db.execute("CREATE TABLE IF NOT EXISTS temp.\(stateTable)(built_through INTEGER NOT NULL, generation INTEGER NOT NULL)")
            let state = try db.queryRow("SELECT built_through, generation FROM temp.\(stateTable)")
            let builtThrough = state?.integer(1) == generation ? state?.integer(0) : nil
            if state != nil, builtThrough == latest { return }
            try db.transaction {
                let touched = try builtThrough.map { try replica.recordsTouched(after: $0) }
                if let builtThrough, builtThrough < latest, let touched, !touched.erasedSince {
                    for rid in touched.records { try record(db, rid) }
                } else {
                    try all(db)
                }
                try db.execute("DELETE FROM temp.\(stateTable)")
                try db.run("INSERT INTO temp.\(stateTable)(built_through, generation) VALUES (?, ?)", latest, generation)
            }
        }
    }
}
