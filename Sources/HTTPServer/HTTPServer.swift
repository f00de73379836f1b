import Dispatch
import HTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server on POSIX sockets: event loops (`EventLoop`, one thread each) that read and
/// parse every connection and answer what the inline handler answers at once, and a Dispatch
/// queue per connection for the requests that may wait.
///
/// Timeouts, checked by each loop's sweep: the whole header within `headerTimeoutSeconds` of its
/// first byte, no body read idle for more than `bodyIdleTimeoutSeconds`, and keep-alive
/// connections idle at most `keepAliveIdleSeconds`. Requests on a connection are handled one at a
/// time, in order. Beyond `connectionsMax` connections, or `connectionsPerAddressMax` from one
/// address, new ones get 503 and are closed. `shutdown`
/// stops accepting, lets in-flight requests finish, and closes.
public final class HTTPServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port: UInt16 = 7420
        public var parser = HTTPParser.Configuration()
        /// The whole request header must arrive within this many seconds of its first byte. Default 10.
        public var headerTimeoutSeconds = 10.0
        /// A body read may stall at most this long. Default 30.
        public var bodyIdleTimeoutSeconds = 30.0
        /// A body must keep up with this rate, on average since its head, after
        /// `bodyIdleTimeoutSeconds` of grace: by T seconds after its head, at least
        /// `(T - bodyIdleTimeoutSeconds) * this` bytes of it have arrived, however steadily it
        /// trickles. Default 4 KiB/s.
        public var bodyBytesPerSecondMin = 4096.0
        /// Bytes of request bodies being received at once, over every connection, as they arrive;
        /// a body that would pass it gets 503 and the connection closes. Without it 512
        /// connections could each send most of a 16 MiB push (before any token is checked) and
        /// hold 8 GiB. Default 128 MiB.
        public var bodyBytesInFlightMax = 128 * 1024 * 1024
        /// Of those, from one client address: so a few clients trickling bodies cannot take the
        /// whole budget from everyone else. Default 32 MiB (two whole pushes at once; an office
        /// whose laptops share one address sends more one after another, or is told 503 and retries).
        public var bodyBytesPerAddressMax = 32 * 1024 * 1024
        /// A streamed response body (a sync snapshot) must be sent within this long, however
        /// steadily the client reads; the connection is closed beyond. Default 2 hours.
        public var streamedBodySecondsMax = 7200.0
        /// An idle keep-alive connection is closed after this long. Default 15.
        public var keepAliveIdleSeconds = 15.0
        /// After an error answer sent before the request was read whole (a 413 on its head, a 503
        /// for the body budget, a malformed request), the connection stops sending and reads and
        /// discards what the client still sends for at most this long, so its kernel does not
        /// reset the connection and throw the answer away before the client reads it. Default 2.
        public var lingerSeconds = 2.0
        /// The bytes discarded so, at most. Default 32 MiB.
        public var lingerBytesMax = 32 * 1024 * 1024
        /// Requests served on one connection before it is closed. Default 1,000.
        public var requestsPerConnectionMax = 1000
        /// Open connections at most; beyond, 503 and close. Default 512.
        public var connectionsMax = 512
        /// Of those, from one client address; beyond, 503 and close. So one client (a script
        /// opening connections and leaving them idle, a slowloris) cannot take every connection
        /// from everyone else. Default 256.
        public var connectionsPerAddressMax = 256
        /// Workers (threads answering requests that may wait) busy at once for one client
        /// address; its further requests wait their turn, in order, so other clients' requests
        /// find a thread. Default 16.
        public var workersPerAddressMax = 16
        /// Addresses `connectionsPerAddressMax` and `workersPerAddressMax` do not bound: a
        /// trusted proxy in front of the node carries every user's connections. Default none.
        public var unboundedAddresses: Set<String> = []
        /// Listen backlog. Default 128.
        public var backlog: Int32 = 128
        /// Event loop threads; 0 (the default) means one per online processor, at most `eventLoopsMax`.
        public var eventLoops = 0
        public init() {}
    }

    /// One served request, for the access log.
    public struct LogEntry: Sendable {
        public let method: String
        public let path: String
        public let status: Int
        public let bytes: Int
        public let milliseconds: Double
        public let remote: String
        public let annotations: [String: String]
    }

    public typealias Handler = @Sendable (HTTPRequest, _ remote: String) -> HTTPResponse
    /// Answers a request on the event loop's thread when that takes no waiting (no lock held for
    /// long, no disk, no other thread's work); nil sends it to `handler` on the connection's queue.
    /// Its response should be small: one that the socket does not take at once is finished by the
    /// loop as the socket drains, and a streamed body by the queue.
    public typealias InlineHandler = @Sendable (HTTPRequest, _ remote: String) -> HTTPResponse?

    /// The most event loop threads a server runs.
    public static let eventLoopsMax = 16

    /// Whether a server can listen on `host`: an IPv4 address, or `localhost`. Asked before a
    /// command does anything else (`chorus serve --listen`), so a host it cannot listen on is
    /// refused before a replica is made or an upstream stored.
    public static func canListen(on host: String) -> Bool { Socket.ipv4Address(host) != nil }

    public let configuration: Configuration
    let handler: Handler
    let inlineHandler: InlineHandler?
    let accessLog: @Sendable (LogEntry) -> Void
    private let lock = NSLockShim()
    private var listener: Int32 = -1
    /// Internal for tests (`@testable`).
    private(set) var loops: [EventLoop] = []
    /// Loops still watching the listener; the last to stop closes it.
    private var listeningLoops = 0
    private var connections: [ObjectIdentifier: Connection] = [:]
    /// Request body bytes received of bodies still arriving (`reserveBody`).
    private var bodyBytesInFlight = 0
    private let stopped = DispatchSemaphore(value: 0)
    private let listenerClosed = DispatchSemaphore(value: 0)
    /// Signalled when every loop has failed (`loopFailed`).
    private let failed = DispatchSemaphore(value: 0)
    private var failureMessage: String?
    /// Set under `lock` (so a connection is registered either before a shutdown or not at all),
    /// read without it by every request.
    private let isShuttingDown = Atomic<Bool>(false)
    /// The port actually bound (useful with port 0).
    public private(set) var port: UInt16 = 0

    public init(configuration: Configuration, accessLog: @escaping @Sendable (LogEntry) -> Void = { _ in },
                inlineHandler: InlineHandler? = nil, handler: @escaping Handler) {
        self.configuration = configuration
        self.handler = handler
        self.inlineHandler = inlineHandler
        self.accessLog = accessLog
    }

    /// Binds and starts accepting. Returns the bound port.
    @discardableResult
    public func start() throws -> UInt16 {
        let (fd, port) = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        listener = fd
        self.port = port
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let count = min(max(configuration.eventLoops > 0 ? configuration.eventLoops : online, 1), HTTPServer.eventLoopsMax)
        do {
            for _ in 0..<count { loops.append(try EventLoop(server: self, listener: fd, sweepMilliseconds: sweepMilliseconds)) }
        } catch {
            loops = []
            close(fd)
            throw error
        }
        listeningLoops = loops.count
        for (index, loop) in loops.enumerated() {
            let code = loop.start()
            guard code != 0 else { continue }
            for unstarted in loops[index...] { unstarted.abandonUnstarted() }
            loops = Array(loops.prefix(index))
            guard index > 0 else { throw Socket.Failure(call: "pthread_create", code: code) }
            HTTPServer.writeToStandardError("chorus: out of threads: \(index) of \(count) HTTP event loops started (pthread_create: \(String(cString: strerror(code)))); serving with those")
            break
        }
        return port
    }

    /// How often the loops check timeouts: a tenth of the shortest, between 10 and 250 ms.
    private var sweepMilliseconds: Int32 {
        let shortest = min(configuration.headerTimeoutSeconds, configuration.bodyIdleTimeoutSeconds, configuration.keepAliveIdleSeconds)
        return Int32(min(max(shortest * 100, 10), 250))
    }

    /// Registers a connection a loop accepted; false at a connection limit or during shutdown
    /// (the loop then refuses it).
    func register(_ connection: Connection) -> Bool {
        let host = connection.remoteHost
        let bounded = !configuration.unboundedAddresses.contains(host)
        return lock.withLock {
            guard !shuttingDown, connections.count < configuration.connectionsMax else { return false }
            let fromHost = connectionsByHost[host] ?? 0
            if bounded, fromHost >= configuration.connectionsPerAddressMax { return false }
            connections[ObjectIdentifier(connection)] = connection
            connectionsByHost[host] = fromHost + 1
            return true
        }
    }

    /// Open connections from each client address (only addresses with any).
    private var connectionsByHost: [String: Int] = [:]

    /// Workers busy for each client address (only addresses with any), and the connections
    /// waiting for one, first come first served.
    private var workersByHost: [String: Int] = [:]
    private var waitingForWorker: [String: [Connection]] = [:]

    /// Gives a connection a worker's turn, now if its address has fewer than
    /// `workersPerAddressMax` busy, else when one of them is done (`workDone`).
    func toWorker(_ connection: Connection) {
        let host = connection.remoteHost
        let now: Bool = lock.withLock {
            guard !configuration.unboundedAddresses.contains(host) else { return true }
            let busy = workersByHost[host] ?? 0
            guard busy < max(1, configuration.workersPerAddressMax) else {
                waitingForWorker[host, default: []].append(connection)
                return false
            }
            workersByHost[host] = busy + 1
            return true
        }
        if now { connection.startWork() }
    }

    /// Takes a connection out of its address's line for a worker (shutdown); false when it was
    /// not waiting there.
    func dropWaiting(_ connection: Connection) -> Bool {
        let host = connection.remoteHost
        return lock.withLock {
            guard var waiting = waitingForWorker[host], let index = waiting.firstIndex(where: { $0 === connection }) else { return false }
            waiting.remove(at: index)
            waitingForWorker[host] = waiting.isEmpty ? nil : waiting
            return true
        }
    }

    /// A connection's worker turn ended: the next connection of its address waiting has it.
    func workDone(_ connection: Connection) {
        let host = connection.remoteHost
        let next: Connection? = lock.withLock {
            guard !configuration.unboundedAddresses.contains(host) else { return nil }
            if var waiting = waitingForWorker[host], !waiting.isEmpty {
                let next = waiting.removeFirst()
                waitingForWorker[host] = waiting.isEmpty ? nil : waiting
                return next
            }
            HTTPServer.countDown(&workersByHost, host)
            return nil
        }
        next?.startWork()
    }

    /// Takes `amount` off an address's count, which is dropped at zero: the per-address tables
    /// hold only addresses with something counted.
    private static func countDown(_ counts: inout [String: Int], _ host: String, by amount: Int = 1) {
        let left = (counts[host] ?? 0) - amount
        counts[host] = left > 0 ? left : nil
    }

    /// A client's address without its port (`remote` is `address:port`; an IPv6 address is
    /// bracketed, `[::1]:port`).
    static func host(of remote: String) -> String {
        if remote.hasPrefix("["), let end = remote.firstIndex(of: "]") { return String(remote[remote.index(after: remote.startIndex)..<end]) }
        return remote.split(separator: ":").first.map(String.init) ?? remote
    }

    /// Refuses a connection beyond the limit, without waiting on it, and says so in the access log
    /// (method and path `-`: no request was read), so the operator sees a flood of connections,
    /// which left no trace before, and a node's metrics count it.
    func refuse(_ fd: Int32, remote: String) {
        let started = DispatchTime.now()
        var response = Problem.response(status: 503, detail: "the server is at its connection limit, or at its limit of connections from your address, or shutting down; retry later")
        response.headers.append(("Retry-After", "1"))
        let bytes = response.serialized(keepAlive: false)
        _ = Socket.sendNow(fd, bytes)
        close(fd)
        let host = HTTPServer.host(of: remote)
        let (open, fromHost) = lock.withLock { (connections.count, connectionsByHost[host] ?? 0) }
        accessLog(LogEntry(method: "-", path: "-", status: 503, bytes: bytes.count,
                           milliseconds: Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000, remote: remote,
                           annotations: ["error": "refused: \(open) connections open (\(fromHost) from \(host)), the limit is \(configuration.connectionsMax) (\(configuration.connectionsPerAddressMax) from one address), or shutting down"]))
    }

    /// A loop stopped watching the listener; the last one closes it.
    func loopStoppedListening() {
        let last: Bool = lock.withLock {
            listeningLoops -= 1
            guard listeningLoops == 0 else { return false }
            close(listener)
            return true
        }
        if last { listenerClosed.signal() }
    }

    /// Takes `bytes` of `bodyBytesInFlightMax`, and of `bodyBytesPerAddressMax` for the client's
    /// address `host`, for body bytes received; false when they are not left. Given back with
    /// `releaseBody` once the body is whole or its connection closes.
    /// `evenOver`: counted whatever is left (a whole body waiting for a worker's turn, taken
    /// already): later bodies find less.
    func reserveBody(_ bytes: Int, host: String, evenOver: Bool = false) -> Bool {
        lock.withLock {
            let fromHost = bodyBytesByHost[host] ?? 0
            guard evenOver || (bytes <= configuration.bodyBytesInFlightMax - bodyBytesInFlight
                               && bytes <= configuration.bodyBytesPerAddressMax - fromHost) else { return false }
            bodyBytesInFlight += bytes
            bodyBytesByHost[host] = fromHost + bytes
            return true
        }
    }

    func releaseBody(_ bytes: Int, host: String) {
        lock.withLock {
            bodyBytesInFlight -= bytes
            HTTPServer.countDown(&bodyBytesByHost, host, by: bytes)
        }
    }

    /// Body bytes being received from each client address (only addresses receiving any).
    private var bodyBytesByHost: [String: Int] = [:]

    /// Request body bytes being received now (tests).
    var bodyBytesBeingReceived: Int { lock.withLock { bodyBytesInFlight } }

    /// Worker slots taken, by client address (tests): none once every turn has ended.
    var workersBusyByAddress: [String: Int] { lock.withLock { workersByHost } }

    /// Of the open connections, those a worker has, and those whose response's rest the loop
    /// sends as the socket drains (tests).
    var connectionsOnWorkersAndWaitingToWrite: (onWorkers: Int, waitingToWrite: Int) {
        let open = lock.withLock { Array(connections.values) }
        return (open.filter(\.isOnWorker).count, open.filter(\.isWaitingToWrite).count)
    }

    func connectionClosed(_ connection: Connection) {
        let host = connection.remoteHost
        let shouldSignal: Bool = lock.withLock {
            if connections.removeValue(forKey: ObjectIdentifier(connection)) != nil { HTTPServer.countDown(&connectionsByHost, host) }
            return shuttingDown && connections.isEmpty
        }
        if shouldSignal { stopped.signal() }
    }

    /// The process ran out of descriptors while accepting (EMFILE and kin): said on standard
    /// error at most once every `exhaustionNoteSeconds`, with the limit to raise; the loops
    /// pause their listening. Returns whether it wrote.
    ///
    /// Every loop calls it, each having read the clock before taking the lock: a loop that read
    /// it first can come in second, with a `now` earlier than the note just written. That is not
    /// due (one loop has just said it), and must not be subtracted: the unsigned difference
    /// trapped, and the node exited at the moment it ran out of descriptors (seen once in CI
    /// in `ServeDescriptorsTests`, then in a loop of `chorus serve` with its limit lowered).
    @discardableResult
    func noteDescriptorsExhausted(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Bool {
        let due: Bool = lock.withLock {
            if let last = lastExhaustionNote, now < last || now - last < HTTPServer.exhaustionNoteSeconds * 1_000_000_000 {
                return false
            }
            lastExhaustionNote = now
            return true
        }
        guard due else { return false }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        HTTPServer.writeToStandardError("chorus: out of file descriptors (\(connectionCount) connections open, limit \(limit.rlim_cur)): new connections wait in the backlog; raise the limit (ulimit -n, LimitNOFILE in a systemd unit) or lower connectionsMax")
        return true
    }

    /// Writes a line to standard error from another thread: a stalled reader of standard error
    /// must not hold up the loop that has something to say.
    static func writeToStandardError(_ line: String) {
        DispatchQueue.global().async {
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }

    /// When `noteDescriptorsExhausted` last wrote (uptime nanoseconds; nil never).
    private var lastExhaustionNote: UInt64?
    /// The shortest time between two notes that the process is out of descriptors.
    static let exhaustionNoteSeconds: UInt64 = 60

    /// A loop ended on a failure (`EventLoop.fail`). Once no loop is left to accept connections,
    /// outside a shutdown, `waitForFailure` returns it. Also written to standard error, from
    /// another thread: a stalled reader of standard error must not hold up the failing loop.
    func loopFailed(_ failure: Socket.Failure) {
        let message = "an HTTP event loop stopped: \(failure); its connections were closed"
        let serving: Bool = lock.withLock {
            if failureMessage == nil { failureMessage = message }
            return listeningLoops > 0 || shuttingDown
        }
        if !serving { failed.signal() }
        HTTPServer.writeToStandardError("chorus: \(message)")
    }

    /// Blocks until the server can no longer accept connections though it was not shut down
    /// (every event loop failed), and returns what failed. A process serving with it should
    /// then exit, so its supervisor starts it again.
    public func waitForFailure() -> String {
        failed.wait()
        failed.signal()
        return lock.withLock { failureMessage ?? "the server stopped" }
    }

    /// Number of open connections.
    public var connectionCount: Int { lock.withLock { connections.count } }

    /// Stops accepting, lets in-flight requests finish (up to `graceSeconds`), then closes everything.
    public func shutdown(graceSeconds: Double = 10) {
        let open: [Connection] = lock.withLock {
            isShuttingDown.store(true, ordering: .releasing)
            return Array(connections.values)
        }
        for loop in loops { loop.wakeUp() }
        // Returns once nothing more is accepted, as callers expect (a port freed for a restart).
        if lock.withLock({ listeningLoops > 0 }) {
            _ = listenerClosed.wait(timeout: .now() + HTTPServer.listenerCloseSecondsMax)
        }
        if open.isEmpty { return }
        for connection in open { connection.closeWhenIdle() }
        if stopped.wait(timeout: .now() + graceSeconds) == .timedOut {
            for connection in lock.withLock({ Array(connections.values) }) { connection.forceClose() }
        }
    }

    /// Read by every request: an atomic, not the server's lock, which the loops would share.
    var shuttingDown: Bool { isShuttingDown.load(ordering: .acquiring) }

    /// How long `shutdown` waits for the loops to stop accepting.
    static let listenerCloseSecondsMax = 5.0
}

/// A tiny mutex (Foundation's NSLock without importing Foundation here).
final class NSLockShim: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    /// A recursive lock may be taken again by the thread holding it.
    init(recursive: Bool = false) {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        if recursive { pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE)) }
        pthread_mutex_init(&mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// `application/problem+json` bodies (RFC 9457), built without a JSON library.
public enum Problem {
    public static func response(status: Int, detail: String, title: String? = nil, extra: [(String, String)] = []) -> HTTPResponse {
        var body = "{\"type\":\"about:blank\",\"title\":\(quote(title ?? HTTPResponse.reason(status))),\"status\":\(status),\"detail\":\(quote(detail))"
        for (key, value) in extra { body += ",\(quote(key)):\(quote(value))" }
        body += "}"
        // Read as the type it says, never sniffed: a detail may quote what a client sent.
        return HTTPResponse(status: status, headers: [("Content-Type", "application/problem+json"), ("X-Content-Type-Options", "nosniff")], body: Array(body.utf8))
    }

    /// A 500 for an error no route expected: what it was (its type and description, cut to 300
    /// characters) and a hint, as a `fault`.
    public static func internalError(_ error: any Error) -> HTTPResponse {
        fault(status: 500, detail: "internal error (\(type(of: error)): \(error))",
              hint: "a fault in chorus, not in the request: see the node's log, and report it if it repeats")
    }

    /// The access-log annotation naming a fault's reference; its presence marks an answer whose
    /// detail is for the node's operator (`redactingFault`).
    public static let referenceAnnotation = "reference"

    /// A 5xx for a fault of the node's own (a database it cannot write, a file it cannot read):
    /// the detail (cut to 300 characters) and hint, a random reference, and the same detail and
    /// reference in the access log (annotations `error` and `reference`), so the operator finds it
    /// from either side. The detail may name files, SQL or the machine's state, which are the
    /// operator's: `redactingFault` leaves only the reference for anyone else.
    public static func fault(status: Int, detail: String, hint: String?) -> HTTPResponse {
        let digits = String(UInt64.random(in: 0..<(1 << 48)), radix: 16)
        let reference = String(repeating: "0", count: 12 - digits.count) + digits
        let what = String(detail.prefix(300))
        var response = self.response(status: status, detail: "\(what) (reference \(reference))", extra: hint.map { [("hint", $0)] } ?? [])
        response.logAnnotations["error"] = what
        response.logAnnotations[referenceAnnotation] = reference
        return response
    }

    /// `response` as a client beyond the node's operator sees it: a fault's (`fault`) detail and
    /// hint replaced by what the fault was in general and its reference, which the operator finds
    /// in the node's log. Other answers as they are.
    public static func redactingFault(_ response: HTTPResponse) -> HTTPResponse {
        guard let reference = response.logAnnotations[referenceAnnotation], response.status >= 500 else { return response }
        var redacted = self.response(status: response.status,
                                     detail: response.status == 503 ? "this node cannot do it now (reference \(reference))"
                                                                    : "this node failed on its side (reference \(reference))",
                                     extra: [("hint", response.status == 503 ? "retry later; if it lasts, give the node's operator the reference, which its log names with what failed"
                                                                           : "a fault in the node, not in the request: give its operator the reference, which its log names with what failed")])
        redacted.headers += response.headers.filter { !["Content-Type", "X-Content-Type-Options"].contains($0.name) }
        redacted.logAnnotations = response.logAnnotations
        return redacted
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format4: scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

extension String {
    init(format4 value: UInt32) {
        let hex = String(value, radix: 16)
        self = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
