import ChorusCore
import ChorusPeople
import ChorusReplica

/// Who is acting: `--as PERSON`, else `$CHORUS_PERSON`, else the person a laptop's upstream
/// registered it for (`chorus status` shows it). Writes without an identity are refused.
enum Identity {
    static let option = OptionSpec(name: "--as", valueName: "PERSON", help: "who is acting (default: $CHORUS_PERSON, or the laptop's person)")

    static func person(_ context: CommandContext, required: Bool, in replica: Replica) throws -> String? {
        let person = try context.arguments.value("--as") ?? context.environment["CHORUS_PERSON"] ?? replica.upstream()?.person
        if required && person == nil {
            throw ChorusError(.invalidState, "no identity: every change is made by a person",
                              hint: "pass --as PERSON_ID or set CHORUS_PERSON (a laptop's owner)")
        }
        return person
    }

    /// The person making a change, who must have a live profile here: `--as` is typed by hand,
    /// and feedback, thanks or a posting by an id nobody has would stand in the feed for good,
    /// from no one (a typo, or someone not yet synced to this laptop).
    static func writer(_ context: CommandContext, in replica: Replica) throws -> String {
        let person = try person(context, required: true, in: replica)!
        guard try PeopleDirectory.hasProfile(replica, person) else {
            throw ChorusError(.recordNotFound, "no one here has the person id \(person) (the author of this change)",
                              hint: "`chorus people search NAME` finds a person's id; a new laptop syncs first (`chorus sync`)")
        }
        return person
    }
}

enum PeopleCommand: Command {
    static let spec = CommandSpec("people", "find people by name and skill, and show a profile", arguments: "(search QUERY... | show ID)",
        details: "search matches names, titles and skills (ESCO labels and synonyms), by word prefix: `chorus people search sofia pyth` finds the Sofias who know Python.",
        options: [.data, .json, OptionSpec(name: "--limit", valueName: "N", help: "at most N results (default 20, at most 1000)")],
        positional: 2...20)

    static func run(_ context: CommandContext) throws -> Int32 {
        // The words are checked before the folder is opened: a usage error is one wherever it is
        // run (it was "no replica" in a folder without one), and `show` of two ids showed the first.
        switch (context.positional(0), context.arguments.positional.count) {
        case ("search", _), ("show", 2): break
        case ("show", _): throw context.usageError("show takes one ID")
        default: throw context.usageError("expected search QUERY or show ID")
        }
        try context.refuseOptions(notTakenBy: context.positional(0), ["--limit": ["search"]])
        let replica = try context.openReplica()
        switch context.positional(0) {
        case "search":
            guard let limit = Int(context.arguments.value("--limit") ?? "20"), (1...1000).contains(limit) else { throw context.usageError("--limit must be 1 to 1000") }
            let hits = try PeopleDirectory.search(replica, query: context.arguments.positional.dropFirst().joined(separator: " "), limit: limit)
            if context.isJSON {
                context.output.json(.array(hits.map { .object(["id": .string($0.id), "name": .string($0.name), "title": $0.title.map(JSONValue.string) ?? .null,
                                                               "office": $0.office.map(JSONValue.string) ?? .null]) }))
            } else if hits.isEmpty {
                context.output.print("nobody found")
            } else {
                context.output.print(Format.table(hits.map { [$0.id, $0.name, $0.title ?? "", $0.office ?? ""] }))
            }
        case "show":
            guard let record = try replica.get(collection: "people", record: context.positional(1)), record.isVisible else {
                throw ChorusError(.recordNotFound, "no person \(context.positional(1))", hint: "`chorus people search NAME` finds ids")
            }
            let taxonomy = SkillTaxonomy.esco
            var json = record.json.objectValue ?? [:]
            if case .object(let skills)? = record.fields["skills"] {
                json["skills"] = .object(Dictionary(skills.map { (taxonomy.resolve($0.key).label, $0.value) }, uniquingKeysWith: { a, _ in a }))
            }
            if case .array(let goals)? = record.fields["developmentGoals"] {
                json["developmentGoals"] = .array(goals.compactMap(\.stringValue).map { .string(taxonomy.resolve($0).label) })
            }
            if case .object(let entries)? = record.fields["experience"] {
                json["experience"] = .object(entries.mapValues { entry in
                    guard case .object(var object) = entry, case .array(let skills)? = object["skills"] else { return entry }
                    object["skills"] = .array(skills.map { $0.stringValue.map { .string(taxonomy.resolve($0).label) } ?? $0 })
                    return .object(object)
                })
            }
            if context.isJSON { context.output.json(.object(json)); return 0 }
            // Whose profile it is first, as `get` starts with the record it shows.
            context.output.print("people/\(context.positional(1))")
            for key in json.keys.sorted() where key != "_meta" && key != "id" {
                context.output.print("\(key.padding(toLength: 22, withPad: " ", startingAt: 0)) \(Format.value(json[key]!, width: 90))")
            }
        default:
            throw context.usageError("expected search QUERY or show ID")
        }
        return 0
    }
}

