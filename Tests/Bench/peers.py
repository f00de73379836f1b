#!/usr/bin/env python3
"""Peers for context: the same 100k field writes (10k people x 10 fields) into Loro and pycrdt (Yrs),
in memory, and as a changeset applied by SQLite's session extension (through apsw), on disk.

Run by run-benchmarks.sh inside a throwaway virtualenv. Prints one JSON object of figures; the
in-memory peers do not persist anything, which Chorus does at every batch (synchronous=FULL).
"""
import json, os, statistics, sys, tempfile, time

PEOPLE, FIELDS = 10_000, ["name", "title", "office", "timezone", "manager", "squad", "tribe", "chapter", "role", "email"]
REPS = int(os.environ.get("PEER_REPS", "5"))

def median_of(fn):
    samples = []
    for _ in range(REPS):
        start = time.perf_counter(); fn(); samples.append(time.perf_counter() - start)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}

def loro():
    import loro as L
    def run():
        doc = L.LoroDoc()
        people = doc.get_map("people")
        for i in range(PEOPLE):
            for f in FIELDS:
                people.insert(f"p-{i}.{f}", f"v {f} {i}")
        doc.commit()
    return median_of(run)

def pycrdt():
    import pycrdt as Y
    def run():
        doc = Y.Doc()
        people = doc.get("people", type=Y.Map)
        with doc.transaction():
            for i in range(PEOPLE):
                for f in FIELDS:
                    people[f"p-{i}.{f}"] = f"v {f} {i}"
    return median_of(run)

def sqlite_session():
    import apsw
    folder = tempfile.mkdtemp()
    def columns():
        return ", ".join(f"{f} TEXT" for f in FIELDS)
    source = apsw.Connection(os.path.join(folder, "source.sqlite"))
    source.execute(f"CREATE TABLE people(id INTEGER PRIMARY KEY, {columns()})")
    session = apsw.Session(source, "main")
    session.attach()
    with source:
        source.executemany(f"INSERT INTO people VALUES (?, {', '.join('?' for _ in FIELDS)})",
                           [(i, *[f"v {f} {i}" for f in FIELDS]) for i in range(PEOPLE)])
    changeset = session.changeset()
    counter = [0]
    def run():
        counter[0] += 1
        target = apsw.Connection(os.path.join(folder, f"target{counter[0]}.sqlite"))
        target.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL")
        target.execute(f"CREATE TABLE people(id INTEGER PRIMARY KEY, {columns()})")
        with target:
            apsw.Changeset.apply(changeset, target)
        target.close()
    return median_of(run)

results = {}
for name, fn in [("loro", loro), ("pycrdt", pycrdt), ("sqliteSession", sqlite_session)]:
    try:
        results[name] = fn()
    except Exception as error:  # a peer that fails to install or run is reported, not fatal
        results[name] = {"error": f"{type(error).__name__}: {error}"}
print(json.dumps(results))
