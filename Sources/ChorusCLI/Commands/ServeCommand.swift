import ChorusCore
import ChorusNode
import ChorusPeople
import ChorusReplica
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPServer

enum ServeCommand: Command {
    static let spec = CommandSpec("serve", "run a node: serve replicas below it and sync with an upstream in the background",
        details: """
        With no arguments, starts a standalone node on ./chorus-data (created on first run) at
        http://127.0.0.1:7420. With --upstream and --token-file it also syncs with that upstream every
        --sync-interval seconds, backing off while it is unreachable; local writes never wait for it.
        Logs one JSON line per request, and per sync that moves something, fails or finds the digests
        differ, to stdout. SIGTERM or SIGINT stop it gracefully:
        no new connections, in-flight requests finish, exit 0.

        With --compact-interval it also compacts its log every SECONDS, as `chorus compact` does: the
        operations every replica below and the upstream have committed leave the log (a hub's
        log then stops growing without end). Off by default, since `chorus export --since` bundles
        are cut from that history; a daily run is --compact-interval 86400.
        """,
        options: [.data,
                  OptionSpec(name: "--listen", valueName: "HOST:PORT", help: "address to serve on (default 127.0.0.1:7420; port 0 picks one)"),
                  OptionSpec(name: "--upstream", valueName: "URL", help: "the node to sync with, e.g. http://hub.example:7420"),
                  OptionSpec(name: "--token-file", valueName: "FILE", help: "file holding this replica's token on the upstream"),
                  OptionSpec(name: "--sync-interval", valueName: "SECONDS", help: "seconds between background syncs, 0.05 to 86400 (default 10)"),
                  OptionSpec(name: "--compact-interval", valueName: "SECONDS", help: "compact the log every SECONDS, 1 to 2592000, as `chorus compact` does (default: never)"),
                  OptionSpec(name: "--name", valueName: "NAME", help: "name for a replica created on first run (default: host name)"),
                  OptionSpec(name: "--identity-header", valueName: "NAME", help: "header a single-sign-on proxy sets to the person id (office nodes): a header name of at most 64 bytes, not Host, Authorization or another HTTP gives a meaning to"),
                  OptionSpec(name: "--trusted-proxy", valueName: "IP", help: "address of a proxy in front of the node (nginx, the single-sign-on proxy): its identity header is honoured, and the limits per client address do not bound it (default 127.0.0.1 with --identity-header; several with commas)"),
                  OptionSpec(name: "--owner", valueName: "PERSON", help: "the person acting on a laptop's people API"),
                  OptionSpec(name: "--owner-host", valueName: "NAME", help: "with --owner: a host name the owner's browser reaches the node by, beside localhost and loopback addresses (repeat with commas)"),
                  OptionSpec(name: "--clock-offset-ms", valueName: "MS", help: "test option: pretend this machine's clock is off by MS milliseconds")])

