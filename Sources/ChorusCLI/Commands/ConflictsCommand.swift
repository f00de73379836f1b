import ChorusCore
import ChorusReplica

enum ConflictsCommand: Command {
    static let spec = CommandSpec("conflicts", "list open conflicts: every live value, who wrote it, which displays and why",
        arguments: "[CONFLICT_ID]",
        details: """
        With CONFLICT_ID, shows that conflict with the person and replica behind each value. JSON form
        of the list: [{"id","collection","record","field","kind","siblings":[{"operation","value","replica",
        "timestamp"}],"displayed","rule"}] (plus "key" for map keys and "invariant" when a merge broke a rule).
        Kinds: register, map, editedWhileDeleted, duplicateEmail. --history lists past resolutions.
        With --remote, asks that node (at the hub: the whole fleet) with an admin token.
        """,
        options: [.data, .json] + RemoteSupport.options + [
            OptionSpec(name: "--collection", valueName: "NAME", help: "only this collection"),
            OptionSpec(name: "--record", valueName: "ID", help: "only this record"),
            OptionSpec(name: "--field", valueName: "FIELD", help: "only this field"),
            OptionSpec(name: "--replica", valueName: "REPLICAHEX", help: "only conflicts with a value written by this replica"),
            OptionSpec(name: "--since", valueName: "UNIX_MS", help: "only conflicts with a value written at or after this time"),
            OptionSpec(name: "--until", valueName: "UNIX_MS", help: "only conflicts with a value written before this time"),
            OptionSpec(name: "--limit", valueName: "N", help: "at most N conflicts (default 100, at most 1000)"),
            OptionSpec(name: "--after", valueName: "CONFLICT_ID", help: "the page after this conflict id"),
            OptionSpec(name: "--history", valueName: nil, help: "list resolutions instead: who resolved what, when, choosing what"),
        ],
        positional: 0...1)

    static let filterKeys = ["collection", "record", "field", "replica", "since", "until", "limit", "after"]

    /// `--limit`, a page of 1 to 1,000 (open conflicts and the history alike); nil when not given.
    static func pageLimit(_ text: String?, _ context: CommandContext) throws -> Int? {
        guard let text else { return nil }
        guard let limit = Int(text), (1...1000).contains(limit) else { throw context.usageError("--limit must be 1 to 1000") }
        return limit
    }

    static func run(_ context: CommandContext) throws -> Int32 {
        let remote = try RemoteSupport.client(context)
        if context.arguments.flag("--history") {
            // Filters of open conflicts are refused here, not ignored: a filtered history that
            // listed everything read as the filter's answer (a read-only audit).
            for option in ["--collection", "--record", "--field", "--replica", "--since", "--until"] where context.arguments.value(option) != nil {
                throw context.usageError("\(option) filters open conflicts; --history lists every resolution, newest first, in pages (--limit, --after)")
            }
            if !context.arguments.positional.isEmpty { throw context.usageError("--history lists every resolution: give no CONFLICT_ID with it") }
            let limit = try pageLimit(context.arguments.value("--limit"), context)
            var query: [String: String] = [:]
            if let limit { query["limit"] = String(limit) }
            if let after = context.arguments.value("--after") { query["after"] = after }
            let (history, next): ([JSONValue], String?) = try RemoteSupport.call {
                if let remote {
                    let page = try remote.get("admin/v1/resolutions", query: query)
                    return (page["resolutions"]?.arrayValue ?? [], page["next"]?.stringValue)
                }
                let page = try context.openReplica().resolutionsPage(limit: limit ?? 100, after: query["after"])
                return (page.records.map(\.json), page.next)
            }
            // The cursor on stderr, as a page of open conflicts says it: the history stopped at
            // 100 with nothing said.
            defer { if let next { context.output.error("more: add --after \(next)") } }
            if context.isJSON { context.output.json(.array(history)); return 0 }
            if history.isEmpty { context.output.print("no resolutions yet") }
            for entry in history {
                let at = entry["resolvedAt"]?.integerValue.map(Format.time(unixMilliseconds:)) ?? "?"
                let key = entry["targetKey"]?.stringValue.map { "[\($0)]" } ?? ""
                let target = "\(entry["targetCollection"]?.stringValue ?? "")/\(entry["targetRecord"]?.stringValue ?? "") \(entry["targetField"]?.stringValue ?? "")\(key)"
                context.output.print("\(at)  \(entry["resolvedBy"]?.stringValue ?? "?")  \(target)  \(ResolveCommand.choiceText(entry, width: 40))  [\(entry["conflict"]?.stringValue ?? "")]")
            }
            return 0
        }
        if let id = context.arguments.positional.first {
            let detail: JSONValue = try RemoteSupport.call {
                if let remote { return try remote.get("admin/v1/conflicts/\(id)") }
                let replica = try context.openReplica()
                guard let conflict = try replica.conflict(id: id) else {
                    throw ChorusError(.recordNotFound, "no open conflict \(id)", hint: "`chorus conflicts` lists the open ones")
                }
                return try replica.conflictDetail(conflict)
            }
            if context.isJSON {
                context.output.json(detail)
            } else {
                printConflicts([detail], context, detailed: true)
                // What settles it as read: a value arriving meanwhile makes that refused.
                let seen = (detail["siblings"]?.arrayValue ?? []).compactMap { $0["operation"]?.stringValue }
                if !seen.isEmpty {
                    context.output.print("to settle it as read: chorus resolve --conflict \(detail["id"]?.stringValue ?? id) --seen \(seen.joined(separator: ",")) and one of --keep OPERATION_ID, --value JSON, --restore or --delete")
                }
            }
            return 0
        }
        var filter = ConflictFilter()
        var query: [String: String] = [:]
        for key in filterKeys { if let value = context.arguments.value("--\(key)") { query[key] = value } }
        if let collection = query["collection"], remote == nil { _ = try PeopleSchema.current.requireCollection(collection) }
        filter.collection = query["collection"]
        filter.record = query["record"]
        filter.field = query["field"]
        filter.after = query["after"]
        if let text = query["replica"] {
            guard let replica = ReplicaID(hex: text) else { throw context.usageError("--replica needs 32 hex digits") }
            filter.replica = replica
        }
        if let text = query["since"] { guard let v = UInt64(text) else { throw context.usageError("--since is Unix milliseconds") }; filter.since = v }
        if let text = query["until"] { guard let v = UInt64(text) else { throw context.usageError("--until is Unix milliseconds") }; filter.until = v }
        if let limit = try pageLimit(query["limit"], context) { filter.limit = limit }
        let (conflicts, next, total): ([JSONValue], String?, Int?) = try RemoteSupport.call {
            if let remote {
                let page = try remote.get("admin/v1/conflicts", query: query)
                return (page["conflicts"]?.arrayValue ?? [], page["next"]?.stringValue, page["total"]?.integerValue.map { Int($0) })
            }
            let page = try context.openReplica().conflicts(matching: filter)
            return (page.conflicts.map(\.json), page.next, page.total)
        }
        if context.isJSON {
            context.output.json(.array(conflicts))
        } else if conflicts.isEmpty {
            context.output.print("no open conflicts")
        } else {
            printConflicts(conflicts, context, detailed: false)
            // A page is said to be one: "3 open conflicts" read as all there were.
            let count = "\(conflicts.count) open conflict\(conflicts.count == 1 ? "" : "s")"
            // An older node says no total: a page is said to be one all the same.
            let paged = total.map { "\(conflicts.count) of \($0) open conflicts (a page: more follow)" } ?? "the first \(count) (a page: more follow)"
            context.output.print("\(next == nil ? count : paged); * marks what displays. Resolve with `chorus resolve --conflict ID`.")
        }
        if let next { context.output.error("more: add --after \(next)") }
        return 0
    }

