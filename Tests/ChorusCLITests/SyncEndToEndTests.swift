import XCTest
import Foundation
import ChorusCore
import ChorusTesting
import SQLiteKit

/// Real `chorus serve` processes on 127.0.0.1: a hub, two offices and a laptop syncing through an
/// office, with links going down, concurrent edits, faults and kill -9.
final class SyncEndToEndTests: XCTestCase {
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "chorus-e2e") }
    override func tearDown() { folder.remove() }

    func path(_ name: String) -> String { folder.appending(name) }

    @discardableResult
    func chorus(_ arguments: [String], _ data: String, expect status: Int32? = 0, file: StaticString = #filePath, line: UInt = #line) throws -> ChorusProcess.Result {
        let result = try ChorusProcess.run(arguments + ["--data", path(data)])
        if let status { XCTAssertEqual(result.status, status, "chorus \(arguments.joined(separator: " ")) --data \(data): \(result.standardError)", file: file, line: line) }
        return result
    }

    func digest(_ data: String) throws -> String { try chorus(["digest"], data).standardOutput }

    /// Registers `child` on `parent` with a token file, returns the file.
    func register(_ child: String, on parent: String, role: String) throws -> String {
        let file = path("\(child).token")
        try chorus(["replicas", "add", child, "--role", role, "--token-file", file], parent)
        return file
    }

    /// A hub serving, and a laptop joined to it (folders `hub` and `laptop`), not yet synced.
    func hubWithAJoinedLaptop() throws -> ServeProcess {
        for name in ["hub", "laptop"] { try chorus(["init", "--name", name], name) }
        let token = try register("laptop", on: "hub", role: "replica")
        let hub = try ServeProcess(data: path("hub"))
        try chorus(["join", hub.url, "--token-file", token], "laptop")
        return hub
    }

    /// Waits until every replica has the same digest, running `chorus sync` for the laptop-like
    /// replicas that do not serve. Returns whether it converged.
    func waitForConvergence(_ replicas: [String], syncing: [String] = [], timeoutSeconds: Double = 45) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            for replica in syncing { _ = try chorus(["sync", "--no-verify"], replica, expect: nil) }
            if Set(try replicas.map(digest)).count == 1 { return true }
            usleep(200_000)
        }
        return false
    }

    func test_hubTwoOfficesAndALaptop_convergeAfterOfflineWritesAndConcurrentEdits() throws {
        for name in ["hub", "stockholm", "new-york", "laptop"] { try chorus(["init", "--name", name], name) }
        let stockholmToken = try register("stockholm", on: "hub", role: "relay")
        let newYorkToken = try register("new-york", on: "hub", role: "relay")
        let laptopToken = try register("laptop", on: "stockholm", role: "replica")

        let hub = try ServeProcess(data: path("hub"))
        let stockholm = try ServeProcess(data: path("stockholm"), extra: ["--upstream", hub.url, "--token-file", stockholmToken, "--sync-interval", "0.2"])
        let newYork = try ServeProcess(data: path("new-york"), extra: ["--upstream", hub.url, "--token-file", newYorkToken, "--sync-interval", "0.2"])
        // A port that does not exist, or credentials in the URL, are refused, not sent elsewhere.
        for url in ["http://127.0.0.1:76011", "http://user:secret@127.0.0.1:7420"] {
            let refused = try ChorusProcess.run(["join", url, "--token-file", laptopToken, "--data", path("laptop")])
            XCTAssertEqual(refused.status, 1, url)
            XCTAssertTrue(refused.standardError.contains("outside 1 to 65535") || refused.standardError.contains("user or password"), refused.standardError)
        }
        // https:// to a node that speaks plain HTTP says so, not only in OpenSSL's words.
        let tls = try ChorusProcess.run(["conflicts", "--remote", hub.url.replacingOccurrences(of: "http://", with: "https://"), "--token-file", laptopToken])
        XCTAssertEqual(tls.status, 1)
        XCTAssertTrue(tls.standardError.contains("did not answer in TLS") && tls.standardError.contains("use http://"), tls.standardError)
        try chorus(["join", stockholm.url, "--token-file", laptopToken], "laptop")

        try chorus(["put", "people", "p-ada", "name=Ada Lovelace", "title=Engineer"], "hub")
        try chorus(["add", "people", "p-ada", "guilds", "web"], "stockholm")
        try chorus(["incr", "feedback", "f-1", "highFives"], "new-york")
        try chorus(["map-set", "people", "p-ada", "skills", "swift=4"], "laptop")
        XCTAssertTrue(try waitForConvergence(["hub", "stockholm", "new-york", "laptop"], syncing: ["laptop"]), "first convergence")

        // Links go down: New York's process stops, the hub stops; everyone keeps writing.
        XCTAssertEqual(newYork.stop(), 0, "SIGTERM exits 0")
        XCTAssertEqual(hub.stop(), 0)
        try chorus(["put", "people", "p-ada", "title=Staff Engineer"], "stockholm")
        try chorus(["put", "people", "p-ada", "title=Tech Lead"], "new-york")
        try chorus(["add", "people", "p-ada", "guilds", "data"], "new-york")
        try chorus(["append", "feedback", "f-1", "comments", #"{"author":"p-ada","body":"Great demo!"}"#], "laptop")
        let offline = try chorus(["sync"], "laptop", expect: nil)
        XCTAssertEqual(offline.status, 0, "the laptop still reaches Stockholm: \(offline.standardError)")

        try hub.start(port: hub.port)
        try newYork.start()
        XCTAssertTrue(try waitForConvergence(["hub", "stockholm", "new-york", "laptop"], syncing: ["laptop"]), "convergence after healing")
        let conflicts = try ["hub", "stockholm", "new-york", "laptop"].map { try chorus(["conflicts", "--json"], $0).standardOutput }
        XCTAssertEqual(Set(conflicts).count, 1, "identical conflict lists everywhere")
        let list = try XCTUnwrap(try JSONParser().parse(conflicts[0]).arrayValue)
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.first?["field"], "title")
        let ada = try JSONParser().parse(try chorus(["get", "people", "p-ada", "--json"], "hub").standardOutput)
        XCTAssertEqual(ada["guilds"], ["data", "web"])
        XCTAssertEqual(ada["skills"], ["swift": 4])
        let sync = try chorus(["sync"], "laptop").standardOutput
        XCTAssertTrue(sync.contains("identical to the upstream"), sync)
        for node in [hub, stockholm, newYork] { XCTAssertEqual(node.stop(), 0) }
        XCTAssertTrue(hub.log.contains { $0.contains("\"path\":\"/sync/v1/push\"") && $0.contains("\"peer\":\"stockholm\"") }, "access log names the peer")
        XCTAssertFalse(hub.log.contains { $0.contains(try! String(contentsOfFile: stockholmToken, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) },
                       "a token never appears in a log")
    }

    /// `join` asks the upstream once, with the token, and says what it found: the node's name,
    /// a token it refuses, or that it was not reached. The upstream is set either way (a laptop
    /// joins before it goes online). A wrong URL, port or token was said only at the first sync.
    func test_join_saysWhetherTheUpstreamTakesTheToken_andSetsItEitherWay() throws {
        for name in ["hub", "laptop"] { try chorus(["init", "--name", name], name) }
        let token = try register("laptop", on: "hub", role: "replica")
        let hub = try ServeProcess(data: path("hub"))
        defer { _ = hub.stop() }
        let wrong = path("wrong.token")
        try (String(repeating: "cd", count: 32) + "\n").write(toFile: wrong, atomically: true, encoding: .utf8)
        let refused = try chorus(["join", hub.url, "--token-file", wrong], "laptop")
        XCTAssertTrue(refused.standardError.contains("warning: the upstream refused this replica: the upstream answered 401"), refused.standardError)
        let down = try chorus(["join", "http://127.0.0.1:9", "--token-file", token], "laptop")
        XCTAssertTrue(down.standardError.contains("note: the upstream was not reached now"), down.standardError)
        XCTAssertTrue(try chorus(["status"], "laptop").standardOutput.contains("127.0.0.1:9"), "set all the same")
        let joined = try chorus(["join", hub.url, "--token-file", token, "--json"], "laptop")
        let checked = try JSONParser().parse(joined.standardOutput)["checked"]
        XCTAssertEqual(checked?["ok"], .bool(true), joined.standardOutput)
        XCTAssertEqual(checked?["upstreamName"], .string("hub"), joined.standardOutput)
    }

    /// A laptop whose clock a sync finds a day ahead of the hub's is told, before it writes,
    /// that each write would be refused by the hub (and every later one, since the replica's
    /// clock never goes back) until the hub's clock caught up; and a push refused so says when,
    /// still takes what the hub has, and is named in the hub's access log.
    func test_aClockFarAheadOfTheUpstreams_isWarnedOf_andARefusedPushSaysWhenItWillBeTaken() throws {
        let hub = try hubWithAJoinedLaptop()
        defer { hub.stop() }
        let hourAhead = ["--clock-offset-ms", "3600000"]
        let synced = try chorus(["sync"] + hourAhead, "laptop")
        XCTAssertTrue(synced.standardError.contains("warning: this machine's clock is 1 h"), synced.standardError)
        XCTAssertTrue(synced.standardError.contains("set it right (NTP) before writing here"), synced.standardError)
        XCTAssertFalse(try chorus(["sync"], "laptop").standardError.contains("warning"), "no warning with the clock right")
        let write = try ChorusProcess.run(["put", "people", "p-1", "title=Ahead", "--data", path("laptop")], environment: ["CHORUS_CLOCK_OFFSET_MS": "3600000"])
        XCTAssertEqual(write.status, 0)
        try chorus(["put", "people", "p-2", "name=Written at the hub"], "hub")
        let refused = try chorus(["sync"], "laptop", expect: 1)
        XCTAssertTrue(refused.standardError.contains("the replica refusing them takes them once its clock reaches them, in 5"), refused.standardError)
        // Refused up, it still takes what the hub has meanwhile, and a script may retry later.
        XCTAssertTrue(refused.standardError.contains("the pull went on: 1 operation received, 1 new here"), refused.standardError)
        XCTAssertTrue(try chorus(["get", "people", "p-2", "--json"], "laptop").standardOutput.contains("Written at the hub"))
        let retry = try JSONParser().parse(try chorus(["sync", "--json"], "laptop", expect: 1).standardOutput)
        XCTAssertEqual(retry["error"]?["code"], "clockSkew")
        XCTAssertEqual(retry["error"]?["retryable"], true)
        XCTAssertEqual(hub.stop(), 0)
        XCTAssertTrue(hub.log.contains { $0.contains("\"status\":422") && $0.contains("\"peer\":\"laptop\"") }, "a refusal names its peer in the access log")
        // Stopped, the hub's write-ahead log is in its database file: a cold copy of that file holds everything.
        let wal = (path("hub") as NSString).appendingPathComponent("chorus.sqlite-wal")
        XCTAssertEqual((try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0, 0, "nothing left only in the write-ahead log")
    }

    /// A laptop registered for one person writes as them: the upstream refuses a push holding a
    /// write in another's name (made before the laptop knew whose it is), the pull goes on, and
    /// from then on the laptop refuses such a write itself and acts as its person by default.
    func test_aLaptopRegisteredForAPerson_writesOnlyAsThem() throws {
        for name in ["hub", "laptop"] { try chorus(["init", "--name", name], name) }
        try chorus(["seed", "--people", "12", "--offices", "1", "--seed", "3"], "hub")
        let file = path("laptop.token")
        let added = try chorus(["replicas", "add", "laptop", "--person", "p-1", "--token-file", file], "hub")
        XCTAssertTrue(added.standardOutput.contains("registered laptop as replica for p-1"), added.standardOutput)
        let refusedRelay = try chorus(["replicas", "add", "office", "--role", "relay", "--person", "p-1"], "hub", expect: 1)
        XCTAssertTrue(refusedRelay.standardError.contains("a person is named for a replica token only"), refusedRelay.standardError)
        XCTAssertTrue(try chorus(["replicas", "add", "typo", "--person", "p-999"], "hub", expect: 1).standardError.contains("no person p-999 here"))
        let listed = try JSONParser().parse(try chorus(["replicas", "list", "--json"], "hub").standardOutput)
        XCTAssertEqual(listed.arrayValue?.map { $0["person"] }, ["p-1"], "the refused adds registered nothing")
        let health = try JSONParser().parse(try chorus(["replicas", "health", "--json"], "hub").standardOutput)
        XCTAssertEqual(health.arrayValue?.map { $0["person"] }, ["p-1"], "admins see whose laptop it is")

        let hub = try ServeProcess(data: path("hub"))
        defer { hub.stop() }
        try chorus(["join", hub.url, "--token-file", file], "laptop")
        try chorus(["put", "people", "p-2", "title=Forged", "--as", "p-2"], "laptop")
        let refused = try chorus(["sync"], "laptop", expect: 1)
        XCTAssertTrue(refused.standardError.contains("laptop is registered for p-1"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("it is made in the name of p-2"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("the pull went on"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("chorus log --waiting"), refused.standardError)
        let waiting = try chorus(["log", "--waiting"], "laptop").standardOutput
        XCTAssertTrue(waiting.contains("people/p-2 title") && waiting.contains("by p-2"), waiting)
        XCTAssertEqual(waiting.split(separator: "\n").count, 1, "only what waits to go up, not what came down: \(waiting)")
        XCTAssertFalse(try chorus(["get", "people", "p-2", "--json"], "hub").standardOutput.contains("Forged"))
        XCTAssertTrue(try chorus(["get", "people", "p-3", "--json"], "laptop").standardOutput.contains("p-3"), "the hub's people came down")

        let status = try JSONParser().parse(try chorus(["status", "--json"], "laptop").standardOutput)
        XCTAssertEqual(status["person"], "p-1")
        // Its own commands apply the platform's rules as its page does: a colleague's profile is
        // edited by its person or their manager (p-0 has none), and a laptop's `put` once did it.
        let colleague = try chorus(["put", "people", "p-0", "title=Edited from a laptop"], "laptop", expect: 1)
        XCTAssertTrue(colleague.standardError.contains("people/p-0 is not theirs to change so: a profile is edited by its person or their manager"),
                      colleague.standardError)
        XCTAssertFalse(try chorus(["get", "people", "p-0", "--json"], "laptop").standardOutput.contains("Edited from a laptop"), "nothing was written")
        let another = try chorus(["feedback", "give", "Thanks for the review", "--to", "p-3", "--as", "p-2"], "laptop", expect: 1)
        XCTAssertTrue(another.standardError.contains("this replica is p-1's"), another.standardError)
        let given = try JSONParser().parse(try chorus(["feedback", "give", "Thanks for the review", "--to", "p-3", "--json"], "laptop").standardOutput)
        let item = try XCTUnwrap(given["id"]?.stringValue, "\(given)")
        XCTAssertEqual(try JSONParser().parse(try chorus(["get", "feedback", item, "--json"], "laptop").standardOutput)["from"], "p-1",
                       "no --as on a bound laptop: its person")

        // The forged write holds the thanks back; set aside, it stays here and the thanks goes up.
        try chorus(["sync"], "laptop", expect: 1)
        try chorus(["sync", "--set-aside-refused", "--no-snapshot"], "laptop", expect: 2)
        let setAside = try chorus(["sync", "--set-aside-refused"], "laptop")
        XCTAssertTrue(setAside.standardOutput.contains("set aside: 1 write (1 operation) the upstream refuses"), setAside.standardOutput)
        XCTAssertTrue(setAside.standardOutput.contains("identical to the upstream"), setAside.standardOutput)
        XCTAssertEqual(try JSONParser().parse(try chorus(["get", "feedback", item, "--json"], "hub").standardOutput)["from"], "p-1", "it went up")
        XCTAssertFalse(try chorus(["get", "people", "p-2", "--json"], "laptop").standardOutput.contains("Forged"), "out of the laptop's state")
        let listedAside = try chorus(["set-aside"], "laptop").standardOutput
        XCTAssertTrue(listedAside.contains("people/p-2 title") && listedAside.contains("it is made in the name of p-2"), listedAside)
        XCTAssertTrue(try chorus(["log", "--waiting"], "laptop").standardOutput.contains("nothing waits"))
        XCTAssertEqual(try JSONParser().parse(try chorus(["status", "--json"], "laptop").standardOutput)["setAside"], 1)
        XCTAssertTrue(try chorus(["sync", "--set-aside-refused"], "laptop").standardOutput.contains("set aside: nothing"))
        let json = try JSONParser().parse(try chorus(["set-aside", "--json"], "laptop").standardOutput)
        XCTAssertEqual(json.arrayValue?.first?["pending"], false)
        XCTAssertEqual(json.arrayValue?.first?["operation"]?["author"], "p-2")
        try chorus(["set-aside", "--forget", "--limit", "3"], "laptop", expect: 2)
        XCTAssertTrue(try chorus(["set-aside", "--forget"], "laptop").standardOutput.contains("forgot 1 operation set aside"))
        XCTAssertTrue(try chorus(["set-aside"], "laptop").standardOutput.contains("nothing is set aside"))
    }

    /// A replica whose state differs from its upstream's with nothing left to push or to pull
    /// (here a value changed in its database behind Chorus's back) is not told "sync again",
    /// which would change nothing: the sync fails, exit 1, with the code `diverged` and both
    /// digests, so a script or a cron job sees it.
    func test_aStateSyncingCannotMend_failsTheSync_withTheCodeDiverged() throws {
        let hub = try hubWithAJoinedLaptop()
        defer { hub.stop() }
        try chorus(["put", "people", "p-1", "title=base"], "laptop")
        XCTAssertTrue(try chorus(["sync"], "laptop").standardOutput.contains("identical to the upstream"))
        let database = try Database(path: (path("laptop") as NSString).appendingPathComponent("chorus.sqlite"))
        try database.execute(#"UPDATE entry_rows SET value = '"changed behind its back"' WHERE value = '"base"'"#)
        XCTAssertEqual(database.changes, 1)
        let diverged = try chorus(["sync"], "laptop", expect: 1)
        XCTAssertTrue(diverged.standardOutput.contains("down: 0 operations received"), diverged.standardOutput)
        XCTAssertTrue(diverged.standardError.contains("differs from the upstream's at the same point of its log"), diverged.standardError)
        XCTAssertTrue(diverged.standardError.contains("syncing again will not change it"), diverged.standardError)
        let json = try chorus(["sync", "--json"], "laptop", expect: 1)
        let document = try JSONParser().parse(json.standardOutput)
        XCTAssertEqual(document["error"]?["code"]?.stringValue, "diverged", json.standardOutput)
        // What the sync did comes beside the error: both digests, and what moved.
        XCTAssertEqual(document["report"]?["diverged"], .bool(true), json.standardOutput)
        XCTAssertEqual(document["report"]?["pulled"]?.integerValue, 0, json.standardOutput)
        XCTAssertNotEqual(document["report"]?["localDigest"], document["report"]?["upstreamDigest"], json.standardOutput)
        // A node syncing in the background records it as the sync's outcome too: its status
        // says diverged, where it said in sync.
        let node = try ServeProcess(data: path("laptop"))
        defer { node.stop() }
        // Once its own first sync (which compares digests) has ended: it records its outcome.
        for _ in 0..<200 where !node.log.contains(where: { $0.contains(#""event":"sync""#) }) { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(node.log.contains { $0.contains(#""outcome":"diverged""#) }, "\(node.log)")
        let client = try RawClient(port: node.port)
        client.send("GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let state = client.readResponse().flatMap { try? JSONParser().parse(Array($0.body.utf8)) }?["state"]
        XCTAssertEqual(state, "diverged", "the page's indicator reads it, after the node's own sync")
    }

    /// A laptop folder restored from a backup of itself (its counters file too) hands out again
    /// the ids of writes the hub already holds. Its new write took exactly the id it lost: the
    /// laptop sees it by the stamp the hub keeps of its latest operation (`ownLatest`), sends
    /// nothing and says why, where it once had the new write dropped as a duplicate and the two
    /// differed for good. (The hub's own refusal of such a push: `RestoredFolderTests`.)
    func test_aLaptopRestoredFromABackupOfItself_isRefusedLoudly_andTheHubKeepsWhatItHad() throws {
        let hub = try hubWithAJoinedLaptop()
        defer { hub.stop() }
        try chorus(["put", "people", "p-1", "title=base"], "laptop")
        try chorus(["sync"], "laptop")
        try FileManager.default.copyItem(atPath: path("laptop"), toPath: path("backup"))
        let lost = try chorus(["put", "people", "p-2", "title=before the restore", "--json"], "laptop").standardOutput
        try chorus(["sync"], "laptop")
        try FileManager.default.removeItem(atPath: path("laptop"))
        try FileManager.default.copyItem(atPath: path("backup"), toPath: path("laptop"))
        let reusing = try chorus(["put", "people", "p-3", "title=after the restore", "--json"], "laptop").standardOutput
        let id = { (text: String) in try JSONParser().parse(text)["operations"]?.arrayValue?.first?["id"]?.stringValue }
        XCTAssertEqual(try id(reusing), try id(lost), "the restored counters hand the id out again")
        let hubBefore = try digest("hub")
        let refused = try chorus(["sync"], "laptop", expect: 1)
        XCTAssertTrue(refused.standardError.contains("is another here"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("carries an id the upstream holds"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("join a new, empty folder"), refused.standardError)
        XCTAssertEqual(try digest("hub"), hubBefore, "nothing of the push applied")
        XCTAssertEqual(try chorus(["get", "people", "p-2", "--json"], "hub").standardOutput.contains("before the restore"), true)
        XCTAssertEqual(try chorus(["get", "people", "p-3"], "hub", expect: 1).status, 1, "the reusing write is not taken as another")
        // Refused every time, while the pull goes on: with `--json`, what moved is beside the error.
        try chorus(["put", "people", "p-4", "name=Written at the hub"], "hub")
        let json = try chorus(["sync", "--json"], "laptop", expect: 1).standardOutput
        let document = try JSONParser().parse(json)
        XCTAssertEqual(document["error"]?["code"]?.stringValue, "invalidState", json)
        XCTAssertEqual(document["report"]?["pushed"]?.integerValue, 0, json)
        XCTAssertEqual(document["report"]?["pullApplied"]?.integerValue, 1, json)
    }

    /// A proxy that delays, cuts responses and drops them after the push was applied: convergence
    /// still holds and nothing is applied twice (counters would double count).
    func test_faultyLink_convergesAndAppliesNothingTwice() throws {
        for name in ["office", "laptop"] { try chorus(["init", "--name", name], name) }
        let token = try register("laptop", on: "office", role: "replica")
        let office = try ServeProcess(data: path("office"))
        let seed = UInt64(ProcessInfo.processInfo.environment["CHORUS_SEED"] ?? "") ?? UInt64.random(in: 0..<1_000_000)
        let proxy = try FaultProxy(upstreamPort: office.port, seed: seed)
        defer { proxy.stop(); office.stop() }
        try chorus(["join", "http://127.0.0.1:\(proxy.port)", "--token-file", token], "laptop")
        // Both harmful faults at least once, whatever the seed draws after them.
        proxy.scheduledFaults = [.dropResponse, .cutMidResponse]
        var expected = 0
        for round in 0..<12 {
            try chorus(["incr", "feedback", "f-1", "highFives", "\(round + 1)"], "laptop")
            try chorus(["put", "people", "p-\(round)", "name=Person \(round)"], "laptop")
            try chorus(["put", "people", "p-\(round)", "title=Title \(round)"], "office")
            expected += round + 1
            _ = try chorus(["sync", "--no-verify"], "laptop", expect: nil)
        }
        proxy.faultProbability = 0
        XCTAssertTrue(try waitForConvergence(["office", "laptop"], syncing: ["laptop"]), "seed \(seed)")
        let highFives = try JSONParser().parse(try chorus(["get", "feedback", "f-1", "--json"], "office").standardOutput)["highFives"]
        XCTAssertEqual(highFives, .integer(Int64(expected)), "seed \(seed): every increment counted exactly once")
        XCTAssertGreaterThan(proxy.counts[.dropResponse, default: 0], 0, "seed \(seed): a response was dropped after the hub acted")
        XCTAssertGreaterThan(proxy.counts[.cutMidResponse, default: 0], 0, "seed \(seed): a response was cut")
    }

    /// kill -9 of the hub or the office in the middle of syncs, 20 cycles: nothing acknowledged is
    /// lost and both databases pass the integrity check.
    func test_kill9DuringSyncs_losesNothingAcknowledged() throws {
        for name in ["hub", "office"] { try chorus(["init", "--name", name], name) }
        let token = try register("office", on: "hub", role: "relay")
        let hub = try ServeProcess(data: path("hub"))
        let office = try ServeProcess(data: path("office"), extra: ["--upstream", hub.url, "--token-file", token, "--sync-interval", "0.05"])
        let seed = UInt64(ProcessInfo.processInfo.environment["CHORUS_SEED"] ?? "") ?? UInt64.random(in: 0..<1_000_000)
        var rng = SeededGenerator(seed: seed)
        var acknowledged: [String] = []
        for cycle in 0..<20 {
            let (output, _) = try ChorusProcess.runAndKill(["stress", "100000", "--data", path(rng.chance(0.5) ? "office" : "hub")],
                                                          afterMilliseconds: 40 + rng.int(150))
            acknowledged += output.split(separator: "\n").filter { $0.hasPrefix("ack ") }.map { String($0.dropFirst(4)) }
            let victim = rng.chance(0.5) ? hub : office
            usleep(useconds_t(rng.int(100_000)))
            victim.kill()
            for (name, _) in [("hub", hub), ("office", office)] {
                let check = try ChorusProcess.run(["check", "--data", path(name)])
                XCTAssertEqual(check.status, 0, "seed \(seed) cycle \(cycle) \(name): \(check.standardOutput)")
            }
            try victim.start(port: victim === hub ? hub.port : nil)
        }
        XCTAssertTrue(try waitForConvergence(["hub", "office"], timeoutSeconds: 60), "seed \(seed): converged after 20 kill -9 cycles")
        let hubLog = try chorus(["log", "--json", "--limit", "100000"], "hub").standardOutput
        let missing = acknowledged.filter { !hubLog.contains("\"\($0)\"") }
        XCTAssertEqual(missing, [], "seed \(seed): acknowledged operations missing at the hub")
        print("kill -9: 20 cycles, \(acknowledged.count) acknowledged writes all at the hub (seed \(seed))")
        hub.stop()
        office.stop()
    }

    /// A new laptop joining a hub with a long log starts from the hub's snapshot (protocol 4.6);
    /// kill -9 at any instant of that leaves it consistent, and the next sync finishes the job.
    func test_newLaptop_startsFromTheHubsSnapshot_andKill9DuringItLeavesItConsistent() throws {
        try chorus(["init", "--name", "hub"], "hub")
        let seeded = try chorus(["seed", "--people", "350", "--offices", "2", "--seed", "5"], "hub").standardOutput
        let hub = try ServeProcess(data: path("hub"))
        defer { hub.stop() }
        let operations = seeded.split(separator: " ").reversed().dropFirst().first.flatMap { Int($0) } ?? 0
        XCTAssertGreaterThanOrEqual(operations, 10_000, "enough for a snapshot (snapshotSequenceMin): \(seeded)")

        for name in ["laptop", "plain", "killed"] {
            try chorus(["init", "--name", name], name)
            try chorus(["join", hub.url, "--token-file", try register(name, on: "hub", role: "replica")], name)
        }
        let sync = try chorus(["sync"], "laptop").standardOutput
        XCTAssertTrue(sync.contains("snapshot:") && sync.contains("taken from the upstream's copy"), sync)
        XCTAssertTrue(sync.contains("state: identical to the upstream"), sync)
        XCTAssertEqual(try chorus(["check"], "laptop").status, 0)
        let again = try JSONParser().parse(try chorus(["sync", "--json"], "laptop").standardOutput)
        XCTAssertNil(again["snapshotOperations"], "a replica that holds data pulls")
        XCTAssertEqual(again["digestMatches"], true)
        XCTAssertEqual(again["upstreamUrl"], .string(hub.url), "the URL, as `status --json` gives it")
        XCTAssertEqual(again["upstream"], "hub", "and the name")

        let plain = try JSONParser().parse(try chorus(["sync", "--json", "--no-snapshot"], "plain").standardOutput)
        XCTAssertNil(plain["snapshotOperations"])
        XCTAssertGreaterThanOrEqual(plain["pulled"]?.integerValue ?? 0, 10_000, "the whole log was pulled")
        XCTAssertEqual(try digest("plain"), try digest("laptop"))

        let seed = UInt64(ProcessInfo.processInfo.environment["CHORUS_SEED"] ?? "") ?? UInt64.random(in: 0..<1_000_000)
        var rng = SeededGenerator(seed: seed)
        for cycle in 0..<8 {
            _ = try ChorusProcess.runAndKill(["sync", "--no-verify", "--data", path("killed")], afterMilliseconds: 5 + rng.int(150))
            let check = try ChorusProcess.run(["check", "--data", path("killed")])
            XCTAssertEqual(check.status, 0, "seed \(seed) cycle \(cycle): \(check.standardOutput)")
        }
        let finished = try chorus(["sync"], "killed").standardOutput
        XCTAssertTrue(finished.contains("state: identical to the upstream"), "seed \(seed): \(finished)")
        XCTAssertEqual(try digest("killed"), try digest("hub"), "seed \(seed)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: path("killed")).filter { $0.hasPrefix(".chorus-snapshot-") }
        XCTAssertEqual(leftovers, [], "seed \(seed): what the killed downloads left is removed once the replica holds data")
    }

    /// A hub restored from last night's backup, which then logs more than a laptop had pulled
    /// since, before the laptop syncs again: the laptop's `chorus sync`, over HTTP, is told by the
    /// operation at its cursor (the log's length alone no longer tells), sends its own writes
    /// again, pulls what the hub logged since, and both end identical.
    func test_aHubRestoredFromABackupAndLengthened_isToldOverHTTP_andNothingIsLost() throws {
        try chorus(["init", "--name", "hub"], "hub")
        try chorus(["init", "--name", "laptop"], "laptop")
        let token = try register("laptop", on: "hub", role: "replica")
        var hub = try ServeProcess(data: path("hub"))
        try chorus(["join", hub.url, "--token-file", token], "laptop")
        try chorus(["put", "people", "p-ada", "name=Ada"], "laptop")
        try chorus(["sync"], "laptop")
        // Last night's backup: the hub's files, copied while it was stopped.
        let files = ["chorus.sqlite", "chorus.sqlite-wal"]
        _ = hub.stop()
        try FileManager.default.createDirectory(atPath: path("backup"), withIntermediateDirectories: true)
        for file in files where FileManager.default.fileExists(atPath: path("hub") + "/" + file) {
            try FileManager.default.copyItem(atPath: path("hub") + "/" + file, toPath: path("backup") + "/" + file)
        }
        hub = try ServeProcess(data: path("hub"), port: hub.port)
        for index in 0..<3 { try chorus(["put", "people", "p-\(index)", "name=Laptop \(index)"], "laptop") }
        try chorus(["sync"], "laptop")
        // Compacted as it runs by default, the laptop keeps what the hub acknowledged this week:
        // what the restored hub lost comes back from it (removed, it once could not).
        let compacted = try chorus(["compact"], "laptop").standardOutput
        XCTAssertTrue(compacted.contains("removed 0 operations"), compacted)
        XCTAssertTrue(compacted.contains("kept what the upstream acknowledged in the last 7 days"), compacted)

        _ = hub.stop()
        for file in files + ["chorus.sqlite-shm"] { try? FileManager.default.removeItem(atPath: path("hub") + "/" + file) }
        for file in files where FileManager.default.fileExists(atPath: path("backup") + "/" + file) {
            try FileManager.default.copyItem(atPath: path("backup") + "/" + file, toPath: path("hub") + "/" + file)
        }
        for index in 0..<6 { try chorus(["put", "people", "h-\(index)", "name=Hub \(index)"], "hub") }
        hub = try ServeProcess(data: path("hub"), port: hub.port)
        defer { _ = hub.stop() }

        let sync = try chorus(["sync"], "laptop").standardOutput
        XCTAssertTrue(sync.contains("no longer holds what this replica had pulled"), sync)
        XCTAssertTrue(sync.contains("state: identical to the upstream"), sync)
        for index in 0..<6 { XCTAssertEqual(try chorus(["get", "people", "h-\(index)"], "laptop").status, 0, "the hub's write h-\(index) reached the laptop") }
        for index in 0..<3 { XCTAssertEqual(try chorus(["get", "people", "p-\(index)"], "hub").status, 0, "the laptop's write p-\(index) is back on the hub") }
        XCTAssertEqual(try digest("laptop"), try digest("hub"))
    }

    /// `chorus compact` on a live hub removes what its one replica has committed; a new laptop then
    /// starts from the snapshot though the log is short, and what needs the removed history says so.
    func test_compactOnALiveHub_thenANewLaptopStartsFromItsSnapshot() throws {
        try chorus(["init", "--name", "hub"], "hub")
        try chorus(["seed", "--people", "40", "--offices", "2", "--seed", "3"], "hub")
        let hub = try ServeProcess(data: path("hub"))
        defer { hub.stop() }
        try chorus(["init", "--name", "office"], "office")
        try chorus(["join", hub.url, "--token-file", try register("office", on: "hub", role: "replica")], "office")
        try chorus(["sync"], "office")
        try chorus(["put", "people", "p-late", "name=Late Comer"], "hub")
        try chorus(["sync"], "office")   // its first pull says what the last sync committed
        XCTAssertTrue(try chorus(["compact", "--help"], "hub").standardOutput.contains("--dry-run"))

        // The hub keeps acknowledgements in memory for up to two seconds before it writes them.
        var report = JSONValue.null
        let deadline = Date().addingTimeInterval(20)
        repeat {
            report = try JSONParser().parse(try chorus(["compact", "--json"], "hub").standardOutput)
            if (report["operationsRemoved"]?.integerValue ?? 0) > 0 { break }
            usleep(300_000)
        } while Date() < deadline
        let floor = report["compactedThrough"]?.integerValue ?? 0
        XCTAssertGreaterThan(floor, 0, "\(report)")
        XCTAssertEqual(try JSONParser().parse(try chorus(["status", "--json"], "hub").standardOutput)["compactedThrough"]?.integerValue, floor)
        XCTAssertEqual(try chorus(["check"], "hub").status, 0)

        try chorus(["init", "--name", "laptop"], "laptop")
        try chorus(["join", hub.url, "--token-file", try register("laptop", on: "hub", role: "replica")], "laptop")
        let sync = try chorus(["sync"], "laptop").standardOutput
        XCTAssertTrue(sync.contains("taken from the upstream's copy") && sync.contains("state: identical to the upstream"), sync)
        XCTAssertEqual(try chorus(["check"], "laptop").status, 0)
        XCTAssertEqual(try digest("laptop"), try digest("hub"))
        let plain = try chorus(["sync", "--no-snapshot"], "laptop")   // holds data now: pulls, after the point
        XCTAssertTrue(plain.standardOutput.contains("state: identical to the upstream"), plain.standardOutput)

        let fromZero = try chorus(["export", "--since", "0", "--output", path("all.bundle")], "hub", expect: 1)
        XCTAssertTrue(fromZero.standardError.contains("compacted through sequence \(floor)"), fromZero.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("all.bundle")))
        try chorus(["export", "--since", String(floor), "--output", path("recent.bundle")], "hub")
        // Without --since, all the log holds: from the point, said so.
        let held = try chorus(["export", "--output", path("held.bundle")], "hub")
        XCTAssertTrue(held.standardError.contains("compacted through sequence \(floor)"), "a note, on stderr: \(held.standardError)")
        XCTAssertTrue(held.standardOutput.contains("(log \(floor).."), held.standardOutput)
        XCTAssertFalse(held.standardOutput.contains("compacted through"), "the report alone on stdout")
        // The laptop started from the hub's snapshot: its log starts where the copy ended.
        let laptopFloor = try JSONParser().parse(try chorus(["status", "--json"], "laptop").standardOutput)["compactedThrough"]?.integerValue ?? 0
        XCTAssertGreaterThanOrEqual(laptopFloor, floor)
        XCTAssertTrue(try chorus(["export", "--output", path("laptop.bundle")], "laptop").standardOutput.contains("(log \(laptopFloor).."))

        let vacuumed = try JSONParser().parse(try chorus(["compact", "--vacuum", "--json"], "hub").standardOutput)
        XCTAssertLessThan(vacuumed["bytesAfter"]?.integerValue ?? .max, vacuumed["bytesBefore"]?.integerValue ?? 0, "\(vacuumed)")
        try chorus(["put", "people", "p-after", "name=After Vacuum"], "hub")
        try chorus(["sync"], "laptop")
        XCTAssertEqual(try digest("laptop"), try digest("hub"), "the hub serves on after the vacuum")
        XCTAssertEqual(try chorus(["check"], "hub").status, 0)
    }

    /// `chorus serve --compact-interval` compacts a hub's log by itself once the replica below has
    /// committed it, and logs what it removed; the hub then serves a new laptop from its snapshot.
    func test_serveWithACompactInterval_compactsTheLogByItself() throws {
        XCTAssertTrue(try chorus(["serve", "--compact-interval", "0"], "nowhere", expect: 2).standardError.contains("--compact-interval must be"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("nowhere")), "a refused option creates nothing")
        try chorus(["init", "--name", "hub"], "hub")
        try chorus(["seed", "--people", "10", "--offices", "1", "--seed", "4"], "hub")
        let hub = try ServeProcess(data: path("hub"), extra: ["--compact-interval", "1"])
        defer { hub.stop() }
        try chorus(["init", "--name", "office"], "office")
        try chorus(["join", hub.url, "--token-file", try register("office", on: "hub", role: "replica")], "office")
        try chorus(["sync"], "office")
        try chorus(["sync"], "office")   // its pull says the first sync's cursor is committed
        let latest = try JSONParser().parse(try chorus(["status", "--json"], "hub").standardOutput)["latestSequence"]?.integerValue ?? 0
        XCTAssertGreaterThan(latest, 0)

        var event: JSONValue?
        let deadline = Date().addingTimeInterval(20)
        repeat {
            event = hub.log.compactMap { try? JSONParser().parse($0) }.first { $0["event"]?.stringValue == "compaction" }
            if event == nil { usleep(200_000) }
        } while event == nil && Date() < deadline
        XCTAssertEqual(event?["outcome"]?.stringValue, "ok", "\(hub.log.suffix(5))")
        XCTAssertEqual(event?["report"]?["compactedThrough"]?.integerValue, latest, "everything the office committed")
        XCTAssertEqual(try JSONParser().parse(try chorus(["status", "--json"], "hub").standardOutput)["compactedThrough"]?.integerValue, latest)
        XCTAssertEqual(try chorus(["check"], "hub").status, 0)

        try chorus(["init", "--name", "laptop"], "laptop")
        try chorus(["join", hub.url, "--token-file", try register("laptop", on: "hub", role: "replica")], "laptop")
        XCTAssertTrue(try chorus(["sync"], "laptop").standardOutput.contains("taken from the upstream's copy"))
        XCTAssertEqual(try digest("laptop"), try digest("hub"))

        // A laptop that writes before its first sync cannot pull what the hub compacted away: it
        // pushes its write, then starts again from the hub's snapshot, which holds it.
        try chorus(["init", "--name", "offline"], "offline")
        try chorus(["join", hub.url, "--token-file", try register("offline", on: "hub", role: "replica")], "offline")
        try chorus(["put", "people", "p-offline", "name=Written Offline"], "offline")
        let restart = try chorus(["sync"], "offline")
        XCTAssertTrue(restart.standardError.contains("starting again from its snapshot"), restart.standardError)
        XCTAssertTrue(restart.standardOutput.contains("state: identical to the upstream"), restart.standardOutput)
        XCTAssertEqual(try digest("offline"), try digest("hub"))
        XCTAssertTrue(try chorus(["get", "people", "p-offline"], "offline").standardOutput.contains("Written Offline"))
        XCTAssertEqual(try chorus(["check"], "offline").status, 0)
        try chorus(["put", "people", "p-offline", "title=Back online"], "offline")
        try chorus(["sync"], "offline")
        XCTAssertTrue(try chorus(["get", "people", "p-offline"], "hub").standardOutput.contains("Back online"), "its next write goes up")
    }

    /// One folder is one node: a second `serve` of it, and a `join` beside it, are refused,
    /// naming the process that serves it; a write and a sync beside it run.
    func test_aServedFolder_refusesASecondServe_andAJoinBesideIt() throws {
        let hub = try hubWithAJoinedLaptop()
        defer { hub.stop() }
        let laptop = try ServeProcess(data: path("laptop"))
        defer { laptop.stop() }
        let second = try chorus(["serve", "--listen", "127.0.0.1:0"], "laptop", expect: 1)
        XCTAssertTrue(second.standardError.contains("another chorus process (pid "), second.standardError)
        let join = try chorus(["join", hub.url, "--token-file", path("laptop.token")], "laptop", expect: 1)
        XCTAssertTrue(join.standardError.contains("so `chorus join` does not run beside it"), join.standardError)
        try chorus(["put", "people", "p-1", "name=Ada"], "laptop")
        try chorus(["sync"], "laptop")
        XCTAssertEqual(try digest("laptop"), try digest("hub"))
    }

    /// An oversized or malformed push to a real node gets a 4xx and changes nothing.
    func test_oversizedAndMalformedPushes_areRefused_digestUnchanged() throws {
        try chorus(["init", "--name", "hub"], "hub")
        try chorus(["put", "people", "p-1", "name=Ada"], "hub")
        let token = try String(contentsOfFile: try register("laptop", on: "hub", role: "replica"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let before = try digest("hub")
        let hub = try ServeProcess(data: path("hub"))
        defer { hub.stop() }
        let headers = "Host: hub\r\nAuthorization: Bearer \(token)\r\nChorus-Protocol: 1\r\nChorus-Replica: \(String(repeating: "ab", count: 16))\r\nContent-Type: application/json\r\n"
        let oversized = try RawClient(port: hub.port)
        oversized.send("POST /sync/v1/push HTTP/1.1\r\n\(headers)Content-Length: \(17 * 1024 * 1024)\r\n\r\n")
        XCTAssertTrue(oversized.readUntilClosed(timeoutSeconds: 5).hasPrefix("HTTP/1.1 413"))
        // A push with no token, or a token in no form a token has, is refused on its head: the
        // body it announces is never waited for.
        for authorization in ["", "Authorization: Bearer nope\r\n", "Authorization: Basic YTpi\r\n"] {
            for target in ["/sync/v1/push", "/admin/v1/replicas"] {
                let tokenless = try RawClient(port: hub.port)
                tokenless.send("POST \(target) HTTP/1.1\r\nHost: hub\r\n\(authorization)Chorus-Protocol: 1\r\nContent-Length: \(16 * 1024 * 1024)\r\n\r\n")
                let answer = tokenless.readUntilClosed(timeoutSeconds: 5)
                XCTAssertTrue(answer.hasPrefix("HTTP/1.1 401"), "\(target) \(authorization): \(answer.prefix(200))")
                XCTAssertTrue(answer.contains("refused before the body was read"), answer)
                XCTAssertTrue(answer.contains("WWW-Authenticate: Bearer"), "a 401 says what it asks for")
                XCTAssertTrue(answer.lowercased().contains("x-content-type-options: nosniff"), "refusals of the server's own too")
            }
        }
        for body in ["{not json", #"{"operations":[{"id":"x"}],"relayed":[],"replica":"\#(String(repeating: "ab", count: 16))","through":1}"#] {
            let client = try RawClient(port: hub.port)
            client.send("POST /sync/v1/push HTTP/1.1\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let status = client.readResponse()?.status ?? 0
            XCTAssertTrue((400..<500).contains(status), "\(body.prefix(20)): \(status)")
        }
        XCTAssertEqual(try digest("hub"), before)
    }
}
