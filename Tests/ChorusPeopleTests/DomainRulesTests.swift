import XCTest
import Foundation
import ChorusPeople
import ChorusCore

/// The people platform's rules for values, held alike with what the OpenAPI document says of them.
final class DomainRulesTests: XCTestCase {
    /// A blank text (`DomainRules.isBlank`) is exactly what the document's blank pattern matches,
    /// for every character of the Basic Multilingual Plane and for the invisible ones beyond it:
    /// schemathesis sent a name of one tag character (U+E0F75), which the document took and the
    /// node refused as blank.
    func test_blank_isWhatTheOpenAPIDocumentsBlankPatternSays_characterByCharacter() throws {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/reference/openapi.json")
        let text = try String(contentsOf: document, encoding: .utf8)
        // The pattern of only white space and invisible characters: the one starting with a tab.
        let patterns = Self.patterns(in: try JSONSerialization.jsonObject(with: Data(text.utf8)))
        let blank = try XCTUnwrap(patterns.first { $0.hasPrefix("^[\t") }, "the document's blank pattern")
        let regex = try NSRegularExpression(pattern: blank)
        func matches(_ scalar: Unicode.Scalar) -> Bool {
            let string = String(Character(scalar))
            return regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil
        }
        var differing: [String] = []
        let beyond: [ClosedRange<UInt32>] = [0x1BCA0...0x1BCA3, 0x1D173...0x1D17A, 0xE0000...0xE0FFF, 0x1F600...0x1F60F]
        for value in (0...0xFFFF).map(UInt32.init) + beyond.flatMap({ Array($0) }) {
            guard let scalar = Unicode.Scalar(value), !(0xD800...0xDFFF).contains(value) else { continue }
            if DomainRules.isBlank(String(Character(scalar))) != matches(scalar) { differing.append(String(value, radix: 16)) }
        }
        XCTAssertEqual(differing, [], "characters blank in one and not the other")
        XCTAssertTrue(DomainRules.isBlank(" \u{200B}\u{FEFF}"))
        XCTAssertFalse(DomainRules.isBlank("Ada"))
    }

    /// An email is what the document's email pattern says: a name, one @, a domain, no white
    /// space. " nia@example.com" once made a second profile of a taken email.
    func test_email_isWhatTheOpenAPIDocumentsEmailPatternSays() throws {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/reference/openapi.json")
        let patterns = Self.patterns(in: try JSONSerialization.jsonObject(with: try Data(contentsOf: document)))
        let email = try XCTUnwrap(patterns.first { $0.hasPrefix("^[^@") }, "the document's email pattern")
        let regex = try NSRegularExpression(pattern: email)
        func matches(_ text: String) -> Bool { regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil }
        var samples = ["nia@example.com", "a@b", "ni.a+tag@例え.jp", "\u{200B}@x", "person2@example.com\u{200B}", "\u{2060}person2@example.com", "a\u{AD}b@c", " nia@example.com", "nia@example.com ", "nia @example.com",
                       "not-an-email", "@example.com", "nia@", "a@b@c", "", "@"]
        for value in [0x09, 0x0B, 0x0C, 0x20, 0xA0, 0x1680, 0x2000, 0x2005, 0x200A, 0x202F, 0x205F, 0x3000, 0xFEFF, 0x85, 0x200B, 0x180E] {
            samples.append("a\(Character(Unicode.Scalar(value)!))b@c")
        }
        // The pattern names its white space and invisible characters one by one (`\s` differs
        // between regex dialects: ICU's and Python's leave U+FEFF out), and refuses control
        // characters besides, as `DomainRules.textProblem` does before `isEmail` is asked.
        let differing = samples.filter { (DomainRules.isEmail($0) && DomainRules.textProblem($0, long: false) == nil) != matches($0) }
        XCTAssertEqual(differing, [], "emails one takes and the other refuses")
        XCTAssertFalse(DomainRules.isEmail(" nia@example.com"))
        XCTAssertTrue(DomainRules.isEmail("nia@example.com"))
    }

    /// A quarter is what the document's quarter pattern says, year by year: "0000-Q1" was once
    /// taken, and sorted before every real quarter.
    func test_quarter_isWhatTheOpenAPIDocumentsQuarterPatternSays() throws {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/reference/openapi.json")
        let patterns = Self.patterns(in: try JSONSerialization.jsonObject(with: try Data(contentsOf: document))).filter { $0.hasSuffix("-Q[1-4]$") }
        XCTAssertEqual(Set(patterns).count, 1, "one quarter pattern: \(Set(patterns))")
        let regex = try NSRegularExpression(pattern: try XCTUnwrap(patterns.first))
        func matches(_ text: String) -> Bool { regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil }
        var samples = (0...9999).map { String(format: "%04d-Q4", $0) }
        samples += ["2026-Q0", "2026-Q5", "2026-q4", "2026Q4", "26-Q4", "02026-Q4", "2026-Q4 ", "٢٠٢٦-Q4", ""]
        let differing = samples.filter { DomainRules.isQuarter($0) != matches($0) }
        XCTAssertEqual(differing, [], "quarters one takes and the other refuses")
        XCTAssertFalse(DomainRules.isQuarter("0000-Q1"))
        XCTAssertTrue(DomainRules.isQuarter("1970-Q1"))
        XCTAssertTrue(DomainRules.isQuarter("2199-Q4"))
        XCTAssertFalse(DomainRules.isQuarter("2200-Q1"))
    }

