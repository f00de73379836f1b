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

    /// Whether `person` has a live profile here (not deleted, not erased): who may write, and
    /// to whom feedback may go.
    public static func hasProfile(_ replica: Replica, _ person: String) throws -> Bool {
        try replica.get(collection: "people", record: person)?.isVisible == true
    }

    /// Searches names, titles and skill labels (ESCO labels and synonyms included). Words are
    /// prefix-matched: `ana pyth` finds Ana who knows Python.
    /// A word that names a skill by one of its synonyms ("python3") also finds the people who
    /// have the skill: the index holds each skill's label, "Python (computer programming)".
    /// `offset` skips that many of the best hits (a page after the first).
    public static func search(_ replica: Replica, query: String, limit: Int = 20, offset: Int = 0, taxonomy: SkillTaxonomy = .esco) throws -> [Hit] {
        let words = query.lowercased().split { !$0.isLetter && !$0.isNumber }.prefix(16)
        guard !words.isEmpty else { return [] }
        try refresh(replica, taxonomy: taxonomy)
        let match = words.map { word -> String in
            let prefix = "\"\(spacedIdeographs(String(word)))\"*"
            let skill = taxonomy.resolve(String(word))
            let label = skill.label.lowercased().split { !$0.isLetter && !$0.isNumber }
            guard !skill.id.hasPrefix("custom:"), !label.isEmpty else { return prefix }
            return "(\(prefix) OR skills : \"\(label.joined(separator: " "))\")"
        }.joined(separator: " AND ")   // spelt out: FTS5 takes no implicit AND beside a bracketed group
        return try replica.withDatabase { db in
            try db.query("""
                SELECT p.id, coalesce(p.name, p.id), p.title, p.office FROM temp.people_search s JOIN people p ON p._rid = s.rowid
                WHERE people_search MATCH ? AND p._deleted = 0 ORDER BY bm25(people_search), p.id LIMIT ? OFFSET ?
                """, match, max(1, min(limit, 1001)), max(0, offset)).map { Hit(id: $0.text(0)!, name: $0.text(1)!, title: $0.text(2), office: $0.text(3)) }
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
        try replica.withDatabase { db in
            try db.execute("PRAGMA temp_store = MEMORY")
            try db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.people_search USING fts5(id UNINDEXED, name, title, skills, tokenize = 'unicode61 remove_diacritics 2')")
        }
        try LogFollowedIndex.refresh(replica, stateTable: "people_search_state", all: { db in
            // Versions before 0.5 kept the index on disk.
            try db.execute("DROP TABLE IF EXISTS main.people_search; DROP TABLE IF EXISTS main.people_search_state")
            try db.execute("DELETE FROM temp.people_search")
            try index(db, where: nil, nil, taxonomy: taxonomy)
        }, record: { db, rid in
            try db.run("DELETE FROM temp.people_search WHERE rowid = ?", rid)
            try index(db, where: "p._rid = ?", rid, taxonomy: taxonomy)
        })
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
                       spacedIdeographs(row.text(2)!), spacedIdeographs(row.text(3)!), spacedIdeographs((skills[id] ?? []).joined(separator: " | ")))
        }
    }

    /// Chinese and Japanese are written without spaces: to FTS5's unicode61 tokenizer
    /// "高级软件工程师" is one word, found only from its start ("软件工程师" found nobody). Each
    /// ideograph and kana is made a word of its own, in the index and in a query, where a run of
    /// them becomes a phrase: the words in that order, so any part of a title is found, and only
    /// where its characters stand together. (Hangul is written with spaces between words.)
    static func spacedIdeographs(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isIdeographic) else { return text }
        var spaced = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isIdeographic(scalar) {
                if let last = spaced.last, last != " " { spaced.append(" ") }
                spaced.append(scalar)
                spaced.append(" ")
            } else {
                spaced.append(scalar)
            }
        }
        return String(spaced).trimmingCharacters(in: .whitespaces)
    }

    /// Kana, CJK ideographs (unified, extension A and beyond, compatibility).
    static func isIdeographic(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x3040...0x30FF, 0x31F0...0x31FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0x20000...0x2FFFF: return true
        default: return false
        }
    }
}