    /// A sibling's value; for an edit made while the record was deleted, with what it changed:
    /// `title = Lead`, `skills[go] = 3`, `guilds + g-9`, `comments: appended Nice`.
    static func edit(_ sibling: JSONValue) -> String {
        let value = Format.value(sibling["value"] ?? .null, width: 40)
        guard let field = sibling["field"]?.stringValue else { return value }
        let key = Format.value(.string(sibling["key"]?.stringValue ?? ""), width: 40)
        switch sibling["kind"]?.stringValue {
        case "map": return "\(field)[\(key)] = \(value)"
        case "set": return "\(field) + \(key)"
        case "log": return "\(field): appended \(value)"
        case "register": return "\(field) = \(value)"
        default:   // a node from before `kind` was sent: told by the key alone
            guard sibling["key"] != nil else { return "\(field) = \(value)" }
            return sibling["value"] == .null ? "\(field) + \(key)" : "\(field)[\(key)] = \(value)"
        }
    }

    static func printConflicts(_ conflicts: [JSONValue], _ context: CommandContext, detailed: Bool) {
        for conflict in conflicts {
            let field = conflict["field"]?.stringValue.map { f in conflict["key"]?.stringValue.map { "\(f)[\($0)]" } ?? f } ?? "(record)"
            let siblings = conflict["siblings"]?.arrayValue ?? []
            context.output.print("\(conflict["collection"]?.stringValue ?? "")/\(conflict["record"]?.stringValue ?? "") \(field)  \(conflict["kind"]?.stringValue ?? ""), \(siblings.count) live  [\(conflict["id"]?.stringValue ?? "")]")
            if let invariant = conflict["invariant"]?.stringValue { context.output.print("    broken rule: \(invariant)") }
            context.output.print(Format.table(siblings.map { sibling in
                let operation = sibling["operation"]?.stringValue ?? ""
                let isDelete = sibling["delete"] == .bool(true)
                let replica = sibling["replicaName"]?.stringValue ?? String((sibling["replica"]?.stringValue ?? "").prefix(8))
                let wall = sibling["timestamp"]?.stringValue.flatMap { $0.split(separator: ".").first.flatMap { UInt64($0) } } ?? 0
                // Two people with one email both show it: every value is marked.
                let shows = operation == conflict["displayed"]?.stringValue || conflict["kind"]?.stringValue == "duplicateEmail"
                var row = [shows ? "  * " : "    ",
                           isDelete ? "(delete)" : ConflictsCommand.edit(sibling),
                           "replica \(replica)", Format.time(HybridTimestamp(wall: wall, logical: 0)), operation]
                if detailed { row.insert("by \(sibling["author"]?.stringValue ?? "unknown")", at: 3) }
                return row
            }))
            context.output.print("    why: \(conflict["rule"]?.stringValue ?? "")\n")
        }
    }
}
