import ChorusCore
import SQLiteKit

/// Names that live entries refer to by a small number in a table of their own: origin replicas in
/// `origins` (`0013_lean_entries`) and field names in `fields` (`0015_field_numbers`). A number
/// takes one or two bytes in an entry row where the name took 16 (a replica id) or a field name's
/// length, and it compares as an integer in the entries' primary key.
///
/// Lives for one transaction only (`Replica.inBatch` starts both empty): a number inserted by a
/// batch that is then rolled back may be given to another name later, so no number is trusted
/// past the transaction that read or made it. The name used last is kept apart: most lookups are
/// for the one before.
struct StoredNumbers<Name: Hashable> {
    private let table: String
    private let what: String
    private let numberSQL: String, insertSQL: String, nameSQL: String
    private let bind: (Name) -> SQLiteBindable
    private let decode: (Row) -> Name?
    private var recent: (name: Name, no: Int64)?
    private var numbers: [Name: Int64] = [:]
    private var names: [Int64: Name] = [:]

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
        if let recent, recent.name == name { return recent.no }
        var found = numbers[name]
        if found == nil {
            found = try database.queryScalarInteger(numberSQL, bind(name))
            if found == nil, create {
                try database.run(insertSQL, bind(name))
                found = database.lastInsertRowID
            }
            if let no = found { remember(name, no) }
        }
        if let no = found { recent = (name, no) }
        return found
    }

    /// The name of number `no`.
    mutating func name(_ no: Int64, in database: Database) throws -> Name {
        if let recent, recent.no == no { return recent.name }
        if let known = names[no] { return known }
        guard let row = try database.queryRow(nameSQL, no), let name = decode(row) else {
            throw ChorusError(.storage, "an entry names \(what) number \(no), which is not in the table `\(table)`",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        remember(name, no)
        return name
    }

    private mutating func remember(_ name: Name, _ no: Int64) {
        numbers[name] = no
        names[no] = name
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
