#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// A small HTTP/1.1 client for plain `http://` upstreams, on blocking sockets with `poll`, where
/// every byte read has a bound given before it is read and every wait a deadline.
///
/// Why not URLSession: on Linux (FoundationNetworking) a body, once flowing, cannot be stopped in
/// time. A task cancelled after its bound went on receiving into its delegate queue; an upstream
/// sending without end on loopback filled 23 GB of memory before the request's timeout, and over a
/// gigabyte even when cancelled at the head. Its timeouts are also whole seconds (a 0.5 s timeout
/// fires at once) and it has no overall deadline. This client reads a response's head (at most
/// `headBytesMax`), decides from its `Content-Length` whether the body fits, and reads exactly that
/// many bytes or none. It keeps up to `idleConnectionsMax` connections open for the next request,
/// and sends a request again once on a fresh connection when a kept one turns out closed.
///
/// Responses must carry `Content-Length` (as a Chorus node always sends) and no compression: a
/// chunked or compressed body's size is not known before it is read, so it is refused.
public final class HTTPClient: @unchecked Sendable {
    /// Bounds on one exchange.
    public struct Limits: Sendable {
        /// The response's status line and headers, in bytes.
        public var headBytesMax = 32 * 1024
        /// The longest wait for the connection, or for the next bytes to read or room to write.
        public var idleSeconds = 60.0
        /// Connections kept open between requests.
        public var idleConnectionsMax = 2
        public init() {}
    }

    /// A response whose body was read whole.
    public struct Response: Sendable {
        public let status: Int
        public let headers: [(name: String, value: String)]
        public let body: [UInt8]
        /// The first value of a header, by name without regard to case.
        public func header(_ name: String) -> String? { HTTPClient.header(name, in: headers) }
    }

    /// What the exchange may read of a body, chosen on seeing the head.
    public enum BodyBound: Sendable {
        /// Read the body when its length is at most this, or refuse the response (`.tooLarge`).
        case upTo(Int64)
        /// Leave the body unread (the connection is closed): the head says enough.
        case skip
    }

    public let host: String
    public let port: UInt16
    public let limits: Limits
    private let lock = NSLockLike()
    private var idle: [Int32] = []

    public init(host: String, port: UInt16, limits: Limits = Limits()) {
        self.host = host
        self.port = port
        self.limits = limits
    }

    deinit { for fd in idle { close(fd) } }

    /// Sends a request and reads its response whole, within `seconds` in all.
    /// - Parameter bound: told the status and headers, says how much of the body may be read.
    public func exchange(method: String, target: String, headers: [(String, String)], body: [UInt8]?,
                         seconds: Double, bound: (Int, [(name: String, value: String)]) -> BodyBound) throws(HTTPClientError) -> Response {
        var collected: [UInt8] = []
        let head = try exchange(method: method, target: target, headers: headers, body: body, seconds: seconds, bound: { status, headers in
            let chosen = bound(status, headers)
            if case .upTo(let bytes) = chosen, let length = HTTPClient.contentLength(headers), length <= bytes { collected.reserveCapacity(Int(length)) }
            return chosen
        }, into: { collected.append(contentsOf: $0) })
        return Response(status: head.status, headers: head.headers, body: collected)
    }

    /// Sends a request and hands its body to `sink` piece by piece as it arrives, within `seconds`
    /// in all. Returns the status and headers; the body is whole when this returns (or it throws).
    public func exchange(method: String, target: String, headers: [(String, String)], body: [UInt8]?, seconds: Double,
                         bound: (Int, [(name: String, value: String)]) -> BodyBound,
                         into sink: (UnsafeRawBufferPointer) throws -> Void) throws(HTTPClientError) -> (status: Int, headers: [(name: String, value: String)]) {
        let deadline = Deadline(seconds: seconds)
        let request = requestBytes(method: method, target: target, headers: headers, body: body)
        // A kept connection the server has closed meanwhile fails before any byte of a response:
        // the request goes again, once, on a fresh one.
        if let kept = takeIdle() {
            var connection = Connection(fd: kept, limits: limits, deadline: deadline)
            var head: ResponseHead?
            do throws(HTTPClientError) {
                try connection.write(request)
                head = try connection.readHead(allowingClosedBeforeAnyByte: true)
            } catch where error.kind == .closed && connection.bytesRead == 0 {
                head = nil   // nothing of an answer was read: sent again below
            } catch {
                connection.close()
                throw error
            }
            if let head {
                do throws(HTTPClientError) { return try finish(&connection, head, bound: bound, sink: sink) } catch {
                    connection.close()
                    throw error
                }
            }
            connection.close()
        }
        var connection = Connection(fd: try connect(deadline), limits: limits, deadline: deadline)
        do throws(HTTPClientError) {
            do throws(HTTPClientError) { try connection.write(request) } catch where error.kind == .closed {
                // A server may answer before it has read the whole request (a 413 for a body
                // over its limit) and close: its answer, if it reached us, says more than the
                // broken pipe. The connection is not kept, whatever the answer says.
                connection.sendFailed = true
                guard let head = try? connection.readHead(allowingClosedBeforeAnyByte: true) else { throw error }
                return try finish(&connection, head, bound: bound, sink: sink)
            }
            guard let head = try connection.readHead(allowingClosedBeforeAnyByte: false) else {
                throw HTTPClientError(.closed, "the connection closed before a response")
            }
            return try finish(&connection, head, bound: bound, sink: sink)
        } catch {
            connection.close()
            throw error
        }
    }