    /// A date is what the document's date pattern says, day by day over four years, one of them
    /// a leap year (29 February passes both; whether its year has one is a 422 of its own).
    func test_date_isWhatTheOpenAPIDocumentsDatePatternSays() throws {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/reference/openapi.json")
        let patterns = Set(Self.patterns(in: try JSONSerialization.jsonObject(with: try Data(contentsOf: document))).filter { $0.contains("-02-") })
        XCTAssertEqual(patterns.count, 1, "one date pattern: \(patterns)")
        let regex = try NSRegularExpression(pattern: try XCTUnwrap(patterns.first))
        func matches(_ text: String) -> Bool { regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil }
        var samples: [String] = []
        for year in [1969, 1970, 2025, 2028, 2199, 2200] {
            for month in 0...13 { for day in 0...32 { samples.append(String(format: "%04d-%02d-%02d", year, month, day)) } }
        }
        samples += ["2026-1-05", "2026-01-5", "2026/01/05", "2026-01-05 ", "2026-01-05T00:00", ""]
        let differing = samples.filter { DomainRules.isDate($0) != matches($0) }
        XCTAssertEqual(differing, [], "dates one takes and the other refuses")
        XCTAssertTrue(DomainRules.isDate("2026-11-30"))
        XCTAssertFalse(DomainRules.isDate("2026-11-31"))
    }

    /// A key result's target and current are numbers a company could mean (1e308 was taken), and
    /// the document's bounds are the same.
    func test_keyResultNumbers_areBounded_asTheDocumentSays() throws {
        let objectives = try XCTUnwrap(PeopleSchema.current.collection("objectives"))
        let field = try XCTUnwrap(objectives.field("keyResults"))
        func check(_ target: Double) -> Bool {
            (try? DomainRules.check(collection: "objectives", field: field, key: "kr-1", value: ["title": "Revenue", "target": .double(target)])) != nil
        }
        XCTAssertTrue(check(1e15))
        XCTAssertTrue(check(-1e15))
        XCTAssertFalse(check(1e15 * 1.0001))
        XCTAssertFalse(check(-1e308))
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/reference/openapi.json")
        let text = try String(contentsOf: document, encoding: .utf8)
        let documented = "1000000000000000.0"
        XCTAssertEqual(Double(documented), DomainRules.numberMagnitudeMax)
        XCTAssertEqual(text.components(separatedBy: "\"maximum\": \(documented)").count - 1, 4, "target and current, on create and on edit")
        XCTAssertEqual(text.components(separatedBy: "\"minimum\": -\(documented)").count - 1, 4)
    }

    /// A time zone is an IANA name ("Mars/Olympus" was taken and shown on the profile), the same
    /// names the OpenAPI document lists.
    func test_timezone_isAnIANAName_asTheDocumentLists() throws {
        let people = try XCTUnwrap(PeopleSchema.current.collection("people"))
        let field = try XCTUnwrap(people.field("timezone"))
        func takes(_ zone: String) -> Bool { (try? DomainRules.check(collection: "people", field: field, value: .string(zone))) != nil }
        for zone in ["Europe/Stockholm", "America/New_York", "Asia/Tokyo", "UTC", "Europe/Kyiv", "Europe/Kiev"] { XCTAssertTrue(takes(zone), zone) }
        for zone in ["Mars/Olympus", "europe/stockholm", "Europe/Stockholm ", "", "GMT+25"] { XCTAssertFalse(takes(zone), zone) }
        XCTAssertTrue((try? DomainRules.check(collection: "people", field: field, value: .null)) != nil, "cleared")
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/reference/openapi.json")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: try Data(contentsOf: document)) as? [String: Any])
        for (path, method) in [("/api/v1/people", "post"), ("/api/v1/people/{id}", "patch")] {
            let operation = ((json["paths"] as? [String: Any])?[path] as? [String: Any])?[method] as? [String: Any]
            let schema = (((operation?["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
            let zone = ((schema?["properties"] as? [String: Any])?["timezone"] as? [String: Any])?["oneOf"] as? [[String: Any]]
            XCTAssertEqual(Set(zone?.first?["enum"] as? [String] ?? []), TimeZoneNames.all, "\(method) \(path)")
        }
    }

    /// The page holds text to the node's bounds (it counts as the node does, and shows a counter):
    /// its copies of them are the node's.
    func test_thePagesTextBounds_areTheNodes() throws {
        let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/ChorusWeb/Page")
        func bounds(_ file: String, _ pattern: String) throws -> [Int] {
            let text = try String(contentsOf: page.appendingPathComponent(file), encoding: .utf8)
            let regex = try NSRegularExpression(pattern: pattern)
            return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
                Range(match.range(at: 1), in: text).flatMap { Int(text[$0]) }
            }
        }
        XCTAssertEqual(try bounds("recognition.js", #"MESSAGE_MAX = (\d+)"#), [Feedback.bodyCharactersMax])
        XCTAssertEqual(try bounds("recognition.js", #"COMMENT_MAX = (\d+)"#), [Feedback.commentCharactersMax])
        XCTAssertEqual(try bounds("market.js", #"bounded\(description, (\d+)\)"#), [DomainRules.textCharactersMax])
        XCTAssertEqual(try bounds("market.js", #"bounded\(title, (\d+)\)"#), [DomainRules.shortTextCharactersMax])
        XCTAssertEqual(try bounds("people.js", #"bounded\(title, (\d+)\)"#), [DomainRules.shortTextCharactersMax])
    }

    /// Every `pattern` string in a JSON document.
    static func patterns(in value: Any) -> [String] {
        if let object = value as? [String: Any] {
            return object.flatMap { key, member in key == "pattern" ? [member as? String].compactMap { $0 } : patterns(in: member) }
        }
        if let array = value as? [Any] { return array.flatMap(patterns(in:)) }
        return []
    }
}