enum FeedbackCommand: Command {
    static let spec = CommandSpec("feedback", "give feedback or praise, read what you may see, comment and high-five",
        arguments: "(give TEXT | list | comment ID TEXT | high-five ID | withdraw ID [ENTRY])",
        details: """
        give   --to PERSON [--kind feedback|praise|thanks] [--visibility public|private|privateAndManager|managerOnly] [--badge ID]
        comment, high-five   on an item the acting person may read (the feed's items are public);
               at most \(Feedback.commentsPerItemMax) comments an item, and no high-five of one's own.
        withdraw ID          the acting person withdraws an item they gave (a delete every replica obeys);
        withdraw ID ENTRY    or a comment they wrote on it (ENTRY as `--json` lists it).
        list   feedback the acting person may read (public to all; private to author and recipient;
               privateAndManager also to the recipient's manager; managerOnly to the author and that manager).
        """,
        options: [.data, .json, Identity.option,
                  OptionSpec(name: "--to", valueName: "PERSON", help: "with give: the recipient"),
                  OptionSpec(name: "--kind", valueName: "KIND", help: "feedback (default), praise or thanks"),
                  OptionSpec(name: "--visibility", valueName: "WHO", help: "private (default for feedback), public, privateAndManager, managerOnly"),
                  OptionSpec(name: "--badge", valueName: "ID", help: "award a badge with it"),
                  OptionSpec(name: "--about", valueName: "PERSON", help: "with list: only feedback to this person"),
                  OptionSpec(name: "--limit", valueName: "N", help: "with list: at most N items, newest first (default 50, at most 10000)")],
        positional: 1...3)

    /// Each subcommand's count of arguments, itself included, and the options only it takes.
    static let forms: [(name: String, counts: Set<Int>)] = [("give", [2]), ("list", [1]), ("comment", [3]), ("high-five", [2]), ("withdraw", [2, 3])]
    static let optionsOf: [String: Set<String>] = ["--to": ["give"], "--kind": ["give"], "--visibility": ["give"], "--badge": ["give"],
                                                   "--about": ["list"], "--limit": ["list"]]

    static func run(_ context: CommandContext) throws -> Int32 {
        // Checked before the folder is opened, and the options each one takes: `list --to P
        // --kind x` ran, ignoring both (a read-only audit).
        let subcommand = context.positional(0)
        guard let form = forms.first(where: { $0.name == subcommand }), form.counts.contains(context.arguments.positional.count) else {
            throw context.usageError("expected `give TEXT --to PERSON`, `list`, `comment ID TEXT`, `high-five ID` or `withdraw ID [ENTRY]`")
        }
        try context.refuseOptions(notTakenBy: subcommand, optionsOf)
        let replica = try context.openReplica()
        switch (context.positional(0), context.arguments.positional.count) {
        case ("give", 2):
            guard let to = context.arguments.value("--to") else { throw context.usageError("give needs --to PERSON") }
            let kind = context.arguments.value("--kind") ?? "feedback"
            let id = try Feedback.give(replica, from: try Identity.writer(context, in: replica), to: to, kind: kind, body: context.positional(1),
                                       visibility: context.arguments.value("--visibility") ?? Feedback.defaultVisibility(kind: kind),
                                       badge: context.arguments.value("--badge"))
            context.isJSON ? context.output.json(.object(["id": .string(id)])) : context.output.print("gave \(kind) \(id)")
        case ("list", 1):
            guard let limit = Int(context.arguments.value("--limit") ?? "50"), (1...10_000).contains(limit) else { throw context.usageError("--limit must be 1 to 10000") }
            let fetched = try Feedback.visibleItems(replica, viewer: try Identity.person(context, required: false, in: replica), about: context.arguments.value("--about"),
                                                    limit: limit + 1)
            let items = Array(fetched.prefix(limit))
            if context.isJSON { context.output.json(.array(items.map(\.json))); return 0 }
            if items.isEmpty { context.output.print("nothing you may read") }
            defer { if fetched.count > limit { context.output.print("... more: --limit \(min(10_000, limit * 2)) shows more") } }
            for item in items {
                let f = item.fields
                context.output.print("\(item.id)  \(f["kind"]?.stringValue ?? "") from \(f["from"]?.stringValue ?? "?") to \(f["to"]?.stringValue ?? "?") (\(f["visibility"]?.stringValue ?? "private")): \(Format.value(f["body"] ?? .null, width: 80))")
            }
        case ("comment", 3), ("high-five", 2):
            let person = try Identity.writer(context, in: replica)
            let item = context.positional(0) == "comment"
                ? try Feedback.comment(replica, on: context.positional(1), by: person, body: context.positional(2),
                                       at: Int64(replica.configuration.wallClock.nowMilliseconds()))
                : try Feedback.highFive(replica, on: context.positional(1), by: person)
            if context.isJSON { context.output.json(item.json); return 0 }
            context.output.print(counts(item))
        case ("withdraw", 2):
            try Feedback.withdraw(replica, id: context.positional(1), by: try Identity.writer(context, in: replica))
            context.isJSON ? context.output.json(.object(["id": .string(context.positional(1)), "withdrawn": true]))
                : context.output.print("withdrew \(context.positional(1))")
        case ("withdraw", 3):
            let item = try Feedback.withdrawComment(replica, on: context.positional(1), entry: context.positional(2), by: try Identity.writer(context, in: replica))
            if context.isJSON { context.output.json(item.json); return 0 }
            context.output.print(counts(item))
        default:
            throw context.usageError("expected `give TEXT --to PERSON`, `list`, `comment ID TEXT`, `high-five ID` or `withdraw ID [ENTRY]`")
        }
        return 0
    }

