import ChorusCore
import ChorusReplica
import Foundation

/// What every command gets: parsed arguments, output, and how to open the replica.
struct CommandContext {
    let arguments: ParsedArguments
    let output: Output
    let spec: CommandSpec
    let environment: [String: String]

    var isJSON: Bool { arguments.flag("--json") }

    /// The replica folder: `--data`, then `$CHORUS_DATA`, then `./chorus-data`.
    var dataDirectory: String {
        arguments.value("--data") ?? environment["CHORUS_DATA"] ?? "chorus-data"
    }

    /// Replica configuration from the environment. `CHORUS_CLOCK_OFFSET_MS` shifts this process's
    /// wall clock (a test option, to model a replica with a wrong clock).
    var configuration: Replica.Configuration {
        var configuration = Replica.Configuration()
        if let text = arguments.value("--clock-offset-ms") ?? environment["CHORUS_CLOCK_OFFSET_MS"], let offset = Int64(text) {
            configuration.wallClock = SystemClock(offsetMilliseconds: offset)
        }
        return configuration
    }

    /// The largest clock offset the test option takes, either way: a century.
    static let clockOffsetMillisecondsMax: Int64 = 100 * 366 * 86_400_000

    /// Refuses a clock offset that is not a whole number of milliseconds within a century, before
    /// the command runs: ignored, it would leave a test's replica on the real clock unnoticed.
    func checkClockOffset() throws {
        let given = arguments.value("--clock-offset-ms").map { ("--clock-offset-ms", $0) }
            ?? environment["CHORUS_CLOCK_OFFSET_MS"].map { ("CHORUS_CLOCK_OFFSET_MS", $0) }
        guard let (source, text) = given else { return }
        let most = Self.clockOffsetMillisecondsMax
        guard let offset = Int64(text), offset >= -most, offset <= most else {
            throw usageError("\(source) must be a whole number of milliseconds from -\(most) to \(most) (a century), not \"\(text.prefix(40))\"")
        }
    }

    /// The name of a replica made here: `--name` as given (the replica refuses one over its
    /// limit, where it was once cut short unsaid), or this host's name, cut to fit the limit.
    var replicaName: String {
        if let given = arguments.value("--name") { return given }
        var name = ""
        for character in ProcessInfo.processInfo.hostName {
            guard name.utf8.count + character.utf8.count <= Limits.default.replicaNameBytesMax else { break }
            name.append(character)
        }
        return name.isEmpty ? "chorus" : name
    }

    func openReplica() throws -> Replica {
        let replica = try Replica.open(at: .directory(dataDirectory), configuration: configuration)
        // Said by whichever command opens the folder first: it writes the file, and the next
        // opens find it.
        if let restored = replica.counterRestoredFrom, replica.countersFileMissing {
            output.error("note: this replica has made operations (counter \(restored.stored)) but its chorus.counters file was missing: if the database was restored from a backup, some of those counters were handed out after it. It writes on from \(restored.reserved), past any of them, and takes back what offices send of its lost writes (Docs/guides/run-a-hub.md, section 5)")
        }
        return replica
    }

    /// Longest report of a damaged database printed, in lines and characters (SQLite's quick
    /// check can return one row of hundreds of lines).
    static let damageLinesMax = 5, damageCharactersMax = 2_000

    /// Throws when SQLite's quick check finds the database damaged (or cannot read it): `serve`
    /// before it takes writes, `compact` before it removes history and `import` before it merges
    /// (they once ran on a file `check` called damaged, and said nothing).
    func refuseIfDamaged(_ replica: Replica) throws {
        var damage: [String]
        do { damage = try replica.quickCheck() } catch let error as ChorusError where Replica.isDamage(error) { damage = [error.message] }
        guard !damage.isEmpty else { return }
        let lines = damage.flatMap { $0.split(separator: "\n").map(String.init) }
        var report = lines.prefix(CommandContext.damageLinesMax).joined(separator: "; ")
        if report.count > CommandContext.damageCharactersMax { report = String(report.prefix(CommandContext.damageCharactersMax)) + "..." }
        if lines.count > CommandContext.damageLinesMax { report += " (and \(lines.count - CommandContext.damageLinesMax) more lines: `chorus check` lists them)" }
        throw ChorusError(.storage, "the database in \(dataDirectory) is damaged: \(report)", hint: Replica.damagedHint)
    }

