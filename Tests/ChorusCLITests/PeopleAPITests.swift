import XCTest
import Foundation
import ChorusCore
import ChorusNode
import ChorusPeople
import ChorusTesting

/// The people API over HTTP against a real `chorus serve`, with identity from a trusted proxy header.
final class PeopleAPITests: XCTestCase {
    var folder: TemporaryDirectory!
    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "chorus-api") }
    override func tearDown() { folder.remove() }

    func request(_ port: UInt16, _ method: String, _ target: String, as person: String? = nil, body: String? = nil,
                 headers: [String] = [], host: String? = nil) throws -> (status: Int, json: JSONValue?) {
        let client = try RawClient(port: port)
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        if let person { text += "X-Person: \(person)\r\n" }
        for header in headers { text += header + "\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
        client.send(text)
        let response = try XCTUnwrap(client.readResponse())
        return (response.status, try? JSONParser().parse(response.body))
    }

    /// An office node behind a single-sign-on proxy on 127.0.0.1 (the person comes from `X-Person`),
    /// after `prepare` ran commands on its fresh data folder.
    func officeNode(_ prepare: (String) throws -> Void = { _ in }) throws -> ServeProcess {
        let data = folder.appending("office")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "office", "--data", data]).status, 0)
        try prepare(data)
        return try ServeProcess(data: data, extra: ["--identity-header", "X-Person", "--trusted-proxy", "127.0.0.1"])
    }

    /// A record that already breaks a rule (written before the rule, or arrived by sync) can still
    /// be edited, and mended; a write that brings a problem of its own is refused. Seeded office
    /// opportunities once lacked their office, and every edit of them was a 422.
    func test_aRecordWithAProblemFromBefore_canStillBeEdited_butNoWriteAddsOne() throws {
        let node = try officeNode { data in
            for (collection, record, fields) in [("people", "p-own", ["name=Owner"]),
                                                 ("opportunities", "opp-old", ["title=Pairing", "owner=p-own", "location=office", "status=open"]),
                                                 ("objectives", "obj-old", ["title=Ship", "owner=p-own", "ownerKind=person"]),
                                                 ("objectives", "obj-kindless", ["title=Ship", "owner=p-own"]),
                                                 ("objectives", "obj-gone", ["title=Ship", "owner=p-gone", "ownerKind=person", "visibility=public",
                                                                             "status=published", "quarter=2026-Q4"]),
                                                 ("opportunities", "opp-crossed", ["title=Pairing", "owner=p-own", "location=remote",
                                                                                   "startDate=2026-03-01", "endDate=2026-02-01"]),
                                                 ("opportunities", "opp-both", ["title=Pairing", "owner=p-own", "location=office",
                                                                                "startDate=2026-03-01", "endDate=2026-02-01"]),
                                                 ("observations", "obs-old", ["person=p-own", "author=p-own", "body=Seen"])] {
                XCTAssertEqual(try ChorusProcess.run(["put", collection, record] + fields + ["--as", "p-own", "--data", data]).status, 0)
            }
        }
        defer { node.stop() }
        let port = node.port
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-old", as: "p-own", body: #"{"status":"closed"}"#).status, 200,
                       "an office opportunity from before offices were asked for")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-old", as: "p-own", body: #"{"startDate":"2026-03-01","endDate":"2026-02-01"}"#).json?["detail"],
                       "endDate 2026-02-01 is before startDate 2026-03-01", "a problem of the write's own is refused all the same")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-old", as: "p-own", body: #"{"office":"Stockholm"}"#).status, 200, "and it is mended")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-old", as: "p-own", body: #"{"office":null}"#).json?["detail"],
                       "an opportunity in an office says which office", "once mended, not broken again")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-old", as: "p-own", body: #"{"progress":40}"#).status, 200,
                       "an objective from before quarters were asked for")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-old", as: "p-own", body: #"{"quarter":"2026-Q4"}"#).status, 200)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-old", as: "p-own", body: #"{"quarter":null}"#).status, 422)
        // A write's own problem is found behind one the record already had (only the first was
        // compared, and these went through).
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-crossed", as: "p-own", body: #"{"location":"office"}"#).json?["detail"],
                       "an opportunity in an office says which office")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/observations/obs-old", as: "p-own", body: #"{"person":"p-nobody"}"#).json?["detail"],
                       "no person p-nobody")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-both", as: "p-own", body: #"{"endDate":"2026-06-01"}"#).status, 200,
                       "mending one of two problems the record had")
        // An objective with an owner and no kind is a person's: its kind does not change either.
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-kindless", as: "p-own", body: #"{"ownerKind":"team"}"#).status, 403)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-kindless", as: "p-own").json?["ownerKind"] ?? .null, .null)
        // A person's objective whose owner has no profile here (they left) is changed by no one
        // here: anyone could hide or unpublish it.
        for body in [#"{"visibility":"private"}"#, #"{"status":"draft"}"#, #"{"progress":1}"#] {
            let refused = try request(port, "PATCH", "/api/v1/objectives/obj-gone", as: "p-own", body: body)
            XCTAssertEqual(refused.status, 403, body)
            XCTAssertTrue(refused.json?["detail"]?.stringValue?.contains("is p-gone's, who has no profile here") ?? false, "\(refused.json ?? .null)")
        }
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-gone", as: "p-own").json?["visibility"], "public")
    }

    func test_openAPIDocument_coversEveryRoute() throws {
        let url = URL(fileURLWithPath: ProtocolVectors.directory).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Docs/reference/openapi.json")
        let document = try JSONParser(bytesMax: 8 << 20).parse(Array(try Data(contentsOf: url)))
        let paths = try XCTUnwrap(document["paths"]?.objectValue)
        var documented = Set<String>()
        for (path, item) in paths { for method in item.objectValue?.keys ?? [:].keys { documented.insert("\(method.uppercased()) \(path)") } }
        let served = Set(NodeRouter.routes.map { "\($0.method) \($0.path)" } + PeopleAPI.routes.map { "\($0.method) \($0.path)" })
        XCTAssertEqual(documented, served, "Docs/reference/openapi.json and the routers must list the same routes")
    }

    func test_identityVisibilityAndWrites_overHTTP() throws {
        let node = try officeNode { data in
            XCTAssertEqual(try ChorusProcess.run(["seed", "--people", "40", "--offices", "2", "--seed", "2", "--data", data]).status, 0)
            XCTAssertEqual(try ChorusProcess.run(["put", "people", "p-2", "manager=p-3", "--as", "p-3", "--data", data]).status, 0)
        }
        defer { node.stop() }
        let port = node.port

        XCTAssertEqual(try request(port, "GET", "/api/v1/me", as: "p-1").json?["person"], "p-1", "the trusted proxy's header names the person")
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback", body: #"{"to":"p-2","body":"Hi"}"#).status, 401, "no identity, no write")
        let people = try request(port, "GET", "/api/v1/people?limit=5")
        XCTAssertEqual(people.json?["people"]?.arrayValue?.count, 5)
        XCTAssertNotNil(people.json?["next"]?.stringValue, "paginated")
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-1").status, 200)
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/nobody").status, 404)

        // One item per visibility level from p-1 to p-2 (whose manager is p-3); p-4 is a colleague.
        let readers: [String: Set<String>] = ["public": ["p-1", "p-2", "p-3", "p-4"], "private": ["p-1", "p-2"],
                                              "privateAndManager": ["p-1", "p-2", "p-3"], "managerOnly": ["p-1", "p-3"]]
        var ids: [String: String] = [:]
        for visibility in readers.keys.sorted() {
            let created = try request(port, "POST", "/api/v1/feedback", as: "p-1", body: #"{"to":"p-2","body":"About the demo","visibility":"\#(visibility)"}"#)
            XCTAssertEqual(created.status, 201)
            ids[visibility] = created.json?["id"]?.stringValue
        }
        for (visibility, allowed) in readers {
            for viewer in ["p-1", "p-2", "p-3", "p-4"] {
                let items = try request(port, "GET", "/api/v1/feedback?about=p-2&limit=1000", as: viewer).json?["items"]?.arrayValue ?? []
                let seen = items.contains { $0["id"]?.stringValue == ids[visibility] }
                XCTAssertEqual(seen, allowed.contains(viewer), "\(visibility) read by \(viewer)")
            }
        }
        let feed = try request(port, "GET", "/api/v1/feed?limit=1000").json?["items"]?.arrayValue ?? []
        XCTAssertTrue(feed.contains { $0["id"]?.stringValue == ids["public"] })
        XCTAssertFalse(feed.contains { $0["id"]?.stringValue == ids["private"] }, "the feed shows public items only")

        XCTAssertFalse(try request(port, "GET", "/api/v1/people/p-5/matches").json?["matches"]?.arrayValue?.isEmpty ?? true)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives?quarter=2026-Q4&limit=3").json?["objectives"]?.arrayValue?.count, 3)
        XCTAssertNotNil(try request(port, "GET", "/api/v1/insights").json?["tribes"])

        // Malformed requests get a 4xx with a message, never a 5xx.
        let bad: [(String, String, String?)] = [
            ("POST", "/api/v1/feedback", "{not json"), ("POST", "/api/v1/feedback", #"{"to":"p-2","body":"x","mood":"happy"}"#),
            ("POST", "/api/v1/feedback", #"[1,2]"#), ("POST", "/api/v1/feedback", #"{"to":"p-2","body":"x","visibility":"everyone"}"#),
            ("POST", "/api/v1/feedback", #"{"to":"nobody","body":"x"}"#), ("GET", "/api/v1/people?limit=0", nil),
            ("GET", "/api/v1/people?limit=abc", nil), ("GET", "/api/v1/people/%FF%FE", nil), ("DELETE", "/api/v1/people", nil),
            ("GET", "/api/v1/nothing", nil), ("GET", "/api/v1/people/x/matches", nil),
        ]
        for (method, target, body) in bad {
            let response = try request(port, method, target, as: "p-1", body: body)
            XCTAssertTrue((400..<500).contains(response.status), "\(method) \(target) \(body ?? ""): \(response.status)")
            XCTAssertNotNil(response.json?["detail"]?.stringValue, "a useful message")
        }
    }

    func test_identityHeader_isIgnoredFromUntrustedAddresses() throws {
        let data = folder.appending("office")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "office", "--data", data]).status, 0)
        let node = try ServeProcess(data: data, extra: ["--identity-header", "X-Person", "--trusted-proxy", "10.1.2.3"])
        defer { node.stop() }
        XCTAssertEqual(try request(node.port, "GET", "/api/v1/me", as: "p-1").json?["person"], .null, "a client cannot name itself")
    }

    /// A proxy that adds its identity header instead of replacing the client's would let the
    /// client's count: a request naming two people, in two headers or one joined by a comma, is refused.
    func test_identityHeader_namingTwoPeople_isRefused() throws {
        let node = try officeNode()
        defer { node.stop() }
        XCTAssertEqual(try request(node.port, "GET", "/api/v1/me", as: "p-1").json?["person"], "p-1")
        let twice = try request(node.port, "GET", "/api/v1/me", as: "p-1", headers: ["x-person: p-2"])
        XCTAssertEqual(twice.status, 400)
        XCTAssertTrue(twice.json?["detail"]?.stringValue?.contains("more than one person") ?? false, "\(String(describing: twice.json))")
        XCTAssertEqual(try request(node.port, "GET", "/api/v1/me", as: "p-1, p-2").status, 400)
        XCTAssertEqual(try request(node.port, "POST", "/api/v1/feedback", as: "p-1", body: #"{"to":"p-2","body":"Hi"}"#, headers: ["X-Person: p-3"]).status, 400)
    }

    /// Create, read, update and list for every editable collection, with the domain's rules.
    func test_createUpdateAndList_withValidation() throws {
        let data = folder.appending("laptop")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "laptop", "--data", data]).status, 0)
        let node = try ServeProcess(data: data, extra: ["--owner", "p-owner"])
        defer { node.stop() }
        let port = node.port
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", body: #"{"id":"p-owner","name":"Olle"}"#).status, 201)
        let created = try request(port, "POST", "/api/v1/people", body: #"{"id":"p-ada","name":"Ada","manager":"p-owner","skills":{"python3":4},"guilds":{"add":["g-web"]}}"#)
        XCTAssertEqual(created.status, 201)
        let python = try XCTUnwrap(created.json?["skills"]?.objectValue?.keys.first)
        XCTAssertEqual(created.json?["skillLabels"]?[python], "Python (computer programming)", "free text resolves to the ESCO skill on write")
        XCTAssertEqual(created.json?["skills"]?[python], 4)
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", body: #"{"id":"p-ada","name":"Again"}"#).status, 409, "ids are unique")
        let status = try request(port, "GET", "/api/v1/status").json
        XCTAssertEqual(status?["state"], "standalone")
        XCTAssertEqual(status?["waitingToPush"], 0, "nothing waits for an upstream a standalone node does not have")
        XCTAssertEqual(status?["waitingWrites"], 0)
        let patched = try request(port, "PATCH", "/api/v1/people/p-ada",
                                  body: #"{"title":"Staff Engineer","skills":{"python3":null,"sql":3.0},"guilds":{"remove":["g-web"],"add":["g-data"]}}"#)
        XCTAssertEqual(patched.status, 200)
        XCTAssertEqual(patched.json?["skills"]?.objectValue?.count, 1, "null removes a key, by label too")
        let sql = try XCTUnwrap(patched.json?["skills"]?.objectValue?.keys.first)
        XCTAssertEqual(patched.json?["skills"]?[sql], 3, "3.0 is stored as 3")
        XCTAssertEqual(patched.json?["skillLabels"]?[sql], "SQL")
        XCTAssertEqual(patched.json?["guilds"], ["g-data"])
        // Blank skills, goals and guilds (spaces, invisible characters), and emails that are not
        // one (a space before a taken one passed the duplicate check), are refused; a bad level
        // names the skill as typed, not its id.
        for (body, message) in [(#"{"skills":{"sql":7}}"#, "people.skills[sql]: must be a level"), (#"{"hoursPerWeekAvailable":200}"#, "0 to 80"),
                                (#"{"nickname":"x"}"#, "unknown field"), (#"{}"#, "nothing to change"),
                                (#"{"skills":{" ":3}}"#, "not blank"), (#"{"skills":{"​":3}}"#, "not blank"),
                                (#"{"developmentGoals":{"add":[" "]}}"#, "not blank"), (#"{"guilds":{"add":["​"]}}"#, "not blank"),
                                (#"{"email":" ada@example.com"}"#, "email address"), (#"{"email":"not-an-email"}"#, "email address"),
                                (#"{"careerSteps":{"ability-0":9}}"#, "people.careerSteps[ability-0]: must be a level")] {
            let response = try request(port, "PATCH", "/api/v1/people/p-ada", body: body)
            XCTAssertEqual(response.status, 400, body)
            XCTAssertTrue(response.json?["detail"]?.stringValue?.contains(message) ?? false, "\(body): \(response.json?["detail"] ?? .null)")
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities",
                                   body: #"{"title":"Data bet","kind":"companyBet","betRank":1,"requiredSkills":{"sql":{"minLevel":2,"mustHave":true}}}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", body: #"{"title":"Bad","betRank":11}"#).status, 400, "a top-10 rank")
        // Dates are dates: a form that is none is 400; a day its year has not, or an end before
        // the start, 422 (well formed, refused); an opportunity is filled by a person who exists.
        for (body, status) in [(#"{"title":"D","startDate":"next spring"}"#, 400), (#"{"title":"D","startDate":"2026-02-30"}"#, 400),
                               (#"{"title":"D","endDate":"0000-01-01"}"#, 400), (#"{"title":"D","startDate":"2025-02-29"}"#, 422),
                               (#"{"title":"D","startDate":"2026-03-01","endDate":"2026-02-28"}"#, 422), (#"{"title":"D","filledBy":"p-nobody"}"#, 422)] {
            XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", body: body).status, status, body)
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", body: #"{"id":"opp-dated","title":"Dated","startDate":"2028-02-29","endDate":"2028-03-01"}"#).status, 201)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-dated", body: #"{"endDate":"2028-02-01"}"#).status, 422, "before the start it has")
        // In an office says which (the card said only "in an office").
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", body: #"{"title":"Office pairing","location":"office"}"#).json?["detail"],
                       "an opportunity in an office says which office")
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", body: #"{"title":"Office pairing","location":"office","office":"Stockholm","learnableSkills":{"add":["python"]}}"#).status, 201)
        let titles = { (query: String) in try self.request(port, "GET", "/api/v1/opportunities?\(query)").json?["opportunities"]?.arrayValue?.compactMap { $0["title"]?.stringValue } ?? [] }
        XCTAssertEqual(try titles("skill=SQL"), ["Data bet"], "asks for the skill")
        XCTAssertEqual(try titles("skill=Python3"), ["Office pairing"], "teaches the skill (by a synonym)")
        XCTAssertEqual(try titles("location=office"), ["Office pairing"])
        // A custom skill (one the taxonomy lacks) is found by a run of its words, as people type a part.
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities",
                                   body: #"{"title":"Pipeline bet","requiredSkills":{"Streaming Pipeline Tuning":{"minLevel":2}},"learnableSkills":{"add":["Quantum Stew"]}}"#).status, 201)
        for query in ["skill=pipeline%20tuning", "skill=Streaming%20Pipeline", "skill=tuning", "skill=quantum"] {
            XCTAssertEqual(try titles(query), ["Pipeline bet"], query)
        }
        for query in ["skill=tuning%20pipeline", "skill=pipe", "skill=streaming%20tuning"] {
            XCTAssertEqual(try titles(query), [], "\(query): words in their order, whole")
        }
        XCTAssertEqual(try titles("kind=companyBet&location=office"), [])
        // An empty filter naming something is a 400, as an empty kind is, not an empty list that
        // looks like none matched (a day-2 review: `?skill=` listed no opportunity at all).
        for target in ["/api/v1/opportunities?skill=", "/api/v1/opportunities?kind=",
                       "/api/v1/feedback?about=", "/api/v1/objectives?owner=", "/api/v1/observations?person="] {
            let blank = try request(port, "GET", target)
            XCTAssertEqual(blank.status, 400, target)
            if !target.contains("kind") { XCTAssertEqual(blank.json?["hint"]?.stringValue?.hasPrefix("give a value, or leave"), true, "\(target): \(blank.json ?? .null)") }
        }
        // One whose end date has passed is not open, whatever its status says: not listed as
        // open, ranked for its owner as ended, and taking no interest.
        let ended = try request(port, "POST", "/api/v1/opportunities", body: #"{"title":"Old bet","startDate":"2020-01-01","endDate":"2020-01-31","requiredSkills":{"sql":{"minLevel":2}}}"#)
        XCTAssertEqual(ended.status, 201)
        let endedID = try XCTUnwrap(ended.json?["id"]?.stringValue)
        XCTAssertFalse(try titles("").contains("Old bet"), "not among the open")
        XCTAssertTrue(try titles("status=all").contains("Old bet"))
        XCTAssertEqual(try request(port, "GET", "/api/v1/opportunities/\(endedID)/matches").json?["status"], "ended")
        let late = try request(port, "POST", "/api/v1/opportunities/\(endedID)/interest", as: "p-ada")
        XCTAssertEqual(late.status, 409)
        XCTAssertEqual(late.json?["detail"], "the opportunity ended on 2020-01-31")
        // A skill field holds at most 100 skills: 100 in one request are taken, one more is not,
        // and a request that swaps one for another is.
        let hundred = (1...100).map { "\"Skill \($0)\"" }.joined(separator: ",")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"developmentGoals":{"add":[\#(hundred)]}}"#).status, 200)
        let over = try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"developmentGoals":{"add":["Skill 101"]}}"#)
        XCTAssertEqual(over.status, 400)
        XCTAssertTrue(over.json?["detail"]?.stringValue?.contains("over the 100 it may hold") ?? false, "\(over.json ?? .null)")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"developmentGoals":{"add":["Skill 101"],"remove":["Skill 1"]}}"#).status, 200)
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-ada").json?["developmentGoals"]?.arrayValue?.count, 100)
        // Over it by another way (the CLI), a rename of a skill to its ESCO name still passes, and
        // any growth does not.
        XCTAssertEqual(try ChorusProcess.run(["add", "people", "p-ada", "developmentGoals", "python", "--data", data]).status, 0)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"developmentGoals":{"add":["Python3"]}}"#).status, 200, "python becomes Python3: 101 still")
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-ada").json?["developmentGoals"]?.arrayValue?.count, 101)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"developmentGoals":{"add":["Skill 500"]}}"#).status, 400)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"developmentGoals":{"remove":["Python3"]}}"#).status, 200, "shrinking is taken")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"skills":{"Skill 102":3}}"#).status, 200, "another field has its own 100")
        XCTAssertEqual(try request(port, "POST", "/api/v1/teams", body: #"{"id":"tribe-1","name":"Tribe 1","kind":"tribe"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/teams", body: #"{"name":"Odd","kind":"club"}"#).status, 400)
        XCTAssertEqual(try request(port, "GET", "/api/v1/teams").json?["teams"]?.arrayValue?.count, 1)
        XCTAssertEqual(try request(port, "GET", "/api/v1/teams/tribe-1").json?["name"], "Tribe 1")
        // The CLI keeps the same rules: a blank element or key is refused there too.
        XCTAssertEqual(try ChorusProcess.run(["add", "people", "p-ada", "guilds", " ", "--data", data]).status, 1)
        XCTAssertEqual(try ChorusProcess.run(["map-set", "people", "p-ada", "skills", "\u{200B}=3", "--data", data]).status, 1)
        // A skill stored under a name typed at the CLI goes with the API's write of the same skill:
        // set, the level given counts; removed, it is gone.
        XCTAssertEqual(try ChorusProcess.run(["map-set", "people", "p-ada", "skills", "python=5", "--data", data]).status, 0)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"skills":{"Python3":2}}"#).status, 200)
        let labels = { try self.request(port, "GET", "/api/v1/people/p-ada").json?["skillLabels"]?.objectValue?.values.compactMap(\.stringValue) ?? [] }
        XCTAssertEqual(try labels().filter { $0.hasPrefix("Python") }, ["Python (computer programming)"], "one entry, the API's")
        XCTAssertEqual(try ChorusProcess.run(["map-set", "people", "p-ada", "skills", "python=5", "--data", data]).status, 0)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ada", body: #"{"skills":{"Python (computer programming)":null}}"#).status, 200)
        XCTAssertEqual(try labels().filter { $0.lowercased().hasPrefix("python") }, [], "both names removed")
        let log = try ChorusProcess.run(["log", "--json", "--data", data]).standardOutput
        XCTAssertTrue(log.contains("\"author\": \"p-owner\""), "every write is attributed to the laptop's owner")
    }

    /// Edits made through the API at two offices converge after sync, with the conflict visible.
    func test_apiEditsAtTwoOffices_convergeAfterSync() throws {
        for name in ["hub", "stockholm", "newyork"] {
            XCTAssertEqual(try ChorusProcess.run(["init", "--name", name, "--data", folder.appending(name)]).status, 0)
        }
        for office in ["stockholm", "newyork"] {
            XCTAssertEqual(try ChorusProcess.run(["replicas", "add", office, "--role", "relay", "--token-file", folder.appending("\(office).token"),
                                                  "--data", folder.appending("hub")]).status, 0)
        }
        let hub = try ServeProcess(data: folder.appending("hub"))
        defer { hub.stop() }
        var offices: [String: ServeProcess] = [:]
        for office in ["stockholm", "newyork"] {
            offices[office] = try ServeProcess(data: folder.appending(office), extra: [
                "--upstream", hub.url, "--token-file", folder.appending("\(office).token"), "--sync-interval", "3600",
                "--identity-header", "X-Person", "--trusted-proxy", "127.0.0.1"])
        }
        defer { offices.values.forEach { $0.stop() } }
        func sync(_ office: String) throws {
            XCTAssertEqual(try ChorusProcess.run(["sync", "--no-verify", "--data", folder.appending(office)]).status, 0)
        }
        XCTAssertEqual(try request(offices["stockholm"]!.port, "POST", "/api/v1/people", as: "p-sto", body: #"{"id":"p-sto","name":"Stina"}"#).status, 201)
        XCTAssertEqual(try request(offices["stockholm"]!.port, "POST", "/api/v1/people", as: "p-hr", body: #"{"id":"p-ada","name":"Ada","title":"Engineer","manager":"p-sto"}"#).status, 201)
        try sync("stockholm"); try sync("newyork")
        XCTAssertEqual(try request(offices["newyork"]!.port, "GET", "/api/v1/people/p-ada").json?["name"], "Ada")
        // Concurrent edits through the API at both offices.
        XCTAssertEqual(try request(offices["stockholm"]!.port, "PATCH", "/api/v1/people/p-ada", as: "p-sto", body: #"{"title":"Staff Engineer","guilds":{"add":["g-web"]}}"#).status, 200)
        XCTAssertEqual(try request(offices["newyork"]!.port, "PATCH", "/api/v1/people/p-ada", as: "p-ada", body: #"{"title":"Tech Lead","guilds":{"add":["g-data"]}}"#).status, 200)
        for _ in 0..<2 { try sync("stockholm"); try sync("newyork") }
        let a = try request(offices["stockholm"]!.port, "GET", "/api/v1/people/p-ada").json
        let b = try request(offices["newyork"]!.port, "GET", "/api/v1/people/p-ada").json
        XCTAssertEqual(a, b, "both offices show the same profile")
        XCTAssertEqual(a?["guilds"], ["g-data", "g-web"], "both guild joins kept")
        XCTAssertEqual(a?["_meta"]?["conflicts"], ["title"], "the concurrent title edits are a conflict for admins")
        let digests = try ["hub", "stockholm", "newyork"].map { try ChorusProcess.run(["digest", "--data", folder.appending($0)]).standardOutput }
        XCTAssertEqual(Set(digests).count, 1)
        // The way to the hub is shown to people signed in, not to a caller with no identity.
        let port = offices["stockholm"]!.port
        XCTAssertEqual(try request(port, "GET", "/api/v1/status", as: "p-sto").json?["upstream"], .string(hub.url))
        let anonymous = try request(port, "GET", "/api/v1/status").json
        XCTAssertEqual(anonymous?["state"], "inSync", "the state is anyone's")
        XCTAssertEqual(anonymous?["upstream"], .null, "the hub's address is not")
        // Every answer says its type is to be taken as sent, JSON and problems alike.
        for target in ["/api/v1/status", "/api/v1/people/nobody", "/sync/v1/info", "/healthz"] {
            let client = try RawClient(port: port)
            client.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let headers = try XCTUnwrap(client.readResponse()?.headers, target)
            XCTAssertTrue(headers.lowercased().contains("x-content-type-options: nosniff"), "\(target): \(headers)")
        }
    }

    /// The recognition feed: badges shown with the items, comments and high-fives from people who
    /// may read the item, and nothing revealed about items they may not.
    func test_feedCommentsHighFivesAndInterest_overHTTP() throws {
        let node = try officeNode { data in
            XCTAssertEqual(try ChorusProcess.run(["seed", "--people", "20", "--offices", "1", "--seed", "3", "--data", data]).status, 0)
        }
        defer { node.stop() }
        let port = node.port
        let badge = try request(port, "POST", "/api/v1/badges", as: "p-1", body: #"{"id":"b-rocket","name":"Rocket","icon":"🚀"}"#)
        XCTAssertEqual(badge.status, 201)
        XCTAssertEqual(badge.json?["createdBy"], "p-1", "the creator is the person acting")
        XCTAssertEqual(badge.json?["isCustom"], true)
        let thanks = try request(port, "POST", "/api/v1/feedback", as: "p-1", body: #"{"to":"p-2","kind":"thanks","body":"Launch day!","badge":"b-rocket"}"#)
        let id = try XCTUnwrap(thanks.json?["id"]?.stringValue)
        let feed = try request(port, "GET", "/api/v1/feed?limit=5").json
        XCTAssertEqual(feed?["items"]?.arrayValue?.first?["id"]?.stringValue, id, "newest first")
        XCTAssertEqual(feed?["badges"]?["b-rocket"]?["name"], "Rocket", "the feed carries the badges its items award")

        let commented = try request(port, "POST", "/api/v1/feedback/\(id)/comments", as: "p-3", body: #"{"body":"  Well deserved  "}"#)
        XCTAssertEqual(commented.status, 201)
        XCTAssertEqual(commented.json?["comments"]?.arrayValue?.first?["value"]?["author"], "p-3")
        XCTAssertEqual(commented.json?["comments"]?.arrayValue?.first?["value"]?["body"], "Well deserved")
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback/\(id)/comments", as: "p-3", body: #"{"body":" "}"#).status, 400)
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback/\(id)/comments", body: #"{"body":"hi"}"#).status, 401)
        for person in ["p-3", "p-4"] { XCTAssertEqual(try request(port, "POST", "/api/v1/feedback/\(id)/high-fives", as: person).status, 200) }
        XCTAssertEqual(try request(port, "GET", "/api/v1/feedback/\(id)").json?["highFives"], 2)

        let secret = try request(port, "POST", "/api/v1/feedback", as: "p-1", body: #"{"to":"p-2","body":"Between us","visibility":"private"}"#)
        let secretID = try XCTUnwrap(secret.json?["id"]?.stringValue)
        XCTAssertEqual(try request(port, "GET", "/api/v1/feedback/\(secretID)", as: "p-2").status, 200, "the recipient reads it")
        for attempt in [("GET", "/api/v1/feedback/\(secretID)", nil as String?), ("POST", "/api/v1/feedback/\(secretID)/comments", #"{"body":"hi"}"#),
                        ("POST", "/api/v1/feedback/\(secretID)/high-fives", nil)] {
            let response = try request(port, attempt.0, attempt.1, as: "p-5", body: attempt.2)
            XCTAssertEqual(response.status, 404, "\(attempt.1): another person cannot even learn it exists")
        }

        let badged = try request(port, "POST", "/api/v1/feedback", as: "p-5", body: #"{"to":"p-2","body":"Work on the demo","badge":"badge-mentor"}"#)
        XCTAssertEqual(badged.status, 422, "a badge goes with praise or thanks, not with feedback (the default kind)")
        // Naming who is not here is 422, as every other write (it was 404, as if the route were missing).
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback", as: "p-5", body: #"{"to":"p-999","body":"Hi"}"#).status, 422)
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback", as: "p-5", body: #"{"to":"p-2","kind":"praise","body":"Hi","badge":"badge-nope"}"#).status, 422)

        // One's own item takes no high-five; its author withdraws it, a comment's writer the comment,
        // and nobody else either.
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback/\(id)/high-fives", as: "p-1").status, 409)
        let entry = try XCTUnwrap(try request(port, "GET", "/api/v1/feedback/\(id)").json?["comments"]?.arrayValue?.first?["entry"]?.stringValue)
        let escaped = try XCTUnwrap(entry.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        XCTAssertEqual(try request(port, "DELETE", "/api/v1/feedback/\(id)/comments/\(escaped)", as: "p-2").status, 403, "not the writer's")
        let uncommented = try request(port, "DELETE", "/api/v1/feedback/\(id)/comments/\(escaped)", as: "p-3")
        XCTAssertEqual(uncommented.status, 200)
        XCTAssertEqual(uncommented.json?["commentCount"], 0)
        let mine = try XCTUnwrap(try request(port, "POST", "/api/v1/feedback", as: "p-1", body: #"{"to":"p-2","kind":"thanks","body":"Said too soon"}"#).json?["id"]?.stringValue)
        XCTAssertEqual(try request(port, "DELETE", "/api/v1/feedback/\(mine)", as: "p-2").status, 403, "the recipient does not withdraw it")
        XCTAssertEqual(try request(port, "DELETE", "/api/v1/feedback/\(secretID)", as: "p-5").status, 404, "nor learns a private one exists")
        XCTAssertEqual(try request(port, "DELETE", "/api/v1/feedback/\(mine)").status, 401)
        XCTAssertEqual(try request(port, "DELETE", "/api/v1/feedback/\(mine)", as: "p-1").json?["withdrawn"], true)
        XCTAssertEqual(try request(port, "GET", "/api/v1/feedback/\(mine)", as: "p-1").status, 404)
        XCTAssertFalse(try request(port, "GET", "/api/v1/feed?limit=1000").json?["items"]?.arrayValue?.contains { $0["id"]?.stringValue == mine } ?? true)
        let interested = try request(port, "POST", "/api/v1/opportunities/opp-0/interest", as: "p-7")
        XCTAssertEqual(interested.status, 200)
        XCTAssertTrue(interested.json?["interested"]?.arrayValue?.contains("p-7") ?? false)
        XCTAssertFalse((try request(port, "DELETE", "/api/v1/opportunities/opp-0/interest", as: "p-7").json?["interested"]?.arrayValue ?? []).contains("p-7"))
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities/nope/interest", as: "p-7").status, 404)
        // The last interest withdrawn, the count says 0 (the fields once went with it).
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", as: "p-9", body: #"{"id":"opp-fresh","title":"Fresh"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities/opp-fresh/interest", as: "p-7").json?["interestedCount"]?.integerValue, 1)
        // The owner sees who is interested; their own interest is refused, and nothing is written.
        let own = try request(port, "POST", "/api/v1/opportunities/opp-fresh/interest", as: "p-9")
        XCTAssertEqual(own.status, 409)
        XCTAssertEqual(own.json?["detail"], "you posted this opportunity")
        XCTAssertEqual(try request(port, "GET", "/api/v1/opportunities/opp-fresh", as: "p-9").json?["interested"], ["p-7"])
        let withdrawn = try request(port, "DELETE", "/api/v1/opportunities/opp-fresh/interest", as: "p-7").json
        XCTAssertEqual(withdrawn?["interestedCount"]?.integerValue, 0, "\(withdrawn ?? .null)")
        XCTAssertEqual(withdrawn?["interested"], .array([]))
        // Who is interested is the owner's to read: anyone else reads only themselves, and the count.
        for person in ["p-7", "p-8"] { XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities/opp-0/interest", as: person).status, 200) }
        let owner = try XCTUnwrap(try request(port, "GET", "/api/v1/opportunities/opp-0").json?["owner"]?.stringValue)
        XCTAssertEqual(try request(port, "GET", "/api/v1/opportunities/opp-0", as: owner).json?["interested"], ["p-7", "p-8"])
        for (viewer, seen) in [("p-7", ["p-7"]), (nil, [])] as [(String?, [JSONValue])] {
            let read = try request(port, "GET", "/api/v1/opportunities/opp-0", as: viewer).json
            XCTAssertEqual(read?["interested"], .array(seen), "\(viewer ?? "signed out")")
            XCTAssertEqual(read?["interestedCount"], 2)
            let listed = try request(port, "GET", "/api/v1/opportunities?limit=1000", as: viewer).json?["opportunities"]?.arrayValue?.first { $0["id"] == "opp-0" }
            XCTAssertEqual(listed?["interested"], .array(seen), "the list too")
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities/opp-0/interest", as: "p-9").json?["interested"], ["p-9"], "the answer too")
        let matches = try request(port, "GET", "/api/v1/people/p-10/matches?limit=1000", as: "p-10").json?["matches"]?.arrayValue ?? []
        let details = try XCTUnwrap(matches.first { $0["opportunity"] == "opp-0" }?["details"])
        XCTAssertEqual(details["interested"], .array([]), "a match's details too")
        XCTAssertEqual(details["interestedCount"], 3)
        // Nor is anyone without a profile here heard: their words would stand from no one.
        for (method, target, body) in [("POST", "/api/v1/feedback/\(id)/comments", #"{"body":"hi"}"#), ("POST", "/api/v1/feedback/\(id)/high-fives", nil as String?),
                                       ("POST", "/api/v1/opportunities/opp-0/interest", nil), ("POST", "/api/v1/opportunities", #"{"title":"Ghost"}"#),
                                       ("POST", "/api/v1/feedback", #"{"to":"p-2","kind":"thanks","body":"hi"}"#)] {
            let ghost = try request(port, method, target, as: "p-ghost", body: body)
            XCTAssertEqual(ghost.status, 403, target)
            XCTAssertTrue(ghost.json?["detail"]?.stringValue?.contains("no one here has the person id p-ghost") ?? false, "\(ghost.json ?? .null)")
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-new", body: #"{"id":"p-new","name":"New Hire"}"#).status, 201, "a profile is made by anyone")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-new", as: "p-ghost", body: #"{"title":"Boss"}"#).status, 403, "and changed only by someone with one")
        // Feedback and comments take the same text rules as every other text.
        for body in [#"{"to":"p-2","body":"   "}"#, #"{"to":"p-2","body":"hi \u001b[2J"}"#, #"{"to":"p-2","body":"x\u202ey"}"#] {
            XCTAssertEqual(try request(port, "POST", "/api/v1/feedback", as: "p-1", body: body).status, 400, body)
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback/\(id)/comments", as: "p-3", body: #"{"body":"\u200b"}"#).status, 400)

        // A built-in badge (made with no creator) stays everyone's: nobody becomes its creator.
        let builtIn = try XCTUnwrap(try request(port, "GET", "/api/v1/badges?limit=1000").json?["badges"]?.arrayValue?.first { $0["createdBy"] == nil }?["id"]?.stringValue)
        let takeover = try request(port, "PATCH", "/api/v1/badges/\(builtIn)", as: "p-9", body: #"{"createdBy":"p-9","name":"Mine"}"#)
        XCTAssertEqual(takeover.status, 403, "\(takeover.json ?? .null)")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/badges/\(builtIn)", as: "p-4", body: #"{"icon":"⭐"}"#).status, 200, "still anyone's to edit")

        // Who reads a team's objective is its members' to say; its other fields stay open.
        let squad = try XCTUnwrap(try request(port, "GET", "/api/v1/people/p-1").json?["squad"]?.stringValue)
        let outsider = try XCTUnwrap((2..<20).map { "p-\($0)" }.first { try! request(port, "GET", "/api/v1/people/\($0)").json?["squad"]?.stringValue != squad })
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-1",
                                   body: #"{"quarter":"2026-Q4","id":"obj-team","title":"Ship it","ownerKind":"team","owner":"\#(squad)","visibility":"public"}"#).status, 201)
        for body in [#"{"visibility":"private"}"#, #"{"status":"draft"}"#] {
            let hidden = try request(port, "PATCH", "/api/v1/objectives/obj-team", as: outsider, body: body)
            XCTAssertEqual(hidden.status, 403, body)
            XCTAssertTrue(hidden.json?["detail"]?.stringValue?.contains("is set by its members") ?? false, "\(hidden.json ?? .null)")
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: outsider,
                                   body: #"{"quarter":"2026-Q4","title":"Theirs","ownerKind":"team","owner":"\#(squad)","visibility":"private"}"#).status, 403)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-team", as: outsider, body: #"{"progress":40}"#).status, 200)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-team", as: outsider).status, 200, "still read by everyone")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-team", as: "p-1", body: #"{"visibility":"private"}"#).status, 200, "a member")

        // Pagination: walking the pages gives every item once, in order.
        for (path, key) in [("/api/v1/feed", "items"), ("/api/v1/objectives", "objectives"), ("/api/v1/opportunities", "opportunities"),
                            ("/api/v1/feedback", "items")] {
            let all = try request(port, "GET", "\(path)?limit=1000", as: "p-2").json?[key]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            XCTAssertGreaterThan(all.count, 2, path)
            var walked: [String] = [], offset: Int64? = 0
            while let start = offset {
                let page = try request(port, "GET", "\(path)?limit=2&offset=\(start)", as: "p-2").json
                walked += page?[key]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                offset = page?["next"]?.integerValue
            }
            XCTAssertEqual(walked, all, "\(path) pages")
        }
        XCTAssertEqual(try request(port, "GET", "/api/v1/feed?offset=-1").status, 400)
        // By cursor, a page goes on from the last item shown, whatever is given meanwhile.
        let firstPage = try request(port, "GET", "/api/v1/feed?limit=2").json
        let after = try XCTUnwrap(firstPage?["nextAfter"]?.stringValue)
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback", as: "p-3", body: #"{"to":"p-4","kind":"thanks","body":"Meanwhile"}"#).status, 201)
        let secondPage = try request(port, "GET", "/api/v1/feed?limit=2&after=\(after.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)").json
        let shown = (firstPage?["items"]?.arrayValue ?? []) + (secondPage?["items"]?.arrayValue ?? [])
        XCTAssertEqual(Set(shown.compactMap { $0["id"]?.stringValue }).count, 4, "four items, none twice")
        XCTAssertEqual(try request(port, "GET", "/api/v1/feed?after=yesterday").status, 400)
        // Every parameter is checked, even one that the request's other parameters leave unused.
        let longQuery = String(repeating: "x", count: 201)
        XCTAssertEqual(try request(port, "GET", "/api/v1/people?ids=p-1&q=\(longQuery)", as: "p-2").status, 400)
        XCTAssertEqual(try request(port, "GET", "/api/v1/people?ids=p-1&q=ada", as: "p-2").status, 200)

        // People are still ranked for a filled opportunity, for its owner's reference, and the answer says it is filled.
        let ranked = try request(port, "GET", "/api/v1/opportunities/opp-0/matches?limit=3").json
        XCTAssertEqual(ranked?["status"], "open")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-0", as: owner, body: #"{"status":"filled","filledBy":"p-7"}"#).status, 200)
        let filled = try request(port, "GET", "/api/v1/opportunities/opp-0/matches?limit=3").json
        XCTAssertEqual(filled?["status"], "filled")
        XCTAssertEqual(filled?["matches"], ranked?["matches"], "the same people, ranked the same")
    }

    /// Values a sweep as a user found accepted, each refused now with nothing written: a name
    /// cleared or blank, control characters and direction overrides in short text, a quarter of
    /// another form, two names of one skill in one edit, more ids than a page; and what it found
    /// missing from reads (search by a skill's synonym, search pages, labels in the list).
    func test_valuesThatMisleadReaders_areRefused_andReadsAreComplete() throws {
        let node = try officeNode { data in
            XCTAssertEqual(try ChorusProcess.run(["seed", "--people", "20", "--offices", "1", "--seed", "3", "--data", data]).status, 0)
        }
        defer { node.stop() }
        let port = node.port
        let before = try request(port, "GET", "/api/v1/people/p-4").json
        for body in [#"{"name":null}"#, #"{"name":""}"#, #"{"name":"   "}"#, #"{"name":"\u200b\u200c"}"#, #"{"name":"Marcus\u0000"}"#,
                     #"{"name":"Marcus\u202e"}"#, #"{"title":"line1\nline2"}"#, #"{"title":"\u001b[31mRED"}"#,
                     #"{"skills":{"python":2,"Python3":5}}"#, #"{"skills":{"Marcus\u202exyz":3}}"#, #"{"guilds":{"add":["g\u0085"]}}"#,
                     #"{"experience":{"e1":{"title":"Lead\u202e"}}}"#, #"{"name":"A\u2028B"}"#] {
            let refused = try request(port, "PATCH", "/api/v1/people/p-4", as: "p-4", body: body)
            XCTAssertEqual(refused.status, 400, "\(body): \(refused.json ?? .null)")
        }
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-4").json, before, "nothing written")
        // A page's editor removing a skill and adding it back by another of its names, in one save.
        let python = SkillTaxonomy.esco.resolve("python").id
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-4", as: "p-4", body: #"{"skills":{"\#(python)":null,"python":4}}"#).json?["skills"]?[python], 4)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-4", as: "p-4", body: #"{"guilds":{"remove":["guild-x"],"add":["guild-x"]}}"#).status, 200)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-4", as: "p-4", body: #"{"developmentGoals":{"add":["Python"],"remove":["python","python3"]}}"#).status, 200,
                       "the first mention decides, however many follow")
        XCTAssertTrue(try request(port, "GET", "/api/v1/people/p-4").json?["developmentGoals"]?.arrayValue?.contains(.string(python)) ?? false)
        XCTAssertTrue(try request(port, "GET", "/api/v1/people/p-4").json?["guilds"]?.arrayValue?.contains("guild-x") ?? false, "added back: it stays")
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-4", body: #"{"title":"q","quarter":"banana"}"#).status, 400)
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-4", body: #"{"quarter":"2026-Q4","title":"   "}"#).status, 400)
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-4",
                                   body: #"{"title":"Ship","quarter":"2026-Q4","description":"Two lines:\nfirst, then second"}"#).status, 201, "long text keeps its lines")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives?quarter=2026-Q9").status, 400)
        XCTAssertEqual(try request(port, "GET", "/api/v1/people?limit=1&limit=5").status, 400, "which limit was meant is not the node's to guess")
        XCTAssertEqual(try request(port, "GET", "/api/v1/people?q=100%zz").status, 400)
        for list in ["/api/v1/objectives?ownerKind=zzz", "/api/v1/opportunities?kind=bogus", "/api/v1/opportunities?location=moon"] {
            XCTAssertEqual(try request(port, "GET", list).status, 400, "an unknown filter value is refused, not an empty list: \(list)")
        }

        let all = (0..<101).map { "p-\($0)" }.joined(separator: ",")
        XCTAssertEqual(try request(port, "GET", "/api/v1/people?ids=\(all)").status, 400, "more than a page is refused, not cut short")
        XCTAssertEqual(try request(port, "GET", "/api/v1/people?ids=p-1,p-1,p-2").json?["people"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, ["p-1", "p-2"])
        XCTAssertTrue(try request(port, "GET", "/api/v1/people?limit=20").json?["people"]?.arrayValue?.contains { $0["skillLabels"] != nil } ?? false,
                      "the list carries skill labels, as one record does")

        // A skill's synonym finds the people who have it, and a search is read a page at a time.
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-4", as: "p-4", body: #"{"skills":{"python":3}}"#).status, 200)
        func search(_ q: String) throws -> [String] {
            let answer = try request(port, "GET", "/api/v1/people?q=\(q)&limit=1000")
            XCTAssertEqual(answer.status, 200, "\(q): \(answer.json ?? .null)")
            return answer.json?["people"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertTrue(try search("python3").contains("p-4"))
        let first = try XCTUnwrap(try request(port, "GET", "/api/v1/people/p-4").json?["name"]?.stringValue?.split(separator: " ").first)
        XCTAssertTrue(try search("\(first)%20python3").contains("p-4"), "a name and a skill's synonym")
        XCTAssertTrue(try search("python%20\(first)").contains("p-4"))
        _ = try search("agile%20coach%20data%20engineer")
        let everyone = try request(port, "GET", "/api/v1/people?q=p&limit=1000").json?["people"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        XCTAssertGreaterThan(everyone.count, 3)
        var walked: [String] = [], offset: Int64? = 0
        while let start = offset {
            let page = try request(port, "GET", "/api/v1/people?q=p&limit=3&offset=\(start)").json
            walked += page?["people"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            offset = page?["next"]?.integerValue
        }
        XCTAssertEqual(walked, everyone, "the pages of a search are the whole answer, once each")
    }

    /// Who may change what (WritePolicy): a profile by its person or manager, a posting by its
    /// owner, nobody in another's name.
    func test_writePolicy_overHTTP() throws {
        let node = try officeNode()
        defer { node.stop() }
        let port = node.port
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-max", body: #"{"id":"p-max","name":"Max"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-eve", body: #"{"id":"p-eve","name":"Eve"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-ana", body: #"{"id":"p-ana","name":"Ana","manager":"p-max"}"#).status, 201)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-ana", body: #"{"title":"Engineer"}"#).status, 200, "her own profile")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"title":"Senior Engineer"}"#).status, 200, "her manager")
        let refused = try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-eve", body: #"{"title":"Intern"}"#)
        XCTAssertEqual(refused.status, 403, "anyone else")
        XCTAssertTrue(refused.json?["detail"]?.stringValue?.contains("its person or their manager") ?? false)
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-ana").json?["title"], "Senior Engineer", "a refused write changes nothing")

        let posted = try request(port, "POST", "/api/v1/opportunities", as: "p-ana", body: #"{"id":"opp-x","title":"Pairing on search"}"#)
        XCTAssertEqual(posted.json?["owner"], "p-ana", "the poster owns it")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-x", as: "p-eve", body: #"{"title":"Mine now"}"#).status, 403)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-x", as: "p-ana", body: #"{"status":"closed"}"#).status, 200)
        func opportunityIDs(_ query: String) throws -> [String] {
            try request(port, "GET", "/api/v1/opportunities\(query)").json?["opportunities"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertFalse(try opportunityIDs("").contains("opp-x"), "open ones by default")
        XCTAssertEqual(try opportunityIDs("?status=closed"), ["opp-x"], "the status asked for")
        XCTAssertTrue(try opportunityIDs("?status=all").contains("opp-x"))
        XCTAssertEqual(try request(port, "GET", "/api/v1/opportunities?status=shut").status, 400)
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", as: "p-eve", body: #"{"title":"Fake","owner":"p-ana"}"#).status, 403,
                       "nobody posts in another's name")
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-eve", body: #"{"quarter":"2026-Q4","title":"Ana's goal","owner":"p-ana"}"#).status, 403)
        let nobody = try request(port, "POST", "/api/v1/objectives", as: "p-eve", body: #"{"quarter":"2026-Q4","title":"Nobody's goal","owner":"p-nobody"}"#)
        XCTAssertEqual(nobody.status, 422, "an owner nobody has is a reference to nothing, not someone to ask")
        XCTAssertTrue(nobody.json?["detail"]?.stringValue?.contains("no person p-nobody") ?? false, "\(nobody.json ?? .null)")
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-max", body: #"{"title":"Grow Ana","owner":"p-ana","quarter":"2026-Q4"}"#).status, 201,
                       "a manager sets a report's objective")
        XCTAssertEqual(try request(port, "POST", "/api/v1/abilities", as: "p-max", body: #"{"id":"a-1","name":"Coaches others","milestones":{"1":{"title":"Individual step"},"2":{"title":"Squad step"}}}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/observations", as: "p-max", body: #"{"person":"p-ana","ability":"a-1","milestone":2}"#).json?["author"], "p-max")

        // What a person may write about themselves has limits too.
        for (body, status, message) in [
            (#"{"manager":"p-eve"}"#, 403, "manager"), (#"{"careerSteps":{"a-1":5}}"#, 403, "manager"),
            (#"{"squad":"squad-x"}"#, 403, "squad is changed by the person's manager"), (#"{"tribe":"tribe-x"}"#, 403, "manager"),
            (#"{"chapter":"chapter-x"}"#, 403, "manager"), (#"{"guilds":{"add":["guild-x"]}}"#, 200, ""),
        ] {
            let response = try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-ana", body: body)
            XCTAssertEqual(response.status, status, "\(body): \(response.json?["detail"] ?? .null)")
            if status != 200 { XCTAssertTrue(response.json?["detail"]?.stringValue?.contains(message) ?? false, "\(body)") }
        }
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"careerSteps":{"a-1":2}}"#).status, 200, "the manager sets a milestone")
        // A squad, tribe or chapter names a team of that kind (a mistyped one dropped her from every team's size).
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"squad":"squad-x"}"#).json?["detail"], "no team squad-x to be the squad")
        XCTAssertEqual(try request(port, "POST", "/api/v1/teams", as: "p-max", body: #"{"id":"squad-x","name":"Search","kind":"squad"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/teams", as: "p-max", body: #"{"id":"tribe-x","name":"Discovery","kind":"tribe"}"#).status, 201)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"tribe":"squad-x"}"#).json?["detail"], "squad-x is a squad, not a tribe")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"squad":"squad-x","tribe":"tribe-x"}"#).json?["squad"], "squad-x", "and moves her to a squad")
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-ana").json?["squad"], "squad-x")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"careerSteps":{"a-9":2}}"#).status, 422, "an ability that exists")
        let undefined = try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"careerSteps":{"a-1":4}}"#)
        XCTAssertEqual(undefined.status, 422, "a milestone the ability defines")
        XCTAssertEqual(undefined.json?["detail"], "Coaches others has no milestone 4 (it defines 1, 2)")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"manager":"p-ana"}"#).status, 422, "nobody manages themselves")
        // Nor is anyone managed by someone who reports to them, directly or up the chain.
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-kai", body: #"{"id":"p-kai","name":"Kai","manager":"p-ana"}"#).status, 201)
        for (manager, message) in [("p-ana", "p-ana reports to p-max, so"), ("p-kai", "p-kai reports to p-max (through p-ana), so")] {
            let loop = try request(port, "PATCH", "/api/v1/people/p-max", as: "p-max", body: #"{"manager":"\#(manager)"}"#)
            XCTAssertEqual(loop.status, 422, manager)
            XCTAssertTrue(loop.json?["detail"]?.stringValue?.contains(message) ?? false, "\(loop.json ?? .null)")
        }
        XCTAssertEqual(try request(port, "GET", "/api/v1/people/p-max").json?["manager"], nil, "a refused manager changes nothing")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-max", as: "p-max", body: #"{"manager":"p-eve"}"#).status, 200, "someone outside the chain may")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-eve", as: "p-eve", body: #"{"email":"x@example.com"}"#).status, 200)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-ana", body: #"{"email":"X@example.com"}"#).status, 409, "an email is one person's")
        // A draft is its owner's and their manager's until it is published.
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-ana", body: #"{"quarter":"2026-Q4","id":"obj-draft","title":"Maybe","status":"draft"}"#).status, 201)
        func listed(_ viewer: String) throws -> [String] {
            try request(port, "GET", "/api/v1/objectives", as: viewer).json?["objectives"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertFalse(try listed("p-eve").contains("obj-draft"), "not among the published objectives")
        // One owner's list, asked by those who may read her drafts, holds them.
        func owned(by owner: String, as viewer: String?) throws -> [String] {
            try request(port, "GET", "/api/v1/objectives?owner=\(owner)", as: viewer).json?["objectives"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertTrue(try owned(by: "p-ana", as: "p-ana").contains("obj-draft"), "her own draft")
        XCTAssertTrue(try owned(by: "p-ana", as: "p-max").contains("obj-draft"), "her manager's view")
        XCTAssertFalse(try owned(by: "p-ana", as: "p-eve").contains("obj-draft"), "nobody else's")
        XCTAssertFalse(try owned(by: "p-ana", as: nil).contains("obj-draft"), "nor anyone signed out")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-draft", as: "p-eve").status, 404)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-draft", as: "p-ana").status, 200)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-draft", as: "p-max").status, 200, "her manager")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-draft", as: "p-ana", body: #"{"status":"published"}"#).status, 200)
        XCTAssertTrue(try listed("p-eve").contains("obj-draft"), "published, everyone reads it")
        let ownObjective = try request(port, "POST", "/api/v1/objectives", as: "p-eve", body: #"{"quarter":"2026-Q4","id":"obj-eve","title":"Mine"}"#)
        XCTAssertEqual(ownObjective.json?["owner"], "p-eve")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-eve", as: "p-eve", body: #"{"owner":"p-ana"}"#).status, 403, "nor hand it to someone else")
        XCTAssertEqual(try request(port, "POST", "/api/v1/badges", as: "p-eve", body: #"{"id":"badge-x","name":"X"}"#).status, 201)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/badges/badge-x", as: "p-ana", body: #"{"createdBy":"p-ana"}"#).status, 403, "no taking over")
        XCTAssertEqual(try request(port, "POST", "/api/v1/badges", as: "p-eve", body: #"{"name":"Y","isCustom":false}"#).status, 403, "isCustom is Chorus's")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/abilities/a-1", as: "p-max", body: #"{"milestones":{"6":{"title":"Beyond"}}}"#).status, 400)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/abilities/a-1", as: "p-max", body: #"{"examples":{"e1":{"milestone":7,"text":"x"}}}"#).status, 400)
        XCTAssertEqual(try request(port, "POST", "/api/v1/observations", as: "p-max", body: #"{"person":"p-nobody","ability":"a-1","milestone":2}"#).status, 422)
    }

    /// What a review found open, each closed: a number that trapped the node, a private team
    /// objective changed (and read back) by a non-member, owners forged or cleared through null,
    /// a team's objective taken over, interest registered in another's name, and writes sent by a
    /// page of another site in the person's name.
    func test_writesThatForgedOwnersLeakedPrivateRecordsOrTrapped_areRefused() throws {
        let node = try officeNode()
        defer { node.stop() }
        let port = node.port
        // Writes are made by a person with a profile: Max makes his first, then the team.
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-max", body: #"{"id":"p-max","name":"Max"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/teams", as: "p-max", body: #"{"id":"squad-a","name":"Squad A","kind":"squad"}"#).status, 201)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-max", as: "p-max", body: #"{"squad":"squad-a"}"#).status, 200)
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-eve", body: #"{"id":"p-eve","name":"Eve"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/abilities", as: "p-max", body: #"{"id":"a-1","name":"Coaches","milestones":{"1":{"title":"Step"}}}"#).status, 201)

        let huge = try request(port, "POST", "/api/v1/people", as: "p-new", body: #"{"id":"p-new","name":"New","careerSteps":{"a-1":1e300}}"#)
        XCTAssertTrue((400..<500).contains(huge.status), "a milestone of 1e300 is refused: \(huge.status)")
        XCTAssertTrue(node.isRunning, "and the node is still running")

        let team = try request(port, "POST", "/api/v1/objectives", as: "p-max",
                               body: #"{"quarter":"2026-Q4","id":"obj-team","title":"Ship","ownerKind":"team","owner":"squad-a","visibility":"private"}"#)
        XCTAssertEqual(team.status, 201, "\(team.json ?? .null)")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-team", as: "p-eve", body: #"{"visibility":"public"}"#).status, 404,
                       "a non-member can neither change nor read a private team objective")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-team", as: "p-eve").status, 404, "it stayed private")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-team", as: "p-max", body: #"{"title":"Ship it"}"#).status, 200, "a member may")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/objectives/obj-team", as: "p-max", body: #"{"ownerKind":"person","owner":"p-max"}"#).status, 403,
                       "nobody takes a team's objective over")

        let observed = try request(port, "POST", "/api/v1/observations", as: "p-max", body: #"{"id":"obs-1","person":"p-eve","ability":"a-1","milestone":1,"author":null}"#)
        XCTAssertEqual(observed.json?["author"], "p-max", "a null author is the person acting")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/observations/obs-1", as: "p-max", body: #"{"author":null}"#).status, 403, "and cannot be cleared")

        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities", as: "p-max", body: #"{"id":"opp-1","title":"Pairing"}"#).status, 201)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/opportunities/opp-1", as: "p-max", body: #"{"interested":{"add":["p-eve"]}}"#).status, 403,
                       "nobody signs another up")

        for headers in [["Sec-Fetch-Site: cross-site"], ["Origin: http://evil.example"], ["Sec-Fetch-Site: same-site"], ["Origin: null"]] {
            XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities/opp-1/interest", as: "p-eve", headers: headers).status, 403, "\(headers)")
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/opportunities/opp-1/interest", as: "p-eve", headers: ["Sec-Fetch-Site: same-origin", "Origin: http://node"]).status, 200,
                       "the node's own page writes")
        XCTAssertEqual(try request(port, "DELETE", "/api/v1/opportunities/opp-1/interest", as: "p-eve",
                                   headers: ["Sec-Fetch-Site: same-origin", "Origin: https://people.example.com"]).status, 200,
                       "and so it does behind a proxy that sends its own Host")

        // A person with a manager does not join a squad by naming it on their profile, and so
        // does not read its private objectives; the manager moves them.
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-eve", as: "p-eve", body: #"{"manager":"p-max"}"#).status, 200, "she had none, so she names him")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-eve", as: "p-eve", body: #"{"squad":"squad-a"}"#).status, 403)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-team", as: "p-eve").status, 404, "the squad's private objective stays its members'")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-eve", as: "p-eve", body: #"{"guilds":{"add":["squad-a"]}}"#).status, 200,
                       "guilds are joined freely, whatever id is named")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-team", as: "p-eve").status, 404, "but a squad's members are the people in it, not its guild joiners")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-eve", as: "p-max", body: #"{"squad":"squad-a"}"#).status, 200, "her manager moves her")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-team", as: "p-eve").status, 200, "and then she reads it")
    }

    /// A private team objective is read by the team's members as its kind says: a guild's by
    /// those who joined it, a department's by the people of its tribes, a squad's by its people.
    func test_privateTeamObjectives_areReadByTheMembersTheTeamsKindNames() throws {
        let node = try officeNode()
        defer { node.stop() }
        let port = node.port
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-max", body: #"{"id":"p-max","name":"Max"}"#).status, 201, "writes are made by a person with a profile")
        for team in [#"{"id":"dep-1","name":"Dep","kind":"department"}"#, #"{"id":"tribe-1","name":"Tribe","kind":"tribe","parent":"dep-1"}"#,
                     #"{"id":"squad-1","name":"Squad","kind":"squad","parent":"tribe-1"}"#, #"{"id":"guild-1","name":"Guild","kind":"guild"}"#] {
            XCTAssertEqual(try request(port, "POST", "/api/v1/teams", as: "p-max", body: team).status, 201, team)
        }
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-max", as: "p-max", body: #"{"tribe":"tribe-1","squad":"squad-1"}"#).status, 200)
        for person in [#"{"id":"p-sam","name":"Sam","squad":"squad-1"}"#,
                       #"{"id":"p-gil","name":"Gil","guilds":{"add":["guild-1","dep-1","squad-1"]}}"#, #"{"id":"p-out","name":"Out"}"#] {
            let id = try XCTUnwrap(try JSONParser().parse(Array(person.utf8))["id"]?.stringValue)
            XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: id, body: person).status, 201, person)
        }
        let readers: [(owner: String, kind: String, members: Set<String>)] = [
            ("squad-1", "team", ["p-max", "p-sam"]), ("tribe-1", "team", ["p-max"]), ("guild-1", "team", ["p-gil"]),
            ("dep-1", "department", ["p-max"]),
        ]
        for (owner, kind, members) in readers {
            let made = try request(port, "POST", "/api/v1/objectives", as: members.sorted()[0],
                                   body: #"{"quarter":"2026-Q4","id":"obj-\#(owner)","title":"T","ownerKind":"\#(kind)","owner":"\#(owner)","visibility":"private"}"#)
            XCTAssertEqual(made.status, 201, "\(owner): \(made.json ?? .null)")
            for viewer in ["p-max", "p-sam", "p-gil", "p-out"] {
                XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-\(owner)", as: viewer).status, members.contains(viewer) ? 200 : 404,
                               "\(owner) as \(viewer)")
            }
        }
        let turned = try request(port, "PATCH", "/api/v1/teams/squad-1", as: "p-gil", body: #"{"kind":"guild"}"#)
        XCTAssertEqual(turned.status, 403, "a squad is not turned into a guild its joiners read: \(turned.json ?? .null)")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-squad-1", as: "p-gil").status, 404)
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/teams/squad-1", as: "p-gil", body: #"{"name":"Squad One"}"#).status, 200, "the rest stays open")

        // Someone who left (their profile deleted) is no team's member; a deleted guild, no one's.
        let data = folder.appending("office")
        XCTAssertEqual(try ChorusProcess.run(["delete", "people", "p-sam", "--data", data]).status, 0)
        XCTAssertEqual(try ChorusProcess.run(["delete", "teams", "guild-1", "--data", data]).status, 0)
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-squad-1", as: "p-sam").status, 404, "p-sam left")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-squad-1", as: "p-max").status, 200, "p-max did not")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-guild-1", as: "p-gil").status, 404, "the guild is gone")
    }

    /// p-ana, her manager p-max and a colleague p-eve; an ability; p-ana's private objective
    /// `obj-private`, and p-eve's private observation of her, `obs-private`.
    func privateRecordsOfAna(_ port: UInt16) throws {
        for (id, manager) in [("p-max", nil), ("p-ana", "p-max"), ("p-eve", nil)] as [(String, String?)] {
            let body = manager.map { #"{"id":"\#(id)","name":"\#(id)","manager":"\#($0)"}"# } ?? #"{"id":"\#(id)","name":"\#(id)"}"#
            XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: id, body: body).status, 201)
        }
        XCTAssertEqual(try request(port, "POST", "/api/v1/abilities", as: "p-max", body: #"{"id":"a-1","name":"Coaches others"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", as: "p-ana", body: #"{"quarter":"2026-Q4","id":"obj-private","title":"Quietly","visibility":"private"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/observations", as: "p-eve",
                                   body: #"{"id":"obs-private","person":"p-ana","ability":"a-1","milestone":2,"visibility":"private"}"#).status, 201)
    }

    /// Private objectives and observations reach only those allowed, through every route.
    func test_privateObjectivesAndObservations_areServedOnlyToThoseAllowed() throws {
        let node = try officeNode()
        defer { node.stop() }
        let port = node.port
        try privateRecordsOfAna(port)
        let readers: [(String, Set<String>)] = [("/api/v1/objectives/obj-private", ["p-ana", "p-max"]), ("/api/v1/observations/obs-private", ["p-ana", "p-max", "p-eve"])]
        for (path, allowed) in readers {
            for viewer in ["p-ana", "p-max", "p-eve", "p-nobody", nil] as [String?] {
                let may = viewer.map(allowed.contains) ?? false
                XCTAssertEqual(try request(port, "GET", path, as: viewer).status, may ? 200 : 404, "\(path) as \(viewer ?? "nobody")")
            }
        }
        let listed = try request(port, "GET", "/api/v1/observations", as: "p-nobody").json?["observations"]?.arrayValue ?? []
        XCTAssertTrue(listed.isEmpty, "lists leave out what the viewer may not read")
        XCTAssertEqual(try request(port, "GET", "/api/v1/observations", as: "p-max").json?["observations"]?.arrayValue?.count, 1)
        // Pages are cut after the unreadable are left out: the cursor never names one of them.
        XCTAssertEqual(try request(port, "POST", "/api/v1/observations", as: "p-eve",
                                   body: #"{"id":"obs-public","person":"p-ana","ability":"a-1","milestone":3}"#).status, 201)
        let page = try request(port, "GET", "/api/v1/observations?limit=1", as: "p-nobody").json
        XCTAssertEqual(page?["observations"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, ["obs-public"], "the readable one, though an unreadable one sorts first")
        XCTAssertEqual(page?["next"], .null, "nothing readable follows")
        let first = try request(port, "GET", "/api/v1/observations?limit=1", as: "p-max").json
        XCTAssertEqual(first?["next"]?.stringValue, first?["observations"]?.arrayValue?.last?["id"]?.stringValue, "the cursor is the last record returned")
        // One person's observations, as a profile lists them: by person, and only the readable.
        func about(_ person: String, as viewer: String?) throws -> [String] {
            try request(port, "GET", "/api/v1/observations?person=\(person)", as: viewer).json?["observations"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertEqual(try about("p-ana", as: "p-max"), ["obs-private", "obs-public"])
        XCTAssertEqual(try about("p-ana", as: "p-nobody"), ["obs-public"])
        XCTAssertEqual(try about("p-max", as: "p-max"), [], "none is about p-max")
        // Evidence is given by others: one of oneself would count toward the framework's health.
        let own = try request(port, "POST", "/api/v1/observations", as: "p-ana", body: #"{"person":"p-ana","ability":"a-1","milestone":3}"#)
        XCTAssertEqual(own.status, 422)
        XCTAssertEqual(own.json?["detail"], "an observation is of someone else; ask a colleague or your manager to record what they saw")
        XCTAssertEqual(try about("p-ana", as: "p-ana").count, 2, "nothing written")
        let paged = try request(port, "GET", "/api/v1/observations?person=p-ana&limit=1", as: "p-max").json
        XCTAssertEqual(paged?["next"], "obs-private")
        XCTAssertEqual(try request(port, "GET", "/api/v1/observations?person=p-ana&after=obs-private", as: "p-max").json?["observations"]?.arrayValue?.count, 1)
    }

    /// A manager who left (their profile deleted) is nobody's manager: they no longer read their
    /// former reports' private objectives, observations and manager-only feedback, and a report
    /// sets their own manager again, where both were refused ("ask the manager", who was gone).
    func test_aManagerWhoLeft_readsNoPrivateRecordOfTheirReports_andTheReportsMoveOn() throws {
        let data = folder.appending("office")
        let node = try officeNode()
        defer { node.stop() }
        let port = node.port
        try privateRecordsOfAna(port)
        let feedback = try request(port, "POST", "/api/v1/feedback", as: "p-eve", body: #"{"to":"p-ana","body":"For the manager","visibility":"managerOnly"}"#)
        let reads = ["/api/v1/objectives/obj-private", "/api/v1/observations/obs-private", "/api/v1/feedback/\(feedback.json?["id"]?.stringValue ?? "")"]
        for path in reads { XCTAssertEqual(try request(port, "GET", path, as: "p-max").status, 200, "the manager reads \(path)") }
        XCTAssertEqual(try ChorusProcess.run(["delete", "people", "p-max", "--data", data]).status, 0)
        for path in reads { XCTAssertEqual(try request(port, "GET", path, as: "p-max").status, 404, "gone, no longer reads \(path)") }
        let about = try request(port, "GET", "/api/v1/feedback?about=p-ana", as: "p-max").json?["items"]?.arrayValue ?? []
        XCTAssertTrue(about.isEmpty, "nor in lists")
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-ana", body: #"{"manager":"p-eve"}"#).status, 200,
                       "with no manager here, the person sets their own")
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-private", as: "p-eve").status, 200, "the new manager reads it")
    }

    /// What others write for a person's manager is read by the manager it was written for, and
    /// those after: a manager named later (here handed over; or named by the person, whose manager
    /// left) reads none of what came before. The same manager written again changes nothing.
    func test_aNewManager_readsWhatWasWrittenForTheManager_sinceTheyBecameIt() throws {
        let node = try officeNode()
        defer { node.stop() }
        let port = node.port
        try privateRecordsOfAna(port)
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", as: "p-zed", body: #"{"id":"p-zed","name":"Zed"}"#).status, 201)
        let before = try XCTUnwrap(try request(port, "POST", "/api/v1/feedback", as: "p-eve", body: #"{"to":"p-ana","body":"For Max","visibility":"managerOnly"}"#)
            .json?["id"]?.stringValue)
        usleep(20_000)   // wall times of milliseconds: the hand-over comes after
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"manager":"p-max","title":"Engineer"}"#).status, 200,
                       "a roster sent whole, the manager unchanged")
        for path in ["/api/v1/feedback/\(before)", "/api/v1/observations/obs-private"] {
            XCTAssertEqual(try request(port, "GET", path, as: "p-max").status, 200, "the same manager still reads \(path)")
        }
        XCTAssertEqual(try request(port, "PATCH", "/api/v1/people/p-ana", as: "p-max", body: #"{"manager":"p-zed"}"#).status, 200)
        usleep(20_000)
        let after = try XCTUnwrap(try request(port, "POST", "/api/v1/feedback", as: "p-eve", body: #"{"to":"p-ana","body":"For Zed","visibility":"managerOnly"}"#)
            .json?["id"]?.stringValue)
        for path in ["/api/v1/feedback/\(before)", "/api/v1/observations/obs-private"] {
            XCTAssertEqual(try request(port, "GET", path, as: "p-zed").status, 404, "written before p-zed was the manager: \(path)")
        }
        XCTAssertEqual(try request(port, "GET", "/api/v1/feedback/\(after)", as: "p-zed").status, 200)
        let listed = try request(port, "GET", "/api/v1/feedback?about=p-ana", as: "p-zed").json?["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        XCTAssertEqual(listed, [after])
        let observations = try request(port, "GET", "/api/v1/observations?person=p-ana", as: "p-zed").json?["observations"]?.arrayValue ?? []
        XCTAssertTrue(observations.isEmpty, "nor in lists")
    }

    /// A laptop's node acts for its owner only when the browser reaches it by a loopback name, or
    /// one given with `--owner-host`: a page of another site whose name was pointed at 127.0.0.1
    /// (DNS rebinding) is same-origin to the browser, and read and wrote in the owner's name.
    func test_theOwnersIdentity_isOnlyForTheNamesTheOwnerReachesTheNodeBy() throws {
        let data = folder.appending("laptop")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "laptop", "--data", data]).status, 0)
        let node = try ServeProcess(data: data, extra: ["--owner", "p-owner", "--owner-host", "laptop.lan"])
        defer { node.stop() }
        let port = node.port
        XCTAssertEqual(try request(port, "POST", "/api/v1/people", body: #"{"id":"p-owner","name":"Olle"}"#).status, 201)
        XCTAssertEqual(try request(port, "POST", "/api/v1/objectives", body: #"{"quarter":"2026-Q4","id":"obj-mine","title":"Quietly","visibility":"private"}"#).status, 201)
        let rebound = ["Sec-Fetch-Site: same-origin", "Origin: http://rebind.evil.example:\(port)"]
        let read = try request(port, "GET", "/api/v1/objectives/obj-mine", headers: rebound, host: "rebind.evil.example:\(port)")
        XCTAssertEqual(read.status, 403, "a private objective is not read in the owner's name")
        XCTAssertTrue(read.json?["hint"]?.stringValue?.contains("--owner-host") ?? false, "\(read.json ?? .null)")
        XCTAssertEqual(try request(port, "POST", "/api/v1/feedback", body: #"{"to":"p-owner","body":"From a rebound page"}"#,
                                   headers: rebound, host: "rebind.evil.example:\(port)").status, 403, "nor written")
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST", "localhost.:\(port)", "[::1]:\(port)", "laptop.lan:\(port)", "laptop.lan.", "127.1.2.3"] {
            XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-mine", host: host).status, 200, host)
        }
        for host in ["127.+0.+0.+1", "127.0.0.1.evil.example", "evil.localhost.example", "localhost:\(port)@evil.example", "[::1]evil.example", "[::1]:80x"] {
            XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-mine", host: host).status, 403, host)
        }
        XCTAssertEqual(try request(port, "GET", "/api/v1/objectives/obj-mine", headers: ["Host: evil.example"], host: "localhost").status, 400, "two Host headers")
        let hostless = try RawClient(port: port)
        hostless.send("GET /api/v1/objectives/obj-mine HTTP/1.0\r\n\r\n")
        XCTAssertEqual(hostless.readResponse()?.status, 403, "an HTTP/1.0 request naming no host is not known to be the owner's")
        for usage in [["--owner-host", "laptop.lan"], ["--owner", "p-owner", "--owner-host", "http://laptop.lan"], ["--owner", "p-owner", "--owner-host", "a,,b"]] {
            XCTAssertEqual(try ChorusProcess.run(["serve", "--data", data] + usage).status, 2, "\(usage)")
        }
    }

    /// The page's files: served from the node with an ETag, a strict policy, and nothing else.
    func test_webPage_isServedWithItsPolicy() throws {
        let data = folder.appending("node")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "node", "--data", data]).status, 0)
        let node = try ServeProcess(data: data)
        defer { node.stop() }
        func get(_ target: String, method: String = "GET", headers: String = "") throws -> (status: Int, headers: String, body: String) {
            let client = try RawClient(port: node.port)
            client.send("\(method) \(target) HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\(headers)\r\n")
            return try XCTUnwrap(client.readResponse())
        }
        let page = try get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers.contains("Content-Type: text/html"))
        XCTAssertTrue(page.headers.contains("Content-Security-Policy: default-src 'self'"), "nothing from elsewhere")
        XCTAssertTrue(page.body.contains("<script type=\"module\" src=\"/ui/app.js\">"))
        let script = try get("/ui/app.js")
        XCTAssertEqual(script.status, 200)
        XCTAssertTrue(script.headers.contains("Content-Type: text/javascript"))
        let etag = try XCTUnwrap(script.headers.split(separator: "\r\n").first { $0.hasPrefix("ETag:") }?.dropFirst(6))
        XCTAssertEqual(try get("/ui/app.js", headers: "If-None-Match: \(etag)\r\n").status, 304, "revalidation")
        XCTAssertEqual(try get("/ui/../Package.swift").status, 404)
        XCTAssertEqual(try get("/ui/nothing.js").status, 404)
        XCTAssertEqual(try get("/", method: "DELETE").status, 405)
        for file in ["app.css", "dom.js", "api.js", "shell.js", "people.js", "recognition.js", "objectives.js", "market.js", "insights.js", "charts.js", "admin.js", "icon.svg"] {
            XCTAssertEqual(try get("/ui/\(file)").status, 200, file)
        }
    }
}
