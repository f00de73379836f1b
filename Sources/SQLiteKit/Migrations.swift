/// Named, forward-only schema migrations, recorded in the database.
///
/// Each migration runs once, in order, inside its own transaction together with the row that records
/// it, so a crash during a migration leaves the database as it was before that migration.
/// A database that records a migration this build does not know was written by a newer Chorus:
/// opening it fails instead of guessing.
public struct Migrator {
    public struct Migration {
        public let name: String
        public let apply: (Database) throws -> Void
        public init(_ name: String, apply: @escaping (Database) throws -> Void) {
            self.name = name
            self.apply = apply
        }
    }

    public private(set) var migrations: [Migration] = []

    public init() {}

    /// Adds a migration; names must be unique and are never reused.
    public mutating func register(_ name: String, _ apply: @escaping (Database) throws -> Void) {
        precondition(!migrations.contains { $0.name == name }, "duplicate migration \(name)")
        migrations.append(Migration(name, apply: apply))
    }

    /// Runs every migration not yet recorded. Returns the names it applied.
    @discardableResult
    public func migrate(_ database: Database) throws -> [String] {
        try database.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations(
                name TEXT PRIMARY KEY NOT NULL,
                applied_order INTEGER NOT NULL
            ) STRICT
            """)
        let applied = try database.query("SELECT name FROM schema_migrations ORDER BY applied_order").compactMap { $0.text(0) }
        let known = migrations.map(\.name)
        if let unknown = applied.first(where: { !known.contains($0) }) {
            throw MigrationError.unknownMigration(unknown)
        }
        var ran: [String] = []
        for (order, migration) in migrations.enumerated() where !applied.contains(migration.name) {
            try database.transaction {
                try migration.apply(database)
                try database.run("INSERT INTO schema_migrations(name, applied_order) VALUES (?, ?)", migration.name, order)
            }
            ran.append(migration.name)
        }
        return ran
    }

    /// Names recorded in the database, in order.
    public static func appliedMigrations(_ database: Database) throws -> [String] {
        try database.query("SELECT name FROM schema_migrations ORDER BY applied_order").compactMap { $0.text(0) }
    }
}

/// Why migrations could not run.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    /// The database records a migration this build does not have: it was written by a newer version.
    case unknownMigration(String)

    public var description: String {
        switch self {
        case .unknownMigration(let name):
            return "the database was migrated by a newer Chorus (unknown migration \(name)); upgrade this binary"
        }
    }
}