    private func finish(_ connection: inout Connection, _ head: ResponseHead, bound: (Int, [(name: String, value: String)]) -> BodyBound,
                        sink: (UnsafeRawBufferPointer) throws -> Void) throws(HTTPClientError) -> (status: Int, headers: [(name: String, value: String)]) {
        let hasNoBody = head.status < 200 || head.status == 204 || head.status == 304
        if hasNoBody {
            keepOrClose(&connection, head)
            return (head.status, head.headers)
        }
        var unframed: String?
        if let encoding = HTTPClient.header("Transfer-Encoding", in: head.headers) {
            unframed = "the response came with Transfer-Encoding: \(encoding), so its size was not known before reading it"
        } else if let encoding = HTTPClient.header("Content-Encoding", in: head.headers), encoding.lowercased() != "identity" {
            unframed = "the response came compressed (Content-Encoding: \(encoding)), so its size was not known before reading it"
        } else if HTTPClient.contentLength(head.headers) == nil {
            unframed = "the response came without a valid Content-Length, so its size was not known before reading it"
        }
        if let unframed {
            // An error answer keeps its status (a proxy's chunked 502 says enough); a success
            // without a known size is refused.
            guard !(200..<300).contains(head.status) else { throw HTTPClientError(.unframed, unframed) }
            connection.close()
            return (head.status, head.headers)
        }
        let length = HTTPClient.contentLength(head.headers)!
        switch bound(head.status, head.headers) {
        case .skip:
            connection.close()
        case .upTo(let bytesMax):
            guard length <= bytesMax else {
                throw HTTPClientError(.tooLarge, "the response's body is \(length) bytes, over \(bytesMax)")
            }
            do { try connection.readBody(length: length, sink: sink) } catch let failure as HTTPClientError { throw failure } catch {
                throw HTTPClientError(.sink, "\(error)", underlying: error)
            }
            keepOrClose(&connection, head)
        }
        return (head.status, head.headers)
    }

    private func keepOrClose(_ connection: inout Connection, _ head: ResponseHead) {
        let closing = HTTPClient.header("Connection", in: head.headers)?.lowercased().contains("close") ?? false
        guard !closing, head.minorVersion >= 1, connection.isReusable else { return connection.close() }
        let kept = lock.withLock { () -> Bool in
            guard idle.count < limits.idleConnectionsMax else { return false }
            idle.append(connection.fd)
            return true
        }
        if !kept { connection.close() }
    }

    private func takeIdle() -> Int32? { lock.withLock { idle.popLast() } }

    /// Connections kept for the next request.
    var idleConnectionCount: Int { lock.withLock { idle.count } }

    /// Closes the connections kept for the next request.
    public func closeIdleConnections() {
        let fds = lock.withLock { () -> [Int32] in defer { idle = [] }; return idle }
        for fd in fds { close(fd) }
    }

