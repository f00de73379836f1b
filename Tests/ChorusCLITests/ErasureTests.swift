import XCTest
import Foundation
import ChorusCore
import ChorusTesting

/// The right to be forgotten: after `chorus erase`, no byte of the record remains in the replica's
/// files, also when its old operations arrive later from a replica that was offline.
final class ErasureTests: XCTestCase {
    let marker = "MARKER-ZQ7X"

    func filesContainMarker(_ folder: String) throws -> [String] {
        let needle = Array(marker.utf8)
        return try FileManager.default.contentsOfDirectory(atPath: folder).filter { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(name)))
            return data.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                guard bytes.count >= needle.count else { return false }
                for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
                    if Array(bytes[start..<(start + needle.count)]) == needle { return true }
                }
                return false
            }
        }
    }

    func test_erase_leavesNoTraceInDatabaseOrLog_evenWhenOldOperationsArriveLater() throws {
        let folder = try TemporaryDirectory(prefix: "chorus-erase")
        defer { folder.remove() }
        let office = folder.appending("office"), laptop = folder.appending("laptop")
        func chorus(_ arguments: [String], _ data: String) throws {
            let result = try ChorusProcess.run(arguments + ["--data", data])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.standardError)")
        }
        try chorus(["init", "--name", "office"], office)
        try chorus(["init", "--name", "laptop"], laptop)
        let id = "p-\(marker)"
        try chorus(["put", "people", id, "name=Erin \(marker)", "title=\(marker) engineer"], office)
        try chorus(["map-set", "people", id, "skills", "\(marker)-skill=3"], office)
        try chorus(["add", "people", id, "guilds", "guild-\(marker)"], office)
        try chorus(["put", "people", "p-other", "name=Someone else"], office)
        // What is about them or by them goes with them: feedback both ways, their objective, an
        // observation of them. Feedback between others stays.
        try chorus(["put", "feedback", "fb-about", "to=\(id)", "from=p-other", "body=\(marker) about them", "visibility=managerOnly"], office)
        try chorus(["put", "feedback", "fb-by", "to=p-other", "from=\(id)", "body=\(marker) by them"], office)
        try chorus(["put", "objectives", "obj-theirs", "owner=\(id)", "ownerKind=person", "title=\(marker) goal", "quarter=2026-Q4"], office)
        try chorus(["put", "observations", "obs-of-them", "person=\(id)", "author=p-other", "body=\(marker) observed"], office)
        try chorus(["put", "feedback", "fb-else", "to=p-other", "from=p-third", "body=Between others"], office)
        try chorus(["export", "--output", folder.appending("1.bundle")], office)
        try chorus(["import", folder.appending("1.bundle")], laptop)
        // A concurrent edit of the title, which an admin resolves at the office: the resolution
        // keeps both values, so it must go with the record.
        try chorus(["put", "people", id, "title=\(marker) office title"], office)
        try chorus(["put", "people", id, "title=\(marker) laptop title"], laptop)
        try chorus(["export", "--output", folder.appending("concurrent.bundle")], laptop)
        try chorus(["import", folder.appending("concurrent.bundle")], office)
        let conflicts = try ChorusProcess.run(["conflicts", "--json", "--data", office])
        let conflictID = try XCTUnwrap(try JSONParser().parse(conflicts.standardOutput).arrayValue?.first?["id"]?.stringValue,
                                       conflicts.standardOutput)
        try chorus(["resolve", "--conflict", conflictID, "--value", "\"\(marker) resolved title\"", "--as", "admin"], office)
        try chorus(["put", "people", "p-other", "title=first"], office)
        try chorus(["put", "people", "p-other", "title=second"], laptop)
        try chorus(["export", "--output", folder.appending("other.bundle")], laptop)
        try chorus(["import", folder.appending("other.bundle")], office)
        let other = try XCTUnwrap(try JSONParser().parse(try ChorusProcess.run(["conflicts", "--json", "--data", office]).standardOutput)
            .arrayValue?.first?["id"]?.stringValue)
        try chorus(["resolve", "--conflict", other, "--value", "\"unrelated\"", "--as", "admin"], office)
        // The laptop goes offline and keeps editing the record.
        try chorus(["put", "people", id, "title=\(marker) lead"], laptop)
        try chorus(["export", "--output", folder.appending("late.bundle")], laptop)
        XCTAssertFalse(try filesContainMarker(office).isEmpty, "the scan must be able to see the marker before erasure")

        try chorus(["erase", "people", id, "--yes"], office)
        XCTAssertEqual(try filesContainMarker(office), [], "no trace after erase")
        try chorus(["import", folder.appending("late.bundle")], office)
        XCTAssertEqual(try filesContainMarker(office), [], "late operations are dropped on arrival, their values never written")
        let get = try ChorusProcess.run(["get", "people", id, "--data", office])
        XCTAssertEqual(get.status, 1)
        let untouched = try ChorusProcess.run(["get", "people", "p-other", "--json", "--data", office])
        XCTAssertTrue(untouched.standardOutput.contains("Someone else"), "other records are untouched")
        for (collection, record) in [("feedback", "fb-about"), ("feedback", "fb-by"), ("objectives", "obj-theirs"), ("observations", "obs-of-them")] {
            XCTAssertEqual(try ChorusProcess.run(["get", collection, record, "--data", office]).status, 1, "\(collection)/\(record) went with them")
        }
        XCTAssertEqual(try ChorusProcess.run(["get", "feedback", "fb-else", "--data", office]).status, 0, "feedback between others stays")
        // Run again, it erases what arrived since (here, nothing), and says so when there is nothing.
        XCTAssertEqual(try ChorusProcess.run(["erase", "people", id, "--yes", "--data", office]).status, 1)
        let history = try ChorusProcess.run(["conflicts", "--history", "--json", "--data", office])
        XCTAssertFalse(history.standardOutput.contains(id), "the erased record's resolution is gone: \(history.standardOutput)")
        XCTAssertTrue(history.standardOutput.contains("unrelated"), "another record's resolution stays: \(history.standardOutput)")

        // The erase travels to the laptop and wipes it there too.
        try chorus(["export", "--output", folder.appending("2.bundle")], office)
        try chorus(["import", folder.appending("2.bundle")], laptop)
        XCTAssertEqual(try filesContainMarker(laptop), [])
        XCTAssertEqual(try ChorusProcess.run(["check", "--data", office]).status, 0)
    }

    /// An erasure is the one write nothing takes back, so it asks first: at a terminal it says
    /// what goes and wants the id typed; off one (a script) it wants --yes. Refused, nothing goes.
    func test_erase_asksForTheIdAtATerminal_andWantsYesElsewhere() throws {
        let folder = try TemporaryDirectory(prefix: "chorus-erase-ask")
        defer { folder.remove() }
        let data = folder.appending("office")
        func chorus(_ arguments: [String]) throws {
            let result = try ChorusProcess.run(arguments + ["--data", data])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.standardError)")
        }
        func held(_ collection: String, _ id: String) throws -> Bool {
            try ChorusProcess.run(["get", collection, id, "--data", data]).status == 0
        }
        try chorus(["init", "--name", "office"])
        try chorus(["put", "people", "p-erin", "name=Erin"])
        try chorus(["put", "people", "p-other", "name=Someone else"])
        try chorus(["put", "feedback", "fb-about", "to=p-erin", "from=p-other", "body=thanks"])
        try chorus(["put", "feedback", "fb-else", "to=p-other", "from=p-third", "body=between others"])

        let script = try ChorusProcess.run(["erase", "people", "p-erin", "--data", data])
        XCTAssertEqual(script.status, 2, "off a terminal, without --yes, it is a usage error: \(script.standardError)")
        XCTAssertTrue(script.standardError.contains("--yes"), script.standardError)
        XCTAssertTrue(try held("people", "p-erin") && held("feedback", "fb-about"), "nothing erased")

        let wrong = try ChorusProcess.runAtTerminal(["erase", "people", "p-erin", "--data", data], typing: "p-eri\n")
        XCTAssertEqual(wrong.status, 1, wrong.standardError)
        XCTAssertTrue(wrong.standardError.contains("erase people/p-erin for good, with 1 record(s)"), wrong.standardError)
        XCTAssertTrue(wrong.standardError.contains("feedback/fb-about"), "the records that go are named: \(wrong.standardError)")
        XCTAssertTrue(wrong.standardError.contains("nothing done"), wrong.standardError)
        XCTAssertTrue(try held("people", "p-erin") && held("feedback", "fb-about"), "a wrong answer erases nothing")

        let other = try ChorusProcess.runAtTerminal(["erase", "feedback", "fb-else", "--data", data], typing: "\n")
        XCTAssertEqual(other.status, 1, other.standardError)
        XCTAssertTrue(try held("feedback", "fb-else"), "an empty answer erases nothing")

        let typed = try ChorusProcess.runAtTerminal(["erase", "people", "p-erin", "--data", data], typing: "p-erin\n")
        XCTAssertEqual(typed.status, 0, typed.standardError)
        XCTAssertFalse(try held("people", "p-erin") || held("feedback", "fb-about"), "the id typed, they go")
        XCTAssertTrue(try held("feedback", "fb-else"), "feedback between others stays")

        let missing = try ChorusProcess.run(["erase", "feedback", "fb-nosuch", "--data", data])
        XCTAssertEqual(missing.status, 1, "a record not held is refused as before, without asking: \(missing.standardError)")
        XCTAssertTrue(missing.standardError.contains("no record"), missing.standardError)
    }
}
