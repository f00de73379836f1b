import ChorusCore
import SQLiteKit

/// Names that live entries refer to by a small number in a table of their own: origin replicas in
/// `origins` (`0013_lean_entries`) and field names in `fields` (`0015_field_numbers`). A number
/// takes one or two bytes in an entry row where the name took 16 (a replica id) or a field name's
/// length, and it compares as an integer in the entries' primary key.
///
/// Lives for one transaction only (`Replica.inBatch` starts both empty): a number inserted by a
/// batch that is then rolled back may be given to another name later, so no number is trusted
/// past the transaction that read or made it.
///
/// Names are kept in the order they became known, and a lookup first compares the name used last,
/// then the one that became known after it: most lookups are for the one before (an origin), or
/// for the one after it (a batch's records mostly come with their fields in one order), so a name
/// is mostly found by a comparison or two instead of by hashing it (hashing each operation's
/// field name was 4% of a merged operation's instructions; callgrind, P1).
struct StoredNumbers<Name: Hashable> {
    private let table: String
    private let what: String
    private let numberSQL: String, insertSQL: String, nameSQL: String
    private let bind: (Name) -> SQLiteBindable
    private let decode: (Row) -> Name?
    /// Every name known, in the order it became known.
    private var met: [(name: Name, no: Int64)] = []
    /// Where the name used last is in `met`, or -1.
    private var recent = -1
    /// Indexes in `met`, by name and by number.
    private var byName: [Name: Int] = [:]
    private var byNumber: [Int64: Int] = [:]

    /// Numbers of `table`, whose `no` column numbers its `column` of names; `what` names one in errors.
    private init(table: String, column: String, what: String, bind: @escaping (Name) -> SQLiteBindable, decode: @escaping (Row) -> Name?) {
        self.table = table
        self.what = what
        self.numberSQL = "SELECT no FROM \(table) WHERE \(column) = ?"
        self.insertSQL = "INSERT INTO \(table)(\(column)) VALUES (?)"
        self.nameSQL = "SELECT \(column) FROM \(table) WHERE no = ?"
        self.bind = bind
        self.decode = decode
    }

    /// The number of `name`, made when `create` and it has none; nil when it has none.
    mutating func number(of name: Name, in database: Database, create: Bool) throws -> Int64? {
        if recent >= 0 {
            if met[recent].name == name { return met[recent].no }
            let following = recent + 1 < met.count ? recent + 1 : 0
            if met[following].name == name {
                recent = following
                return met[following].no
            }
        }
        if let known = byName[name] {
            recent = known
            return met[known].no
        }
        var found = try database.queryScalarInteger(numberSQL, bind(name))
        if found == nil, create {
            try database.run(insertSQL, bind(name))
            found = database.lastInsertRowID
        }
        guard let no = found else { return nil }
        recent = remember(name, no)
        return no
    }

    /// The name of number `no`.
    mutating func name(_ no: Int64, in database: Database) throws -> Name {
        if recent >= 0, met[recent].no == no { return met[recent].name }
        if let known = byNumber[no] {
            recent = known
            return met[known].name
        }
        guard let row = try database.queryRow(nameSQL, no), let name = decode(row) else {
            throw ChorusError(.storage, "an entry names \(what) number \(no), which is not in the table `\(table)`",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        recent = remember(name, no)
        return name
    }

    /// Adds a name read or made, returning its index in `met`.
    private mutating func remember(_ name: Name, _ no: Int64) -> Int {
        met.append((name, no))
        byName[name] = met.count - 1
        byNumber[no] = met.count - 1
        return met.count - 1
    }
}

extension StoredNumbers where Name == [UInt8] {
    /// Origin replicas of live entries, by their 16-byte id (`origins`).
    static func origins() -> StoredNumbers {
        StoredNumbers(table: "origins", column: "replica", what: "origin", bind: { $0 }, decode: { $0.blob(0) })
    }
}

extension StoredNumbers where Name == ExactName {
    /// Field names of live entries (`fields`), compared by their bytes as storage compares them.
    static func fields() -> StoredNumbers {
        StoredNumbers(table: "fields", column: "name", what: "field", bind: { $0.text }, decode: { $0.text(0).map(ExactName.init) })
    }
}

/// A name that hashes and compares by its UTF-8 bytes (`ExactText`), as SQLite's BINARY collation
/// does, to key in-memory tables that stand for a table of names.
struct ExactName: Hashable {
    let text: String
    init(_ text: String) { self.text = text }
    static func == (a: ExactName, b: ExactName) -> Bool { ExactText.equal(a.text, b.text) }
    func hash(into hasher: inout Hasher) { ExactText.hash(text, into: &hasher) }
}