    static func run(_ context: CommandContext) throws -> Int32 {
        let (host, port) = try parseListen(context.arguments.value("--listen") ?? "127.0.0.1:7420", context)
        let interval = Double(context.arguments.value("--sync-interval") ?? "10") ?? -1
        guard interval >= 0.05, interval <= 86_400 else { throw context.usageError("--sync-interval must be 0.05 to 86400 seconds") }
        let compactInterval = try context.arguments.value("--compact-interval").map { text -> Int64 in
            guard let seconds = Int64(text), seconds >= 1, seconds <= compactIntervalSecondsMax else {
                throw context.usageError("--compact-interval must be a whole number of seconds, 1 to \(compactIntervalSecondsMax) (86400 compacts daily)")
            }
            return seconds
        }
        let proxies = try context.arguments.value("--trusted-proxy").map { try trustedProxies($0, context) }
        let owner = context.arguments.value("--owner")
        let ownerHosts = try context.arguments.value("--owner-host").map { text -> Set<String> in
            guard owner != nil else { throw context.usageError("--owner-host needs --owner") }
            // Names as a browser's `Host` gives them: no scheme or path ("http://laptop.lan" would
            // have been read as the name "http"), a port allowed and not compared.
            let given = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard given.count <= IdentityPolicy.ownerHostsMax,
                  given.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 253 && !$0.contains(where: { $0 == "/" || $0 == "@" || $0.isWhitespace }) }) else {
                throw context.usageError("--owner-host takes 1 to \(IdentityPolicy.ownerHostsMax) host names separated by commas, such as laptop.lan (no http://, no path)")
            }
            return Set(given.map(IdentityPolicy.hostName))
        }
        if let header = context.arguments.value("--identity-header") {
            // A header name (RFC 9110 token), and not one HTTP itself gives meaning to: `Host` or
            // `Authorization` named here would let any client name the person.
            let reserved: Set<String> = ["host", "authorization", "content-length", "transfer-encoding", "connection", "cookie", "content-type",
                                         "chorus-replica", "chorus-protocol", "expect", "upgrade"]
            let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
            guard !header.isEmpty, header.utf8.count <= identityHeaderBytesMax, header.allSatisfy(tokenCharacters.contains),
                  !reserved.contains(header.lowercased()) else {
                throw context.usageError("--identity-header must be a header name of 1 to \(identityHeaderBytesMax) letters, digits or -, such as X-Person, and not one HTTP gives a meaning to (Host, Authorization, Cookie, ...)")
            }
            if owner != nil { throw context.usageError("--identity-header (an office node behind a sign-on proxy) and --owner (a laptop) are one or the other") }
        }
        if let owner, owner.isEmpty || owner.utf8.count > 128 || owner.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw context.usageError("--owner must be a person id: 1 to 128 bytes of printable text")
        }
        // Everything that can be refused is, before a replica is made on first run: a usage error
        // or a token file that cannot be read once left a new folder behind.
        var upstreamGiven: (url: String, tokenFile: String)?
        if let url = context.arguments.value("--upstream") {
            guard let tokenFile = context.arguments.value("--token-file") else { throw context.usageError("--upstream needs --token-file") }
            upstreamGiven = try JoinCommand.validated(url: url, tokenFile: tokenFile, limits: .default)
            if let warning = HTTPTransport.clearTextWarning(url) { context.output.error(warning) }
        } else if context.arguments.value("--token-file") != nil {
            throw context.usageError("--token-file needs --upstream")
        }
        if context.arguments.value("--name") != nil { try Replica.checkName(context.replicaName, limits: .default) }
        // The folder's lock first: two nodes starting on a new folder each created the replica,
        // the second moving the first's unfinished database aside.
        try ServeLock.take(folder: context.dataDirectory)
        let replica = try openOrCreate(context)
        // A damaged database is not served: it would take writes into a file that may lose them,
        // and answer reads from pages that may be wrong (the crash sweep's node said "ready").
        try context.refuseIfDamaged(replica)
        if let restored = replica.counterRestoredFrom, !replica.countersFileMissing {
            context.output.error("note: this replica's database stores operation counter \(restored.stored), but it handed out counters up to \(restored.reserved) (chorus.counters): it was restored from a backup, or lost its last commits. It writes on past them; what it wrote after the backup stays only on the replicas that pulled it (Docs/guides/run-a-hub.md, section 5)")
        }
        if let owner, try !PeopleDirectory.hasProfile(replica, owner) {
            context.output.error("note: \(owner) has no profile in this replica yet: the people API refuses their writes until it arrives by sync or is created")
        }
        if let owner, let bound = try replica.upstream()?.person, owner != bound {
            context.output.error("note: this laptop is \(bound)'s (its upstream registered it for them), so the people API refuses writes as \(owner): serve it with --owner \(bound)")
        }
        if let upstreamGiven { try replica.setUpstream(url: upstreamGiven.url, tokenFile: upstreamGiven.tokenFile) }
        var configuration = Node.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.syncIntervalSeconds = interval
        configuration.compactIntervalSeconds = compactInterval.map(Double.init)
        configuration.wallClock = replica.configuration.wallClock
        configuration.identity.identityHeader = context.arguments.value("--identity-header")
        if let proxies {
            configuration.identity.trustedProxies = proxies
            configuration.proxyAddresses = proxies
        }
        configuration.identity.owner = owner
        if let ownerHosts { configuration.identity.ownerHosts = ownerHosts }
        let name = replica.name, id = replica.id.hex
        let upstream = try replica.upstream()
        let node = Node(replica: replica, configuration: configuration)
        // Before the node serves: a stop asked for as soon as it answers is heard.
        StopSignals.install()
        let bound: UInt16
        do {
            bound = try node.start()
        } catch {
            throw ChorusError(.storage, "cannot listen on \(host):\(port): \(error)",
                              hint: "is another node running there? pick another port with --listen")
        }
        configuration.log(JSONValue.object([
            "event": "listening", "url": .string("http://\(host):\(bound)"), "replica": .string(id), "name": .string(name),
            "data": .string(context.dataDirectory), "upstream": upstream.map { .string($0.url) } ?? .null,
            "compactIntervalSeconds": compactInterval.map { .integer($0) } ?? .null,
        ]).canonicalText)
        context.output.error("chorus node \(name) serving http://\(host):\(bound) (data \(context.dataDirectory))"
                             + (upstream.map { ", syncing with \($0.url)" } ?? ", standalone") + "; Ctrl-C stops it")
        // The last words go to standard error without blocking: a reader that stopped reading
        // must not keep a stopping node from exiting (its supervisor waits on the exit).
        let lastWords = LineWriter(descriptor: 2, droppedNotice: { "(\($0) lines not written)" })
        if let failure = waitForTermination(orFailureOf: node) {
            node.stop(graceSeconds: 1)
            lastWords.write("error: chorus node \(name) can no longer serve: \(failure)")
            lastWords.write("hint: this is a fault in chorus, not in its data; start it again (a supervisor restarts it on this exit status) and report it")
            return 1
        }
        switch node.stop() {
        case nil: break
        case .syncLeftRunning:
            // Said on standard output's log too ("left in progress"); its write-ahead log is
            // copied in at the next open.
            lastWords.write("note: chorus node \(name) stopped with a sync still running: what it committed is kept, in chorus.sqlite-wal until the next start; copy the folder whole until then")
        case .notCopied(let why):
            lastWords.write("warning: chorus node \(name) stopped with writes still in its write-ahead log, chorus.sqlite-wal, not copied into chorus.sqlite (\(why))")
            lastWords.write("hint: nothing is lost, and the next start copies them in; until then chorus.sqlite alone lacks them: copy the folder whole, or back it up with `sqlite3 chorus.sqlite .backup`")
        }
        lastWords.write("chorus node \(name) stopped")
        return 0
    }

    /// The addresses of `--trusted-proxy`: IPv4 addresses, comma-separated, as the server names
    /// its clients. Anything else is a usage error: taken as given, it would match no client, so
    /// the identity header would be ignored from the real proxy without a word.
    static func trustedProxies(_ text: String, _ context: CommandContext) throws -> Set<String> {
        var addresses = Set<String>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let address = part.trimmingCharacters(in: .whitespaces)
            var parsed = in_addr()
            guard inet_pton(AF_INET, address, &parsed) == 1 else {
                throw context.usageError("--trusted-proxy takes IPv4 addresses, comma-separated (e.g. 10.0.0.5,10.0.0.6): \"\(address.prefix(64))\" is not one")
            }
            addresses.insert(address)
        }
        return addresses
    }

    /// The longest --compact-interval: thirty days.
    static let compactIntervalSecondsMax: Int64 = 2_592_000
    /// Longest `--identity-header` name, in bytes.
    static let identityHeaderBytesMax = 64

    static func parseListen(_ text: String, _ context: CommandContext) throws -> (String, UInt16) {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex, let port = UInt16(text[text.index(after: colon)...]) else {
            throw context.usageError("--listen must be HOST:PORT, e.g. 127.0.0.1:7420 (0.0.0.0:7420 for every address)")
        }
        let host = String(text[..<colon])
        guard HTTPServer.canListen(on: host) else {
            throw context.usageError("--listen's host must be an IPv4 address or localhost, e.g. 127.0.0.1:7420 (0.0.0.0:7420 for every address): the node listens on IPv4 only")
        }
        return (host, port)
    }

    /// Opens the replica, creating it on first run (the README's one-command start).
    static func openOrCreate(_ context: CommandContext) throws -> Replica {
        do {
            return try context.openReplica()
        } catch let error as ChorusError where error.code == .replicaNotInitialised {
            var generator = SystemRandomNumberGenerator()
            let replica = try Replica.create(at: .directory(context.dataDirectory), name: context.replicaName,
                                             configuration: context.configuration, using: &generator)
            context.output.error("initialised replica \(replica.id.hex) (\(replica.name)) in \(context.dataDirectory)")
            return replica
        }
    }

    /// Blocks until SIGTERM or SIGINT (nil), or until the node's server can no longer serve (what
    /// failed). `StopSignals` hears the signals, installed before the node started.
    static func waitForTermination(orFailureOf node: Node) -> String? {
        final class Outcome: @unchecked Sendable {
            let lock = NSLock()
            var failure: String?
        }
        let outcome = Outcome()
        Thread.detachNewThread {
            let failure = node.waitForServerFailure()
            outcome.lock.withLock { outcome.failure = failure }
            StopSignals.wake()
        }
        StopSignals.wait()
        return outcome.lock.withLock { outcome.failure }
    }

    /// How long after the first signal a second one ends the node at once (earlier: the same request).
    static let secondSignalNanosecondsMin: UInt64 = 1_000_000_000
}

