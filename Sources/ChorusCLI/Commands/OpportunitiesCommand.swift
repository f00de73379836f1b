import ChorusCore
import ChorusNode
import ChorusPeople
import ChorusReplica
import Foundation

enum OpportunitiesCommand: Command {
    static let spec = CommandSpec("opportunities", "the talent marketplace: list, match people and opportunities, audit for bias",
        arguments: "(list | post --title TITLE | match (--person ID | --opportunity ID) | audit --groups FILE)",
        details: """
        list    open opportunities (all with --all).
        post    post an opportunity owned by the acting person (--as): --title, and optionally --kind,
                --description, --skills "python:3:must, sql:2:2" (SKILL[:LEVEL[:WEIGHT]][:must]; free text
                resolves to ESCO), --learn "kubernetes, go", --hours N, --location remote|office,
                --office NAME, --bet-rank 1-10.
        match   rank opportunities for a person, or people for an opportunity, offline, with a score
                0-5, its explanation and what would raise it. Matching reads skills, development goals
                and hours only: never names, gender, office, manager or tenure.
        audit   selection rates of the top --top recommendations per opportunity by a group label
                from FILE (CSV lines `person-id,group`; the labels are used by the audit only) and the
                four-fifths adverse-impact ratio. Exit 1 if the ratio is under 0.8.
        """,
        options: [.data, .json, Identity.option,
                  OptionSpec(name: "--title", valueName: "TEXT", help: "with post: the title"),
                  OptionSpec(name: "--kind", valueName: "KIND", help: "with post: role, project (default), mentorship or companyBet"),
                  OptionSpec(name: "--description", valueName: "TEXT", help: "with post: what it is about"),
                  OptionSpec(name: "--skills", valueName: "LIST", help: "with post: required skills, comma-separated SKILL[:LEVEL[:WEIGHT]][:must]"),
                  OptionSpec(name: "--learn", valueName: "LIST", help: "with post: skills a person can learn there, comma-separated"),
                  OptionSpec(name: "--hours", valueName: "N", help: "with post: hours a week, 1-80"),
                  OptionSpec(name: "--location", valueName: "WHERE", help: "with post: remote (default) or office"),
                  OptionSpec(name: "--office", valueName: "NAME", help: "with post: the office, when not remote"),
                  OptionSpec(name: "--bet-rank", valueName: "N", help: "with post: rank 1-10 among company bets"),
                  OptionSpec(name: "--person", valueName: "ID", help: "with match: rank opportunities for this person"),
                  OptionSpec(name: "--opportunity", valueName: "ID", help: "with match: rank people for this opportunity"),
                  OptionSpec(name: "--top", valueName: "N", help: "how many to show or to count as recommended, 1 to 10000 (default 10)"),
                  OptionSpec(name: "--groups", valueName: "FILE", help: "with audit: CSV of person-id,group"),
                  OptionSpec(name: "--all", valueName: nil, help: "with list: include closed and filled ones")],
        positional: 1...1)

    /// The subcommands taking each option (`--data` and `--json` go with all).
    static let optionsOf: [String: Set<String>] = [
        "--all": ["list"], "--title": ["post"], "--kind": ["post"], "--description": ["post"], "--skills": ["post"], "--learn": ["post"],
        "--hours": ["post"], "--location": ["post"], "--office": ["post"], "--bet-rank": ["post"], "--as": ["post"],
        "--person": ["match"], "--opportunity": ["match"], "--top": ["match", "audit"], "--groups": ["audit"],
    ]

