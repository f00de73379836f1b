import ChorusCore
import SQLiteKit

extension Replica {
    /// Checks the replica's own invariants; returns a description of each violation (empty when
    /// sound). Tests call it after every batch; `chorus check` runs it for operators.
    public func invariantViolations() throws -> [String] {
        try Replica.wrapStorage {
            var problems: [String] = []
            func expectNone(_ sql: String, _ message: String) throws {
                let count = try database.queryScalarInteger("SELECT count(*) FROM (\(sql))") ?? 0
                if count > 0 { problems.append("\(message) (\(count))") }
            }
            try expectNone("""
                SELECT 1 FROM entries e JOIN superseded s
                ON s.rid = e.rid AND s.field = e.field AND s.replica = e.replica AND s.counter = e.counter
                """, "live entries that are superseded")
            try expectNone("""
                SELECT 1 FROM deletes d JOIN superseded s
                ON s.rid = d.rid AND s.field = '\(StorageSchema.recordField)' AND s.replica = d.replica AND s.counter = d.counter
                """, "live deletes that a restore superseded")
            try expectNone("""
                SELECT rid, field, key FROM entries WHERE kind IN ('register', 'map')
                GROUP BY rid, field, key HAVING count(*) >= 2
                EXCEPT SELECT rid, field, key FROM conflicts WHERE kind IN ('register', 'map')
                """, "conflicts missing from the conflict index")
            try expectNone("""
                SELECT rid, field, key FROM conflicts WHERE kind IN ('register', 'map')
                EXCEPT SELECT rid, field, key FROM entries GROUP BY rid, field, key HAVING count(*) >= 2
                """, "conflict index entries with fewer than two live values")
            try expectNone("SELECT 1 FROM records r JOIN erased x ON x.hash = r.hash", "erased records still present")
            try expectNone("SELECT 1 FROM oplog WHERE payload IS NOT NULL AND rid IS NULL AND payload NOT LIKE '%\"action\":\"erase\"%'",
                           "logged operations detached from their record")
            // `log_ids` holds exactly the log's ids: each logged id is in an interval, the log holds
            // no id twice, and the intervals count as many ids as the log has rows.
            try expectNone("""
                SELECT 1 FROM oplog o WHERE NOT EXISTS (
                    SELECT 1 FROM log_ids i WHERE i.replica = o.replica AND i.first <= o.counter AND i.last >= o.counter)
                """, "logged operations missing from log_ids")
            try expectNone("SELECT 1 FROM oplog GROUP BY replica, counter HAVING count(*) > 1", "operations logged twice")
            try expectNone("""
                SELECT 1 WHERE (SELECT coalesce(sum(last - first + 1), 0) FROM log_ids) != (SELECT count(*) FROM oplog)
                """, "log_ids counting ids the log does not hold")
            try expectNone("SELECT 1 FROM entries e LEFT JOIN records r ON r.rid = e.rid WHERE r.rid IS NULL", "entries of unknown records")
            // The display rule of `DisplayRule.swift` in SQL: `o` displays over `e`. It honours the
            // test fault like the Swift rule, so this checks that the columns agree with what this
            // replica displays; whether replicas agree with each other is the digest's to show.
            let displayRuleSQL = configuration.faults.displayLatestArrival ? "o.seq > e.seq"
                : "(o.wall, o.logical, o.replica, o.counter) > (e.wall, e.logical, e.replica, e.counter)"
            for collection in schema.collections {
                let table = StorageSchema.quote(collection.name)
                try expectNone("SELECT 1 FROM records r LEFT JOIN \(table) t ON t._rid = r.rid WHERE r.collection = '\(collection.name)' AND t._rid IS NULL",
                               "\(collection.name) records missing from their table")
                try expectNone("SELECT 1 FROM records r JOIN \(table) t ON t._rid = r.rid WHERE t._deleted != (1 - r.visible)",
                               "\(collection.name) rows whose _deleted disagrees with the merge state")
                for field in collection.fields where field.kind == .register {
                    try expectNone("""
                        SELECT 1 FROM \(table) t WHERE t.\(StorageSchema.quote(field.name)) IS NOT
                            (SELECT CASE WHEN e.value IS NULL OR e.value = 'null' THEN NULL
                                         WHEN json_type(e.value) IN ('object', 'array') THEN e.value
                                         WHEN json_type(e.value) = 'true' THEN 1 WHEN json_type(e.value) = 'false' THEN 0
                                         ELSE json_extract(e.value, '$') END
                             FROM entries e WHERE e.rid = t._rid AND e.field = '\(field.name)' AND e.key = '' AND NOT EXISTS (
                                SELECT 1 FROM entries o WHERE o.rid = e.rid AND o.field = e.field AND o.key = ''
                                AND \(displayRuleSQL)))
                        """, "\(collection.name).\(field.name) column disagrees with the displayed value")
                }
            }
            return problems
        }
    }
}
