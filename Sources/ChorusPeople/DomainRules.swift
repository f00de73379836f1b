import ChorusCore

/// The people platform's rules for values, beyond the JSON type the schema declares. One place,
/// used by every way of writing (HTTP, CLI), and mirrored in Docs/reference/openapi.json.
public enum DomainRules {
    /// Longest free text (titles, descriptions, bodies), in characters.
    public static let textCharactersMax = 2000
    /// Longest short text (names, ids, offices), in characters.
    public static let shortTextCharactersMax = 200

    public static let enums: [String: [String]] = [
        "teams.kind": ["squad", "tribe", "chapter", "guild", "department"],
        "objectives.ownerKind": ["person", "team", "department"],
        "objectives.visibility": ["public", "private"],
        "objectives.status": ["draft", "published", "done", "dropped"],
        "opportunities.kind": ["role", "project", "mentorship", "companyBet"],
        "opportunities.location": ["remote", "office"],
        "opportunities.status": ["open", "filled", "closed"],
        "observations.visibility": ["public", "private"],
    ]

    public static let integerRanges: [String: ClosedRange<Int64>] = [
        "people.hoursPerWeekAvailable": 0...80, "opportunities.hoursPerWeek": 1...80, "opportunities.betRank": 1...10,
        "observations.milestone": 1...5,
    ]

    public static let numberRanges: [String: ClosedRange<Double>] = ["objectives.progress": 0...100]

    /// The field every record of a collection has from its creation, which is never cleared:
    /// a profile with no name, or an objective with no title, is shown to everyone as a blank.
    public static let requiredFields = ["people": "name", "teams": "name", "badges": "name", "objectives": "title", "opportunities": "title",
                                        "abilities": "name", "observations": "person"]

