import XCTest
import Foundation
import ChorusCore
import ChorusTesting

/// Admins see and resolve every conflict, and every replica's health, from any node: real
/// `chorus serve` processes, the CLI with --remote, and /metrics read by a real Prometheus parser.
final class AdminEndToEndTests: XCTestCase {
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "chorus-admin") }
    override func tearDown() { folder.remove() }

    func path(_ name: String) -> String { folder.appending(name) }

    @discardableResult
    func chorus(_ arguments: [String], _ data: String? = nil, expect status: Int32? = 0, file: StaticString = #filePath, line: UInt = #line) throws -> ChorusProcess.Result {
        let result = try ChorusProcess.run(arguments + (data.map { ["--data", path($0)] } ?? []))
        if let status { XCTAssertEqual(result.status, status, "chorus \(arguments.joined(separator: " ")): \(result.standardError)", file: file, line: line) }
        return result
    }

    func json(_ arguments: [String], _ data: String? = nil) throws -> JSONValue {
        try JSONParser(bytesMax: 64 << 20).parse(try chorus(arguments + ["--json"], data).standardOutput)
    }

    /// Rotating a laptop's token, end to end: after `replicas revoke`, a new token takes the
    /// laptop's id only when the operator names it (`--replica`); one that does not is refused
    /// with a hint saying so, and a malformed id is a usage error.
    func test_aRevokedTokensReplica_getsANewTokenNamingItsId_andSyncsOn() throws {
        for name in ["hub", "laptop"] { try chorus(["init", "--name", name], name) }
        try chorus(["replicas", "add", "laptop", "--token-file", path("laptop.token")], "hub")
        let hub = try ServeProcess(data: path("hub"))
        defer { hub.stop() }
        try chorus(["join", hub.url, "--token-file", path("laptop.token")], "laptop")
        try chorus(["put", "people", "p-1", "name=Ada"], "laptop")
        try chorus(["sync"], "laptop")
        let laptopID = try XCTUnwrap(try json(["status"], "laptop")["replica"]?.stringValue)

        try chorus(["replicas", "revoke", "laptop"], "hub")
        try chorus(["replicas", "add", "laptop-2", "--token-file", path("laptop.token")], "hub")
        let refused = try chorus(["sync"], "laptop", expect: nil)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.standardError.contains("--replica \(laptopID)"), refused.standardError)

        XCTAssertEqual(try chorus(["replicas", "add", "laptop-3", "--replica", "not-an-id"], "hub", expect: nil).status, 2, "a usage error")
        XCTAssertEqual(try json(["replicas", "revoke", "laptop-2"], "hub")["revoked"]?.stringValue, "laptop-2", "--json prints JSON")
        try chorus(["replicas", "add", "laptop-3", "--replica", laptopID, "--token-file", path("laptop.token")], "hub")
        let table = try chorus(["replicas", "list"], "hub").standardOutput
        XCTAssertTrue(table.contains("(none, or moved to a new token)"), "the revoked token's id moved to laptop-3: \(table)")
        try chorus(["put", "people", "p-1", "title=Engineer"], "laptop")
        try chorus(["sync"], "laptop")
        let listed = try json(["replicas", "list"], "hub")
        let bound = listed.arrayValue?.first { $0["name"]?.stringValue == "laptop-3" }
        XCTAssertEqual(bound?["replica"]?.stringValue, laptopID, "the new token is bound to the laptop's id")
        XCTAssertEqual(try json(["get", "people", "p-1"], "hub")["title"]?.stringValue, "Engineer", "the laptop syncs on with its new token")

        // A person's laptop given a new token without --person is told it is now bound to no one.
        try chorus(["replicas", "revoke", "laptop-3"], "hub")
        try chorus(["replicas", "add", "laptop-4", "--replica", laptopID, "--person", "p-1"], "hub")
        try chorus(["replicas", "revoke", "laptop-4"], "hub")
        let unbound = try chorus(["replicas", "add", "laptop-5", "--replica", laptopID], "hub")
        XCTAssertTrue(unbound.standardError.contains("laptop-4, this replica's earlier token, was registered for p-1"), unbound.standardError)
        try chorus(["replicas", "revoke", "laptop-5"], "hub")
        XCTAssertFalse(try chorus(["replicas", "add", "laptop-6", "--replica", laptopID, "--person", "p-1"], "hub").standardError.contains("warning"))
    }

    func test_conflictsOfEveryKind_seenAlikeAtHubAndOffice_resolvedEverywhere_andHealthAndMetrics() throws {
        for name in ["hub", "stockholm", "laptop"] { try chorus(["init", "--name", name], name) }
        try chorus(["replicas", "add", "stockholm", "--role", "relay", "--token-file", path("stockholm.token")], "hub")
        try chorus(["replicas", "add", "ops", "--role", "admin", "--token-file", path("hub-admin.token")], "hub")
        try chorus(["replicas", "add", "laptop", "--token-file", path("laptop.token")], "stockholm")
        try chorus(["replicas", "add", "ops", "--role", "admin", "--token-file", path("office-admin.token")], "stockholm")
        let hub = try ServeProcess(data: path("hub"))
        let stockholm = try ServeProcess(data: path("stockholm"), extra: ["--upstream", hub.url, "--token-file", path("stockholm.token"), "--sync-interval", "3600"])
        defer { hub.stop(); stockholm.stop() }
        try chorus(["join", stockholm.url, "--token-file", path("laptop.token")], "laptop")
        let skew = ["--clock-offset-ms", "120000"]
        func syncAll() throws {
            for _ in 0..<2 {
                try chorus(["sync", "--no-verify"], "stockholm")
                try chorus(["sync", "--no-verify"] + skew, "laptop")
            }
            try chorus(["sync", "--no-verify"], "stockholm")
        }

        try chorus(["put", "people", "p-1", "name=Ada", "title=Engineer"], "hub")
        try chorus(["put", "people", "p-2", "name=Grace", "title=Manager"], "hub")
        try chorus(["put", "opportunities", "o-1", "title=Data bet", "kind=companyBet"], "hub")
        try syncAll()

        // Conflicting edits of every kind, made by the office and the laptop without seeing each other.
        try chorus(["put", "people", "p-1", "title=Staff Engineer"], "stockholm")
        try chorus(["put", "people", "p-1", "title=Tech Lead"], "laptop")
        try chorus(["map-set", "people", "p-1", "careerSteps", "ability-impact=2"], "stockholm")
        try chorus(["map-set", "people", "p-1", "careerSteps", "ability-impact=3"], "laptop")
        try chorus(["put", "opportunities", "o-1", "filledBy=p-1"], "stockholm")
        try chorus(["put", "opportunities", "o-1", "filledBy=p-2"], "laptop")
        try chorus(["delete", "people", "p-2"], "stockholm")
        try chorus(["put", "people", "p-2", "title=Director"], "laptop")
        try chorus(["put", "people", "p-3", "name=Alan", "email=alan@example.com"], "stockholm")
        try chorus(["put", "people", "p-4", "name=Alan T", "email=Alan@Example.com"], "laptop")
        try syncAll()

        let atHub = try json(["conflicts", "--remote", hub.url, "--token-file", path("hub-admin.token")])
        let atOffice = try json(["conflicts", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        XCTAssertEqual(atHub, atOffice, "the hub and the office list the same conflicts")
        let conflicts = try XCTUnwrap(atHub.arrayValue)
        let unknown = try chorus(["conflicts", "--collection", "nosuch", "--remote", hub.url, "--token-file", path("hub-admin.token")], expect: 1)
        XCTAssertTrue(unknown.standardError.contains("unknown collection"), "not \"no open conflicts\": \(unknown.standardError)")
        let page = try chorus(["conflicts", "--limit", "1", "--remote", hub.url, "--token-file", path("hub-admin.token")])
        XCTAssertTrue(page.standardOutput.contains("1 of \(conflicts.count) open conflicts (a page: more follow)"), "a page is said to be one: \(page.standardOutput)")
        let kinds = Set(conflicts.compactMap { $0["kind"]?.stringValue })
        XCTAssertEqual(kinds, ["register", "map", "editedWhileDeleted", "duplicateEmail"])
        let invariants = Set(conflicts.compactMap { $0["invariant"]?.stringValue })
        XCTAssertEqual(invariants, ["one opportunity filled by two people", "two current career steps for one ability", "two people with the same email"])

        // Two people with one email both show it until it is resolved: both values are marked as
        // showing (one was marked alone, the other read as hidden; a review).
        let duplicate = try XCTUnwrap(conflicts.first { $0["kind"] == "duplicateEmail" }?["id"]?.stringValue)
        let duplicateShown = try chorus(["conflicts", duplicate, "--remote", hub.url, "--token-file", path("hub-admin.token")]).standardOutput
        XCTAssertEqual(duplicateShown.split(separator: "\n").filter { $0.hasPrefix("  * ") }.count, 2, duplicateShown)

        // Detail: every sibling with value, replica, timestamp, and which displays.
        let title = try XCTUnwrap(conflicts.first { $0["field"] == "title" })
        let id = try XCTUnwrap(title["id"]?.stringValue)
        let detail = try json(["conflicts", id, "--remote", hub.url, "--token-file", path("hub-admin.token")])
        let siblings = try XCTUnwrap(detail["siblings"]?.arrayValue)
        XCTAssertEqual(siblings.count, 2)
        XCTAssertEqual(Set(siblings.compactMap { $0["replicaName"]?.stringValue }), ["stockholm"], "the hub names the replicas registered on it")
        XCTAssertEqual(siblings.filter { $0["displayed"] == true }.count, 1)

        // Resolve at the hub; after sync the conflict is gone everywhere, and the history shows it.
        let keep = try XCTUnwrap(siblings.first { $0["displayed"] == false }?["operation"]?.stringValue)
        // Settled as read: the detail says how, and a view lacking a value now live (one that
        // arrived after it was read) is refused with nothing written, remotely and locally.
        let operations = siblings.compactMap { $0["operation"]?.stringValue }
        let shown = try chorus(["conflicts", id, "--remote", hub.url, "--token-file", path("hub-admin.token")]).standardOutput
        XCTAssertTrue(shown.contains("--seen \(operations.joined(separator: ","))"), shown)
        let stale = try chorus(["resolve", "--conflict", id, "--keep", keep, "--seen", keep, "--remote", hub.url, "--token-file", path("hub-admin.token")], expect: 1)
        XCTAssertTrue(stale.standardError.contains("is a live value not among those seen"), stale.standardError)
        let staleHere = try chorus(["resolve", "--conflict", id, "--keep", keep, "--seen", keep], "stockholm", expect: 1)
        XCTAssertTrue(staleHere.standardError.contains("is a live value not among those seen"), staleHere.standardError)
        XCTAssertEqual(try chorus(["resolve", "--conflict", id, "--keep", keep, "--seen", "nonsense"], "stockholm", expect: 2).status, 2)
        XCTAssertNotNil(try json(["conflicts", id, "--remote", hub.url, "--token-file", path("hub-admin.token")])["siblings"], "still open")
        try chorus(["resolve", "--conflict", id, "--keep", keep, "--seen", operations.joined(separator: ","), "--remote", hub.url, "--token-file", path("hub-admin.token")])
        // Asked again, the node says it has no such conflict, as the node it is, not "the upstream".
        let again = try chorus(["resolve", "--conflict", id, "--keep", keep, "--remote", hub.url, "--token-file", path("hub-admin.token")], expect: 1)
        XCTAssertTrue(again.standardError.contains("error: the node answered 404"), again.standardError)
        try syncAll()
        for (url, token) in [(hub.url, "hub-admin.token"), (stockholm.url, "office-admin.token")] {
            let remaining = try json(["conflicts", "--remote", url, "--token-file", path(token)]).arrayValue ?? []
            XCTAssertFalse(remaining.contains { $0["id"]?.stringValue == id }, "resolved conflict gone at \(url)")
            XCTAssertEqual(remaining.count, conflicts.count - 1)
        }
        XCTAssertFalse((try json(["conflicts"], "laptop").arrayValue ?? []).contains { $0["id"]?.stringValue == id }, "gone on the laptop too")
        let history = try json(["conflicts", "--history", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        XCTAssertEqual(history.arrayValue?.first?["conflict"]?.stringValue, id)
        XCTAssertEqual(history.arrayValue?.first?["resolvedBy"], "admin:ops")
        XCTAssertEqual(history.arrayValue?.first?["keptOperation"]?.stringValue, keep)
        let edited = try XCTUnwrap(conflicts.first { $0["kind"] == "editedWhileDeleted" }?["id"]?.stringValue)
        try chorus(["resolve", "--conflict", edited, "--restore", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        XCTAssertEqual(try json(["get", "people", "p-2"], "stockholm")["title"], "Director", "restore keeps the concurrent edit")
        // The history in pages: the first says where the next starts, and the next holds the rest.
        let first = try chorus(["conflicts", "--history", "--limit", "1", "--json", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        XCTAssertEqual(try JSONParser().parse(first.standardOutput).arrayValue?.first?["choice"], "restore", "newest first")
        let cursor = try XCTUnwrap(first.standardError.components(separatedBy: "more: add --after ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        let rest = try chorus(["conflicts", "--history", "--after", cursor, "--json", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        XCTAssertEqual(try JSONParser().parse(rest.standardOutput).arrayValue?.compactMap { $0["conflict"]?.stringValue }, [id])
        XCTAssertFalse(rest.standardError.contains("more:"), "the last page says no more")
        XCTAssertTrue(try chorus(["conflicts", "--history", "--after", "nonsense"], "stockholm", expect: 1).standardError.contains("MILLISECONDS:ID"))

        // An office's background syncs compare digests now and then, starting with the first: the
        // hub's health view shows whether it matches (it showed nothing for offices).
        let office = try XCTUnwrap(try json(["replicas", "health", "--remote", hub.url, "--token-file", path("hub-admin.token")])
            .arrayValue?.first { $0["name"] == "stockholm" })
        XCTAssertNotEqual(office["reportedDigest"], .null, "\(office)")
        XCTAssertNotEqual(office["digestMatched"], .null, "\(office)")

        // Health: the laptop's skewed clock; then it stops syncing, its lag grows and it goes silent.
        var health = try json(["replicas", "health", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        var laptop = try XCTUnwrap(health.arrayValue?.first { $0["name"] == "laptop" })
        XCTAssertGreaterThan(laptop["skewMilliseconds"]?.integerValue ?? 0, 100_000)
        XCTAssertTrue(laptop["flags"]?.arrayValue?.contains("skewed-clock") ?? false)
        try chorus(["put", "people", "p-5", "name=New hire"], "stockholm")
        usleep(1_500_000)
        health = try json(["replicas", "health", "--silent-days", "0.00001", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        laptop = try XCTUnwrap(health.arrayValue?.first { $0["name"] == "laptop" })
        XCTAssertGreaterThanOrEqual(laptop["waitingDown"]?.integerValue ?? 0, 2, "operations wait for the stopped laptop")
        let firstLag = laptop["lagMilliseconds"]?.integerValue ?? 0
        XCTAssertGreaterThan(firstLag, 1000)
        XCTAssertTrue(laptop["flags"]?.arrayValue?.contains("silent") ?? false)
        usleep(500_000)
        let later = try json(["replicas", "health", "--remote", stockholm.url, "--token-file", path("office-admin.token")])
        XCTAssertGreaterThan(later.arrayValue?.first { $0["name"] == "laptop" }?["lagMilliseconds"]?.integerValue ?? 0, firstLag, "lag grows")
        XCTAssertTrue(try chorus(["replicas", "health", "--remote", stockholm.url, "--token-file", path("office-admin.token")]).standardOutput.contains("skewed-clock"))

        // Admin routes refuse a non-admin token (403) and no token (401), over HTTP.
        let replicaToken = try String(contentsOfFile: path("stockholm.token"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for (auth, status) in [("", 401), ("Authorization: Bearer \(replicaToken)\r\nChorus-Replica: \(try json(["status"], "stockholm")["replica"]!.stringValue!)\r\n", 403)] {
            let client = try RawClient(port: hub.port)
            client.send("GET /admin/v1/conflicts HTTP/1.1\r\nHost: hub\r\n\(auth)\r\n")
            XCTAssertEqual(client.readResponse()?.status, status)
        }

        // /metrics: accepted by the Prometheus text parser, and counters move when syncs happen.
        let before = try metricSamples(port: hub.port)
        try chorus(["put", "people", "p-6", "name=Another"], "stockholm")
        try chorus(["sync", "--no-verify"], "stockholm")
        let after = try metricSamples(port: hub.port)
        let pushes = { (samples: [String: Double]) in samples.filter { $0.key.hasPrefix("chorus_http_requests_total") && $0.key.contains("/sync/v1/push") && $0.key.contains("200") }.values.reduce(0, +) }
        XCTAssertGreaterThan(pushes(after), pushes(before), "push requests counted")
        XCTAssertGreaterThan(after["chorus_operations_applied_total{via=push}"] ?? 0, before["chorus_operations_applied_total{via=push}"] ?? 0)
        XCTAssertNotNil(after["chorus_open_conflicts"])
        XCTAssertTrue(after.keys.contains { $0.hasPrefix("chorus_replica_lag_seconds") && $0.contains("stockholm") }, "\(after.keys.sorted())")
        try chorus(["replicas", "revoke", "stockholm"], "hub")
        XCTAssertFalse(try metricSamples(port: hub.port).keys.contains { $0.hasPrefix("chorus_replica_") && $0.contains("replica=stockholm") },
                       "a revoked replica will never sync again: no lag to alert on")
    }

    /// Whether python3 can import prometheus_client (`.ci/run` installs it).
    static let hasPrometheusClient: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import prometheus_client"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Scrapes /metrics and parses it with prometheus_client; returns samples as "name{k=v,...}" -> value.
    /// Without python3 and prometheus_client the test skips from here, unless
    /// `CHORUS_REQUIRE_PROMETHEUS=1` (set by `.ci/run`, which installs it), where it fails.
    func metricSamples(port: UInt16) throws -> [String: Double] {
        if !Self.hasPrometheusClient {
            if ProcessInfo.processInfo.environment["CHORUS_REQUIRE_PROMETHEUS"] == "1" {
                XCTFail("CHORUS_REQUIRE_PROMETHEUS=1 but python3 cannot import prometheus_client (pip install prometheus_client)")
            }
            throw XCTSkip("python3 with prometheus_client is not installed: the metrics are parsed with it (pip install prometheus_client); .ci/run installs it")
        }
        let client = try RawClient(port: port)
        client.send("GET /metrics HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        let text = try XCTUnwrap(client.readResponse()?.body)
        let script = """
        import sys, json
        from prometheus_client.parser import text_string_to_metric_families
        out = {}
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[s.name + ("{" + labels + "}" if labels else "")] = s.value
        print(json.dumps(out))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "prometheus_client refused /metrics (install it: pip install prometheus_client): \(problem)")
        var samples: [String: Double] = [:]
        for (key, value) in try JSONParser().parse(Array(data)).objectValue ?? [:] { samples[key] = value.numberValue }
        return samples
    }
}
