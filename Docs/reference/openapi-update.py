#!/usr/bin/env python3
"""Adds the generic create/read/update/list routes of the people API to Docs/reference/openapi.json,
with request schemas derived from `chorus schema --json` and the rules of
Sources/ChorusPeople/DomainRules.swift (keep the two in step; schemathesis in CI checks they agree).

    .build/debug/chorus schema --json > /tmp/schema.json
    python3 Docs/reference/openapi-update.py /tmp/schema.json
"""
import json, sys

EDITABLE = ["people", "teams", "badges", "objectives", "opportunities", "abilities", "observations"]
ENUMS = {"teams.kind": ["squad", "tribe", "chapter", "guild", "department"], "objectives.ownerKind": ["person", "team", "department"],
         "objectives.visibility": ["public", "private"], "objectives.status": ["draft", "published", "done", "dropped"],
         "opportunities.kind": ["role", "project", "mentorship", "companyBet"], "opportunities.location": ["remote", "office"],
         "opportunities.status": ["open", "filled", "closed"], "observations.visibility": ["public", "private"]}
INTS = {"people.hoursPerWeekAvailable": (0, 80), "opportunities.hoursPerWeek": (1, 80), "opportunities.betRank": (1, 10), "observations.milestone": (1, 5)}
NUMS = {"objectives.progress": (0, 100)}
LEVEL_MAPS = {"people.skills", "people.careerSteps", "abilities.roleRequirements"}
LONG = {"teams.mission", "badges.description", "objectives.description", "objectives.title", "opportunities.description",
        "abilities.description", "observations.body"}
NO_CONTROL = "^[^\u0000-\u001f\u007f]+$"
SHORT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_CONTROL}
REQUIRED_ON_CREATE = {"people": "name", "teams": "name", "badges": "name", "objectives": "title", "opportunities": "title",
                      "abilities": "name", "observations": "person"}

def register(name, value_type):
    if name in ENUMS: s = {"type": "string", "enum": ENUMS[name]}
    elif value_type == "text": s = {"type": "string", "maxLength": 2000 if name in LONG else 200}
    elif value_type == "integer":
        s = {"type": "integer"}
        if name in INTS: s["minimum"], s["maximum"] = INTS[name]
        else: s["minimum"], s["maximum"] = -(2**53), 2**53
    elif value_type == "number":
        s = {"type": "number"}
        if name in NUMS: s["minimum"], s["maximum"] = NUMS[name]
    elif value_type == "boolean": s = {"type": "boolean"}
    else: return {}
    return {"oneOf": [s, {"type": "null"}]}

TEXT = lambda n: {"type": "string", "minLength": 1, "maxLength": n}
OBJECT_SHAPES = {
    "abilities.milestones": ({"title": TEXT(200), "description": TEXT(2000)}, ["title"]),
    "abilities.examples": ({"milestone": {"type": "integer", "minimum": 1, "maximum": 5}, "text": TEXT(2000)}, ["milestone", "text"]),
    "people.experience": ({"title": TEXT(200), "organisation": TEXT(200), "from": TEXT(200), "to": TEXT(200),
                           "skills": {"type": "array", "maxItems": 30, "items": TEXT(200)}}, ["title"]),
    "objectives.keyResults": ({"title": TEXT(2000), "target": {"type": "number"}, "current": {"type": "number"}}, ["title"]),
}

def map_value(name, value_type):
    if name in OBJECT_SHAPES:
        props, required = OBJECT_SHAPES[name]
        return {"oneOf": [{"type": "object", "required": required, "additionalProperties": False, "properties": props}, {"type": "null"}]}
    if name in LEVEL_MAPS: return {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"type": "null"}]}
    if name == "opportunities.requiredSkills":
        return {"oneOf": [{"type": "object", "required": ["minLevel"], "additionalProperties": False, "properties": {
            "minLevel": {"type": "integer", "minimum": 1, "maximum": 5}, "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
            "mustHave": {"type": "boolean"}}}, {"type": "null"}]}
    return register(name, value_type)

def body(collection, fields, create):
    props = {}
    for f in fields:
        name = f"{collection}.{f['name']}"
        if f["kind"] == "register": props[f["name"]] = register(name, f["valueType"])
        elif f["kind"] == "set":
            props[f["name"]] = {"type": "object", "additionalProperties": False, "properties": {
                "add": {"type": "array", "maxItems": 100, "items": SHORT}, "remove": {"type": "array", "maxItems": 100, "items": SHORT}}}
        elif f["kind"] == "map":
            names = {"type": "string", "enum": ["1", "2", "3", "4", "5"]} if name == "abilities.milestones" else SHORT
            props[f["name"]] = {"type": "object", "maxProperties": 100, "propertyNames": names, "additionalProperties": map_value(name, f["valueType"])}
    if create:
        props["id"] = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"}
        first = REQUIRED_ON_CREATE[collection]
        props[first] = {"type": "string", "minLength": 1, "maxLength": 2000 if f"{collection}.{first}" in LONG else 200}
        return {"type": "object", "required": [first], "additionalProperties": False, "properties": props}
    return {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": props}

SYSTEM_FIELDS = {"badges.isCustom"}
problem = {"$ref": "#/components/responses/Problem"}
def responses(ok, errors):
    r = {ok: {"description": "the record", "content": {"application/json": {"schema": {"type": "object"}}}}}
    for e in errors: r[e] = problem
    return r
path_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 128}}
limit = {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
after = {"name": "after", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 128}}