    /// "fb-1: 2 comments, 1 high-five": what an item has after a comment or a high-five.
    static func counts(_ item: RecordSnapshot) -> String {
        let comments = item.fields["comments"]?.arrayValue?.count ?? 0, fives = Int(item.fields["highFives"]?.integerValue ?? 0)
        return "\(item.id): \(Format.counted(comments, "comment")), \(Format.counted(fives, "high-five"))"
    }
}

enum ThanksCommand: Command {
    static let spec = CommandSpec("thanks", "thank someone publicly (it shows in the recognition feed)", arguments: "PERSON TEXT",
        options: [.data, .json, Identity.option, OptionSpec(name: "--badge", valueName: "ID", help: "award a badge with it")],
        positional: 2...2)

    static func run(_ context: CommandContext) throws -> Int32 {
        let replica = try context.openReplica()
        let id = try Feedback.give(replica, from: try Identity.writer(context, in: replica), to: context.positional(0), kind: "thanks",
                                   body: context.positional(1), visibility: "public", badge: context.arguments.value("--badge"))
        context.isJSON ? context.output.json(.object(["id": .string(id)])) : context.output.print("thanked \(context.positional(0)) (\(id))")
        return 0
    }
}

enum ObjectivesCommand: Command {
    static let spec = CommandSpec("objectives", "browse quarterly objectives of people, teams and departments",
        options: [.data, .json,
                  OptionSpec(name: "--quarter", valueName: "Q", help: "e.g. 2026-Q4"),
                  OptionSpec(name: "--owner", valueName: "ID", help: "a person or team id"),
                  OptionSpec(name: "--limit", valueName: "N", help: "at most N objectives, newest quarter first (default 1000, at most \(rowsMax))")])

    /// Most objectives one listing prints.
    static let rowsMax = 100_000

    static func run(_ context: CommandContext) throws -> Int32 {
        if let quarter = context.arguments.value("--quarter"), !DomainRules.isQuarter(quarter) {
            throw context.usageError("--quarter must be \(DomainRules.quarterForm), not \(quarter.prefix(40))")
        }
        guard let limit = Int(context.arguments.value("--limit") ?? "1000"), (1...rowsMax).contains(limit) else {
            throw context.usageError("--limit must be 1 to \(rowsMax)")
        }
        let replica = try context.openReplica()
        let rows = try replica.withDatabase { db in
            try db.query("""
                SELECT id, coalesce(quarter, ''), coalesce(ownerKind, ''), coalesce(owner, ''), coalesce(title, ''), progress FROM objectives
                WHERE _deleted = 0 AND \(ReadPolicy.publishedObjectivesSQL) AND (? IS NULL OR quarter = ?) AND (? IS NULL OR owner = ?)
                ORDER BY quarter DESC, owner, id LIMIT ?
                """, context.arguments.value("--quarter"), context.arguments.value("--quarter"), context.arguments.value("--owner"), context.arguments.value("--owner"),
                limit + 1)
        }
        // Cut at the limit, and said so: a listing stopped at 1,000 rows without a word (a read-only audit).
        let cut = rows.count > limit
        let shown = Array(rows.prefix(limit))
        if cut {
            context.output.error("note: the first \(limit) objectives; narrow with --quarter or --owner, or raise --limit")
        }
        if context.isJSON {
            context.output.json(.array(shown.map { row in
                .object(["id": .string(row.text(0)!), "quarter": .string(row.text(1)!), "ownerKind": .string(row.text(2)!), "owner": .string(row.text(3)!),
                         "title": .string(row.text(4)!), "progress": row.real(5).map(JSONValue.double) ?? .null])
            }))
        } else if shown.isEmpty {
            context.output.print("no published objectives\(context.arguments.value("--quarter").map { " in \($0)" } ?? "")\(context.arguments.value("--owner").map { " of \($0)" } ?? "")")
        } else {
            context.output.print(Format.table(shown.map { [$0.text(1)!, "\($0.text(2)!) \($0.text(3)!)", $0.text(4)!, $0.real(5).map(Format.percent) ?? ""] }))
        }
        return 0
    }
}
