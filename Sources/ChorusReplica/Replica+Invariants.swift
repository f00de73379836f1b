import ChorusCore
import SQLiteKit

extension Replica {
    /// Checks the replica's own invariants; returns a description of each violation (empty when
    /// sound). Tests call it after every batch; `chorus check` runs it for operators.
    public func invariantViolations() throws -> [String] {
        try Replica.wrapStorage { try database.readTransaction {
            var problems: [String] = []
            func expectNone(_ sql: String, _ message: String) throws {
                let count = try database.queryScalarInteger("SELECT count(*) FROM (\(sql))") ?? 0
                if count > 0 { problems.append("\(message) (\(count))") }
            }
            // Folded entries first: every later check reads them through the views, which fail
            // on a body that does not decode or a value its typed row cannot give; only that damage
            // skips them (unknown origins, fields and kinds read as NULL names, and are reported).
            var viewsUnreadable = false
            do {
                let folded = try EntryRows.surveyFolded(database, schema: schema)
                for (count, what) in [(folded.unknownOrigins, "origins"), (folded.unknownFields, "fields"), (folded.unknownKinds, "kinds"),
                                      (folded.valuesInUnknownColumns, "typed columns")] where count > 0 {
                    problems.append("folded entries of unknown \(what) (\(count))")
                }
                // The values kept in typed columns: a typed row lost under a folded record, or a
                // column that cannot be read back as JSON, loses its values (found by the survey).
                // A column changed under a folded record changes them unseen here (the checks
                // below read the values from that same column); peers' digests show it.
                if folded.keptValuesUnreadable > 0 {
                    problems.append("folded records whose values kept in typed columns cannot be read (\(folded.keptValuesUnreadable))")
                }
                viewsUnreadable = folded.keptValuesUnreadable > 0 || folded.valuesInUnknownColumns > 0
            } catch let error as ChorusError where error.code == .storage {
                problems.append(error.message)   // a damaged body: named, not a failure of the check
                viewsUnreadable = true
            }
            if viewsUnreadable {
                return problems + ["the checks that read entries were skipped: they cannot read the folded entries above"]
            }
            // Every live entry, read once into a table of this connection's own, indexed by field
            // and record: the checks below look entries up by record for each row, and through the
            // `entries` view each lookup decoded every folded record again (18 s for a replica
            // of 3,000 records that came by import, against 1.4 s with its entries in rows).
            try database.execute("""
                DROP TABLE IF EXISTS temp.check_entries;
                CREATE TEMP TABLE check_entries AS SELECT rid, field, key, replica, counter, wall, logical, kind, value, seq FROM entries;
                CREATE INDEX temp.check_entries_by_field ON check_entries(field, rid, key);
                """)
            defer { try? database.execute("DROP TABLE IF EXISTS temp.check_entries") }
            try expectNone("""
                SELECT 1 FROM check_entries e JOIN superseded s
                ON s.rid = e.rid AND s.field = e.field AND s.replica = e.replica AND s.counter = e.counter
                """, "live entries that are superseded")
            try expectNone("""
                SELECT 1 FROM deletes d JOIN superseded s
                ON s.rid = d.rid AND s.field = '\(StorageSchema.recordField)' AND s.replica = d.replica AND s.counter = d.counter
                """, "live deletes that a restore superseded")
            try expectNone("SELECT rid FROM (\(StorageSchema.conflictedKeysSQL)) EXCEPT SELECT rid FROM conflicted_records",
                           "records with conflicts missing from the conflict index")
            try expectNone("SELECT rid FROM conflicted_records EXCEPT SELECT rid FROM (\(StorageSchema.conflictedKeysSQL))",
                           "conflict index entries for records with no key holding two live values")
            try expectNone("SELECT 1 FROM conflicts WHERE kind != 'editedWhileDeleted'",
                           "value conflicts in the edited-while-deleted index")
            let stillPresent = try database.query("SELECT hash FROM erased").compactMap { $0.blob(0) }.filter { try recordNamed(byHash: $0) != nil }
            if !stillPresent.isEmpty { problems.append("erased records still present (\(stillPresent.count))") }
            do {
                problems += try logViolations()
            } catch let error as ChorusError where error.code == .storage {
                problems.append(error.message)   // a damaged block: named, not a failure of the check
            }
            try expectNone("SELECT 1 FROM entry_rows e LEFT JOIN records r ON r.rid = e.rid WHERE r.rid IS NULL", "entries of unknown records")
            try expectNone(EntryRows.foldedOfUnknownRecordsSQL, "folded entries of unknown records")
            try expectNone(EntryRows.foldedAndUnfoldedSQL, "records with entries both folded and in rows")
            try expectNone(EntryRows.unknownOriginsSQL, "entries of unknown origins")
            try expectNone(EntryRows.unknownFieldsSQL, "entries of unknown fields")
            try expectNone(EntryRows.unknownKindsSQL, "entries of unknown kinds")
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
                // An entry's value as a column holds it (`Replica.sqlValue`).
                let columnValueSQL = """
                    CASE WHEN e.value IS NULL OR e.value = 'null' THEN NULL
                         WHEN json_type(e.value) IN ('object', 'array') THEN e.value
                         WHEN json_type(e.value) = 'true' THEN 1 WHEN json_type(e.value) = 'false' THEN 0
                         ELSE json_extract(e.value, '$') END
                    """
                for field in collection.fields where field.kind == .register {
                    try expectNone("""
                        SELECT 1 FROM \(table) t WHERE t.\(StorageSchema.quote(field.name)) IS NOT
                            (SELECT \(columnValueSQL)
                             FROM check_entries e WHERE e.field = '\(field.name)' AND e.rid = t._rid AND e.key = '' AND NOT EXISTS (
                                SELECT 1 FROM check_entries o WHERE o.field = e.field AND o.rid = e.rid AND o.key = ''
                                AND \(displayRuleSQL)))
                        """, "\(collection.name).\(field.name) column disagrees with the displayed value")
                }
                for field in collection.fields where field.kind == .map {
                    let side = StorageSchema.sideTable(collection.name, field.name)
                    try expectNone("""
                        SELECT 1 FROM \(side) s JOIN \(table) t ON t.id = s.id WHERE s.value IS NOT
                            (SELECT \(columnValueSQL)
                             FROM check_entries e WHERE e.field = '\(field.name)' AND e.rid = t._rid AND e.key = s.key AND NOT EXISTS (
                                SELECT 1 FROM check_entries o WHERE o.field = e.field AND o.rid = e.rid AND o.key = e.key
                                AND \(displayRuleSQL)))
                            OR NOT EXISTS (SELECT 1 FROM check_entries e WHERE e.field = '\(field.name)' AND e.rid = t._rid AND e.key = s.key)
                        """, "\(collection.name).\(field.name) map values that disagree with the displayed ones")
                    try expectNone("""
                        SELECT 1 FROM check_entries e JOIN \(table) t ON t._rid = e.rid WHERE e.field = '\(field.name)'
                            AND NOT EXISTS (SELECT 1 FROM \(side) s WHERE s.id = t.id AND s.key = e.key)
                        """, "\(collection.name).\(field.name) live map keys missing from their table")
                }
            }
            return problems
        } }
    }

    /// The log's own invariants: blocks that do not overlap and count their live operations right;
    /// payloads without a record only for erasures; no id logged twice; `log_ids` holding
    /// exactly the log's ids, one row per interval; and `log_latest` their highest.
    private func logViolations() throws -> [String] {
        var problems: [String] = []
        func expect(_ count: Int, _ message: String) { if count > 0 { problems.append("\(message) (\(count))") } }
        expect(Int(try database.queryScalarInteger(Replica.overlappingBlocksSQL) ?? 0), "log blocks overlapping")
        var miscounted = 0
        try database.forEachColumns("SELECT last_seq, live, body FROM log_blocks") { row in
            let live = try row.withBlob(2) { try LogBlock.counts(in: $0, block: row.integer(0)).live }
            if Int64(live) != row.integer(1) { miscounted += 1 }
        }
        expect(miscounted, "log blocks miscounting their live operations")
        var detached = 0, twice = 0
        var logged: [ReplicaID: CounterRanges] = [:]
        try forEachLogged(after: 0) { item in
            if item.entry.rid == nil, let text = item.entry.payloadText, !text.hasPrefix("{\"action\":\"erase\"") { detached += 1 }
            if !logged[item.entry.replicaID, default: CounterRanges()].insert(item.entry.counter) { twice += 1 }
            return true
        }
        expect(detached, "logged operations detached from their record")
        expect(twice, "operations logged twice")
        let rows = try Replica.loggedIDRows(database)
        // Once compacted, `log_ids` also holds the ids of operations no longer logged: the log's
        // ids are then a subset of it, and the log after the floor runs without a gap to the end.
        let continuity = try Replica.logContinuity(database)
        let floor = continuity.floor
        let origins = Set(logged.keys).union(rows.keys)
        expect(origins.filter { origin in
            let stored = rows[origin] ?? []
            let intervals = CounterRanges(sortedRows: stored)
            guard intervals.intervals.count == stored.count else { return true }
            let held = logged[origin] ?? CounterRanges()
            guard floor > 0 else { return intervals != held }
            return intervals.firstMissing(of: held) != nil
        }.count, "origins whose log_ids disagree with the log")
        // `log_latest` names each origin's highest logged id, never one below it or not logged.
        expect(Int(try database.queryScalarInteger(Replica.logLatestMismatchesSQL) ?? 0), "origins whose log_latest is not their highest logged id")
        expect(Int(try database.queryScalarInteger("SELECT count(*) FROM log_latest WHERE replica = ?", id.bytes) ?? 0), "a log_latest row of this replica's own")
        if floor > 0 && !continuity.isContiguous {
            problems.append("the log after its compaction point (\(floor)) does not run without a gap to its last sequence (\(continuity.latest))")
        }
        return problems
    }
}
