import ChorusCore
import SQLiteKit

/// The records a batch of remote operations creates, given their row ids by the batch and
/// inserted into `records` together once its operations are applied (`Replica.insertNewRecords`),
/// many to a statement.
///
/// Why: `records` is an AUTOINCREMENT table, so every `INSERT` statement also reads and rewrites
/// its row of `sqlite_sequence`, and each statement is bound, stepped and reset on its own. One
/// statement a record was 5,750 instructions a record, about 1,700 a merged operation (a person's
/// operations fall on three records; callgrind, P1 into an empty replica). The row ids are the
/// ones SQLite would have given: one past the largest ever given (`sqlite_sequence`) or held, and
/// inserting them explicitly moves `sqlite_sequence` on, so an erased record's id is still never
/// given again.
///
/// Nothing in a remote batch reads `records` for a record it created before they are inserted,
/// except erasing one, which inserts them first (`Replica.erase`). A local write reads `records`
/// between its changes, so it inserts each record at once (`BatchState.holdsRecords` false).
struct NewRecords {
    struct Row {
        let rid: Int64
        let collection: String, record: String
        let hashPrefix: [UInt8]
    }

    /// Rows not inserted yet, in the order (and row-id order) the batch created them.
    private var pending: [Row] = []
    /// The row id the next record gets; nil until the batch creates its first.
    private var nextRid: Int64?

    /// Records inserted by one statement, at most (4 parameters each, within `Database.parametersMax`).
    static let perStatementMax = 64

    /// The statement that inserts `count` records.
    static func insertSQL(count: Int) -> String {
        "INSERT INTO records(rid, collection, record, hash_prefix) VALUES " + Database.valuesList(rows: count, parametersPerRow: 4)
    }
    static let insertManySQL = insertSQL(count: perStatementMax)
    static let insertOneSQL = insertSQL(count: 1)

    /// SQLite's next AUTOINCREMENT row id for `records`: one past the larger of the largest ever
    /// given and the largest held.
    static let nextRidSQL = """
        SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0),
                   coalesce((SELECT max(rid) FROM records), 0)) + 1
        """

    /// Gives a new record its row id and keeps its row until `take()`.
    mutating func add(collection: String, record: String, hashPrefix: [UInt8], in database: Database) throws -> Int64 {
        let rid: Int64
        if let next = nextRid {
            rid = next
        } else {
            guard let first = try database.queryScalarInteger(NewRecords.nextRidSQL) else {
                throw ChorusError(.storage, "could not read the next record row id", hint: "run `chorus check`")
            }
            rid = first
        }
        guard rid < Int64.max else {
            throw ChorusError(.invalidState, "this replica has used every record row id", hint: "join a new replica folder from the upstream")
        }
        nextRid = rid + 1
        pending.append(Row(rid: rid, collection: collection, record: record, hashPrefix: hashPrefix))
        return rid
    }

    /// The rows not inserted yet, which are then no longer pending.
    mutating func take() -> [Row] {
        defer { pending = [] }
        return pending
    }
}

extension Replica {
    /// Inserts the records the batch created and has not inserted yet (`NewRecords`).
    func insertNewRecords(_ state: inout BatchState) throws {
        try database.run(rows: state.newRecords.take(), perStatement: NewRecords.perStatementMax, manySQL: NewRecords.insertManySQL,
                         oneSQL: NewRecords.insertOneSQL, parametersPerRow: 4) { writer, row in
            writer.integer(row.rid)
            writer.text(row.collection)
            writer.text(row.record)
            writer.blob(row.hashPrefix)
        }
    }
}
