import CSQLite

/// A table-valued function: SQL reads the rows a Swift closure makes from its arguments, as in
/// `SELECT e.* FROM t, name(t.body) e`. SQLite's eponymous virtual table, so it needs no
/// `CREATE VIRTUAL TABLE` and lives with the connection it is registered on (`Database.register`).
///
/// Why: a table can keep many small rows folded into one value, which is smaller and written
/// once, and SQL (views, joins, checks) still reads them as rows.
public struct TableFunction: Sendable {
    /// The name SQL calls it by.
    public let name: String
    /// The columns of its rows, in order.
    public let columns: [String]
    /// How many arguments SQL may pass. The first is required; a later one SQL leaves out
    /// reaches the closure as NULL, so a view written before an argument was added still reads.
    public let argumentsMax: Int
    /// The rows for its arguments (`argumentsMax` of them); an error fails the statement with its
    /// description. Called on the connection's thread, within the statement that reads it: it may
    /// run other statements on the same connection.
    public let rows: @Sendable ([SQLiteValue]) throws -> [[SQLiteValue]]

    public init(name: String, columns: [String], argumentsMax: Int = 1, rows: @escaping @Sendable ([SQLiteValue]) throws -> [[SQLiteValue]]) {
        precondition(argumentsMax >= 1 && argumentsMax <= 30, "a table function takes 1 to 30 arguments")
        self.name = name
        self.columns = columns
        self.argumentsMax = argumentsMax
        self.rows = rows
    }

    /// A function of one argument.
    public init(name: String, columns: [String], rows: @escaping @Sendable (SQLiteValue) throws -> [[SQLiteValue]]) {
        self.init(name: name, columns: columns, argumentsMax: 1) { arguments in try rows(arguments[0]) }
    }
}

extension Database {
    /// Makes `function` callable in this connection's SQL. Read-only, and marked innocuous, so
    /// views may use it where the schema is not trusted.
    public func register(_ function: TableFunction) throws {
        let client = Unmanaged.passRetained(TableFunctionClient(function)).toOpaque()
        let code = sqlite3_create_module_v2(handle, function.name, tableFunctionModule, client) { client in
            Unmanaged<TableFunctionClient>.fromOpaque(client!).release()
        }
        guard code == SQLITE_OK else { throw error(code: code, sql: "sqlite3_create_module_v2(\(function.name))") }
    }
}

/// The function, as the module's client data.
private final class TableFunctionClient {
    let function: TableFunction
    init(_ function: TableFunction) { self.function = function }
}

/// One scan's rows.
private final class TableFunctionCursor {
    let client: TableFunctionClient
    var rows: [[SQLiteValue]] = []
    /// The arguments of this scan, which its hidden columns give back: SQLite tests a constraint
    /// on an argument it was not told to omit (a second one on the same argument) against them.
    var arguments: [SQLiteValue] = []
    var index = 0
    init(_ client: TableFunctionClient) { self.client = client }
}

// Memory layouts SQLite expects: its struct first, then ours. SQLite reads only its own part.
private let vtabStride = MemoryLayout<sqlite3_vtab>.stride
private let cursorStride = MemoryLayout<sqlite3_vtab_cursor>.stride
private let pointerSize = MemoryLayout<UnsafeMutableRawPointer>.stride

private func client(of vtab: UnsafeMutablePointer<sqlite3_vtab>) -> TableFunctionClient {
    let raw = UnsafeMutableRawPointer(vtab).load(fromByteOffset: vtabStride, as: UnsafeMutableRawPointer.self)
    return Unmanaged<TableFunctionClient>.fromOpaque(raw).takeUnretainedValue()
}

private func cursor(of base: UnsafeMutablePointer<sqlite3_vtab_cursor>) -> TableFunctionCursor {
    let raw = UnsafeMutableRawPointer(base).load(fromByteOffset: cursorStride, as: UnsafeMutableRawPointer.self)
    return Unmanaged<TableFunctionCursor>.fromOpaque(raw).takeUnretainedValue()
}

/// A message SQLite frees (its own allocator), for `zErrMsg`.
private func sqliteMessage(_ text: String) -> UnsafeMutablePointer<CChar>? {
    let bytes = Array(text.utf8)
    guard let memory = sqlite3_malloc(Int32(bytes.count + 1)) else { return nil }
    let target = memory.bindMemory(to: CChar.self, capacity: bytes.count + 1)
    for (index, byte) in bytes.enumerated() { target[index] = CChar(bitPattern: byte) }
    target[bytes.count] = 0
    return target
}

private func value(of argument: OpaquePointer?) -> SQLiteValue {
    switch sqlite3_value_type(argument) {
    case SQLITE_INTEGER: return .integer(sqlite3_value_int64(argument))
    case SQLITE_FLOAT: return .real(sqlite3_value_double(argument))
    case SQLITE_TEXT:
        let count = Int(sqlite3_value_bytes(argument))
        guard let text = sqlite3_value_text(argument) else { return .text("") }
        return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
    case SQLITE_BLOB:
        let count = Int(sqlite3_value_bytes(argument))
        guard count > 0, let blob = sqlite3_value_blob(argument) else { return .blob([]) }
        return .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
    default: return .null
    }
}

