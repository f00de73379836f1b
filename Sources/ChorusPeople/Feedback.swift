import ChorusCore
import ChorusReplica

/// Feedback, praise and thanks, and who may read them.
///
/// | visibility | who reads it |
/// |---|---|
/// | `public` | everyone (it appears in the recognition feed) |
/// | `private` | the author and the recipient |
/// | `privateAndManager` | the author, the recipient and the recipient's manager |
/// | `managerOnly` | the author and the recipient's manager |
public enum Feedback {
    public static let kinds = ["feedback", "praise", "thanks"]
    public static let visibilities = ["public", "private", "privateAndManager", "managerOnly"]
    /// Longest message, in characters.
    public static let bodyCharactersMax = 4000

    /// White space as JSON Schema's `\\s` (ECMA-262) counts it, so the API and its OpenAPI document
    /// agree on what a blank message is.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: return true
        default: return false
        }
    }

    /// The message without surrounding white space.
    static func trimmed(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars[...]
        while let first = scalars.first, isWhitespace(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, isWhitespace(last) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Whether `viewer` may read a feedback record (`from`, `to`, `visibility` fields). The
    /// recipient's manager reads what was given since they became the manager
    /// (`managedSinceMade`, `ReadPolicy.managedSinceMade`).
    public static func isVisible(_ item: [String: JSONValue], to viewer: String?, managerOf: (String) throws -> String?,
                                 managedSinceMade: (String, String) throws -> Bool) rethrows -> Bool {
        // Naming none, it is private, whatever its kind: a kind changed to praise must not make
        // an item public that never said it was (and older nodes read none as public).
        let visibility = item["visibility"]?.stringValue ?? "private"
        if visibility == "public" { return true }
        guard let viewer else { return false }
        let from = item["from"]?.stringValue, to = item["to"]?.stringValue
        if viewer == from { return true }
        let manager = try to.flatMap(managerOf)
        func readsAsManager() throws -> Bool {
            guard let to, let manager, viewer == manager else { return false }
            return try managedSinceMade(to, manager)
        }
        switch visibility {
        case "private": return viewer == to
        case "privateAndManager": return try viewer == to || readsAsManager()
        case "managerOnly": return try readsAsManager()
        default: return false   // unknown visibility from a newer version: fail closed
        }
    }

    /// The visibility `give` takes when none is given: feedback is private; praise and thanks
    /// are public. (An item stored without one is read as private: `isVisible`.)
    public static func defaultVisibility(kind: String?) -> String { kind == "praise" || kind == "thanks" ? "public" : "private" }

    /// Checks a value written to an item's field other than by `give`: `chorus put`, and an admin
    /// settling a conflict, which once made private feedback public with a null visibility, and
    /// took a body of 20,000 characters holding terminal escapes. The bounds `give` holds; only
    /// the badge may be cleared. (Who the ids name is `DomainReferences`' to check.)
    public static func check(field: String, value: JSONValue) throws(ChorusError) {
        func fail(_ message: String) -> ChorusError { ChorusError(.invalidValue, "feedback.\(field): \(message)") }
        switch field {
        case "kind", "visibility":
            let allowed = field == "kind" ? kinds : visibilities
            guard let text = value.stringValue, allowed.contains(text) else { throw fail("must be one of \(allowed.joined(separator: ", "))") }
        case "body":
            // Measured as stored (untrimmed): white space padding once took a body past the bound.
            guard let text = value.stringValue, !DomainRules.isBlank(trimmed(text)), text.unicodeScalars.count <= bodyCharactersMax else {
                throw fail("must be a message of 1 to \(bodyCharactersMax) characters, not blank")
            }
            if let problem = DomainRules.textProblem(text, long: true) { throw fail(problem) }
        case "from", "to", "badge":
            if field == "badge", value == .null { return }
            guard let text = value.stringValue, !text.isEmpty, text.unicodeScalars.count <= DomainRules.shortTextCharactersMax,
                  DomainRules.textProblem(text, long: false) == nil else {
                throw fail("must be \(field == "badge" ? "a badge" : "a person")'s id\(field == "badge" ? ", or null" : "")")
            }
        default:
            return
        }
    }

    /// Checks a comment appended other than by `comment` (`chorus append feedback ID comments`):
    /// the shape and bounds `comment` writes, `{"author", "body", "at"?}`. The bounds sweep
    /// appended a 5,000-character body, a blank one, unknown members and terminal escapes.
    public static func checkComment(_ value: JSONValue) throws(ChorusError) {
        let shape = "{\"author\": a person's id, \"body\": 1 to \(commentCharactersMax) characters, \"at\"?: Unix milliseconds}"
        func fail(_ message: String) -> ChorusError { ChorusError(.invalidValue, "feedback.comments: \(message)", hint: "a comment is \(shape)") }
        guard case .object(let members) = value else { throw fail("a comment is an object") }
        if let unknown = members.keys.sorted().first(where: { !["author", "body", "at"].contains($0) }) { throw fail("unknown member \(unknown.prefix(64))") }
        guard let author = members["author"]?.stringValue, !author.isEmpty, author.utf8.count <= Limits.default.recordIDBytesMax,
              DomainRules.textProblem(author, long: false) == nil else { throw fail("author must be a person's id") }
        guard let text = members["body"]?.stringValue, !DomainRules.isBlank(trimmed(text)), text.unicodeScalars.count <= commentCharactersMax else {
            throw fail("body must be 1 to \(commentCharactersMax) characters, not blank")
        }
        if let problem = DomainRules.textProblem(text, long: true) { throw fail("body \(problem)") }
        if let at = members["at"], at.integerValue.map({ $0 >= 0 }) != true { throw fail("at must be Unix milliseconds") }
    }

    /// Why `badge` may not go with an item of `kind`, or nil. A badge is recognition: it travels
    /// with praise or thanks, not with feedback to improve. (The API answers it 422, the request
    /// being well formed; the CLI as any refused value.)
    public static func badgeRefusal(kind: String, badge: String?) -> (message: String, hint: String)? {
        guard badge != nil, kind == "feedback" else { return nil }
        return ("a badge goes with praise or thanks, not with feedback", "give it as praise or thanks, or leave the badge out")
    }

    /// Why an item naming these may not be given: a person or badge that is not here, or
    /// `managerOnly` to someone with no manager (nobody but the author would read it). Well formed,
    /// naming what is not there: the API answers 422 (`give`'s `referenceRefused`).
    static func referenceRefusal(_ replica: Replica, from: String, to: String, visibility: String, badge: String?) throws -> ChorusError? {
        for person in [from, to] where try !PeopleDirectory.hasProfile(replica, person) {
            return ChorusError(.recordNotFound, "no person with the id \(person.prefix(128))",
                               hint: "name the person by their id (p-...), not their name: the page's list, `GET /api/v1/people?q=NAME` or `chorus people search NAME` finds it")
        }
        if let badge, try replica.get(collection: "badges", record: badge)?.isVisible != true {
            return ChorusError(.recordNotFound, "no badge \(badge.prefix(128))")
        }
        // Only their manager and the author read it: with no manager, nobody but the author would.
        if visibility == "managerOnly", try ReadPolicy.manager(of: to, lookup: ReadPolicy.visibleFields(replica)) == nil {
            return ChorusError(.invalidState, "\(to.prefix(128)) has no manager here, so nobody but you would read it",
                               hint: "give it privately to them, or once their manager is set")
        }
        return nil
    }

    /// Writes a feedback item after checking it; returns its id. A refusal for what it names
    /// (`referenceRefusal`) is thrown as `referenceRefused` makes it: the API's 422.
    @discardableResult
    public static func give(_ replica: Replica, from: String, to: String, kind: String, body: String, visibility: String, badge: String? = nil,
                            referenceRefused: (ChorusError) -> any Error = { $0 }) throws -> String {
        guard kinds.contains(kind) else { throw ChorusError(.invalidValue, "kind must be one of \(kinds.joined(separator: ", "))") }
        guard visibilities.contains(visibility) else {
            throw ChorusError(.invalidValue, "visibility must be one of \(visibilities.joined(separator: ", "))")
        }
        let text = Feedback.trimmed(body)
        guard !DomainRules.isBlank(text), text.unicodeScalars.count <= bodyCharactersMax else {
            throw ChorusError(.invalidValue, "the message must be 1 to \(bodyCharactersMax) characters, not blank")
        }
        if let problem = DomainRules.textProblem(text, long: true) { throw ChorusError(.invalidValue, "the message \(problem)") }
        guard from != to else { throw ChorusError(.invalidValue, "feedback goes to someone else", hint: "pick another recipient") }
        if let refusal = try referenceRefusal(replica, from: from, to: to, visibility: visibility, badge: badge) { throw referenceRefused(refusal) }
        if let refusal = badgeRefusal(kind: kind, badge: badge) { throw ChorusError(.invalidValue, refusal.message, hint: refusal.hint) }
        var generator = SystemRandomNumberGenerator()
        let id = "fb-\(replica.id.hex.prefix(8))-\(String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 36))"
        var changes: [Change] = [.put(field: "from", value: .string(from)), .put(field: "to", value: .string(to)), .put(field: "kind", value: .string(kind)),
                                 .put(field: "body", value: .string(text)), .put(field: "visibility", value: .string(visibility))]
        if let badge { changes.append(.put(field: "badge", value: .string(badge))) }
        try replica.write(collection: "feedback", record: id, changes, by: from)
        return id
    }

    /// Longest comment, in characters.
    public static let commentCharactersMax = 1000
    /// Most comments one item takes: past it a comment is refused (409). A sweep posted 6,800 on
    /// one praise, each answer carrying them all (1.2 MB, a second each), and a record of more
    /// live entries than a delete supersedes could no longer be withdrawn. Two offices commenting
    /// at once may pass it by the comments in flight.
    public static let commentsPerItemMax = 500
    /// Comments an item carries in lists (the feed, a person's feedback) and in the answer to a
    /// comment or a high-five: the newest. `commentCount` says how many it has; the item read
    /// alone (`GET /api/v1/feedback/{id}`) carries them all.
    public static let commentsListedMax = 20

    /// An item as lists show it: its newest `commentsListedMax` comments and `commentCount`.
    public static func listed(_ record: RecordSnapshot) -> JSONValue {
        whole(record, commentsMax: commentsListedMax)
    }

    /// An item with every comment (up to `commentsMax`, newest kept) and `commentCount`.
    public static func whole(_ record: RecordSnapshot, commentsMax: Int = .max) -> JSONValue {
        guard case .object(var object) = record.json else { return record.json }
        let comments = object["comments"]?.arrayValue ?? []
        object["commentCount"] = .integer(Int64(comments.count))
        if comments.count > commentsMax { object["comments"] = .array(Array(comments.suffix(commentsMax))) }
        return .object(object)
    }

    /// The feedback item `viewer` may read, or nil when there is none or they may not read it (the
    /// two look the same, so nobody learns that private feedback exists).
    public static func visibleItem(_ replica: Replica, id: String, viewer: String?) throws -> RecordSnapshot? {
        guard let record = try replica.get(collection: "feedback", record: id), record.isVisible else { return nil }
        let lookup = ReadPolicy.visibleFields(replica)
        let visible = try isVisible(record.fields, to: viewer, managerOf: { try ReadPolicy.manager(of: $0, lookup: lookup) },
                                    managedSinceMade: ReadPolicy.managedSinceMade(collection: "feedback", record: id, replica: replica))
        return visible ? record : nil
    }

    /// Adds `person`'s comment to an item they may read; returns the item.
    public static func comment(_ replica: Replica, on id: String, by person: String, body: String, at milliseconds: Int64) throws -> RecordSnapshot {
        guard let item = try visibleItem(replica, id: id, viewer: person) else { throw ChorusError(.recordNotFound, "no feedback item \(id.prefix(128))") }
        let count = item.fields["comments"]?.arrayValue?.count ?? 0
        guard count < commentsPerItemMax else {
            throw ChorusError(.invalidState, "this item has \(count) comments, as many as one takes (\(commentsPerItemMax))",
                              hint: "say it in thanks or feedback of your own")
        }
        let text = trimmed(body)
        guard !DomainRules.isBlank(text), text.unicodeScalars.count <= commentCharactersMax else {
            throw ChorusError(.invalidValue, "a comment is 1 to \(commentCharactersMax) characters, not blank")
        }
        if let problem = DomainRules.textProblem(text, long: true) { throw ChorusError(.invalidValue, "the comment \(problem)") }
        try replica.write(collection: "feedback", record: id, [.append(field: "comments", value: .object([
            "author": .string(person), "body": .string(text), "at": .integer(milliseconds)]))], by: person)
        return try replica.get(collection: "feedback", record: id)!
    }

    /// A high-five from `person` on an item they may read; returns the item. The count is a
    /// counter, so high-fives given at two offices at once both count.
    public static func highFive(_ replica: Replica, on id: String, by person: String) throws -> RecordSnapshot {
        guard let item = try visibleItem(replica, id: id, viewer: person) else { throw ChorusError(.recordNotFound, "no feedback item \(id.prefix(128))") }
        // Recognition is given by others: one's own high-fives only inflate the count.
        guard item.fields["from"]?.stringValue != person else {
            throw ChorusError(.invalidState, "this is your own \(item.fields["kind"]?.stringValue ?? "item")", hint: "high-fives are for what others give")
        }
        try replica.write(collection: "feedback", record: id, [.increment(field: "highFives", by: 1)], by: person)
        return try replica.get(collection: "feedback", record: id)!
    }

    /// Withdraws an item `person` gave (a delete, which every replica obeys; an admin may restore
    /// it). Only its author withdraws it: a recipient who may read it may not.
    public static func withdraw(_ replica: Replica, id: String, by person: String) throws {
        guard let item = try visibleItem(replica, id: id, viewer: person) else { throw ChorusError(.recordNotFound, "no feedback item \(id.prefix(128))") }
        guard item.fields["from"]?.stringValue == person else {
            throw ChorusError(.refused, "only who gave an item withdraws it", hint: "ask its author, or an admin")
        }
        try replica.write(collection: "feedback", record: id, [.delete], by: person)
    }

    /// Withdraws `person`'s own comment `entry` (its id, as the item lists it) from an item they may read.
    public static func withdrawComment(_ replica: Replica, on id: String, entry: String, by person: String) throws -> RecordSnapshot {
        guard let item = try visibleItem(replica, id: id, viewer: person) else { throw ChorusError(.recordNotFound, "no feedback item \(id.prefix(128))") }
        guard let comment = item.fields["comments"]?.arrayValue?.first(where: { $0["entry"]?.stringValue == entry }),
              let operation = OperationID(entry) else {
            throw ChorusError(.recordNotFound, "no comment \(entry.prefix(128)) on \(id.prefix(128))")
        }
        guard comment["value"]?["author"]?.stringValue == person else {
            throw ChorusError(.refused, "only who wrote a comment withdraws it", hint: "ask its author, or an admin")
        }
        try replica.write(collection: "feedback", record: id, [.retract(field: "comments", entry: operation)], by: person)
        return try replica.get(collection: "feedback", record: id)!
    }

    /// Where a page of feedback ends: its last item's given time (when its `from` was written,
    /// `ReadPolicy.madeField`) and id.
    /// The next page starts after it, so items given meanwhile do not shift it (an offset showed
    /// an item twice when a thanks was given between two pages). Written `GIVEN:ID`.
    public struct PageCursor: Equatable, Sendable {
        public let given: Int64
        public let id: String

        public init(given: Int64, id: String) {
            self.given = given
            self.id = id
        }

        public init?(_ text: String) {
            // Split by bytes: a colon followed by a combining mark or an emoji modifier is one
            // Character with it, which `firstIndex(of: ":")` never finds (schemathesis sent `10:🏻`).
            let bytes = text.utf8
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
                  let given = Int64(String(decoding: bytes[..<colon], as: UTF8.self)), given >= 0 else { return nil }
            let id = String(decoding: bytes[bytes.index(after: colon)...], as: UTF8.self)
            guard !id.isEmpty else { return nil }
            self.init(given: given, id: id)
        }

        public var text: String { "\(given):\(id)" }
    }

    /// Feedback `viewer` may read, newest first (by when it was given, its `from` written: a comment
    /// or an edit of its message does not move it); only about `person` when given.
    public static func visibleItems(_ replica: Replica, viewer: String?, about person: String? = nil, limit: Int = 50) throws -> [RecordSnapshot] {
        try visiblePage(replica, viewer: viewer, about: person, after: nil, limit: limit).items
    }

    /// A page of what `visibleItems` lists, after `cursor`, and the cursor of its last item when
    /// more may follow (nil on the last page).
    public static func visiblePage(_ replica: Replica, viewer: String?, about person: String? = nil, after cursor: PageCursor?,
                                   limit: Int = 50) throws -> (items: [RecordSnapshot], next: PageCursor?) {
        var managers: [String: String?] = [:]
        let lookup = ReadPolicy.visibleFields(replica)
        func manager(_ person: String) throws -> String? {
            if let known = managers[person] { return known }
            let value = try ReadPolicy.manager(of: person, lookup: lookup)
            managers[person] = value
            return value
        }
        var since: [String: Int64?] = [:]   // by report: when their manager became it
        var result: [RecordSnapshot] = []
        var last: PageCursor?
        // Read from the kept order a chunk at a time, until the page is full (and one more
        // readable item says a next page exists) or `feedScanRowsMax` items were looked at.
        try FeedOrder.refresh(replica)
        var position = cursor
        var scanned = 0
        while scanned < feedScanRowsMax {
            let asked = min(max(limit + 1, 200), feedScanRowsMax - scanned)
            let chunk = try FeedOrder.page(replica, recipient: person, after: position, limit: asked)
            for (id, given) in chunk {
                scanned += 1
                position = PageCursor(given: given, id: id)
                guard let record = try replica.get(collection: "feedback", record: id) else { continue }
                guard try isVisible(record.fields, to: viewer, managerOf: manager, managedSinceMade: { report, manager in
                    if since[report] == nil { since[report] = .some(try ReadPolicy.managerSince(report: report, manager: manager, replica: replica)) }
                    return ReadPolicy.readsSince(since[report]!, made: given)
                }) else { continue }
                if result.count == limit { return (result, last) }
                result.append(record)
                last = PageCursor(given: given, id: id)
            }
            if chunk.count < asked { break }   // the end of the feed
        }
        return (result, nil)
    }

    /// Items one page request looks at, readable or not, before it answers with what it found
    /// (as the feed's query was bounded before it read from `FeedOrder`).
    static let feedScanRowsMax = 100_000
}
