import Dispatch
import HTTP1
#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection: reads, parses, handles requests in order, writes responses.
///
/// Who may touch it: while its socket is watched by its event loop, the loop's thread (reading,
/// parsing, answering inline, sending the rest of a response as the socket drains, sweeping its
/// timeouts); while a request of it waits or its response streams a body, a worker on its
/// Dispatch queue, with the socket taken out of the loop until the worker hands it back. `lock`
/// guards the hand-over and what other threads ask of it (shutdown); it is never held while a
/// worker's handler runs.
///
/// A response the client is slow to take is never waited on by a thread: the loop sends its rest
/// as the socket drains (`unsent`, watched for writing), and reads nothing more of the
/// connection meanwhile. Clients that ask and never read once held a worker each, blocked on a
/// full socket for up to `bodyIdleTimeoutSeconds`: a few hundred of them took every thread
/// Dispatch would start, and the node answered nobody else (found by a sweep).
final class Connection: @unchecked Sendable {
    let fd: Int32
    let remote: String
    unowned let server: HTTPServer
    unowned let loop: EventLoop
    /// Where requests that may wait are handled, one at a time, in order.
    private lazy var queue = DispatchQueue(label: "chorus.http.connection")
    /// Recursive: closing takes it, from the loop (which holds it) and from the worker (which does not).
    private let lock = NSLockShim(recursive: true)

    // Owned by whoever has the connection (the loop, or the worker while `onWorker`).
    private var parser: HTTPParser
    /// Parsed events not yet handled (a request waiting for the worker, and any pipelined after it).
    private var pending: [HTTPParser.Event] = []
    private var pendingIndex = 0
    /// The rest of a response not sent whole: sent by the loop as the socket drains (the socket
    /// watched for writing), or, a streamed body, by the worker.
    private var unsent: Unsent?
    private var requestsServed = 0
    /// When the current timeout (header, body or keep-alive) expires, in uptime nanoseconds.
    private var deadline: UInt64 = 0
    /// The header deadline restarts when the last read began a head (none was open, or one
    /// completed and another began); a head's deadline runs from its first byte.
    private var headBegan = false
    /// When the head of the body being read completed, in uptime nanoseconds: the body must keep
    /// up with `bodyBytesPerSecondMin` from then on, after `bodyIdleTimeoutSeconds` of grace
    /// (`bodyDeadline(received:)`).
    private var bodyStarted: UInt64 = 0
    /// The method and path of the request whose head was read last (for the log of a refusal of its body).
    private var bodyOf: (method: String, path: String)?
    /// A response was finished since the idle time last started again (on the loop or the worker).
    private var answered = false
    /// What this connection holds of the server's body budget: the bytes received of the body it
    /// is reading, given back when the body is whole or the connection closes.
    private var reservedBodyBytes = 0

    /// The client's address without its port: what the per-address budgets are kept by.
    var remoteHost: String { HTTPServer.host(of: remote) }

    private func releaseBody() {
        if reservedBodyBytes > 0 { server.releaseBody(reservedBodyBytes, host: remoteHost) }
        reservedBodyBytes = 0
    }

    /// An error answer was sent and the sending side shut down: what arrives is read and
    /// discarded until the client closes, `lingerBytesMax` arrived, or `deadline` passes.
    private var lingering = false
    private var lingeredBytes = 0

    // Shared, under `lock`.
    private var onWorker = false
    private var isClosed = false
    private var closeAfterCurrent = false

    /// The rest of a response the loop began, and what its access-log line needs.
    private struct Unsent {
        var bytes: ArraySlice<UInt8>
        let response: HTTPResponse
        let method: String
        let path: String
        let started: UInt64
        let keepAlive: Bool
    }

    init(fd: Int32, remote: String, server: HTTPServer, loop: EventLoop) {
        self.fd = fd
        self.remote = remote
        self.server = server
        self.loop = loop
        self.parser = HTTPParser(configuration: server.configuration.parser)
    }

