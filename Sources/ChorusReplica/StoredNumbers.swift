import ChorusCore
import SQLiteKit

/// Names that live entries refer to by a small number in a table of their own: origin replicas in
/// `origins` (`0013_lean_entries`) and field names in `fields` (`0015_field_numbers`). A number
/// takes one or two bytes in an entry row where the name took 16 (a replica id) or a field name's
/// length, and it compares as an integer in the entries' primary key.
///
/// Lives for one transaction only (`Replica.inBatch` starts both empty): a number inserted by a
/// batch that is then rolled back may be given to another name later, so no number is trusted
/// past the transaction that read or made it. Names are found by `InOrderTable`, mostly without
/// hashing them.
struct StoredNumbers<Name: Hashable> {
    private let table: String
    private let what: String
    private let numberSQL: String, insertSQL: String, nameSQL: String
    private let bind: (Name) -> SQLiteBindable
    private let decode: (Row) -> Name?
    /// Every name known, with its number, in the order it became known.
    private var numbers = InOrderTable<Name, Int64>()
    /// Positions in `numbers.entries`, by number.
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
        if let known = numbers.value(of: name) { return known }
        var found = try database.queryScalarInteger(numberSQL, bind(name))
        if found == nil, create {
            try database.run(insertSQL, bind(name))
            found = database.lastInsertRowID
        }
        guard let no = found else { return nil }
        byNumber[no] = numbers.add(name, no)
        return no
    }

    /// The name of number `no`.
    mutating func name(_ no: Int64, in database: Database) throws -> Name {
        if numbers.recent >= 0, numbers.entries[numbers.recent].value == no { return numbers.entries[numbers.recent].key }
        if let known = byNumber[no] {
            numbers.use(known)
            return numbers.entries[known].key
        }
        guard let row = try database.queryRow(nameSQL, no), let name = decode(row) else {
            throw ChorusError(.storage, "an entry names \(what) number \(no), which is not in the table `\(table)`",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        // The table's names are unique: a name known under another number is a damaged table.
        guard numbers.value(of: name) == nil else {
            throw ChorusError(.storage, "the table `\(table)` gives two numbers one \(what)",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        byNumber[no] = numbers.add(name, no)
        return name
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
