import ChorusCore
import ChorusReplica
import SQLiteKit

/// Finding people by name and skill with SQLite FTS5.
///
/// The index (`people_search`) is derived from the materialised tables and brought up to date
/// before every search (incrementally, from the log), so it is never stale and never replicated.
public enum PeopleDirectory {
    public struct Hit: Sendable, Equatable {
        public let id: String
        public let name: String
        public let title: String?
        public let office: String?
    }

    /// Searches names, titles and skill labels (ESCO labels and synonyms included). Words are
    /// prefix-matched: `ana pyth` finds Ana who knows Python.
    public static func search(_ replica: Replica, query: String, limit: Int = 20, taxonomy: SkillTaxonomy = .esco) throws -> [Hit] {
        let words = query.lowercased().split { !$0.isLetter && !$0.isNumber }.prefix(16)
        guard !words.isEmpty else { return [] }
        try refresh(replica, taxonomy: taxonomy)
        let match = words.map { "\"\($0)\"*" }.joined(separator: " ")
        return try replica.withDatabase { db in
            try db.query("""
                SELECT p.id, coalesce(p.name, p.id), p.title, p.office FROM temp.people_search s JOIN people p ON p._rid = s.rowid
                WHERE people_search MATCH ? AND p._deleted = 0 ORDER BY bm25(people_search), p.id LIMIT ?
                """, match, max(1, min(limit, 1000))).map { Hit(id: $0.text(0)!, name: $0.text(1)!, title: $0.text(2), office: $0.text(3)) }
        }
    }

    /// Brings the search index up to the log: only the people whose records the log touched since
    /// the last refresh are re-indexed (by record row id, the index's rowid), so a search after one
    /// edit costs a few rows, not the directory. It is rebuilt in full the first time on a
    /// connection, and when the log holds an erase since the last refresh.
    ///
    /// The index lives in the connection's temporary schema, in memory: it is derived data, and an
    /// erased person's name must not survive on disk in an index the engine does not know about.
    static func refresh(_ replica: Replica, taxonomy: SkillTaxonomy) throws {
        let latest = try replica.latestSequence()
        try replica.withDatabase { db in
            try db.execute("PRAGMA temp_store = MEMORY")
            try db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.people_search USING fts5(id UNINDEXED, name, title, skills, tokenize = 'unicode61 remove_diacritics 2')")
            try db.execute("CREATE TABLE IF NOT EXISTS temp.people_search_state(built_through INTEGER NOT NULL)")
            let builtThrough = try db.queryScalarInteger("SELECT built_through FROM temp.people_search_state")
            if builtThrough == latest { return }
            if builtThrough == nil {   // versions before 0.5 kept the index on disk
                try db.execute("DROP TABLE IF EXISTS main.people_search; DROP TABLE IF EXISTS main.people_search_state")
            }
            try db.transaction {
                let erasedSince = try builtThrough.map { try db.queryScalarInteger("SELECT 1 FROM oplog WHERE seq > ? AND rid IS NULL LIMIT 1", $0) != nil } ?? true
                if let builtThrough, builtThrough < latest, !erasedSince {
                    let changed = try db.query("SELECT DISTINCT rid FROM oplog WHERE seq > ? ORDER BY rid", builtThrough).compactMap { $0.integer(0) }
                    for rid in changed {
                        try db.run("DELETE FROM temp.people_search WHERE rowid = ?", rid)
                        try index(db, where: "p._rid = ?", rid, taxonomy: taxonomy)
                    }
                } else {
                    try db.execute("DELETE FROM temp.people_search")
                    try index(db, where: nil, nil, taxonomy: taxonomy)
                }
                try db.execute("DELETE FROM temp.people_search_state")
                try db.run("INSERT INTO temp.people_search_state(built_through) VALUES (?)", latest)
            }
        }
    }

    /// Adds the live people matching `condition` (all when nil) to the index.
    private static func index(_ db: Database, where condition: String?, _ parameter: Int64?, taxonomy: SkillTaxonomy) throws {
        let filter = condition.map { " AND \($0)" } ?? ""
        let parameters: [SQLiteBindable] = parameter.map { [$0] } ?? []
        var skills: [String: [String]] = [:]
        try db.forEachRow("SELECT s.id, s.key FROM people__skills s JOIN people p ON p.id = s.id WHERE 1 = 1\(filter) ORDER BY s.id, s.key",
                          parameters: parameters) { row in
            skills[row.text(0)!, default: []].append(taxonomy.resolve(row.text(1)!).label)
        }
        try db.forEachRow("SELECT p._rid, p.id, coalesce(p.name, ''), coalesce(p.title, '') FROM people p WHERE p._deleted = 0\(filter)",
                          parameters: parameters) { row in
            let id = row.text(1)!
            try db.run("INSERT INTO temp.people_search(rowid, id, name, title, skills) VALUES (?, ?, ?, ?, ?)", row.integer(0)!, id,
                       row.text(2)!, row.text(3)!, (skills[id] ?? []).joined(separator: " | "))
        }
    }
}

