#ifndef CHORUS_CSQLITE_SHIM_H
#define CHORUS_CSQLITE_SHIM_H
#include <sqlite3.h>
#include <math.h>

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

// `name(v1, ...)`: 1 when any argument is a blob or a real that is not finite (an infinity; SQLite
// holds no NaN), else 0. In C, called once a row: a scan that asks it of a dozen columns made
// three comparisons of each in SQL, most of the scan's cost.
static void chorus_sqlite_any_blob_or_infinite(sqlite3_context *context, int count, sqlite3_value **values) {
    for (int index = 0; index < count; index++) {
        int type = sqlite3_value_type(values[index]);
        if (type == SQLITE_BLOB || (type == SQLITE_FLOAT && !isfinite(sqlite3_value_double(values[index])))) {
            sqlite3_result_int(context, 1);
            return;
        }
    }
    sqlite3_result_int(context, 0);
}
// Registers it as `name`, any number of arguments, callable from the connection's own statements
// only, never from a schema's views or triggers (SQLITE_DIRECTONLY).
static inline int chorus_sqlite_register_any_blob_or_infinite(sqlite3 *db, const char *name) {
    return sqlite3_create_function_v2(db, name, -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0,
                                      chorus_sqlite_any_blob_or_infinite, 0, 0, 0);
}
#endif