    /// Called by the loop once the connection is registered: its keep-alive deadline, then its socket.
    func start() {
        lock.withLock {
            deadline = Connection.deadline(seconds: server.configuration.keepAliveIdleSeconds)
            if !loop.watch(fd) { close() }
        }
    }

    /// The longest any timeout is taken to be (a configuration beyond it is read as it): a year.
    static let timeoutSecondsMax = 365.0 * 86_400

    /// When a body of which `received` bytes have arrived falls behind: `bodyBytesPerSecondMin`
    /// on average since its head, after `bodyIdleTimeoutSeconds` of grace. Counted on the bytes
    /// received, not announced: a deadline from the announced length let a client with no
    /// token announce a 16 MiB push and send a byte every 25 s for an hour, holding its
    /// connection (256 from one address) for a few hundred bytes (a read-only audit).
    private func bodyDeadline(received: Int) -> UInt64 {
        let seconds = server.configuration.bodyIdleTimeoutSeconds + Double(received) / Swift.max(1, server.configuration.bodyBytesPerSecondMin)
        return bodyStarted + UInt64(min(max(seconds, 0), Connection.timeoutSecondsMax) * 1e9)
    }

    static func deadline(seconds: Double) -> UInt64 {
        DispatchTime.now().uptimeNanoseconds + UInt64(min(max(seconds, 0), timeoutSecondsMax) * 1e9)
    }

    /// The most one read takes from the socket.
    static let readBytesMax = 64 * 1024

    // MARK: On the loop

    /// The socket is readable, or writable while a response's rest waits (loop thread).
    func ready() {
        lock.withLock {
            guard !isClosed, !onWorker else { return }
            if unsent != nil { sendUnsent() } else { readAvailable() }
        }
    }

    /// Sends what the socket takes of the response's rest (loop thread, the socket watched for
    /// writing); once it is all sent, reads again and handles what was pipelined after it.
    private func sendUnsent() {
        guard var rest = unsent else { return }
        let sent = Socket.sendNow(fd, rest.bytes)
        guard sent >= 0 else { return close() }   // logs the rest as not sent whole
        rest.bytes = rest.bytes.dropFirst(sent)
        guard rest.bytes.isEmpty else {
            unsent = rest
            // Each stall has its time, as a body's read has.
            if sent > 0 { deadline = Connection.deadline(seconds: server.configuration.bodyIdleTimeoutSeconds) }
            return
        }
        unsent = nil
        finish(rest, written: true)
        guard !isClosed else { return }
        guard loop.rewatch(fd, writing: false) else { return close() }
        handlePending(onLoop: true)
    }

    /// Leaves the rest of a response for the loop to send as the socket drains (under `lock`, by
    /// whoever has the connection): the loop watches the socket for writing from now on.
    private func sendLater(_ rest: Unsent) {
        unsent = rest
        deadline = Connection.deadline(seconds: server.configuration.bodyIdleTimeoutSeconds)
    }

