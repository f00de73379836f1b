#ifndef CHORUS_CSQLITE_SHIM_H
#define CHORUS_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import.
static inline sqlite3_destructor_type chorus_sqlite_transient(void) { return SQLITE_TRANSIENT; }
// SQLITE_STATIC likewise: SQLite reads the caller's memory, which stays valid until the next bind.
static inline sqlite3_destructor_type chorus_sqlite_static(void) { return SQLITE_STATIC; }

// Process-wide settings, applied before the first connection opens (sqlite3_config is variadic,
// which Swift cannot call). Memory statistics off: Chorus never reads them, and keeping them takes
// a global mutex on every allocation (about 7% of the merge's instructions under callgrind).
static inline int chorus_sqlite_configure_process(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

// Settings for a connection to a database file that came from elsewhere (a sync snapshot), which
// may have been crafted (https://sqlite.org/security.html): defensive mode (no writable schema, no
// corrupting pragmas), no triggers or views, and schema functions untrusted. sqlite3_db_config is
// variadic, which Swift cannot call. Returns the first failing code, or SQLITE_OK.
static inline int chorus_sqlite_harden(sqlite3 *db) {
    int code = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
    if (code == SQLITE_OK) code = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)0);
    if (code == SQLITE_OK) code = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)0);
    if (code == SQLITE_OK) code = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)0);
    return code;
}
// A table-valued function's virtual table may be used from views even where the schema is not
// trusted: it reads only its argument (sqlite3_vtab_config is variadic).
static inline int chorus_sqlite_vtab_innocuous(sqlite3 *db) { return sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS); }
#endif