    /// Whether `text` is a quarter, `2026-Q4`: the form objectives sort and filter by
    /// (`objectives.quarter`, `?quarter=`, `chorus objectives --quarter`).
    public static func isQuarter(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts[0].count == 4 && parts[0].allSatisfy { $0.isASCII && $0.isNumber }
            && quarterYears.contains(Int(parts[0]) ?? 0) && ["Q1", "Q2", "Q3", "Q4"].contains(String(parts[1]))
    }
    /// The years a quarter names: a company's objectives, not "0000-Q1" sorted before every
    /// real quarter (the OpenAPI document's pattern says the same).
    public static let quarterYears = 1970...2199
    /// Whether `text` is a date as opportunities give them, `2026-11-30`: a year of
    /// `quarterYears`, a month, and a day that month can have (29 for February: whether the year
    /// has one is `DomainReferences`' to say, 422, as the OpenAPI document's pattern cannot).
    public static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              quarterYears.contains(year), (1...12).contains(month) else { return false }
        return (1...[31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]).contains(day)
    }
    /// How a date is written, for messages.
    public static let dateForm = "a date from 1970 to 2199, like 2026-11-30"
    /// Fields holding such a date.
    public static let dateFields: Set<String> = ["opportunities.startDate", "opportunities.endDate"]

    /// The UTC date of a wall time in Unix milliseconds, as dates are written (`2026-12-07`).
    public static func date(unixMilliseconds: UInt64) -> String {
        // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
        let days = Int64(unixMilliseconds / 86_400_000) + 719_468
        let era = days / 146_097, dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))"
    }

    /// The status an open opportunity whose end date has passed reads as (`MatchingData`).
    public static let endedStatus = "ended"

    /// `hasEnded` in SQL, 1 or 0 (never NULL): of text shaped as a date, so it also reads a day no
    /// month has (`2026-02-30`, only by sync from a node that did not check it) as a date. For
    /// the list and insights, which ask it of many rows.
    public static func endedSQL(_ column: String, today parameter: String) -> String {
        "coalesce(\(column) GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' AND \(column) < \(parameter), 0)"
    }

    /// Whether an opportunity ended before `today` (both written as dates): it takes no more
    /// interest and is matched to no one, whatever its status still says.
    public static func hasEnded(endDate: String?, today: String) -> Bool {
        guard let endDate, isDate(endDate) else { return false }
        return endDate < today
    }

    /// How a quarter is written, for messages.
    public static let quarterForm = "a year from 1970 to 2199 and a quarter, like 2026-Q4"

    /// Whether `scalar` may stand in text: never a control character (a name holding an escape
    /// sequence rewrites the terminal that prints it) nor a bidirectional embedding or override
    /// (they make a name or title read as another: "Marcus\u{202E}..."); a line break, and a
    /// direction isolate (mixed-direction prose uses them), only in long text.
    static func allows(_ scalar: Unicode.Scalar, long: Bool) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09, 0x0D, 0x2028, 0x2029: return long
        case 0x00..<0x20, 0x7F...0x9F: return false
        case 0x202A...0x202E: return false
        case 0x2066...0x2069: return long
        default: return true
        }
    }

    /// What is wrong with `text` as a value, a map key or a set element (nil when nothing): every
    /// text people write goes through this one check, whatever field or member holds it.
    public static func textProblem(_ text: String, long: Bool) -> String? {
        guard let scalar = text.unicodeScalars.first(where: { !allows($0, long: long) }) else { return nil }
        return "holds U+\(String(scalar.value, radix: 16, uppercase: true)), a control character\(long ? "" : " (no line breaks or direction overrides in a short text)")"
    }

    /// Whether `text` has something to show: not empty, nor only spaces and invisible characters
    /// (white space, and Unicode's default-ignorable code points of the Basic Multilingual Plane).
    /// The OpenAPI document says the same with a pattern, which can name only that plane's
    /// characters portably: one invisible character beyond it (a tag character, U+E0000 to
    /// U+E0FFF) counted as blank here and not there, and schemathesis found a name of one refused
    /// though the document took it. A test holds the two alike, character by character.
    public static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy(isInvisible)
    }

    /// An email address as people write one: a name, one `@`, a domain, and no white space or
    /// other invisible character (`isInvisible`, which the OpenAPI document's pattern names one
    /// by one). A space before it once made a second profile with an email already taken, past
    /// the duplicate check.
    /// Invisible characters (`isBlank`'s) are refused too: "person2@example.com" with a zero-width
    /// space after it also passed the duplicate check, and shows as the same address.
    public static func isEmail(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        guard let at = scalars.firstIndex(of: "@"), at > 0, at < scalars.count - 1, scalars.lastIndex(of: "@") == at else { return false }
        return !scalars.contains(where: isInvisible)
    }

    /// Whether a character shows nothing: white space, or one of Unicode's default-ignorable
    /// code points of the Basic Multilingual Plane (`isBlank`: text made only of these).
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (scalar.value <= 0xFFFF && scalar.properties.isDefaultIgnorableCodePoint)
    }

    /// Map fields whose values are levels or milestones 1-5.
    public static let levelMaps: Set<String> = ["people.skills", "people.careerSteps", "abilities.roleRequirements"]

    /// Fields whose map keys or set elements are skills: free text resolves to ESCO ids on write,
    /// so "python" at one office and "Python3" at another are the same skill.
    public static let skillFields: Set<String> = ["people.skills", "people.developmentGoals", "opportunities.requiredSkills", "opportunities.learnableSkills"]

    /// Fields that hold long text.
    public static let longText: Set<String> = ["teams.mission", "badges.description", "objectives.description", "objectives.title",
                                               "opportunities.description", "abilities.description", "observations.body"]

    /// An opportunity in an office says which (the card said only "in an office"): the refusal,
    /// or nil. For the API's writes (`DomainReferences`) and `chorus opportunities post` alike.
    public static func officeProblem(location: String?, office: String?) -> String? {
        location == "office" && (office.map(isBlank) ?? true) ? "an opportunity in an office says which office" : nil
    }

    /// The largest magnitude of a number inside a map value (a key result's target and current):
    /// any company's metric, where a Double still holds every integer exactly (1e308 was taken).
    public static let numberMagnitudeMax = 1e15

    /// A member of a JSON object stored in a map field.
    public struct Member: Sendable {
        public enum Kind: Sendable { case text(Int), number, milestone, textList }
        public let kind: Kind
        public let required: Bool

        func accepts(_ value: JSONValue) -> Bool {
            switch kind {
            case .text(let max):
                guard case .string(let text) = value else { return false }
                return !isBlank(text) && text.unicodeScalars.count <= max && textProblem(text, long: max == textCharactersMax) == nil
            case .number: return value.numberValue.map { abs($0) <= numberMagnitudeMax } ?? false
            case .milestone:   // JSON Schema's integers include 4.0
                guard let number = value.numberValue, number.rounded() == number else { return false }
                return (1...5).contains(number)
            case .textList:
                guard case .array(let items) = value, items.count <= 30 else { return false }
                return items.allSatisfy { item in
                    guard let text = item.stringValue else { return false }
                    return !text.isEmpty && text.unicodeScalars.count <= shortTextCharactersMax && textProblem(text, long: false) == nil
                }
            }
        }

        var explanation: String {
            switch kind {
            case .text(let max): return "must be text of 1 to \(max) characters, not blank, with no control characters"
            case .number: return "must be a number from -10^15 to 10^15"
            case .milestone: return "must be a milestone from 1 to 5"
            case .textList: return "must be a list of at most 30 short texts, with no control characters"
            }
        }
    }

    /// The JSON objects map fields hold, member by member.
    public static let objectShapes: [String: (fields: [String: Member], description: String)] = [
        "abilities.milestones": (["title": Member(kind: .text(shortTextCharactersMax), required: true), "description": Member(kind: .text(textCharactersMax), required: false)],
                                 "{\"title\", \"description\"?} under a key 1-5"),
        "abilities.examples": (["milestone": Member(kind: .milestone, required: true), "text": Member(kind: .text(textCharactersMax), required: true)],
                               "{\"milestone\": 1-5, \"text\"}"),
        "people.experience": (["title": Member(kind: .text(shortTextCharactersMax), required: true),
                               "organisation": Member(kind: .text(shortTextCharactersMax), required: false),
                               "from": Member(kind: .text(shortTextCharactersMax), required: false), "to": Member(kind: .text(shortTextCharactersMax), required: false),
                               "skills": Member(kind: .textList, required: false)],
                              "{\"title\", \"organisation\"?, \"from\"?, \"to\"?, \"skills\"?: [text]}"),
        "objectives.keyResults": (["title": Member(kind: .text(textCharactersMax), required: true), "target": Member(kind: .number, required: false),
                                   "current": Member(kind: .number, required: false)],
                                  "{\"title\", \"target\"?: number, \"current\"?: number}"),
    ]

    /// Checks one register value or map entry; `key` is the map key for map fields.
    public static func check(collection: String, field: FieldSchema, key: String? = nil, value: JSONValue) throws(ChorusError) {
        let name = "\(collection).\(field.name)"
        func fail(_ message: String) -> ChorusError { ChorusError(.invalidValue, "\(name)\(key.map { "[\($0)]" } ?? ""): \(message)") }
        if key == nil, requiredFields[collection] == field.name, value == .null || value.stringValue.map(isBlank) == true {
            throw fail("is required: it cannot be cleared or left blank")
        }
        if value == .null { return }
        guard field.valueType.accepts(value) else { throw fail("takes \(field.valueType.rawValue == "integer" ? "an" : "a") \(field.valueType.rawValue), got \(value.typeName)") }
        if case .string(let text) = value {
            let limit = longText.contains(name) ? textCharactersMax : shortTextCharactersMax
            guard text.unicodeScalars.count <= limit else { throw fail("at most \(limit) characters") }
            if let problem = textProblem(text, long: limit == textCharactersMax) { throw fail(problem) }
            if name == "objectives.quarter", !isQuarter(text) { throw fail("must be \(quarterForm)") }
            if dateFields.contains(name), !isDate(text) { throw fail("must be \(dateForm)") }
            if name == "people.email", !isEmail(text) { throw fail("must be an email address: a name, one @ and a domain, with no spaces") }
            if let allowed = enums[name], !allowed.contains(text) { throw fail("must be one of \(allowed.joined(separator: ", "))") }
            if name == "people.timezone", !TimeZoneNames.all.contains(text) { throw fail("must be an IANA time zone name, like Europe/Stockholm") }
        }
        if let range = integerRanges[name], let number = value.integerValue, !range.contains(number) {
            throw fail("must be \(range.lowerBound) to \(range.upperBound)")
        }
        if let range = numberRanges[name], let number = value.numberValue, !range.contains(number) {
            throw fail("must be \(Int(range.lowerBound)) to \(Int(range.upperBound))")
        }
        if levelMaps.contains(name) {
            guard let level = value.integerValue, (1...5).contains(level) else { throw fail("must be a level from 1 to 5") }
        }
        if let shape = objectShapes[name] {
            if name == "abilities.milestones", !["1", "2", "3", "4", "5"].contains(key ?? "") { throw fail("keys are the milestones 1 to 5") }
            guard case .object(let object) = value else { throw fail("must be an object: \(shape.description)") }
            for (field, rule) in shape.fields.sorted(by: { $0.key < $1.key }) {
                guard let given = object[field] else {
                    if rule.required { throw fail("\(field) is required: \(shape.description)") }
                    continue
                }
                guard rule.accepts(given) else { throw fail("\(field) \(rule.explanation)") }
            }
            if let unknown = object.keys.sorted().first(where: { shape.fields[$0] == nil }) { throw fail("unknown field \(unknown): \(shape.description)") }
        }
        if name == "opportunities.requiredSkills" {
            guard case .object(let spec) = value, Set(spec.keys).isSubset(of: ["minLevel", "weight", "mustHave"]),
                  let minLevel = spec["minLevel"]?.numberValue, minLevel.rounded() == minLevel, (1...5).contains(minLevel),
                  spec["weight"].map({ ($0.numberValue ?? -1) > 0 && ($0.numberValue ?? 0) <= 10 }) ?? true,
                  spec["mustHave"].map({ $0.boolValue != nil }) ?? true else {
                throw fail("must be {\"minLevel\": 1-5, \"weight\": (0, 10], \"mustHave\": true|false}")
            }
        }
    }
}
