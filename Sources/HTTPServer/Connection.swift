import Dispatch
import HTTP1
#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection: reads, parses, handles requests in order, writes responses.
/// Everything runs on the connection's serial queue.
final class Connection: @unchecked Sendable {
    let fd: Int32
    let remote: String
    unowned let server: HTTPServer
    let queue: DispatchQueue
    private var parser: HTTPParser
    private var readSource: DispatchSourceRead?
    private var timer: DispatchSourceTimer?
    private var requestsServed = 0
    private var isClosed = false
    private var isHandling = false
    private var closeAfterCurrent = false
    /// When the current timeout (header, body or keep-alive) expires, in uptime nanoseconds.
    private var deadline: UInt64 = 0
    /// When the timer is set to fire; it fires no later than `deadline`, often earlier.
    private var timerFiresAt: UInt64 = 0

    init(fd: Int32, remote: String, server: HTTPServer) {
        self.fd = fd
        self.remote = remote
        self.server = server
        self.queue = DispatchQueue(label: "chorus.http.connection")
        self.parser = HTTPParser(configuration: server.configuration.parser)
    }

    func start() {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [self] in readAvailable() }
        let fd = self.fd
        source.setCancelHandler { Glibc.close(fd) }
        readSource = source
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [self] in timerFired() }
        self.timer = timer
        arm(seconds: server.configuration.keepAliveIdleSeconds)
        timer.resume()
        source.resume()
    }

    /// Sets the current timeout. The timer is rescheduled only when the new deadline is earlier
    /// than it fires: a timer that fires early finds the deadline later and sets itself again.
    /// Rescheduling a Dispatch timer wakes libdispatch's manager thread, and a keep-alive request
    /// sets two deadlines: a tenth of a no-op sync's time went to that (`chorus-bench --only-noop`).
    private func arm(seconds: Double) {
        let now = DispatchTime.now().uptimeNanoseconds
        deadline = now + UInt64(min(max(seconds, 0), Connection.timeoutSecondsMax) * 1e9)
        if timerFiresAt == 0 || deadline < timerFiresAt { schedule(at: deadline) }
    }

    /// The longest any timeout is taken to be (a configuration beyond it is read as it): a year.
    static let timeoutSecondsMax = 365.0 * 86_400

    private func schedule(at uptime: UInt64) {
        timerFiresAt = uptime
        timer?.schedule(deadline: DispatchTime(uptimeNanoseconds: uptime), repeating: .never)
    }

    /// The most one read takes from the socket.
    static let readBytesMax = 64 * 1024

    private func readAvailable() {
        guard !isClosed else { return }
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
        let wasInsideHead = parser.isInsideHead
        let events = parser.feed(received)
        var completedHead = false
        for event in events {
            switch event {
            case .head:
                completedHead = true
            case .request(let request):
                completedHead = true
                handle(request)
                if isClosed { return }
            case .failure(let error):
                respondAndClose(Problem.response(status: error.status, detail: error.reason), method: "-", path: "-")
                return
            }
        }
        if parser.isInsideHead {
            // A head's deadline runs from its first byte and is not extended by later bytes: set
            // when a head began in this read (none was open, or one completed and another began).
            if !wasInsideHead || completedHead { arm(seconds: server.configuration.headerTimeoutSeconds) }
        } else if parser.isInsideBody {
            arm(seconds: server.configuration.bodyIdleTimeoutSeconds)
        } else {
            if server.shuttingDown { close(); return }
            arm(seconds: server.configuration.keepAliveIdleSeconds)
        }
    }

    private func handle(_ request: HTTPRequest) {
        isHandling = true
        let started = DispatchTime.now().uptimeNanoseconds
        let response = server.handler(request, remote)
        isHandling = false
        requestsServed += 1
        let keepAlive = request.head.keepAlive && requestsServed < server.configuration.requestsPerConnectionMax
            && !server.shuttingDown && !closeAfterCurrent
        let bytes = response.serialized(keepAlive: keepAlive)
        let stall = Int32(server.configuration.bodyIdleTimeoutSeconds * 1000)
        var written = Socket.writeAll(fd, bytes, timeoutMilliseconds: stall)
        if written, let source = response.bodySource { written = send(source, stallMilliseconds: stall) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000
        server.accessLog(HTTPServer.LogEntry(method: request.head.method, path: request.head.path, status: response.status,
                                             bytes: Int(response.contentLength), milliseconds: elapsed, remote: remote,
                                             annotations: response.logAnnotations))
        if !written || !keepAlive { close() }
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
            guard count > 0, Socket.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[..<count]), timeoutMilliseconds: stallMilliseconds) else { return false }
            remaining -= Int64(count)
        }
        return true
    }

    /// The piece of a streamed body read and written at once.
    static let bodySourceBufferBytes = 256 * 1024

    private func respondAndClose(_ response: HTTPResponse, method: String, path: String) {
        _ = Socket.writeAll(fd, response.serialized(keepAlive: false), timeoutMilliseconds: 1000)
        server.accessLog(HTTPServer.LogEntry(method: method, path: path, status: response.status, bytes: response.body.count,
                                             milliseconds: 0, remote: remote, annotations: [:]))
        close()
    }

    private func timerFired() {
        guard !isClosed else { return }
        if DispatchTime.now().uptimeNanoseconds < deadline { schedule(at: deadline); return }
        timedOut()
    }

    private func timedOut() {
        if parser.isInsideHead {
            respondAndClose(Problem.response(status: 408, detail: "the request header did not arrive within \(Int(server.configuration.headerTimeoutSeconds)) s"), method: "-", path: "-")
        } else if parser.isInsideBody {
            respondAndClose(Problem.response(status: 408, detail: "the request body stalled for \(Int(server.configuration.bodyIdleTimeoutSeconds)) s"), method: "-", path: "-")
        } else {
            close()
        }
    }

    /// Closes now if no request is in flight, else after the current response.
    func closeWhenIdle() {
        queue.async { [self] in
            if isHandling || parser.isInsideBody { closeAfterCurrent = true } else { close() }
        }
    }

    func forceClose() { queue.async { [self] in close() } }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        timer?.cancel()
        readSource?.cancel()   // its cancel handler closes the descriptor
        shutdown(fd, Int32(SHUT_RDWR))
        server.connectionClosed(self)
    }
}