/// SIGTERM and SIGINT for `chorus serve`: the first asks the node to stop; a second, a second or
/// more after the first, ends the process at once, as a kill would (what was committed is kept):
/// an operator's second Ctrl-C did nothing before. Two within a second (a process manager
/// forwarding SIGTERM while the terminal sends the group SIGINT) are one request.
///
/// Why a handler of our own (`sigaction`) and not Dispatch's signal sources: those need the
/// signal ignored first, and Dispatch installs its handler later, on a thread of its own. A
/// SIGTERM in between was lost, and the node served on while its supervisor waited for it to
/// exit: a test's stop waited for good (seen once in a full run). `sigaction` is in place when
/// it returns, and it is installed before the node serves. The handler does only what a signal
/// handler may: reads the clock, posts a semaphore, writes to standard error, `_exit`.
enum StopSignals {
    /// Posted once per stop request, or by `wake`.
    nonisolated(unsafe) private static let semaphore: UnsafeMutablePointer<sem_t> = {
        let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        return semaphore
    }()
    /// When the first signal came (monotonic nanoseconds, 0: none yet). Read and written through
    /// a pointer: no Swift runtime call (access checks, lazy initialisation) in the handler.
    nonisolated(unsafe) private static let firstSignal: UnsafeMutablePointer<UInt64> = {
        let first = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        first.initialize(to: 0)
        return first
    }()
    private static let secondSignalWords: StaticString = "chorus: a second signal: stopping at once; what was committed is kept\n"

    /// Installs the handler for SIGTERM and SIGINT, and ignores SIGPIPE (a peer gone mid-answer).
    static func install() {
        // Initialised here, not first in the handler.
        _ = semaphore
        _ = firstSignal
        signal(SIGPIPE, SIG_IGN)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in StopSignals.heard() }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
    }

    /// In the signal handler.
    private static func heard() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec) | 1
        let first = firstSignal.pointee
        if first == 0 {
            firstSignal.pointee = nanoseconds
            sem_post(semaphore)
        } else if nanoseconds >= first &+ ServeCommand.secondSignalNanosecondsMin {
            _ = write(2, secondSignalWords.utf8Start, secondSignalWords.utf8CodeUnitCount)
            _exit(1)
        }
    }

    /// Wakes `wait` without a signal (the server failed).
    static func wake() { sem_post(semaphore) }

    /// Blocks until a stop is asked for, or `wake`.
    static func wait() {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }
}