    private func readAvailable() {
        // Read into uninitialised memory, sized to what arrived: zeroing 64 KiB for every read was a
        // fifth of a no-op sync's instructions (callgrind, `chorus-bench --only-noop`).
        var count = 0
        let received = [UInt8](unsafeUninitializedCapacity: Connection.readBytesMax) { buffer, initialized in
            count = recv(fd, buffer.baseAddress, buffer.count, 0)
            initialized = Swift.max(count, 0)
        }
        if count == 0 { close(); return }
        if count < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            close()
            return
        }
        if lingering {
            lingeredBytes += count
            if lingeredBytes > server.configuration.lingerBytesMax { close() }
            return
        }
        let wasInsideHead = parser.isInsideHead
        pending = parser.feed(received)
        pendingIndex = 0
        let completedHead = pending.contains { if case .failure = $0 { false } else { true } }
        headBegan = parser.isInsideHead && (!wasInsideHead || completedHead)
        handlePending(onLoop: true)
    }

    /// Timeouts (loop thread, every sweep): a watched connection past its deadline.
    func sweep(now: UInt64) {
        lock.withLock {
            guard !isClosed, !onWorker, now >= deadline else { return }
            timedOut()
        }
    }

    /// During shutdown (loop thread): closes a watched connection that is between requests.
    func closeIfIdle() {
        lock.withLock {
            guard !isClosed, !onWorker, unsent == nil, lingering || !parser.isInsideBody else { return }
            close()
        }
    }

    // MARK: Requests

    /// Handles the parsed events in order. On the loop, a request the inline handler cannot answer
    /// at once, and a response that cannot be sent without waiting, go to the worker with the
    /// rest; on the worker, everything is handled. Then the next timeout is set.
    private func handlePending(onLoop: Bool, requestsMax: Int = .max) {
        var handled = 0
        while pendingIndex < pending.count {
            // A worker answers one request a turn (`work`), then lets others have the thread.
            if handled == requestsMax { return }
            switch pending[pendingIndex] {
            case .head(let head):
                pendingIndex += 1
                bodyOf = (head.method, head.path)
                let length = head.header("Content-Length").flatMap(Int.init) ?? 0
                if Connection.awaitsContinue(head, length: length, arrived: pendingIndex < pending.count) {
                    // On the worker the socket may still be full of a response before: wait for it
                    // there. The loop waits for nothing: a client that asked and is not reading
                    // what it was sent before is let go.
                    let stall = Int32(server.configuration.bodyIdleTimeoutSeconds * 1000)
                    let sent = onLoop ? Socket.sendNow(fd, Connection.continueBytes) == Connection.continueBytes.count
                        : Connection.continueBytes.withUnsafeBytes { Socket.writeAll(fd, $0, timeoutMilliseconds: stall) }
                    guard sent else { close(); return }
                }
                // From when the client may send it: after the interim answer it waits for, which
                // may itself wait for an earlier response to drain (a review).
                bodyStarted = DispatchTime.now().uptimeNanoseconds
            case .failure(let error):
                pending = []
                respondAndClose(status: error.status, detail: error.reason,
                                during: error.method.map { ($0, error.path ?? "-") }, challenge: error.challenge)
                return
            case .request(let request):
                let started = DispatchTime.now().uptimeNanoseconds
                let response: HTTPResponse
                if onLoop {
                    guard let inline = server.inlineHandler?(request, remote) else {
                        // Its body waits with it for a worker's turn, and counts against the
                        // budget meanwhile (bodies arriving from its address find less): the bytes
                        // of a body are counted only while it arrives, and one that arrived whole
                        // in one read was never counted.
                        let uncounted = request.body.count - reservedBodyBytes
                        if uncounted > 0 {
                            _ = server.reserveBody(uncounted, host: remoteHost, evenOver: true)
                            reservedBodyBytes += uncounted
                        }
                        toWorker()
                        return
                    }
                    releaseBody()
                    response = inline
                } else {
                    releaseBody()
                    response = server.handler(request, remote)
                }
                pendingIndex += 1
                handled += 1
                // Handed to the worker: nothing here may be touched after, not even read.
                if respond(request, response, started: started, onLoop: onLoop) == .handedOver { return }
                if isClosed { return }
            }
        }
        pending = []
        pendingIndex = 0
        if parser.isInsideHead {
            if headBegan { deadline = Connection.deadline(seconds: server.configuration.headerTimeoutSeconds) }
        } else if parser.isInsideBody {
            // The bytes of the body received so far count against the server's budget (a head
            // alone costs nothing: the bytes must be sent to be held). Given back when the body is
            // whole (`.request` above) or the connection closes.
            let held = parser.bodyBytesReceived
            if held > reservedBodyBytes {
                guard server.reserveBody(held - reservedBodyBytes, host: remoteHost) else {
                    respondAndClose(status: 503, detail: "the server is receiving as many request body bytes as it holds at once (\(server.configuration.bodyBytesInFlightMax) in all, \(server.configuration.bodyBytesPerAddressMax) from one address); retry after a while",
                                    during: bodyOf)
                    return
                }
                reservedBodyBytes = held
            }
            // Each read may stall a while, and the body must keep up with the rate floor.
            deadline = Swift.min(Connection.deadline(seconds: server.configuration.bodyIdleTimeoutSeconds), bodyDeadline(received: held))
        } else {
            if server.shuttingDown { close(); return }
            // Only an answer starts the idle time again: bytes that complete nothing (the empty
            // lines a parser skips before a request line) once kept a connection open for ever.
            if answered { deadline = Connection.deadline(seconds: server.configuration.keepAliveIdleSeconds) }
            answered = false
        }
        headBegan = false
    }

    /// The interim answer that tells a client waiting on `Expect: 100-continue` to send its body.
    static let continueBytes = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Whether a request's head asks to be told to send its body (`Expect: 100-continue`, which
    /// curl sends with bodies over 1 MB): without the answer such a client waits (curl a second,
    /// others until their timeout) before sending. Not when the body has already arrived whole
    /// (`arrived`: its request is parsed after the head), nor for a body-less or HTTP/1.0 request
    /// (RFC 9110 section 10.1.1). A body over its route's limit is answered 413 before its head
    /// gets here, and the client then sends nothing.
    static func awaitsContinue(_ head: HTTPRequestHead, length: Int, arrived: Bool) -> Bool {
        guard head.minorVersion >= 1, length > 0, !arrived, let expect = head.header("Expect") else { return false }
        return expect.lowercased() == "100-continue"
    }

    /// Whether the connection goes on to the next request after a response, or waits: for the
    /// worker (a request the loop cannot answer, a streamed body), or for the socket to drain.
    private enum Keeper { case kept, handedOver }

    @discardableResult
    private func respond(_ request: HTTPRequest, _ response: HTTPResponse, started: UInt64, onLoop: Bool) -> Keeper {
        requestsServed += 1
        let keepAlive = request.head.keepAlive && requestsServed < server.configuration.requestsPerConnectionMax
            && !server.shuttingDown && !lock.withLock({ closeAfterCurrent })
        // A HEAD's answer is its head alone, whatever the handler gave (a refusal's problem
        // document too): a body would be read as the start of the next response.
        let headOnly = request.head.method == "HEAD"
        let bytes = response.serialized(keepAlive: keepAlive, headOnly: headOnly)
        var sending = response
        if headOnly { sending.bodySource = nil }   // its length is in the head; nothing more goes
        var rest = Unsent(bytes: bytes[...], response: sending, method: request.head.method, path: request.head.path,
                          started: started, keepAlive: keepAlive)
        // A streamed body (a snapshot, to a replica holding a token) is sent by the worker,
        // which reads it as it goes.
        if rest.response.bodySource != nil {
            if onLoop {
                unsent = rest
                toWorker()
                return .handedOver
            }
            // Streamed for as long as the client reads (up to `streamedBodySecondsMax`), on no
            // address's worker slot: 16 slow downloads once held every other request of theirs.
            releaseWorkerSlot()
            finish(rest, written: send(rest))
            return .kept
        }
        // What the socket takes now; the rest waits for the loop (`sendUnsent`), never a thread.
        let sent = Socket.sendNow(fd, bytes)
        guard sent >= 0 else { finish(rest, written: false); return .kept }
        rest.bytes = bytes[sent...]
        if !rest.bytes.isEmpty {
            lock.withLock { sendLater(rest) }
            if onLoop, !loop.rewatch(fd, writing: true) { close() }
            return .handedOver
        }
        finish(rest, written: true)
        return .kept
    }

    /// Sends the rest of a response, waiting while the socket is full (worker only).
    private func send(_ rest: Unsent) -> Bool {
        let stall = Int32(server.configuration.bodyIdleTimeoutSeconds * 1000)
        var written = rest.bytes.withUnsafeBytes { Socket.writeAll(fd, $0, timeoutMilliseconds: stall) }
        if written, let source = rest.response.bodySource { written = send(source, stallMilliseconds: stall) }
        return written
    }

    private func finish(_ rest: Unsent, written: Bool) {
        answered = true
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - rest.started) / 1_000_000
        // `bytes` is the answer's length; one not sent whole (a snapshot download cut, a client
        // that stopped reading) says so, where it once read as delivered.
        var annotations = rest.response.logAnnotations
        if !written { annotations["error"] = annotations["error"] ?? "not sent whole: the client stopped reading, or the connection was cut" }
        server.accessLog(HTTPServer.LogEntry(method: rest.method, path: rest.path, status: rest.response.status,
                                             bytes: Int(rest.response.contentLength), milliseconds: elapsed, remote: remote,
                                             annotations: annotations))
        if !written || !rest.keepAlive { close() }
    }

    /// Streams a body source after its head, a buffer at a time. False when the peer stopped
    /// reading, read too slowly to finish within `streamedBodySecondsMax`, or the source ended
    /// short: the connection then closes, since the length was sent.
    private func send(_ source: any HTTPBodySource, stallMilliseconds: Int32) -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Connection.bodySourceBufferBytes, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = source.length
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(server.configuration.streamedBodySecondsMax * 1e9)
        while remaining > 0 {
            guard DispatchTime.now().uptimeNanoseconds < deadline else { return false }
            let count = source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(min(Int64(buffer.count), remaining))]))
            guard count > 0, Socket.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[..<count]), timeoutMilliseconds: stallMilliseconds,
                                             deadline: deadline) else { return false }
            remaining -= Int64(count)
        }
        return true
    }

    /// The piece of a streamed body read and written at once.
    static let bodySourceBufferBytes = 256 * 1024

    // MARK: The worker

    /// Hands the connection to its worker (called on the loop, under `lock`): the socket leaves
    /// the loop, so nothing more is read until the worker is done and gives it back.
    private func toWorker() {
        onWorker = true
        loop.unwatch(fd)
        server.toWorker(self)
    }

    /// Starts the worker's turn (`HTTPServer.toWorker`, once the client's address has a worker free).
    /// The server is held for the turn: it may be let go by its owner once its last connection
    /// closes, which this turn may do.
    func startWork() {
        queue.async { [self, server] in withExtendedLifetime(server) { work() } }
    }

    /// Whether this turn holds one of its address's worker slots (worker only).
    private var holdsWorkerSlot = false

    /// Gives the turn's slot back (`HTTPServer.workDone`), once.
    private func releaseWorkerSlot() {
        guard holdsWorkerSlot else { return }
        holdsWorkerSlot = false
        server.workDone(self)
    }

    /// One turn: one request answered (and a streamed body the loop handed over sent). Requests
    /// pipelined after it take further turns, behind the other connections of the same address
    /// waiting for a worker: one client pipelining many requests on many connections once held a
    /// thread each for all of them, and everyone else waited for a thread.
    private func work() {
        holdsWorkerSlot = true
        // Force-closed while it waited for its turn (the server stopping): nothing is answered.
        if lock.withLock({ isForced }) {
            close()
            releaseWorkerSlot()
            return
        }
        if let rest = unsent {
            // Streamed on no slot; a request pipelined after it waits for one, as any does (below).
            unsent = nil
            releaseWorkerSlot()
            finish(rest, written: send(rest))
        } else if !isClosedNow() {
            handlePending(onLoop: false, requestsMax: 1)
        }
        let more = lock.withLock { !isClosed && unsent == nil && pendingIndex < pending.count }
        if more {
            releaseWorkerSlot()
            server.toWorker(self)
            return
        }
        lock.withLock {
            onWorker = false
            guard !isClosed else { return }
            let writing = unsent != nil
            if closeAfterCurrent && !writing && !parser.isInsideBody { close(); return }
            if !loop.watch(fd, writing: writing) { close() }
        }
        releaseWorkerSlot()
        // The loop may be waiting to shut down for this connection alone.
        if server.shuttingDown { loop.wakeUp() }
    }

    private func isClosedNow() -> Bool { lock.withLock { isClosed } }

    /// A worker has the connection (tests).
    var isOnWorker: Bool { lock.withLock { onWorker } }
    /// The loop has the rest of a response to send as the socket drains (tests).
    var isWaitingToWrite: Bool { lock.withLock { !onWorker && unsent != nil } }

    // MARK: Closing

    /// An error answer sent before a request was read whole, and the connection closed after
    /// lingering. Logged with why (`error`) and, when the head was read (a body refused or too
    /// slow), its method and path: the refusal lines once said `-` and nothing else, and an
    /// operator could not tell a smuggling attempt from a slow link.
    private func respondAndClose(status: Int, detail: String, during head: (method: String, path: String)? = nil, challenge: String? = nil) {
        var response = Problem.response(status: status, detail: detail)
        if let challenge { response.headers.append(("WWW-Authenticate", challenge)) }
        // Best effort, never waiting: a client that does not read its 408 or 400 is not waited for.
        let bytes = response.serialized(keepAlive: false)
        let sent = Socket.sendNow(fd, bytes)
        server.accessLog(HTTPServer.LogEntry(method: head?.method ?? "-", path: head?.path ?? "-", status: response.status, bytes: response.body.count,
                                             milliseconds: 0, remote: remote, annotations: ["error": String(detail.prefix(300))]))
        guard sent == bytes.count, !server.shuttingDown else { return close() }
        linger()
    }

    /// Stops sending (the answer is followed by FIN) and reads on, discarding, for a while:
    /// closed with bytes unread, the socket would be reset, and a reset can destroy the answer
    /// in the client's kernel before the client reads it (RFC 9112 section 9.6). The body budget
    /// is given back at once: nothing read now is kept.
    private func linger() {
        releaseBody()
        pending = []
        lingering = true
        shutdown(fd, Int32(SHUT_WR))
        deadline = Connection.deadline(seconds: server.configuration.lingerSeconds)
    }

    private func timedOut() {
        if unsent != nil {
            // The client took nothing of its response for `bodyIdleTimeoutSeconds`: closed, it is
            // logged as not sent whole.
            close()
        } else if lingering {
            close()
        } else if parser.isInsideHead {
            respondAndClose(status: 408, detail: "the request header did not arrive within \(Int(server.configuration.headerTimeoutSeconds)) s")
        } else if parser.isInsideBody {
            respondAndClose(status: 408, detail: "the request body stalled for \(Int(server.configuration.bodyIdleTimeoutSeconds)) s, or arrived slower than \(Int(server.configuration.bodyBytesPerSecondMin)) bytes a second on average",
                            during: bodyOf)
        } else {
            close()
        }
    }

    /// During shutdown (any thread): closes now if the loop has the connection between requests,
    /// else after the current response.
    func closeWhenIdle() {
        let open = lock.withLock { () -> Bool in
            guard !isClosed else { return false }
            closeAfterCurrent = true
            return true
        }
        if open { loop.wakeUp() }
    }

    /// Its loop ended on a failure (loop thread): closes now if the loop has the connection,
    /// else when its worker gives it back.
    func abandon() {
        if server.dropWaiting(self) { return close() }
        lock.withLock {
            guard !isClosed else { return }
            closeAfterCurrent = true
            if !onWorker { close() }
        }
    }

    /// After the grace period (any thread): a worker's socket is shut down, so its handler's
    /// writes fail and it closes; a watched one closes on the loop when it sees the shutdown.
    func forceClose() {
        // Waiting for a worker's turn, it is no one's: closed here, never answered.
        if server.dropWaiting(self) { return close() }
        let open = lock.withLock { () -> Bool in
            guard !isClosed else { return false }
            closeAfterCurrent = true
            isForced = true
            shutdown(fd, Int32(SHUT_RDWR))
            return true
        }
        if open { loop.wakeUp() }
    }

    /// Set by `forceClose`: a turn that starts after it answers nothing.
    private var isForced = false

    /// Closes the socket (by whoever has the connection; under `lock`, so no other thread's
    /// `forceClose` can shut down a descriptor number already given to a new connection).
    private func close() {
        let closing = lock.withLock { () -> Bool in
            guard !isClosed else { return false }
            isClosed = true
            loop.unwatch(fd)
            loop.forget(fd)
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
            return true
        }
        guard closing else { return }
        // A response's rest not sent is logged as such, whoever closed.
        if let rest = unsent {
            unsent = nil
            finish(rest, written: false)
        }
        releaseBody()
        server.connectionClosed(self)
    }
}
