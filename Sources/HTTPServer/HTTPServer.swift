import Dispatch
import HTTP1
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server on POSIX sockets and Dispatch: a listener that owns its connections.
///
/// Each connection has a serial queue, a read source and one timer. The timer enforces, in turn:
/// the whole header within `headerTimeoutSeconds` of its first byte, no body read idle for more than
/// `bodyIdleTimeoutSeconds`, and keep-alive connections idle at most `keepAliveIdleSeconds`. Requests
/// on a connection are handled one at a time, in order. Beyond `connectionsMax` connections, new ones
/// get 503 and are closed. `shutdown` stops accepting, lets in-flight requests finish, and closes.
public final class HTTPServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port: UInt16 = 7420
        public var parser = HTTPParser.Configuration()
        /// The whole request header must arrive within this many seconds of its first byte. Default 10.
        public var headerTimeoutSeconds = 10.0
        /// A body read may stall at most this long. Default 30.
        public var bodyIdleTimeoutSeconds = 30.0
        /// A streamed response body (a sync snapshot) must be sent within this long, however
        /// steadily the client reads; the connection is closed beyond. Default 2 hours.
        public var streamedBodySecondsMax = 7200.0
        /// An idle keep-alive connection is closed after this long. Default 15.
        public var keepAliveIdleSeconds = 15.0
        /// Requests served on one connection before it is closed. Default 1,000.
        public var requestsPerConnectionMax = 1000
        /// Open connections at most; beyond, 503 and close. Default 512.
        public var connectionsMax = 512
        /// Listen backlog. Default 128.
        public var backlog: Int32 = 128
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

    public let configuration: Configuration
    let handler: Handler
    let accessLog: @Sendable (LogEntry) -> Void
    private let lock = NSLockShim()
    private var listener: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var isShuttingDown = false
    private let stopped = DispatchSemaphore(value: 0)
    private let acceptQueue = DispatchQueue(label: "chorus.http.accept")
    /// The port actually bound (useful with port 0).
    public private(set) var port: UInt16 = 0

    public init(configuration: Configuration, accessLog: @escaping @Sendable (LogEntry) -> Void = { _ in }, handler: @escaping Handler) {
        self.configuration = configuration
        self.handler = handler
        self.accessLog = accessLog
    }

    /// Binds and starts accepting. Returns the bound port.
    @discardableResult
    public func start() throws -> UInt16 {
        let (fd, port) = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        listener = fd
        self.port = port
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [weak self] in self?.acceptPending() }
        source.setCancelHandler { close(fd) }
        acceptSource = source
        source.resume()
        return port
    }

    private func acceptPending() {
        while let (fd, remote) = Socket.accept(listener) {
            let refused: Bool = lock.withLock {
                isShuttingDown || connections.count >= configuration.connectionsMax
            }
            if refused {
                let response = Problem.response(status: 503, detail: "the server is at its connection limit or shutting down; retry later")
                _ = Socket.writeAll(fd, response.serialized(keepAlive: false), timeoutMilliseconds: 100)
                close(fd)
                continue
            }
            guard (try? Socket.setNonBlocking(fd)) != nil else { close(fd); continue }
            let connection = Connection(fd: fd, remote: remote, server: self)
            lock.withLock { connections[ObjectIdentifier(connection)] = connection }
            connection.start()
        }
    }

    func connectionClosed(_ connection: Connection) {
        let shouldSignal: Bool = lock.withLock {
            connections.removeValue(forKey: ObjectIdentifier(connection))
            return isShuttingDown && connections.isEmpty
        }
        if shouldSignal { stopped.signal() }
    }

    /// Number of open connections.
    public var connectionCount: Int { lock.withLock { connections.count } }

    /// Stops accepting, lets in-flight requests finish (up to `graceSeconds`), then closes everything.
    public func shutdown(graceSeconds: Double = 10) {
        let open: [Connection] = lock.withLock {
            isShuttingDown = true
            return Array(connections.values)
        }
        acceptSource?.cancel()
        acceptSource = nil
        if open.isEmpty { return }
        for connection in open { connection.closeWhenIdle() }
        if stopped.wait(timeout: .now() + graceSeconds) == .timedOut {
            for connection in lock.withLock({ Array(connections.values) }) { connection.forceClose() }
        }
    }

    var shuttingDown: Bool { lock.withLock { isShuttingDown } }
}

/// A tiny mutex (Foundation's NSLock without importing Foundation here).
final class NSLockShim: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
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
        return HTTPResponse(status: status, headers: [("Content-Type", "application/problem+json")], body: Array(body.utf8))
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
