import XCTest
import Foundation
import ChorusCore
import ChorusTesting

/// The `chorus` command line, end to end, as a child process on real folders.
final class CLITests: XCTestCase {
    var folder: TemporaryDirectory!
    var data: String { folder.appending("replica") }

    override func setUpWithError() throws {
        folder = try TemporaryDirectory(prefix: "chorus-cli")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: ChorusProcess.executable), "build chorus first: \(ChorusProcess.executable)")
    }

    override func tearDown() { folder.remove() }

    @discardableResult
    func chorus(_ arguments: String..., data: String? = nil, environment: [String: String] = [:], expect status: Int32 = 0,
                file: StaticString = #filePath, line: UInt = #line) throws -> ChorusProcess.Result {
        let result = try ChorusProcess.run(arguments + ["--data", data ?? self.data], environment: environment)
        XCTAssertEqual(result.status, status, "chorus \(arguments.joined(separator: " ")): \(result.standardError)", file: file, line: line)
        return result
    }

    func test_everyCommand_hasHelp_andUsageErrorsExitWith2() throws {
        let overview = try ChorusProcess.run(["--help"])
        XCTAssertEqual(overview.status, 0)
        let names = overview.standardOutput.split(separator: "\n").filter { $0.hasPrefix("  ") }.map { String($0.split(separator: " ")[0]) }
        XCTAssertGreaterThanOrEqual(names.count, 20)
        for name in names {
            let help = try ChorusProcess.run([name, "--help"])
            XCTAssertEqual(help.status, 0, name)
            XCTAssertTrue(help.standardOutput.contains("usage: chorus \(name)"), name)
        }
        XCTAssertEqual(try ChorusProcess.run(["frobnicate"]).status, 2)
        let missing = try ChorusProcess.run(["put", "people"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.standardError.contains("usage: chorus put"))
        XCTAssertEqual(try ChorusProcess.run(["get", "people", "p1", "--bogus"]).status, 2)
        // An option that would be ignored is refused: with --remote the node records the admin token's name.
        let resolveAs = try ChorusProcess.run(["resolve", "--conflict", "c-1", "--restore", "--as", "ada", "--remote", "http://127.0.0.1:9", "--token-file", "t"])
        XCTAssertEqual(resolveAs.status, 2)
        XCTAssertTrue(resolveAs.standardError.contains("--as is not taken with --remote"), resolveAs.standardError)
        // A node's flags that would silently disable a feature are usage errors before it starts.
        for (flags, message, status) in [(["--trusted-proxy", "notanip"], "takes IPv4 addresses", Int32(2)), (["--trusted-proxy", "10.0.0.5,"], "takes IPv4 addresses", 2),
                                         (["--owner", ""], "--owner must be a person id", 2), (["--upstream", "http://127.0.0.1:9"], "--upstream needs --token-file", 2),
                                         (["--token-file", "t"], "--token-file needs --upstream", 2),
                                         (["--identity-header", "Host"], "--identity-header must be a header name", 2),
                                         (["--identity-header", "Bad Header"], "--identity-header must be a header name", 2),
                                         (["--identity-header", "X-Person", "--owner", "p-1"], "are one or the other", 2),
                                         (["--upstream", "http://127.0.0.1:9", "--token-file", folder.appending("no-such.token")], "no-such.token", 1)] {
            let refused = try ChorusProcess.run(["serve", "--listen", "127.0.0.1:0", "--data", folder.appending("never")] + flags)
            XCTAssertEqual(refused.status, status, "\(flags)")
            XCTAssertTrue(refused.standardError.contains(message), refused.standardError)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("never")), "refused before any replica is made")
        }
        // A host it cannot listen on, with an upstream: refused before the replica is made or
        // the upstream stored (it once made both, then failed to listen).
        try String(repeating: "ab", count: 32).write(toFile: folder.appending("t.token"), atomically: true, encoding: .utf8)
        for listen in ["[::1]:7420", "example.com:7420", "10.0.0.300:7420"] {
            let refused = try ChorusProcess.run(["serve", "--listen", listen, "--data", folder.appending("never"),
                                                 "--upstream", "http://127.0.0.1:9", "--token-file", folder.appending("t.token")])
            XCTAssertEqual(refused.status, 2, listen)
            XCTAssertTrue(refused.standardError.contains("--listen's host must be an IPv4 address or localhost"), refused.standardError)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("never")), "refused before any replica is made")
        }
    }

    func test_uninitialisedFolder_failsWithAHint() throws {
        let result = try chorus("status", expect: 1)
        XCTAssertTrue(result.standardError.contains("hint: run `chorus init"), result.standardError)
    }

    func test_writeReadAndJSONShapes() throws {
        try chorus("init", "--name", "stockholm")
        try chorus("put", "people", "p-1", "name=Ada Lovelace", "title=Engineer", "hoursPerWeekAvailable=4", "openToMentoring=true")
        try chorus("map-set", "people", "p-1", "skills", "swift=4")
        try chorus("add", "people", "p-1", "guilds", "web")
        try chorus("incr", "feedback", "f-1", "highFives", "3")
        try chorus("append", "feedback", "f-1", "comments", #"{"author":"p-2","body":"Thanks!"}"#)
        let get = try JSONParser().parse(try chorus("get", "people", "p-1", "--json").standardOutput)
        XCTAssertEqual(get["id"], "p-1")
        XCTAssertEqual(get["name"], "Ada Lovelace")
        XCTAssertEqual(get["hoursPerWeekAvailable"], 4)
        XCTAssertEqual(get["openToMentoring"], true)
        XCTAssertEqual(get["skills"], ["swift": 4])
        XCTAssertEqual(get["guilds"], ["web"])
        let feedback = try JSONParser().parse(try chorus("get", "feedback", "f-1", "--json").standardOutput)
        XCTAssertEqual(feedback["highFives"], 3)
        XCTAssertEqual(feedback["comments"]?.arrayValue?.first?["value"]?["body"], "Thanks!")

        let schema = try JSONParser().parse(try ChorusProcess.run(["schema", "--json"]).standardOutput)
        let people = try XCTUnwrap(schema["collections"]?.arrayValue?.first)
        XCTAssertEqual(people["name"], "people")
        XCTAssertEqual(people["deletePolicy"], "deleteWins")
        XCTAssertTrue(people["fields"]?.arrayValue?.contains { $0["name"] == "skills" && $0["kind"] == "map" } ?? false)

        let digest = try chorus("digest").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(digest.count, 64)
        XCTAssertNotNil(Hex.decode(digest), "digest prints the hex alone")
        let status = try JSONParser().parse(try chorus("status", "--json").standardOutput)
        XCTAssertEqual(status["operations"], 8)
        XCTAssertEqual(status["name"], "stockholm")
        XCTAssertEqual(try chorus("check").standardOutput, "ok\n")
    }

    /// Two replicas, no network: conflicting edits travel by bundle and show the same conflicts.
    func test_conflictsThroughBundles_listedAndResolved() throws {
        let other = folder.appending("other")
        try chorus("init", "--name", "stockholm")
        try chorus("init", "--name", "new-york", data: other)
        try chorus("put", "people", "p-1", "name=Ada")
        try chorus("export", "--output", folder.appending("1.bundle"))
        let whole = try chorus("import", folder.appending("1.bundle"), data: other)
        XCTAssertFalse(whole.standardError.contains("note:"), "a bundle from the log's start is whole: \(whole.standardError)")
        // A bundle from later in the log is said to be a part: its importer may lack the rest.
        try chorus("put", "people", "p-2", "name=Grace")
        try chorus("export", "--since", "1", "--output", folder.appending("part.bundle"))
        try chorus("init", "--name", "third", data: folder.appending("third"))
        let part = try chorus("import", folder.appending("part.bundle"), data: folder.appending("third"))
        XCTAssertTrue(part.standardError.contains("note: this bundle holds stockholm's log after sequence 1 only"), part.standardError)
        let next = try chorus("import", folder.appending("part.bundle"), data: other)
        XCTAssertFalse(next.standardError.contains("note:"), "the next part for a replica that took the one before: \(next.standardError)")
        // A part of new-york's log that edits only records stockholm holds (made there, as
        // new-york's log began with them): nothing is missing, and nothing is said.
        try chorus("map-set", "people", "p-2", "skills", "sql=2", data: other)
        let end = try JSONParser().parse(try chorus("status", "--json", data: other).standardOutput)["latestSequence"]?.integerValue ?? 0
        try chorus("export", "--since", String(end - 1), "--output", folder.appending("back.bundle"), data: other)
        let back = try chorus("import", folder.appending("back.bundle"))
        XCTAssertFalse(back.standardError.contains("note:"), "a part touching only records held here: \(back.standardError)")
        try chorus("put", "people", "p-1", "title=Lead")
        try chorus("put", "people", "p-1", "title=Staff Engineer", data: other)
        try chorus("export", "--output", folder.appending("a.bundle"))
        try chorus("export", "--output", folder.appending("b.bundle"), data: other)
        try chorus("import", folder.appending("b.bundle"))
        try chorus("import", folder.appending("a.bundle"), data: other)
        XCTAssertEqual(try chorus("digest").standardOutput, try chorus("digest", data: other).standardOutput)

        let conflictsText = try chorus("conflicts", "--json").standardOutput
        XCTAssertEqual(conflictsText, try chorus("conflicts", "--json", data: other).standardOutput, "identical conflict lists")
        let conflict = try XCTUnwrap(try JSONParser().parse(conflictsText).arrayValue?.first)
        XCTAssertEqual(conflict["collection"], "people")
        XCTAssertEqual(conflict["record"], "p-1")
        XCTAssertEqual(conflict["field"], "title")
        XCTAssertEqual(conflict["kind"], "register")
        let siblings = try XCTUnwrap(conflict["siblings"]?.arrayValue)
        XCTAssertEqual(siblings.count, 2)
        for sibling in siblings {
            for key in ["operation", "value", "replica", "timestamp"] { XCTAssertNotNil(sibling[key], key) }
        }
        let loser = try XCTUnwrap(siblings.first { $0["operation"] != conflict["displayed"] }?["operation"]?.stringValue)
        XCTAssertTrue(try chorus("conflicts").standardOutput.contains("why:"))

        // A key given for a register is refused, and nothing is written (it once wrote the value,
        // then said there was no conflict).
        let digestBefore = try chorus("digest").standardOutput
        XCTAssertTrue(try chorus("resolve", "people", "p-1", "title", "--key", "x", "--value", "y", expect: 2).standardError.contains("--key goes with a map field"))
        XCTAssertEqual(try chorus("digest").standardOutput, digestBefore)
        // The older form, naming the field, is a resolution like any other: in the history.
        XCTAssertTrue(try chorus("resolve", "people", "p-1", "title", "--keep", loser, "--as", "admin1").standardOutput.hasPrefix("resolved \(conflict["id"]?.stringValue ?? "?"): keep"))
        XCTAssertEqual(try JSONParser().parse(try chorus("conflicts", "--history", "--json").standardOutput).arrayValue?.first?["resolvedBy"], "admin1")
        // A value given to settle a conflict follows the platform's rules, as `map-set` does.
        try chorus("map-set", "people", "p-1", "skills", "rust=3")
        try chorus("map-set", "people", "p-1", "skills", "rust=4", data: other)
        try chorus("export", "--output", folder.appending("d.bundle"), data: other)
        try chorus("import", folder.appending("d.bundle"))
        let skills = try XCTUnwrap(try JSONParser().parse(try chorus("conflicts", "--json").standardOutput).arrayValue?.first { $0["field"] == "skills" }?["id"]?.stringValue)
        let refused = try chorus("resolve", "--conflict", skills, "--value", "9", expect: 1)
        XCTAssertTrue(refused.standardError.contains("level"), refused.standardError)
        try chorus("resolve", "--conflict", skills, "--value", "5")
        try chorus("export", "--output", folder.appending("c.bundle"))
        try chorus("import", folder.appending("c.bundle"), data: other)
        XCTAssertEqual(try chorus("conflicts", "--json", data: other).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), "[]")
        XCTAssertEqual(try chorus("digest").standardOutput, try chorus("digest", data: other).standardOutput)
    }

    /// A sync that fails before reaching the upstream (its token file gone) is recorded as a
    /// failed sync: status, and the page's indicator, once said all was well.
    func test_aSyncWhoseTokenFileIsGone_isRecordedAsFailed() throws {
        try chorus("init", "--name", "laptop")
        let token = folder.appending("laptop.token")
        XCTAssertTrue(FileManager.default.createFile(atPath: token, contents: Data(String(repeating: "a", count: 64).utf8)))
        try chorus("join", "http://127.0.0.1:9", "--token-file", token)
        let unreachable = try JSONParser().parse(try chorus("sync", "--json", expect: 1).standardOutput)
        XCTAssertEqual(unreachable["error"]?["code"], "unreachable", "a script tells an outage from a refusal")
        XCTAssertEqual(unreachable["error"]?["retryable"], true)
        try FileManager.default.removeItem(atPath: token)
        try chorus("sync", expect: 1)
        let status = try JSONParser().parse(try chorus("status", "--json").standardOutput)
        XCTAssertTrue(status["lastSyncError"]?.stringValue?.contains("cannot read the token file") ?? false, status.canonicalText)
        try FileManager.default.createDirectory(atPath: token, withIntermediateDirectories: false)
        XCTAssertTrue(try chorus("sync", expect: 1).standardError.contains("is a folder"))
    }

    /// A token written to a file is shown nowhere else: printed, it stayed in the terminal's scrollback.
    func test_replicasAdd_withATokenFile_doesNotPrintTheToken() throws {
        try chorus("init", "--name", "hub")
        let file = folder.appending("office.token")
        let added = try chorus("replicas", "add", "office", "--role", "relay", "--token-file", file)
        let token = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: file)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(token.count, 64)
        XCTAssertFalse(added.standardOutput.contains(token) || added.standardError.contains(token), added.standardOutput)
        XCTAssertTrue(added.standardOutput.contains("its token is in \(file)"), added.standardOutput)
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o600)
        // Nor in JSON: a script reads where it is.
        let laptopFile = folder.appending("laptop.token")
        let json = try chorus("replicas", "add", "laptop", "--token-file", laptopFile, "--json").standardOutput
        let laptopToken = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: laptopFile)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(json.contains(laptopToken), json)
        XCTAssertEqual(try JSONParser().parse(json)["tokenFile"]?.stringValue, laptopFile)
    }

    /// A value that starts with a digit but is no number is the text it reads as (a quarter).
    func test_aValueStartingWithADigit_butNoNumber_isText() throws {
        try chorus("init", "--name", "hq")
        try chorus("put", "objectives", "obj-1", "title=Ship", "quarter=2026-Q4", "progress=40")
        let record = try JSONParser().parse(try chorus("get", "objectives", "obj-1", "--json").standardOutput)
        let fields = record["fields"] ?? record
        XCTAssertEqual(fields["quarter"], "2026-Q4")
        XCTAssertEqual(fields["progress"]?.numberValue, 40, "a number stays a number")
        // The API's value rules are its editable collections'; feedback keeps its own, longer bound.
        try chorus("put", "feedback", "fb-1", "body=" + String(repeating: "x", count: 250))
        // A number too large for JSON is said to be one, not taken for a string ("got string").
        let huge = try chorus("put", "objectives", "obj-1", "progress=1e400", expect: 1)
        XCTAssertTrue(huge.standardError.contains("a number out of range"), huge.standardError)
        XCTAssertEqual(try chorus("put", "objectives", "obj-1", "title=1e400x").status, 0, "text that is no number stays text")
    }

    /// What people wrote reaches the terminal as text: an escape sequence in a name is printed
    /// visibly, never run (it could clear the screen, retitle the window, or hide what follows).
    func test_controlCharactersInValues_arePrintedVisibly_neverSentToTheTerminal() throws {
        try chorus("init", "--name", "hq")
        // A name and a feedback message are text, which the platform's rules keep free of control
        // characters (DomainRules, Feedback); values that arrive by sync or in a bundle are not
        // checked so, nor the admins' history: what reaches the terminal is escaped whatever its way in.
        for (collection, field) in [("people", "name"), ("feedback", "body")] {
            let refused = try ChorusProcess.run(["put", collection, "p-1", #"\#(field)="\u001b[2JAda""#, "--data", data])
            XCTAssertEqual(refused.status, 1, collection)
            XCTAssertTrue(refused.standardError.contains("holds U+1B, a control character"), refused.standardError)
        }
        try chorus("put", "people", "p-1", "name=Ada")
        try chorus("put", "resolutions", "p-1", #"resolvedBy="\u001b[2J\u001b]0;owned\u0007Ada\rEve\u009b""#)
        for arguments in [["get", "resolutions", "p-1"], ["log"]] {
            let output = try ChorusProcess.run(arguments + ["--data", data]).standardOutput
            XCTAssertFalse(output.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) },
                           "\(arguments): \(output.debugDescription)")
        }
        let shown = try chorus("get", "resolutions", "p-1").standardOutput
        XCTAssertTrue(shown.contains(#"\u{1b}[2J\u{1b}]0;owned\u{7}Ada\u{d}Eve\u{9b}"#), shown.debugDescription)
        let json = try chorus("get", "resolutions", "p-1", "--json").standardOutput
        XCTAssertEqual(try JSONParser().parse(json)["fields"]?["resolvedBy"]?.stringValue ?? (try JSONParser().parse(json)["resolvedBy"]?.stringValue),
                       "\u{1b}[2J\u{1b}]0;owned\u{7}Ada\rEve\u{9b}", "JSON keeps the value exactly")
    }

    /// A command writing a file of its own writes a file: a folder, a pipe or the replica's own
    /// database named as its output is refused, and nothing is written or registered. (`export
    /// --output DIR` once replaced the folder and all it held; `--token-file /dev/null` the device.)
    func test_outputPaths_thatAreNotPlainFiles_orTheReplicasOwn_areRefused() throws {
        try chorus("init", "--name", "hq")
        let kept = folder.appending("kept")
        try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: kept + "/important.txt", contents: Data("keep".utf8)))
        let pipe = folder.appending("pipe")
        XCTAssertEqual(mkfifo(pipe, 0o600), 0)
        let digest = try chorus("digest").standardOutput
        for (arguments, message) in [(["export", "--output", kept], "is a folder"), (["export", "--output", data + "/chorus.sqlite"], "one of the replica's own files"),
                                     (["replicas", "add", "a", "--token-file", pipe], "is a pipe"),
                                     (["replicas", "add", "b", "--token-file", data + "/../replica/chorus.counters"], "one of the replica's own files")] {
            let refused = try ChorusProcess.run(arguments + ["--data", data])
            XCTAssertEqual(refused.status, 2, "\(arguments)")
            XCTAssertTrue(refused.standardError.contains(message), refused.standardError)
        }
        XCTAssertEqual(try String(contentsOfFile: kept + "/important.txt", encoding: .utf8), "keep")
        XCTAssertEqual(try chorus("digest").standardOutput, digest)
        let unwritable = try ChorusProcess.run(["replicas", "add", "c", "--token-file", folder.appending("no-such-folder/token"), "--data", data])
        XCTAssertEqual(unwritable.status, 1)
        XCTAssertTrue(unwritable.standardError.contains("nothing was registered"), unwritable.standardError)
        XCTAssertTrue(try chorus("replicas", "list").standardOutput.contains("no replicas registered"), "nothing registered")
        // A plain file is written, and written over; a refused `add` leaves a token file as it was.
        try chorus("export", "--output", folder.appending("a.bundle"))
        try chorus("export", "--output", folder.appending("a.bundle"))
        try chorus("replicas", "add", "d", "--token-file", folder.appending("d.token"))
        let token = try Data(contentsOf: URL(fileURLWithPath: folder.appending("d.token")))
        XCTAssertEqual(token.count, 65)
        try chorus("replicas", "add", "d", "--token-file", folder.appending("d.token"), expect: 1)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: folder.appending("d.token"))), token, "the name was taken: the file is kept")
        // Another name's token over it: replaced whole, and neither the new file nor the old one
        // (kept beside it until the registration commits) is left behind.
        try chorus("replicas", "add", "e", "--token-file", folder.appending("d.token"))
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: folder.appending("d.token"))), token)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".new") || $0.hasSuffix(".old") }, [],
                       "no file left beside it")
        // Read through links (a secret mounted as one), and refused as what they are otherwise.
        try FileManager.default.createSymbolicLink(atPath: folder.appending("linked.token"), withDestinationPath: folder.appending("d.token"))
        try FileManager.default.createSymbolicLink(atPath: folder.appending("linked.bundle"), withDestinationPath: folder.appending("a.bundle"))
        try chorus("import", folder.appending("linked.bundle"))
        XCTAssertFalse(try chorus("join", "http://127.0.0.1:9", "--token-file", folder.appending("linked.token")).standardError.contains("warning"),
                       "loopback traffic never leaves the machine")
        // Plain http to another machine is taken, with a warning that says what crosses the network.
        let clear = try chorus("join", "http://192.0.2.1:7420", "--token-file", folder.appending("linked.token"))
        XCTAssertTrue(clear.standardError.contains("plain http to another machine") && clear.standardError.contains("https://"), clear.standardError)
        XCTAssertFalse(try chorus("join", "https://192.0.2.1", "--token-file", folder.appending("linked.token")).standardError.contains("warning"))
        try chorus("join", "http://127.0.0.1:9", "--token-file", folder.appending("linked.token"))
        XCTAssertTrue(try chorus("import", kept, expect: 1).standardError.contains("is a folder, not a bundle"))
        XCTAssertTrue(try chorus("join", "http://127.0.0.1:9", "--token-file", pipe, expect: 1).standardError.contains("not a plain file"))
    }

    /// A command's words and options are checked before anything is opened or written, and an
    /// option another subcommand takes is a usage error, not ignored: `replicas add --remote`
    /// registered the replica here and wrote its token over the admin token file.
    func test_optionsOfAnotherSubcommand_andUnknownWords_areUsageErrors_beforeAnythingChanges() throws {
        try chorus("init", "--name", "hq")
        let adminToken = folder.appending("admin.token")
        try "ADMIN-TOKEN-SECRET\n".write(toFile: adminToken, atomically: true, encoding: .utf8)
        for arguments in [["replicas", "add", "ana", "--remote", "https://hub.example.com", "--token-file", adminToken],
                          ["replicas", "list", "--remote", "https://hub.example.com", "--token-file", adminToken],
                          ["replicas", "revoke", "ana", "--remote", "https://hub.example.com", "--token-file", adminToken],
                          ["replicas", "list", "--role", "admin"], ["replicas", "health", "--person", "p-1"],
                          ["feedback", "list", "--to", "p-1"], ["feedback", "list", "--kind", "x"], ["feedback", "give", "hi", "--to", "p-1", "--about", "p-2"],
                          ["people", "show", "p-4", "p-5"], ["people", "show", "p-4", "--limit", "3"],
                          ["opportunities", "list", "--person", "p-1"], ["opportunities", "match", "--person", "p-1", "--title", "x"],
                          ["opportunities", "post", "--title", "x", "--groups", "g.csv"]] {
            let refused = try ChorusProcess.run(arguments + ["--data", data])
            XCTAssertEqual(refused.status, 2, "\(arguments): \(refused.standardError)")
        }
        XCTAssertEqual(try String(contentsOfFile: adminToken, encoding: .utf8), "ADMIN-TOKEN-SECRET\n", "the admin token file is as it was")
        XCTAssertTrue(try chorus("replicas", "list").standardOutput.contains("no replicas registered"))
        // A usage error is one with no replica too, and makes nothing.
        let nowhere = folder.appending("nowhere")
        for arguments in [["replicas", "bogus"], ["people", "bogus", "x"], ["feedback", "bogus"], ["opportunities", "bogus"]] {
            XCTAssertEqual(try ChorusProcess.run(arguments + ["--data", nowhere]).status, 2, "\(arguments)")
        }
        let typo = try ChorusProcess.run(["sync", "--set-aside-refused", "--data", nowhere])
        XCTAssertEqual(typo.status, 1)
        XCTAssertTrue(typo.standardError.contains("no replica in"), typo.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: nowhere), "no folder, no lock file made")
        // -h is help on every command; help of a command that does not exist is a usage error.
        for command in ["status", "put", "replicas"] {
            let help = try ChorusProcess.run([command, "-h"])
            XCTAssertEqual(help.status, 0, command)
            XCTAssertTrue(help.standardOutput.contains("chorus \(command)"), help.standardOutput)
        }
        XCTAssertEqual(try ChorusProcess.run(["help", "nosuch"]).status, 2)
        XCTAssertEqual(try ChorusProcess.run(["help", "version"]).status, 0)
    }

    /// A log travels in pieces, each piece's --since the last one's --until, and the pieces
    /// imported make the same replica as the whole.
    func test_export_inPieces_withUntil_importsToTheSameState() throws {
        try chorus("init", "--name", "hq")
        for index in 1...5 { try chorus("put", "people", "p-\(index)", "name=A\(index)") }
        let first = try JSONParser().parse(try chorus("export", "--until", "2", "--output", folder.appending("one.bundle"), "--json").standardOutput)
        XCTAssertEqual(first["operations"], 2)
        XCTAssertEqual(first["until"], 2)
        let second = try JSONParser().parse(try chorus("export", "--since", "2", "--output", folder.appending("two.bundle"), "--json").standardOutput)
        XCTAssertEqual(second["operations"], 3)
        let copy = folder.appending("copy")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "copy", "--data", copy]).status, 0)
        for piece in ["one.bundle", "two.bundle"] {
            XCTAssertEqual(try ChorusProcess.run(["import", folder.appending(piece), "--data", copy]).status, 0, piece)
        }
        XCTAssertEqual(try ChorusProcess.run(["digest", "--data", copy]).standardOutput, try chorus("digest").standardOutput)
        for until in ["9", "1"] {
            let refused = try chorus("export", "--since", "2", "--until", until, "--output", folder.appending("bad.bundle"), expect: 1)
            XCTAssertTrue(refused.standardError.contains("outside this export"), refused.standardError)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("bad.bundle")))
    }

    /// Two replicas that travel by bundles alone, each writing after their shared start: one
    /// compacting before it exports keeps its unexported write, which then reaches the other. It
    /// compacted it away, the next bundle left it out, and the two differed for good, unsaid.
    func test_aReplicaOfBundlesOnly_keepsWhatItHasNotExported_whenItCompacts() throws {
        let other = folder.appending("x2")
        try chorus("init", "--name", "x1")
        try chorus("put", "people", "p-1", "name=Kay", "title=Base")
        try chorus("export", "--output", folder.appending("base.bundle"))
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "x2", "--data", other]).status, 0)
        XCTAssertEqual(try ChorusProcess.run(["import", folder.appending("base.bundle"), "--data", other]).status, 0)
        try chorus("put", "people", "p-1", "title=FromX1")
        XCTAssertEqual(try ChorusProcess.run(["put", "people", "p-1", "title=FromX2", "--data", other]).status, 0)

        let held = try chorus("compact")
        XCTAssertTrue(held.standardOutput.contains("not exported yet"), held.standardOutput)
        XCTAssertTrue(held.standardOutput.contains("removed 2 operations"), "what left in the bundle goes: \(held.standardOutput)")
        let otherHeld = try JSONParser().parse(try ChorusProcess.run(["compact", "--json", "--data", other]).standardOutput)
        XCTAssertEqual(otherHeld["operationsRemoved"], 0, "an importer that never exported keeps all")
        XCTAssertEqual(otherHeld["heldBy"]?.arrayValue?.first?["unexported"], true)

        let next = try chorus("export", "--since", "2", "--output", folder.appending("x1.bundle"), "--json")
        XCTAssertEqual(try JSONParser().parse(next.standardOutput)["operations"], 1, "the write made after the first export is in the next bundle")
        XCTAssertEqual(try ChorusProcess.run(["export", "--output", folder.appending("x2.bundle"), "--data", other]).status, 0)
        XCTAssertEqual(try ChorusProcess.run(["import", folder.appending("x1.bundle"), "--data", other]).status, 0)
        try chorus("import", folder.appending("x2.bundle"))
        XCTAssertEqual(try ChorusProcess.run(["digest", "--data", other]).standardOutput, try chorus("digest").standardOutput)
        XCTAssertEqual(try JSONParser().parse(try chorus("compact", "--json").standardOutput)["heldBy"]?.arrayValue?.first?["unexported"], true,
                       "an import since is not exported yet")
    }

    /// A page of the log that ends short of it says where the next starts, and one that starts
    /// below the compaction point says the operations before it are in the state.
    func test_log_saysWhereTheNextPageStarts_andWhatCompactionRemoved() throws {
        try chorus("init", "--name", "hq")
        for index in 1...3 { try chorus("put", "people", "p-\(index)", "name=A\(index)") }
        let page = try chorus("log", "--limit", "2")
        XCTAssertTrue(page.standardError.contains("more: --since 2"), page.standardError)
        XCTAssertFalse(try chorus("log", "--limit", "3").standardError.contains("more:"), "the last page says no more")
        try chorus("compact")
        let compacted = try chorus("log")
        XCTAssertTrue(compacted.standardError.contains("compacted through sequence 3"), compacted.standardError)
        XCTAssertEqual(try chorus("log", "--json").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), "[]", "JSON alone on stdout")
    }

    /// Given twice, an option or a field is a usage error: which was meant is not the command's
    /// to guess (the last one silently counted).
    func test_anOptionOrAFieldGivenTwice_isAUsageError() throws {
        try chorus("init", "--name", "hq")
        let digest = try chorus("digest").standardOutput
        XCTAssertTrue(try chorus("log", "--limit", "5", "--limit", "7", expect: 2).standardError.contains("--limit is given twice"))
        XCTAssertTrue(try chorus("status", "--json", "--json", expect: 2).standardError.contains("--json is given twice"))
        XCTAssertTrue(try chorus("put", "people", "p-1", "name=a", "name=b", expect: 2).standardError.contains("name is given twice"))
        XCTAssertTrue(try chorus("serve", "--listen", ":0", expect: 2).standardError.contains("--listen must be HOST:PORT"))
        XCTAssertEqual(try chorus("digest").standardOutput, digest)
        let long = try ChorusProcess.run(["serve", "--name", String(repeating: "n", count: 65), "--data", folder.appending("unmade")])
        XCTAssertEqual(long.status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("unmade")), "a refused name makes no folder")
    }

    /// An option that takes a value, followed by another of the command's options, is a usage
    /// error naming both: `status --data --json` read a folder named `--json`, and its hint said
    /// to run `chorus init --data --json`. A value that starts with `--` is given with `=`.
    func test_anOptionFollowedByAnotherOption_isAUsageError_namingTheValueItNeeds() throws {
        let status = try ChorusProcess.run(["status", "--data", "--json"])
        XCTAssertEqual(status.status, 2, status.standardError)
        XCTAssertTrue(status.standardError.contains("--data needs a value (DIR) before --json"), status.standardError)
        XCTAssertFalse(status.standardError.contains("init --data --json"), status.standardError)
        let seed = try ChorusProcess.run(["seed", "--people", "--data", data])
        XCTAssertEqual(seed.status, 2, seed.standardError)
        XCTAssertTrue(seed.standardError.contains("--people needs a value"), seed.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "--json"), "no folder made")
        try chorus("init", "--name=--json")
        XCTAssertTrue(try chorus("status").standardOutput.contains("--json"), "a value that starts with -- is given with =")
        try chorus("put", "people", "p-1", "title=--json")
        XCTAssertTrue(try chorus("get", "people", "p-1").standardOutput.contains("--json"), "a field's value, not an option, is taken as given")
        XCTAssertTrue(try chorus("compact", "--through", "-1", expect: 2).standardError.contains("--through must be a log sequence number"),
                      "a negative number is a value, refused by its own check")
    }

    /// A replica folder whose files this user may not write (made by `sudo chorus init`, then
    /// served as a service user) is refused by `serve`, which once came up, answered ready, and
    /// failed every write with SQL in a 500; and by a write, which printed the SQL. Both say whose
    /// the file is and what to do. Run as another user through `setpriv`, so as root only.
    func test_aFolderThisUserCannotWrite_isRefused_sayingWhoseItIs() throws {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("needs root and setpriv, to run chorus as another user")
        }
        try chorus("init", "--name", "hq")
        try chorus("put", "people", "p-1", "name=Ada")
        let digest = try chorus("digest").standardOutput
        // Another user may enter the folders and write the replica's folder, not its files.
        chmod(folder.path, 0o755)
        chmod(data, 0o777)
        for name in try FileManager.default.contentsOfDirectory(atPath: data) { chmod(data + "/" + name, 0o644) }
        let nobody: UInt32 = 65534
        let served = try ChorusProcess.run(asUser: nobody, ["serve", "--listen", "127.0.0.1:0", "--data", data])
        XCTAssertEqual(served.status, 1, served.standardError)
        XCTAssertFalse(served.standardOutput.contains("listening"), "never listened")
        let put = try ChorusProcess.run(asUser: nobody, ["put", "people", "p-1", "name=Bo", "--data", data])
        XCTAssertEqual(put.status, 1, put.standardError)
        // `check` says it as an error, on standard error, as every command does, not as a finding.
        let checked = try ChorusProcess.run(asUser: nobody, ["check", "--data", data])
        XCTAssertEqual(checked.status, 1, checked.standardError)
        XCTAssertTrue(checked.standardError.hasPrefix("error: "), checked.standardError)
        XCTAssertEqual(checked.standardOutput, "")
        for result in [served, put, checked] {
            XCTAssertTrue(result.standardError.contains("is not writable by this user (it belongs to user 0, this is user 65534)"), result.standardError)
            XCTAssertTrue(result.standardError.contains("chown the folder"), result.standardError)
            XCTAssertFalse(result.standardError.contains("INSERT"), "no SQL: \(result.standardError)")
        }
        XCTAssertEqual(try chorus("digest").standardOutput, digest, "nothing written")
    }

    /// A new record's id follows the platform's rule here as over HTTP: `put` made `p/1` and
    /// `p 2`, which the API listed and could neither make nor address. (A record that exists
    /// under another id, from an older replica, is still written: only a new one is refused.)
    func test_aNewRecordsId_followsThePlatformsRule() throws {
        try chorus("init", "--name", "hq")
        let digest = try chorus("digest").standardOutput
        for id in ["p/1", "p 2", "é", String(repeating: "p", count: 129)] {
            let refused = try ChorusProcess.run(["put", "people", id, "name=Ada", "--data", data])
            XCTAssertEqual(refused.status, 1, "\(id): \(refused.standardError)")
            XCTAssertTrue(refused.standardError.contains("is not one the platform makes: an id is 1 to 128 letters, digits, '.', '_' or '-'"), refused.standardError)
            XCTAssertTrue(refused.standardError.contains("hint: give another id, such as p-"), refused.standardError)
        }
        XCTAssertEqual(try chorus("digest").standardOutput, digest, "nothing written")
        try chorus("put", "people", "p_1.a-B", "name=Ada")
        XCTAssertEqual(try chorus("list", "people").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), "p_1.a-B")
    }

    /// A file given as the replica's folder is said to be one (the hint said to `init` there,
    /// which fails on a file), and `get` of an unknown collection names the collections, as
    /// `list` does (it said "no record nosuch/x").
    func test_aFileGivenAsTheFolder_andAnUnknownCollection_areSaidToBeSo() throws {
        let file = folder.appending("afile")
        FileManager.default.createFile(atPath: file, contents: Data("notes".utf8))
        let status = try ChorusProcess.run(["status", "--data", file])
        XCTAssertEqual(status.status, 1)
        XCTAssertTrue(status.standardError.contains("it is a file, and a replica is a folder"), status.standardError)
        XCTAssertFalse(status.standardError.contains("chorus init"), status.standardError)
        try chorus("init", "--name", "hq")
        let unknown = try chorus("get", "nosuch", "x", expect: 1)
        XCTAssertTrue(unknown.standardError.contains("unknown collection \"nosuch\""), unknown.standardError)
        XCTAssertTrue(unknown.standardError.contains("collections: people, teams"), unknown.standardError)
    }

    /// `stress COUNT` acknowledges COUNT operations, on a new folder as on one it ran on before:
    /// a second run acknowledged 133 of 200, its values already there making no operation.
    func test_stress_acknowledgesCountOperations_everyRun() throws {
        try chorus("init", "--name", "hq")
        for _ in 0..<2 {
            let acks = try chorus("stress", "300", "--records", "3").standardOutput.split(separator: "\n").filter { $0.hasPrefix("ack ") }
            XCTAssertEqual(acks.count, 300)
            XCTAssertEqual(Set(acks).count, 300, "each a new operation")
        }
    }

    /// A database with damaged pages is not served (it would take writes into a file that may
    /// lose them), and `check` says what to do about it.
    func test_aDamagedDatabase_isNotServed_andCheckSaysWhatToDo() throws {
        try chorus("init", "--name", "hq")
        try chorus("seed", "--people", "200", "--offices", "2", "--seed", "5")
        let bundle = folder.appending("all.bundle")
        try chorus("export", "--output", bundle)
        let file = try XCTUnwrap(FileHandle(forUpdatingAtPath: data + "/chorus.sqlite"))
        let size = try file.seekToEnd()
        try file.seek(toOffset: size * 2 / 5)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        file.write(Data((0..<65_536).map { _ in state = state &* 6_364_136_223_846_793_005 &+ 1; return UInt8(truncatingIfNeeded: state >> 33) }))
        try file.close()
        let served = try chorus("serve", "--listen", "127.0.0.1:0", expect: 1)
        XCTAssertTrue(served.standardError.contains("is damaged"), served.standardError)
        XCTAssertTrue(served.standardError.contains("hint: restore the folder from a backup"), served.standardError)
        XCTAssertFalse(served.standardOutput.contains("listening"), "never listened")
        // Nor is its history compacted away, or a bundle merged into it: they ran, and said nothing.
        let log = try Data(contentsOf: URL(fileURLWithPath: data + "/chorus.sqlite"))
        for arguments in [["compact"], ["import", bundle]] {
            let refused = try ChorusProcess.run(arguments + ["--data", data])
            XCTAssertEqual(refused.status, 1, "\(arguments): \(refused.standardError)")
            XCTAssertTrue(refused.standardError.contains("is damaged"), "\(arguments): \(refused.standardError)")
            XCTAssertTrue(refused.standardError.contains("hint: restore the folder from a backup"), refused.standardError)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: data + "/chorus.sqlite")), log, "nothing written")
        let checked = try chorus("check", expect: 1)
        // Where the damage lands decides whether the file opens at all (a hint of the open's) or
        // SQLite's check lists it (the damaged file's hint): either way, from a backup.
        XCTAssertTrue(checked.standardError.contains("from a backup"), checked.standardError)
    }

    /// Bad input of every kind: a clear error, non-zero exit, and the digest unchanged.
    func test_badInput_leavesTheDigestUnchanged() throws {
        try chorus("init", "--name", "hq")
        try chorus("put", "people", "p-1", "name=Ada", "title=Engineer")
        let digest = try chorus("digest").standardOutput

        let future = folder.appending("future")
        let skew = ["CHORUS_CLOCK_OFFSET_MS": "3600000"]
        try chorus("init", "--name", "fast-clock", data: future, environment: skew)
        try chorus("put", "people", "p-9", "name=Future", data: future, environment: skew)
        try chorus("export", "--output", folder.appending("future.bundle"), data: future, environment: skew)
        try chorus("export", "--output", folder.appending("good.bundle"))
        let good = try XCTUnwrap(FileManager.default.contents(atPath: folder.appending("good.bundle")))
        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appending("truncated.bundle"), contents: good.prefix(good.count - 20)))
        var tampered = Data(good)
        tampered[tampered.count / 2] ^= 0x01
        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appending("tampered.bundle"), contents: tampered))

        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appending("admin.token"), contents: Data(String(repeating: "b", count: 64).utf8)))
        let cases: [([String], String)] = [
            (["put", "people", "p-1", #"title={"unclosed""#], "not valid JSON"),
            (["put", "nonsense", "p-1", "title=x"], "unknown collection"),
            (["put", "people", "p-1", "favouriteColour=blue"], "has no field"),
            (["add", "people", "p-1", "title", "x"], "is a register"),
            (["put", "people", String(repeating: "x", count: 200), "name=x"], "an id is 1 to 128 letters"),
            (["put", "people", "p-1", "hoursPerWeekAvailable=lots"], "takes an integer value"),
            (["put", "people", "p-1", "title=12"], "a bare word is a string: quote a text that reads as a number or true/false as '\"12\"'"),
            (["import", folder.appending("truncated.bundle")], "not a complete Chorus bundle"),
            (["import", folder.appending("tampered.bundle")], "bundle"),
            (["import", folder.appending("future.bundle")], "ahead of the clock of the replica receiving it"),
            (["import", folder.appending("missing.bundle")], "cannot read"),
            (["resolve", "people", "p-1", "title", "--value", "x"], "no conflict"),
            (["export", "--since", "999999", "--output", folder.appending("past.bundle")], "past the end of this replica's log"),
            (["put", "objectives", "obj-1", "progress=500"], "objectives.progress: must be 0 to 100"),
            (["put", "objectives", "obj-1", "status=weird"], "must be one of draft, published, done, dropped"),
            (["put", "people", "p-1", "hoursPerWeekAvailable=-5"], "must be 0 to 80"),
            (["map-set", "people", "p-1", "skills", "swift=9"], "must be a level from 1 to 5"),
            (["conflicts", "--collection", "nocoll"], "unknown collection"),
            (["seed", "--people", "5"], "already holds 1 person"),
            (["conflicts", "--remote", "http://127.0.0.1:9", "--token-file", folder.appending("admin.token")], "cannot reach the node"),
            (["conflicts", "--remote", "http://127.0.0.1:70000", "--token-file", folder.appending("admin.token")], "outside 1 to 65535"),
            (["opportunities", "match", "--person", "p-1", "--opportunity", "opp-1"], "not both"),
            (["log", "--since", "99999999999999999999"], "a log sequence number from 0 to"),
        ]
        for (arguments, message) in cases {
            let result = try ChorusProcess.run(arguments + ["--data", data])
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.standardError.contains(message), "\(arguments.joined(separator: " ")): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains("error:"), arguments.joined(separator: " "))
        }
        // A clock offset no one could use is a usage error, never ignored nor written with: one
        // past the year 6429 left a replica whose log and bundles no replica could read.
        for offset in ["abc", "99999999999999999", "1.5", "-3162240000001"] {
            let result = try ChorusProcess.run(["put", "people", "p-1", "title=Skewed", "--data", data], environment: ["CHORUS_CLOCK_OFFSET_MS": offset])
            XCTAssertEqual(result.status, 2, offset)
            XCTAssertTrue(result.standardError.contains("CHORUS_CLOCK_OFFSET_MS must be a whole number of milliseconds"), result.standardError)
            let option = try ChorusProcess.run(["sync", "--clock-offset-ms", offset, "--data", data])
            XCTAssertEqual(option.status, 2, offset)
            XCTAssertTrue(option.standardError.contains("--clock-offset-ms must be a whole number"), option.standardError)
        }
        XCTAssertEqual(try chorus("digest").standardOutput, digest, "no bad input changed anything")
    }

    /// `chorus seed` and the marketplace commands, end to end: matches with explanations, and the audit.
    func test_seed_match_andAudit() throws {
        try chorus("init", "--name", "office")
        let seeded = try JSONParser().parse(try chorus("seed", "--people", "120", "--offices", "2", "--seed", "3", "--json").standardOutput)
        XCTAssertGreaterThan(seeded["records"]?.integerValue ?? 0, 120)
        let matches = try XCTUnwrap(try JSONParser().parse(try chorus("opportunities", "match", "--person", "p-5", "--top", "3", "--json").standardOutput).arrayValue)
        XCTAssertEqual(matches.count, 3)
        for match in matches {
            let score = try XCTUnwrap(match["score"]?.numberValue)
            XCTAssertTrue((0...5).contains(score))
            XCTAssertFalse(match["explanations"]?.arrayValue?.isEmpty ?? true)
        }
        XCTAssertGreaterThanOrEqual(matches[0]["score"]?.numberValue ?? 0, matches[2]["score"]?.numberValue ?? 0, "best first")
        let people = try XCTUnwrap(try JSONParser().parse(try chorus("list", "people", "--json").standardOutput).arrayValue)
        let groups = people.enumerated().map { "\($0.element["id"]!.stringValue!),\($0.offset % 2 == 0 ? "group-a" : "group-b")" }.joined(separator: "\n")
        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appending("groups.csv"), contents: Data(groups.utf8)))
        let audit = try ChorusProcess.run(["opportunities", "audit", "--groups", folder.appending("groups.csv"), "--top", "20", "--json", "--data", data])
        let report = try JSONParser().parse(audit.standardOutput)
        XCTAssertEqual(report["groups"]?.arrayValue?.count, 2)
        XCTAssertEqual(audit.status, report["passesFourFifths"] == true ? 0 : 1, "exit status follows the verdict")
        let sizes = report["groups"]?.arrayValue?.map { ($0["group"]?.stringValue ?? "", $0["members"]?.integerValue ?? 0) } ?? []
        XCTAssertEqual(report["smallGroups"]?.arrayValue?.compactMap(\.stringValue),
                       sizes.filter { $0.1 < 30 }.map(\.0), "groups under BiasAudit.groupMembersForAVerdictMin (30) people are named")
        // No verdict without two groups to compare, nor from a file read only in part.
        let firstID = try XCTUnwrap(people.first?["id"]?.stringValue)
        for (contents, message) in [("", "in 0 groups"), ("\(firstID),group-a\nnobody,group-b\n", "in 1 group"),
                                    ("\(firstID),group-a\n\(firstID) group-b\n", "line 2 is not `person-id,group`"),
                                    ("\(firstID),group-a\r\n\(firstID),group-b\r\n", "line 2 puts \(firstID) in group-b")] {
            XCTAssertTrue(FileManager.default.createFile(atPath: folder.appending("bad-groups.csv"), contents: Data(contents.utf8)))
            let refused = try ChorusProcess.run(["opportunities", "audit", "--groups", folder.appending("bad-groups.csv"), "--data", data])
            XCTAssertEqual(refused.status, 1, contents)
            XCTAssertTrue(refused.standardError.contains(message), "\(contents): \(refused.standardError)")
            XCTAssertFalse(refused.standardOutput.contains("passes"), refused.standardOutput)
        }
        // A file that is not one, or a label past a short text, is refused with what it is
        // (`--groups /dev/zero` once read until memory ran out).
        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appending("long-label.csv"),
                                                    contents: Data("\(firstID),\(String(repeating: "g", count: 201))\n".utf8)))
        for (file, message) in [("/dev/zero", "is a device, not a file"), (folder.path, "is a folder, not a file"),
                                (folder.appending("long-label.csv"), "a group over 200 characters")] {
            let refused = try ChorusProcess.run(["opportunities", "audit", "--groups", file, "--data", data])
            XCTAssertEqual(refused.status, 1, file)
            XCTAssertTrue(refused.standardError.contains(message), "\(file): \(refused.standardError)")
        }

        // Post an opportunity, then it is listed and ranks people.
        XCTAssertEqual(try ChorusProcess.run(["opportunities", "post", "--title", "No owner", "--data", data]).status, 1, "posting needs an identity")
        let posted = try JSONParser().parse(try chorus("opportunities", "post", "--title", "Search sprint", "--skills", "python:3:must, sql:2",
                                                       "--learn", "kubernetes", "--hours", "6", "--as", "p-4", "--json").standardOutput)
        let id = try XCTUnwrap(posted["id"]?.stringValue)
        XCTAssertEqual(posted["owner"], "p-4")
        XCTAssertEqual(posted["requiredSkills"]?.objectValue?.count, 2)
        XCTAssertTrue(try chorus("opportunities", "list").standardOutput.contains(id))
        XCTAssertFalse(try JSONParser().parse(try chorus("opportunities", "match", "--opportunity", id, "--json").standardOutput).arrayValue?.isEmpty ?? true)
        XCTAssertEqual(try ChorusProcess.run(["opportunities", "post", "--title", "Bad", "--skills", "python:9", "--as", "p-4", "--data", data]).status, 1)

        // Thanks in the feed, then a comment and a high-five from a colleague.
        let thanks = try JSONParser().parse(try chorus("feedback", "give", "Great launch", "--to", "p-2", "--kind", "thanks", "--as", "p-1", "--json").standardOutput)
        let thanksID = try XCTUnwrap(thanks["id"]?.stringValue)
        try chorus("feedback", "comment", thanksID, "Agreed!", "--as", "p-3")
        let item = try JSONParser().parse(try chorus("feedback", "high-five", thanksID, "--as", "p-3", "--json").standardOutput)
        XCTAssertEqual(item["highFives"], 1)
        XCTAssertEqual(item["comments"]?.arrayValue?.first?["value"]?["body"], "Agreed!")

        // An author nobody here has (a typo in --as) writes nothing, and a script asking for JSON
        // reads the failure as JSON.
        let before = try chorus("digest").standardOutput
        for command in [["thanks", "p-2", "Great launch"], ["feedback", "give", "Nice", "--to", "p-2"], ["feedback", "high-five", thanksID],
                        ["opportunities", "post", "--title", "Ghost"]] {
            let refused = try ChorusProcess.run(command + ["--as", "p-typo", "--json", "--data", data])
            XCTAssertEqual(refused.status, 1, "\(command)")
            XCTAssertTrue(refused.standardError.contains("no one here has the person id p-typo"), refused.standardError)
            let document = try JSONParser().parse(refused.standardOutput)
            XCTAssertEqual(document["error"]?["code"], "recordNotFound", refused.standardOutput)
            XCTAssertEqual(document["error"]?["exitCode"], 1)
            XCTAssertEqual(document["error"]?["retryable"], false)
            XCTAssertNotNil(document["error"]?["hint"]?.stringValue)
        }
        XCTAssertEqual(try chorus("digest").standardOutput, before)
        let usage = try ChorusProcess.run(["people", "search", "x", "--limit", "0", "--json", "--data", data])
        XCTAssertEqual(usage.status, 2)
        XCTAssertEqual(try JSONParser().parse(usage.standardOutput)["error"]?["code"], "usage")
        XCTAssertEqual(try ChorusProcess.run(["people", "search", "x", "--limit", "0", "--data", data]).standardOutput, "", "no JSON unless asked")
    }

    /// Standard output on a full disk (`chorus ... >> log` from cron): the command exits 1 and
    /// says so on standard error, its work kept. Foundation's `FileHandle.write(_: Data)` traps
    /// on a failed write (SIGILL, status 132) after the work was done.
    func test_outputThatCannotBeWritten_exits1_sayingSo_andTheWorkIsKept() throws {
        func run(_ arguments: [String]) throws -> (status: Int32, reason: Process.TerminationReason, error: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ChorusProcess.executable)
            process.arguments = arguments
            process.standardOutput = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))
            let err = Pipe()
            process.standardError = err
            try process.run()
            let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, process.terminationReason, error)
        }
        let version = try run(["--version"])
        XCTAssertEqual(version.reason, .exit, "not killed by a signal: \(version.error)")
        XCTAssertEqual(version.status, 1)
        XCTAssertTrue(version.error.contains("cannot write to standard output"), version.error)
        let initialised = try run(["init", "--name", "office", "--data", data, "--json"])
        XCTAssertEqual(initialised.reason, .exit)
        XCTAssertEqual(initialised.status, 1)
        XCTAssertEqual(try ChorusProcess.run(["status", "--data", data]).status, 0, "the replica was made all the same")

        // Standard error lost, standard output whole: what a script reads is there, exit 0.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChorusProcess.executable)
        process.arguments = ["init", "--name", "second", "--data", folder.appending("second"), "--json"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))
        try process.run()
        let document = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertNotNil(try JSONParser().parse(String(decoding: document, as: UTF8.self))["replica"], "the document is whole")
    }
}