    static func run(_ context: CommandContext) throws -> Int32 {
        // A usage error wherever it is run, before the folder is opened, and so is an option of
        // another subcommand (`list --person` ran, ignoring it).
        let subcommand = context.positional(0)
        guard ["list", "post", "match", "audit"].contains(subcommand) else { throw context.usageError("expected list, post, match or audit") }
        try context.refuseOptions(notTakenBy: subcommand, optionsOf)
        guard let top = Int(context.arguments.value("--top") ?? "10"), (1...10_000).contains(top) else { throw context.usageError("--top must be 1 to 10000") }
        let replica = try context.openReplica()
        let matcher = Matcher()
        switch context.positional(0) {
        case "list":
            let opportunities = try MatchingData.opportunities(replica, includeClosed: context.arguments.flag("--all"))
            let records = try opportunities.compactMap { try replica.get(collection: "opportunities", record: $0.id) }
            if context.isJSON {
                context.output.json(.array(records.map(\.json)))
            } else if records.isEmpty {
                context.output.print(context.arguments.flag("--all") ? "no opportunities" : "no open opportunities (`--all` lists filled and closed ones too)")
            } else {
                context.output.print(Format.table(records.map { record in
                    [record.id, record.fields["kind"].map { Format.value($0) } ?? "", record.fields["title"].map { Format.value($0, width: 40) } ?? "",
                     record.fields["hoursPerWeek"].map { "\(Format.value($0)) h/week" } ?? "", record.fields["betRank"].map { "bet #\(Format.value($0))" } ?? ""]
                }))
            }
        case "post":
            guard let title = context.arguments.value("--title") else { throw context.usageError("post needs --title TEXT") }
            let owner = try Identity.writer(context, in: replica)
            var posting = Posting(title: title)
            if let kind = context.arguments.value("--kind") { posting.kind = kind }
            if let location = context.arguments.value("--location") { posting.location = location }
            posting.description = context.arguments.value("--description")
            posting.office = context.arguments.value("--office")
            func list(_ name: String) -> [String] {
                (context.arguments.value(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            posting.requiredSkills = list("--skills")
            posting.learnableSkills = list("--learn")
            for (name, path) in [("--hours", \Posting.hoursPerWeek), ("--bet-rank", \Posting.betRank)] {
                guard let text = context.arguments.value(name) else { continue }
                guard let number = Int64(text) else { throw context.usageError("\(name) takes a whole number") }
                posting[keyPath: path] = number
            }
            var generator = SystemRandomNumberGenerator()
            let id = "opp-\(replica.id.hex.prefix(8))-\(String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 36))"
            try replica.write(collection: "opportunities", record: id, try posting.changes(owner: owner), by: owner)
            context.isJSON ? context.output.json(try replica.get(collection: "opportunities", record: id)!.json)
                           : context.output.print("posted \(id): \(title)\n`chorus opportunities match --opportunity \(id)` ranks people for it")
        case "match":
            let matches: [Match]
            if context.arguments.value("--person") != nil && context.arguments.value("--opportunity") != nil {
                throw context.usageError("match takes --person ID or --opportunity ID, not both")
            }
            if let person = context.arguments.value("--person") {
                guard let candidate = try MatchingData.candidates(replica, only: person).first else {
                    throw ChorusError(.recordNotFound, "no person \(person)", hint: "`chorus list people` shows the ids")
                }
                matches = matcher.rank(try MatchingData.opportunities(replica), for: candidate, limit: top)
            } else if let id = context.arguments.value("--opportunity") {
                guard let opportunity = try MatchingData.opportunities(replica, includeClosed: true, only: id).first else {
                    throw ChorusError(.recordNotFound, "no opportunity \(id)", hint: "`chorus opportunities list --all` shows the ids")
                }
                matches = matcher.rank(try MatchingData.candidates(replica), for: opportunity, limit: top)
                if opportunity.status != "open" && !context.isJSON {
                    context.output.print("\(id) is \(opportunity.status), no longer open: these are who would have matched")
                }
            } else {
                throw context.usageError("match needs --person ID or --opportunity ID")
            }
            if context.isJSON {
                context.output.json(.array(matches.map(\.json)))
                return 0
            }
            for match in matches {
                context.output.print(String(format: "%.2f  %@ <-> %@", Match.shown(match.score), match.candidate, match.opportunity))
                for explanation in match.explanations { context.output.print("      \(explanation.text)") }
                for improvement in match.improvements.prefix(2) {
                    context.output.print(String(format: "      would raise it: %@ (to %.2f)", improvement.text, Match.shown(improvement.scoreAfter)))
                }
            }
        case "audit":
            guard let file = context.arguments.value("--groups") else { throw context.usageError("audit needs --groups FILE") }
            if let what = PlainFile.notPlain(file) {
                throw ChorusError(.malformedInput, "\(file) is \(what), not a file", hint: "a CSV with one `person-id,group` per line")
            }
            if let size = PlainFile.size(file), size > groupsFileBytesMax {
                throw ChorusError(.limitExceeded, "\(file) is \(size) bytes, over the \(groupsFileBytesMax) a groups file may hold",
                                  hint: "one `person-id,group` line per person: a company of a million people takes some 40 MB")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), text.utf8.count <= groupsFileBytesMax else {
                throw ChorusError(.storage, "cannot read \(file) as UTF-8 text of at most \(groupsFileBytesMax) bytes", hint: "a CSV with one `person-id,group` per line")
            }
            let groups = try auditGroups(text, file: file)
            let candidates = try MatchingData.candidates(replica)
            let report = BiasAudit.run(candidates: candidates, opportunities: try MatchingData.opportunities(replica),
                                       groups: groups, topK: top) { matcher.score($0, $1) }
            // A verdict needs something to compare: an empty or one-group file once "passed".
            guard report.opportunities > 0 else {
                throw ChorusError(.invalidState, "there are no opportunities to audit", hint: "the audit ranks people for each opportunity; post or sync some first")
            }
            let found = report.rates.reduce(0) { $0 + $1.members }
            guard report.rates.filter({ $0.chances > 0 }).count >= 2 else {
                throw ChorusError(.invalidState, "the audit compares groups, and \(file) puts the \(found) people found here in \(report.rates.count) group\(report.rates.count == 1 ? "" : "s")",
                                  hint: "list people of this replica in at least two groups, one `person-id,group` per line")
            }
            if found < groups.count && !context.isJSON {
                context.output.print("\(groups.count - found) of the \(groups.count) people in \(file) are not among this replica's people, and are left out")
            }
            // Rates of a few people move by chance: the verdict stands, with a word on how much it says.
            let small = report.rates.filter { $0.chances > 0 && $0.members < BiasAudit.groupMembersForAVerdictMin }.map(\.group)
            if context.isJSON {
                context.output.json(.object([
                    "topK": .integer(Int64(top)), "opportunities": .integer(Int64(report.opportunities)), "peopleNotFound": .integer(Int64(groups.count - found)),
                    "smallGroups": .array(small.map(JSONValue.string)),
                    "impactRatio": .double(report.impactRatio), "passesFourFifths": .bool(report.passesFourFifths),
                    "noVerdict": report.noVerdict.map(JSONValue.string) ?? .null,
                    "groups": .array(report.rates.map { .object(["group": .string($0.group), "members": .integer(Int64($0.members)),
                                                                 "selections": .integer(Int64($0.selections)), "rate": .double($0.rate)]) }),
                ]))
            } else {
                context.output.print(Format.table([["GROUP", "MEMBERS", "SELECTED", "RATE"]] + report.rates.map {
                    [$0.group, String($0.members), String($0.selections), String(format: "%.4f", $0.rate)]
                }))
                if let why = report.noVerdict {
                    context.output.print("NO VERDICT: \(why)")
                } else {
                    context.output.print(String(format: "impact ratio %.3f: %@", report.impactRatio,
                                                report.passesFourFifths ? "passes the four-fifths rule" : "FAILS the four-fifths rule (under 0.8): investigate"))
                }
                if !small.isEmpty {
                    context.output.print("note: \(small.joined(separator: ", ")) \(small.count == 1 ? "has" : "have") fewer than \(BiasAudit.groupMembersForAVerdictMin) people: rates of so few move by chance, so the ratio says little either way")
                }
            }
            return report.passesFourFifths ? 0 : 1
        default:
            throw context.usageError("expected list, post, match or audit")
        }
        return 0
    }

    /// The audit's groups file: one `person-id,group` per line (blank lines and `#` comments
    /// skipped). A line of another shape, or a person in two groups, is an error naming the line:
    /// left out quietly, it would change the verdict unseen.
    /// The largest `--groups` file read, in bytes: read whole, it was bounded by nothing
    /// (`--groups /dev/zero` read until memory ran out; a pipe waited for good).
    static let groupsFileBytesMax = 64 * 1024 * 1024
    /// The longest group label, in characters: a label, as a short text is.
    static let groupLabelCharactersMax = DomainRules.shortTextCharactersMax

    static func auditGroups(_ text: String, file: String) throws -> [String: String] {
        var groups: [String: String] = [:]
        // Any line ending: a file saved on Windows ends its lines with CR LF, one Character.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[1].contains(",") else {
                throw ChorusError(.malformedInput, "\(file) line \(index + 1) is not `person-id,group`: \(trimmed.prefix(80))",
                                  hint: "one person id and one group label per line, separated by a comma")
            }
            guard parts[0].utf8.count <= Limits.default.recordIDBytesMax, parts[1].count <= groupLabelCharactersMax else {
                throw ChorusError(.limitExceeded, "\(file) line \(index + 1) holds a person id over \(Limits.default.recordIDBytesMax) bytes or a group over \(groupLabelCharactersMax) characters",
                                  hint: "one person id and one short group label per line")
            }
            if let earlier = groups[parts[0]], earlier != parts[1] {
                throw ChorusError(.malformedInput, "\(file) line \(index + 1) puts \(parts[0].prefix(80)) in \(parts[1].prefix(80)), an earlier line in \(earlier.prefix(80))",
                                  hint: "give each person one group")
            }
            groups[parts[0]] = parts[1]
        }
        return groups
    }
}
