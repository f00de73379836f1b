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
#endif
