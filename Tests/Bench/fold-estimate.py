#!/usr/bin/env python3
"""What folding a replica's merge state into one row per record would save, measured on a copy.

Not part of Chorus, and not a benchmark of it: a measurement for the design of the fold that P5's
size, P3 and P1 wait for (Docs/performance-notes.md, seventeenth round). It reads a replica's live
entries (`entry_rows`, one row per entry today), encodes each record's entries into one blob, writes
the blobs into a scratch database as `record_entries(rid INTEGER PRIMARY KEY, body BLOB)`, vacuums
it, and reports bytes per entry from SQLite's `dbstat`, the way `chorus-bench` reports P5:

- with the entries' values (the fold alone: values still kept twice, in the blob and in the
  materialised tables);
- without them (values kept once, in the materialised tables, which needs each value's JSON type
  kept or declared beside it).

The encoding, per record: the entry count, then per entry in primary-key order (field, key,
origin, counter) a flags byte (kind; empty key; same origin as the entry before; same wall as
the entry before with the next logical count; no value), the field number's delta, the key if
not empty, the origin if it changed, the counter's delta from that origin's previous counter,
the wall's delta and logical count unless flagged, the value, and the log sequence's delta.
Integers are LEB128 varints, signed deltas zigzag-encoded.

  python3 Tests/Bench/fold-estimate.py REPLICA.sqlite     # a replica's database (compact it first)
  python3 Tests/Bench/fold-estimate.py --bench-shape N    # N synthetic people shaped as P5's rows
"""
import os, sqlite3, sys, tempfile
from itertools import groupby

def varint(n, out):
    assert n >= 0
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return

def zigzag(n):
    return n << 1 if n >= 0 else ((-n) << 1) - 1

KIND_BITS, EMPTY_KEY, SAME_ORIGIN, NEXT_STAMP, NO_VALUE = 0x07, 0x08, 0x10, 0x20, 0x80

def encode(entries, with_values):
    out = bytearray()
    varint(len(entries), out)
    field0, origin0, wall0, logical0, seq0, counters = 0, -1, 0, -1, 0, {}
    for (_, field, key, origin, counter, wall, logical, kind, value, seq) in entries:
        flags = kind & KIND_BITS
        if key == "": flags |= EMPTY_KEY
        if origin == origin0: flags |= SAME_ORIGIN
        if wall == wall0 and logical == logical0 + 1: flags |= NEXT_STAMP
        if with_values and value is None: flags |= NO_VALUE
        out.append(flags)
        varint(zigzag(field - field0), out); field0 = field
        if key != "":
            data = key.encode(); varint(len(data), out); out += data
        if origin != origin0:
            varint(origin, out); origin0 = origin
        varint(zigzag(counter - counters.get(origin, 0) - 1), out); counters[origin] = counter
        if not flags & NEXT_STAMP:
            varint(zigzag(wall - wall0), out); varint(logical, out)
        wall0, logical0 = wall, logical
        if with_values and value is not None:
            data = value.encode(); varint(len(data), out); out += data
        varint(zigzag(seq - seq0 - 1), out); seq0 = seq
    return bytes(out)

def table_bytes(db, name):
    return db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (name,)).fetchone()[0] or 0

def bench_shape(people):
    """P5's rows (chorus-bench `Workloads.sourceReplica`): ten string registers a person, written
    in batches of 500 people; one origin; wall advancing a millisecond every 100 operations."""
    rows, counter = [], 0
    names = ["name", "title", "office", "timezone", "manager", "squad", "tribe", "chapter", "role", "email"]
    wall, logical = 1_796_000_000_000, 0
    for person in range(people):
        for number, name in enumerate(names, start=1):
            counter += 1
            if counter % 100 == 0: wall, logical = wall + 1, 0
            else: logical += 1
            rows.append((person + 1, number, "", 1, counter, wall, logical, 0, f'"v {name} {person}"', counter))
    return rows

def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--bench-shape":
        rows, today = bench_shape(int(sys.argv[2])), None
        source = f"{len(rows)} synthetic entries shaped as P5's"
    elif len(sys.argv) == 2 and os.path.exists(sys.argv[1]):
        db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
        rows = db.execute("SELECT rid, field, key, origin, counter, wall, logical, kind, value, seq FROM entry_rows "
                          "ORDER BY rid, field, key, origin, counter").fetchall()
        today = table_bytes(db, "entry_rows")
        source = f"{len(rows)} entries of {sys.argv[1]}"
    else:
        sys.exit(__doc__)
    print(source)
    if today is None:
        # The same rows in today's table (`EntryRows.fieldNumbersMigration`), for comparison.
        with tempfile.TemporaryDirectory() as scratch:
            db = sqlite3.connect(os.path.join(scratch, "today.sqlite"))
            db.execute("""CREATE TABLE entry_rows(rid INTEGER NOT NULL, field INTEGER NOT NULL, key TEXT NOT NULL,
                origin INTEGER NOT NULL, counter INTEGER NOT NULL, wall INTEGER NOT NULL, logical INTEGER NOT NULL,
                kind INTEGER NOT NULL, value TEXT, seq INTEGER NOT NULL,
                PRIMARY KEY(rid, field, key, origin, counter)) WITHOUT ROWID""")
            db.executemany("INSERT INTO entry_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.commit()
            db.execute("VACUUM")
            today = table_bytes(db, "entry_rows")
            db.close()
    if today is not None:
        print(f"  entry_rows today: {today} bytes, {today / len(rows):.1f} a entry")
    with tempfile.TemporaryDirectory() as scratch:
        for with_values in (True, False):
            path = os.path.join(scratch, f"fold-{with_values}.sqlite")
            db = sqlite3.connect(path)
            db.execute("CREATE TABLE record_entries(rid INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            encoded = 0
            for rid, group in groupby(rows, key=lambda row: row[0]):
                body = encode(list(group), with_values)
                encoded += len(body)
                db.execute("INSERT INTO record_entries VALUES (?, ?)", (rid, body))
            db.commit()
            db.execute("VACUUM")
            stored = table_bytes(db, "record_entries")
            label = "folded, values kept" if with_values else "folded, values left to the typed rows"
            print(f"  {label}: blobs {encoded / len(rows):.1f} bytes a entry, table {stored} bytes, {stored / len(rows):.1f} a entry")
            db.close()

if __name__ == "__main__":
    main()