    /// The positional argument at `index`.
    func positional(_ index: Int) -> String { arguments.positional[index] }

    func usageError(_ message: String) -> UsageError { UsageError(message: message, command: spec) }

    /// Refuses, as a usage error, an option given that `subcommand` does not take: `takenBy`
    /// names the subcommands taking each option (one not in it goes with every subcommand).
    /// Checked before anything is opened: an option of another subcommand was ignored (`replicas
    /// add --remote` registered the replica here and wrote its token over the admin token file).
    func refuseOptions(notTakenBy subcommand: String, _ takenBy: [String: Set<String>]) throws {
        for (option, owners) in takenBy.sorted(by: { $0.key < $1.key })
        where !owners.contains(subcommand) && (arguments.value(option) != nil || arguments.flag(option)) {
            throw usageError("\(option) goes with " + owners.sorted().map { "`\(spec.name) \($0)`" }.joined(separator: " or ") + ", not `\(spec.name) \(subcommand)`")
        }
    }
}

/// A command: its declaration and its body. One per file under `Commands/`.
/// `SendableMetatype`: the command table is a global constant of metatypes, which Swift 6 lets
/// any thread read only when the metatypes are sendable.
protocol Command: SendableMetatype {
    static var spec: CommandSpec { get }
    /// Runs the command; returns the exit code (0 success). Throws `ChorusError` for failures and
    /// `UsageError` for usage mistakes.
    static func run(_ context: CommandContext) throws -> Int32
}

/// The `chorus` command line: parses, dispatches, maps errors to exit codes.
///
/// Exit codes: 0 success, 1 failure (with the error and a hint on stderr), 2 usage error.
public enum ChorusCommandLine {
    static let commands: [Command.Type] = [
        InitCommand.self, StatusCommand.self, SchemaCommand.self,
        PutCommand.self, AddCommand.self, RemoveCommand.self, MapSetCommand.self, MapRemoveCommand.self,
        IncrementCommand.self, AppendCommand.self, RetractCommand.self,
        DeleteCommand.self, RestoreCommand.self, EraseCommand.self,
        GetCommand.self, ListCommand.self, ConflictsCommand.self, ResolveCommand.self,
        ExportCommand.self, ImportCommand.self, DigestCommand.self, LogCommand.self, SetAsideCommand.self,
        ServeCommand.self, JoinCommand.self, SyncCommand.self, ReplicasCommand.self, DemoCommand.self,
        SeedCommand.self, PeopleCommand.self, FeedbackCommand.self, ThanksCommand.self, ObjectivesCommand.self,
        OpportunitiesCommand.self, InsightsCommand.self,
        CheckCommand.self, CompactCommand.self, StressCommand.self,
    ]

    public static let version = "0.1.0"

    static var overview: String {
        var text = """
        chorus \(version): an offline-first replica of your company's people data.

        usage: chorus COMMAND [ARGUMENTS]

        Commands that read a replica take --data DIR (default: $CHORUS_DATA or ./chorus-data);
        most take --json for output a program reads. `schema` and `demo` need no replica.

        commands:

        """
        let width = (commands.map { $0.spec.name.count }.max() ?? 10) + 2
        for command in commands {
            text += "  \(command.spec.name.padding(toLength: width, withPad: " ", startingAt: 0))\(command.spec.summary)\n"
        }
        text += "\nRun `chorus COMMAND --help` for a command's arguments. Docs: Docs/reference/cli.md\n"
        return text
    }