    private func requestBytes(method: String, target: String, headers: [(String, String)], body: [UInt8]?) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.count)\r\n" } else if method == "POST" || method == "PUT" { text += "Content-Length: 0\r\n" }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if let body { bytes.append(contentsOf: body) }
        return bytes
    }

    private var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    /// One address `getaddrinfo` gave, copied out of its list.
    struct Address: Sendable {
        let family: Int32
        let socketType: Int32
        let proto: Int32
        let bytes: [UInt8]
    }

    /// Resolves `host` on a thread of its own, waited for until the deadline: `getaddrinfo`
    /// blocks for as long as the resolver takes, which no timeout of ours would otherwise bound.
    /// A lookup given up on ends by itself; its answer is dropped.
    static func resolve(_ host: String, port: UInt16, deadline: Deadline) throws(HTTPClientError) -> [Address] {
        final class Outcome: @unchecked Sendable {
            let done = DispatchSemaphore(value: 0)
            var addresses: [Address] = []
            var failure: String?
        }
        let outcome = Outcome()
        DispatchQueue.global().async {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            let resolved = getaddrinfo(host, String(port), &hints, &found)
            if resolved != 0 || found == nil {
                outcome.failure = String(cString: gai_strerror(resolved))
            } else {
                var cursor = found
                while let entry = cursor {
                    let bytes = [UInt8](UnsafeRawBufferPointer(start: entry.pointee.ai_addr, count: Int(entry.pointee.ai_addrlen)))
                    outcome.addresses.append(Address(family: entry.pointee.ai_family, socketType: entry.pointee.ai_socktype,
                                                     proto: entry.pointee.ai_protocol, bytes: bytes))
                    cursor = entry.pointee.ai_next
                }
                freeaddrinfo(found)
            }
            outcome.done.signal()
        }
        guard outcome.done.wait(timeout: deadline.end) == .success else {
            throw HTTPClientError(.timedOut, "resolving \(host) took longer than the exchange's deadline")
        }
        if let failure = outcome.failure { throw HTTPClientError(.cannotConnect, "cannot resolve \(host): \(failure)") }
        return outcome.addresses
    }

    /// Resolves the host and connects to the first address that answers, within the deadline.
    private func connect(_ deadline: Deadline) throws(HTTPClientError) -> Int32 {
        var lastError = "no address"
        for address in try HTTPClient.resolve(host, port: port, deadline: deadline) {
            let fd = socket(address.family, address.socketType, address.proto)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var yes: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            let connected = address.bytes.withUnsafeBytes {
                Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
            }
            if connected == 0 { return fd }
            guard errno == EINPROGRESS else { lastError = String(cString: strerror(errno)); close(fd); continue }
            var waiter = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&waiter, 1, deadline.pollMilliseconds(idleSeconds: limits.idleSeconds))
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
            if ready == 1 && code == 0 { return fd }
            lastError = ready == 0 ? "timed out" : String(cString: strerror(code != 0 ? code : errno))
            close(fd)
            if deadline.isPast { throw HTTPClientError(.timedOut, "connecting to \(host):\(port) took too long") }
        }
        throw HTTPClientError(.cannotConnect, "cannot connect to \(host):\(port): \(lastError)")
    }

    static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body's length: one `Content-Length` of digits only (repeated, it must agree).
    public static func contentLength(_ headers: [(name: String, value: String)]) -> Int64? {
        let values = Set(headers.filter { $0.name.lowercased() == "content-length" }.map { $0.value })
        guard values.count == 1, let text = values.first, !text.isEmpty, text.utf8.count <= 18,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int64(text)
    }
}

/// The failures of an exchange, by kind; the message says what happened.
public struct HTTPClientError: Error, CustomStringConvertible, @unchecked Sendable {
    public enum Kind: Sendable, Equatable {
        /// `timedOut`: the exchange's deadline passed; `stalled`: nothing came for the idle time.
        case cannotConnect, timedOut, stalled, closed, malformed, unframed, tooLarge, sink
    }
    public let kind: Kind
    public let message: String
    /// The error `sink` threw, for `.sink`.
    public let underlying: (any Error)?

    public init(_ kind: Kind, _ message: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}

/// A point in time an exchange must end by, on the monotonic clock.
struct Deadline {
    let end: DispatchTime

    init(seconds: Double) {
        end = .now() + .nanoseconds(Int(min(max(seconds, 0), 7 * 86_400) * 1e9))
    }

    var isPast: Bool { DispatchTime.now() >= end }

    /// How long `poll` may wait: the idle bound, but never past the deadline.
    func pollMilliseconds(idleSeconds: Double) -> Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        let left = end.uptimeNanoseconds > now ? end.uptimeNanoseconds - now : 0
        return Int32(min(Double(left) / 1e6, idleSeconds * 1000, Double(Int32.max)).rounded(.up))
    }
}

/// A lock without Foundation (this module needs only Glibc and Dispatch).
final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