/// The module every table function shares; its client data says which function it is.
nonisolated(unsafe) private let tableFunctionModule: UnsafeMutablePointer<sqlite3_module> = {
    let module = UnsafeMutablePointer<sqlite3_module>.allocate(capacity: 1)
    module.initialize(to: sqlite3_module())
    // No xCreate: an eponymous-only table, callable by name, never created in a schema.
    module.pointee.xConnect = { db, clientData, _, _, vtabOut, errorOut in
        let client = Unmanaged<TableFunctionClient>.fromOpaque(clientData!).takeUnretainedValue()
        // The arguments are hidden columns after the function's own.
        let columns = client.function.columns.map { "\"\($0)\"" } + (0..<client.function.argumentsMax).map { "argument\($0) HIDDEN" }
        let code = sqlite3_declare_vtab(db, "CREATE TABLE x(\(columns.joined(separator: ", ")))")
        guard code == SQLITE_OK else { return code }
        _ = chorus_sqlite_vtab_innocuous(db)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: vtabStride + pointerSize, alignment: 16)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: vtabStride + pointerSize)
        memory.storeBytes(of: clientData!, toByteOffset: vtabStride, as: UnsafeMutableRawPointer.self)
        vtabOut!.pointee = memory.assumingMemoryBound(to: sqlite3_vtab.self)
        _ = errorOut
        return SQLITE_OK
    }
    module.pointee.xBestIndex = { vtab, info in
        guard let vtab, let info else { return SQLITE_ERROR }
        let function = client(of: vtab).function
        let first = Int32(function.columns.count)
        // idxNum: a bit for each argument SQL passes, as xFilter receives them (in column order).
        var present: Int32 = 0
        var constraintOf: [Int32: Int] = [:]
        for index in 0..<Int(info.pointee.nConstraint) {
            let constraint = info.pointee.aConstraint[index]
            let argument = constraint.iColumn - first
            guard argument >= 0, argument < Int32(function.argumentsMax), constraint.op == UInt8(SQLITE_INDEX_CONSTRAINT_EQ) else { continue }
            // A plan without an argument at hand: refuse it, so SQLite finds one with it.
            guard constraint.usable != 0 else { return SQLITE_CONSTRAINT }
            if constraintOf[argument] == nil { constraintOf[argument] = index }
            present |= 1 << argument
        }
        var next: Int32 = 1
        for argument in constraintOf.keys.sorted() {
            let index = constraintOf[argument]!
            info.pointee.aConstraintUsage[index].argvIndex = next
            info.pointee.aConstraintUsage[index].omit = 1
            next += 1
        }
        let usable = present & 1 != 0
        info.pointee.idxNum = usable ? present : 0
        info.pointee.estimatedCost = usable ? 10 : 1e12
        info.pointee.estimatedRows = usable ? 10 : 0
        return SQLITE_OK
    }
    module.pointee.xDisconnect = { vtab in
        UnsafeMutableRawPointer(vtab!).deallocate()
        return SQLITE_OK
    }
    module.pointee.xOpen = { vtab, cursorOut in
        let memory = UnsafeMutableRawPointer.allocate(byteCount: cursorStride + pointerSize, alignment: 16)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: cursorStride + pointerSize)
        let state = Unmanaged.passRetained(TableFunctionCursor(client(of: vtab!))).toOpaque()
        memory.storeBytes(of: state, toByteOffset: cursorStride, as: UnsafeMutableRawPointer.self)
        cursorOut!.pointee = memory.assumingMemoryBound(to: sqlite3_vtab_cursor.self)
        return SQLITE_OK
    }
    module.pointee.xClose = { base in
        let raw = UnsafeMutableRawPointer(base!)
        Unmanaged<TableFunctionCursor>.fromOpaque(raw.load(fromByteOffset: cursorStride, as: UnsafeMutableRawPointer.self)).release()
        raw.deallocate()
        return SQLITE_OK
    }
    module.pointee.xFilter = { base, indexNumber, _, count, arguments in
        let state = cursor(of: base!)
        state.index = 0
        state.rows = []
        state.arguments = []
        guard indexNumber & 1 != 0, count >= 1, let arguments else { return SQLITE_OK }
        do {
            var values = [SQLiteValue](repeating: .null, count: state.client.function.argumentsMax)
            var next = 0
            for argument in values.indices where indexNumber & (1 << argument) != 0 && next < Int(count) {
                values[argument] = value(of: arguments[next])
                next += 1
            }
            state.arguments = values
            state.rows = try state.client.function.rows(values)
            return SQLITE_OK
        } catch {
            let vtab = base!.pointee.pVtab!
            if let old = vtab.pointee.zErrMsg { sqlite3_free(old) }
            vtab.pointee.zErrMsg = sqliteMessage("\(state.client.function.name): \(error)")
            return SQLITE_ERROR
        }
    }
    module.pointee.xNext = { base in
        cursor(of: base!).index += 1
        return SQLITE_OK
    }
    module.pointee.xEof = { base in
        let state = cursor(of: base!)
        return state.index >= state.rows.count ? 1 : 0
    }
    module.pointee.xColumn = { base, context, column in
        let state = cursor(of: base!)
        let row = state.rows[state.index], own = state.client.function.columns.count
        let value: SQLiteValue
        if Int(column) >= own {
            value = state.arguments.indices.contains(Int(column) - own) ? state.arguments[Int(column) - own] : .null
        } else {
            value = Int(column) < row.count ? row[Int(column)] : .null
        }
        switch value {
        case .null: sqlite3_result_null(context)
        case .integer(let number): sqlite3_result_int64(context, number)
        case .real(let number): sqlite3_result_double(context, number)
        case .text(let text): sqlite3_result_text(context, text, Int32(text.utf8.count), chorus_sqlite_transient())
        case .blob(let bytes) where bytes.isEmpty: sqlite3_result_zeroblob(context, 0)
        case .blob(let bytes):
            bytes.withUnsafeBytes { sqlite3_result_blob(context, $0.baseAddress, Int32($0.count), chorus_sqlite_transient()) }
        }
        return SQLITE_OK
    }
    module.pointee.xRowid = { base, rowid in
        rowid!.pointee = sqlite3_int64(cursor(of: base!).index)
        return SQLITE_OK
    }
    return module
}()