    /// Runs the command line and returns the process exit code: 1 when what it printed could
    /// not be written (a full disk under a redirect), whatever the command returned.
    public static func run(_ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> Int32 {
        let output = Output()
        let status = run(arguments, environment: environment, output: output)
        guard let failure = output.writeFailure else { return status }
        output.error("error: \(failure)")
        output.error("hint: whatever the command did is kept; what it printed was lost (its report, or why it failed). Free the disk or fix where the output goes, then run it again to read it")
        return status == 0 ? 1 : status
    }

    private static func run(_ arguments: [String], environment: [String: String], output: Output) -> Int32 {
        guard let name = arguments.first else {
            output.error(overview)
            return 2
        }
        if ["--help", "-h", "help"].contains(name) {
            if name == "help", arguments.count > 1 {
                // `help NAME` of a command that does not exist is a usage error, as `chorus NAME` is.
                if arguments[1] == "version" { output.print("chorus version: prints this build's version (`chorus --version` too)"); return 0 }
                guard let command = commands.first(where: { $0.spec.name == arguments[1] }) else {
                    output.error("error: unknown command \(arguments[1].prefix(40))\nhint: run `chorus --help` for the list of commands")
                    return 2
                }
                output.print(command.spec.help)
            } else {
                output.print(overview)
            }
            return 0
        }
        if name == "--version" || name == "version" {
            output.print("chorus \(version)")
            return 0
        }
        guard let command = commands.first(where: { $0.spec.name == name }) else {
            output.error("error: unknown command \(name.prefix(40))\nhint: run `chorus --help` for the list of commands")
            return 2
        }
        // A script that asked for `--json` gets its failure as JSON too, on stdout, beside the
        // words on stderr: before, it read an empty document and had to scrape stderr.
        let wantsJSON = command.spec.options.contains(where: { $0.name == "--json" }) && arguments.dropFirst().contains("--json")
        func report(_ code: String, _ message: String, hint: String?, retryable: Bool, exitCode: Int32, work: JSONValue? = nil) {
            guard wantsJSON else { return }
            var document: [String: JSONValue] = ["error": .object([
                "code": .string(code), "message": .string(message), "hint": hint.map(JSONValue.string) ?? .null,
                "retryable": .bool(retryable), "exitCode": .integer(Int64(exitCode)),
            ])]
            if let work { document["report"] = work }
            output.json(.object(document))
        }
        /// A command's failure: its words on stderr, and with `--json` its document on stdout.
        func failed(_ error: ChorusError, work: JSONValue? = nil) -> Int32 {
            output.error("error: \(error.message)")
            if let hint = error.hint { output.error("hint: \(hint)") }
            report(error.code.rawValue, error.message, hint: error.hint, retryable: error.isRetryable, exitCode: 1, work: work)
            return 1
        }
        do {
            let parsed = try ParsedArguments.parse(Array(arguments.dropFirst()), spec: command.spec)
            if parsed.wantsHelp {
                output.print(command.spec.help)
                return 0
            }
            let context = CommandContext(arguments: parsed, output: output, spec: command.spec, environment: environment)
            try context.checkClockOffset()
            return try command.run(context)
        } catch let error as UsageError {
            output.error("error: \(error.message)")
            if let spec = error.command { output.error("usage: \(spec.usage)\nhint: run `chorus \(spec.name) --help`") }
            report("usage", error.message, hint: error.command.map { "run `chorus \($0.name) --help`" }, retryable: false, exitCode: 2)
            return 2
        } catch let failure as FailureAfterWork {
            return failed(failure.error, work: failure.report)
        } catch let error as ChorusError {
            return failed(error)
        } catch {
            output.error("error: \(error)")
            report("unexpected", "\(error)", hint: nil, retryable: false, exitCode: 1)
            return 1
        }
    }
}

/// A command that failed after doing work a script should see (a sync that moved operations,
/// then found a state syncing will not mend): with `--json`, its report goes beside the error
/// (`"report"`), where a plain failure has none.
struct FailureAfterWork: Error {
    let error: ChorusError
    let report: JSONValue
}