schema = json.load(open(sys.argv[1]))
doc = json.load(open("Docs/reference/openapi.json"))
for c in schema["collections"]:
    name = c["name"]
    if name not in EDITABLE: continue
    fields = [f for f in c["fields"] if f["kind"] in ("register", "set", "map") and f"{name}.{f['name']}" not in SYSTEM_FIELDS]
    coll = doc["paths"].setdefault(f"/api/v1/{name}", {})
    coll["post"] = {"summary": f"Create a {name} record (needs an identity)", "tags": ["records"], "security": [],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body(name, fields, True)}}},
                    "responses": responses("201", ["400", "401", "403", "409", "415", "422"])}
    if name not in ("people", "objectives", "opportunities"):
        coll["get"] = {"summary": f"List {name}, paginated by id", "tags": ["records"], "security": [], "parameters": [after, limit],
                       "responses": responses("200", ["400"])}
    one = doc["paths"].setdefault(f"/api/v1/{name}/{{id}}", {})
    one["patch"] = {"summary": f"Update a {name} record (needs an identity)", "tags": ["records"], "security": [], "parameters": [path_id],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body(name, fields, False)}}},
                    "responses": responses("200", ["400", "401", "403", "404", "409", "415", "422"])}
    if name != "people":
        one["get"] = {"summary": f"One {name} record", "tags": ["records"], "security": [], "parameters": [path_id], "responses": responses("200", ["404"])}
# Recognition and the marketplace: comments, high-fives, interest.
def item_route(summary, tag, ok, errors, request=None):
    operation = {"summary": summary, "tags": [tag], "security": [], "parameters": [path_id], "responses": responses(ok, errors)}
    if request: operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    return operation
doc["paths"]["/api/v1/feedback/{id}"] = {"get": item_route("One feedback item, if the acting person may read it (404 otherwise)", "feedback", "200", ["404"])}
doc["paths"]["/api/v1/feedback/{id}/comments"] = {"post": item_route(
    "Comment on a feedback item the acting person may read (needs an identity)", "feedback", "201", ["400", "401", "404", "415"],
    {"type": "object", "required": ["body"], "additionalProperties": False,
     "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": "\\S"}}})}
doc["paths"]["/api/v1/feedback/{id}/high-fives"] = {"post": item_route(
    "High-five a feedback item the acting person may read (needs an identity)", "feedback", "200", ["401", "404"])}
doc["paths"]["/api/v1/opportunities/{id}/interest"] = {
    "post": item_route("Say the acting person is interested (needs an identity)", "opportunities", "200", ["401", "404", "409"]),
    "delete": item_route("Withdraw the acting person's interest (needs an identity)", "opportunities", "200", ["401", "404"])}
# The page's helpers: the sync indicator and skill suggestions.
ok_object = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
doc["paths"]["/api/v1/status"] = {"get": {"summary": "Whether this node is in step with its upstream (state, waitingToPush, lastSyncAt, lastError)",
                                          "tags": ["node"], "security": [], "responses": dict(ok_object)}}
doc["paths"]["/api/v1/skills"] = {"get": {"summary": "ESCO skills whose label or synonym starts with q (suggestions while typing)", "tags": ["people"],
    "security": [], "parameters": [{"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 100}},
                                   {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
    "responses": dict(ok_object, **{"400": problem})}}
objectives_get = doc["paths"]["/api/v1/objectives"]["get"]
if not any(p["name"] == "ownerKind" for p in objectives_get["parameters"]):
    objectives_get["parameters"].append({"name": "ownerKind", "in": "query", "required": False, "description": "person, team or department",
                                         "schema": {"type": "string", "maxLength": 16}})
for path in ("/api/v1/feed", "/api/v1/feedback", "/api/v1/objectives", "/api/v1/opportunities"):
    get = doc["paths"][path]["get"]
    if not any(p["name"] == "offset" for p in get["parameters"]):
        get["parameters"].append({"name": "offset", "in": "query", "required": False, "description": "where the page starts (the previous page's next)",
                                  "schema": {"type": "integer", "minimum": 0, "maximum": 100000}})
opportunities_get = doc["paths"]["/api/v1/opportunities"]["get"]
for name, description, length in (("location", "remote or office", 16), ("skill", "a skill, as free text or an ESCO id: opportunities that ask for it or teach it", 200)):
    if not any(p["name"] == name for p in opportunities_get["parameters"]):
        opportunities_get["parameters"].append({"name": name, "in": "query", "required": False, "description": description,
                                                "schema": {"type": "string", "maxLength": length}})
people_get = doc["paths"]["/api/v1/people"]["get"]
people_get["parameters"] = [p for p in people_get["parameters"] if p["name"] != "ids"]
if not any(p["name"] == "ids" for p in people_get["parameters"]):
    people_get["parameters"].append({"name": "ids", "in": "query", "required": False, "description": "comma-separated person ids (at most 100)",
                                     "schema": {"type": "string", "maxLength": 4000}})
# Every route can meet the server's framing limits before it meets its handler.
for item in doc["paths"].values():
    for operation in item.values():
        for status in ("414", "431") + (("413",) if "requestBody" in operation else ()):
            operation["responses"].setdefault(status, problem)
json.dump(doc, open("Docs/reference/openapi.json", "w"), indent=2)
print("routes:", sum(len(v) for v in doc["paths"].values()))
