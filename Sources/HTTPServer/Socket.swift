import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Thin POSIX socket helpers: the only place that calls socket(2) and friends.
enum Socket {
    struct Failure: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
    }

    /// The IPv4 address `host` names (`localhost` is 127.0.0.1); nil when it names none: the
    /// node listens on IPv4 only.
    static func ipv4Address(_ host: String) -> in_addr? {
        var address = in_addr()
        return inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address) == 1 ? address : nil
    }

    /// A listening IPv4 TCP socket bound to host:port (port 0 picks a free port).
    static func listen(host: String, port: UInt16, backlog: Int32) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard let parsed = ipv4Address(host) else {
            close(fd)
            throw Failure(call: "inet_pton(\(host)): give an IPv4 address such as 127.0.0.1 or 0.0.0.0", code: EINVAL)
        }
        address.sin_addr = parsed
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { let code = errno; close(fd); throw Failure(call: "bind(\(host):\(port))", code: code) }
        guard Glibc.listen(fd, backlog) == 0 else { let code = errno; close(fd); throw Failure(call: "listen", code: code) }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try setNonBlocking(fd)
        return (fd, UInt16(bigEndian: actual.sin_port))
    }

    static func setNonBlocking(_ fd: Int32) throws {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw Failure(call: "fcntl", code: errno) }
    }

    /// What `accept` found.
    enum Accepted {
        case connection(Int32, remote: String)
        /// None is pending (or the one pending went away before it was taken).
        case none
        /// The process or system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
        /// ENOMEM): the connection stays pending, and the listener stays readable.
        case exhausted
    }

    /// Accepts one pending connection.
    static func accept(_ listener: Int32) -> Accepted {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
        }
        guard fd >= 0 else { return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) ? .exhausted : .none }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return .connection(fd, remote: "\(host):\(UInt16(bigEndian: address.sin_port))")
    }

    /// Sends what the socket takes without waiting: the number of bytes sent (fewer than given
    /// when the socket is full), or -1 when the connection failed.
    static func sendNow(_ fd: Int32, _ bytes: [UInt8]) -> Int { sendNow(fd, bytes[...]) }

    static func sendNow(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Int {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if written > 0 { offset += written; continue }
                if written < 0 && errno == EINTR { continue }
                if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                return -1
            }
            return offset
        }
    }

    /// Writes all bytes, waiting (up to `timeoutMilliseconds` per stall) when the socket is full.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], timeoutMilliseconds: Int32) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0, timeoutMilliseconds: timeoutMilliseconds) }
    }

    /// Writes all of `raw`, waiting at most `timeoutMilliseconds` for the socket to take more
    /// each time it is full, and never past `deadline` (uptime nanoseconds) when one is given:
    /// a client reading a little before each wait ends would otherwise keep a streamed body going
    /// far past its own limit, which is checked only between pieces.
    static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, timeoutMilliseconds: Int32, deadline: UInt64? = nil) -> Bool {
        var offset = 0
        while offset < raw.count {
            let written = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            if written > 0 { offset += written; continue }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                var wait = timeoutMilliseconds
                if let deadline {
                    let now = DispatchTime.now().uptimeNanoseconds
                    guard now < deadline else { return false }
                    wait = Int32(min(Int64(wait), Int64((deadline - now) / 1_000_000) + 1))
                }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&poller, 1, wait) <= 0 { return false }
                continue
            }
            return false
        }
        return true
    }
}