/// Feedback, praise and thanks, and who may read them.
///
/// | visibility | who reads it |
/// |---|---|
/// | `public` | everyone (it appears in the recognition feed) |
/// | `private` | the author and the recipient |
/// | `privateAndManager` | the author, the recipient and the recipient's manager |
/// | `managerOnly` | the author and the recipient's manager |
public enum Feedback {
    public static let kinds = ["feedback", "praise", "thanks"]
    public static let visibilities = ["public", "private", "privateAndManager", "managerOnly"]
    /// Longest message, in characters.
    public static let bodyCharactersMax = 4000

    /// White space as JSON Schema's `\\s` (ECMA-262) counts it, so the API and its OpenAPI document
    /// agree on what a blank message is.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: return true
        default: return false
        }
    }

    /// The message without surrounding white space.
    static func trimmed(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars[...]
        while let first = scalars.first, isWhitespace(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, isWhitespace(last) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Whether `viewer` may read a feedback record (`from`, `to`, `visibility` fields).
    public static func isVisible(_ item: [String: JSONValue], to viewer: String?, managerOf: (String) throws -> String?) rethrows -> Bool {
        let visibility = item["visibility"]?.stringValue ?? "public"
        if visibility == "public" { return true }
        guard let viewer else { return false }
        let from = item["from"]?.stringValue, to = item["to"]?.stringValue
        if viewer == from { return true }
        let manager = try to.flatMap(managerOf)
        switch visibility {
        case "private": return viewer == to
        case "privateAndManager": return viewer == to || (manager != nil && viewer == manager)
        case "managerOnly": return manager != nil && viewer == manager
        default: return false   // unknown visibility from a newer version: fail closed
        }
    }

    /// Writes a feedback item after checking it; returns its id.
    @discardableResult
    public static func give(_ replica: Replica, from: String, to: String, kind: String, body: String, visibility: String, badge: String? = nil) throws -> String {
        guard kinds.contains(kind) else { throw ChorusError(.invalidValue, "kind must be one of \(kinds.joined(separator: ", "))") }
        guard visibilities.contains(visibility) else {
            throw ChorusError(.invalidValue, "visibility must be one of \(visibilities.joined(separator: ", "))")
        }
        let text = Feedback.trimmed(body)
        guard !text.isEmpty, text.unicodeScalars.count <= bodyCharactersMax else {
            throw ChorusError(.invalidValue, "the message must be 1 to \(bodyCharactersMax) characters")
        }
        guard from != to else { throw ChorusError(.invalidValue, "feedback goes to someone else", hint: "pick another recipient") }
        for person in [from, to] where try replica.get(collection: "people", record: person)?.isVisible != true {
            throw ChorusError(.recordNotFound, "no person \(person)", hint: "`chorus people search NAME` finds ids")
        }
        if let badge, try replica.get(collection: "badges", record: badge)?.isVisible != true {
            throw ChorusError(.recordNotFound, "no badge \(badge)")
        }
        var generator = SystemRandomNumberGenerator()
        let id = "fb-\(replica.id.hex.prefix(8))-\(String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 36))"
        var changes: [Change] = [.put(field: "from", value: .string(from)), .put(field: "to", value: .string(to)), .put(field: "kind", value: .string(kind)),
                                 .put(field: "body", value: .string(text)), .put(field: "visibility", value: .string(visibility))]
        if let badge { changes.append(.put(field: "badge", value: .string(badge))) }
        try replica.write(collection: "feedback", record: id, changes, by: from)
        return id
    }

    /// Feedback `viewer` may read, newest first; only about `person` when given.
    public static func visibleItems(_ replica: Replica, viewer: String?, about person: String? = nil, limit: Int = 50) throws -> [RecordSnapshot] {
        let ids = try replica.withDatabase { db in
            try db.query("""
                SELECT f.id FROM feedback f JOIN records r ON r.rid = f._rid
                WHERE f._deleted = 0 AND (? IS NULL OR f."to" = ?)
                ORDER BY (SELECT max(e.wall) FROM entries e WHERE e.rid = f._rid) DESC, f.id LIMIT 100000
                """, person, person).compactMap { $0.text(0) }
        }
        var managers: [String: String?] = [:]
        func manager(_ person: String) throws -> String? {
            if let known = managers[person] { return known }
            let value = try replica.get(collection: "people", record: person)?.fields["manager"]?.stringValue
            managers[person] = value
            return value
        }
        var result: [RecordSnapshot] = []
        for id in ids {
            guard let record = try replica.get(collection: "feedback", record: id) else { continue }
            if try isVisible(record.fields, to: viewer, managerOf: manager) { result.append(record) }
            if result.count >= limit { break }
        }
        return result
    }
}
