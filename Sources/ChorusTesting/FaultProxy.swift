import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy between a replica and its upstream that misbehaves on purpose, from a seed:
/// it delays, cuts connections in the middle of a response, and drops a response after the
/// upstream has already acted on the request. One thread per connection; loopback only.
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: String, CaseIterable, Sendable {
        case none, delay, cutMidResponse, dropResponse
    }

    public let upstreamPort: UInt16
    public private(set) var port: UInt16 = 0
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var rng: SeededGenerator
    private var stopped = false
    /// How many connections suffered each fault.
    public private(set) var counts: [Fault: Int] = [:]
    /// Probability that a connection gets a fault other than `.none`.
    public var faultProbability = 0.5
    /// Faults the next connections get, in order, before the random ones: a test that must see a
    /// given fault schedules it (the client reuses connections, so a run may open only a dozen).
    public var scheduledFaults: [Fault] {
        get { lock.withLock { scheduled } }
        set { lock.withLock { scheduled = newValue } }
    }
    private var scheduled: [Fault] = []

    public init(upstreamPort: UInt16, seed: UInt64) throws {
        self.upstreamPort = upstreamPort
        self.rng = SeededGenerator(seed: seed)
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        Glibc.listen(listener, 64)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let fault: Fault = lock.withLock {
                let chosen: Fault = !scheduled.isEmpty ? scheduled.removeFirst()
                    : rng.chance(faultProbability) ? rng.pick([.delay, .cutMidResponse, .dropResponse]) : .none
                counts[chosen, default: 0] += 1
                return chosen
            }
            let delay = lock.withLock { rng.int(200) }
            Thread.detachNewThread { [self] in serve(client: client, fault: fault, delayMilliseconds: delay) }
        }
    }

    private func connectUpstream() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = upstreamPort.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if result != 0 { close(fd); return -1 }
        return fd
    }

    /// Relays one connection. Requests go up untouched; responses come back according to `fault`.
    private func serve(client: Int32, fault: Fault, delayMilliseconds: Int) {
        let upstream = connectUpstream()
        guard upstream >= 0 else { close(client); return }
        defer { close(client); close(upstream) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var responseBytes = 0
        while true {
            var pollers = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
            if poll(&pollers, 2, 20_000) <= 0 { return }
            if pollers[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                if fault == .delay { usleep(useconds_t(delayMilliseconds * 1000)) }
                if !sendAll(upstream, buffer, n) { return }
            }
            if pollers[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                switch fault {
                case .dropResponse:
                    return  // the upstream acted; the client never hears of it
                case .cutMidResponse:
                    _ = sendAll(client, buffer, max(1, min(n / 2, responseBytes == 0 ? n / 2 : n)))
                    return
                case .delay:
                    usleep(useconds_t(delayMilliseconds * 1000))
                    fallthrough
                case .none:
                    responseBytes += n
                    if !sendAll(client, buffer, n) { return }
                }
            }
        }
    }

    private func sendAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let n = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
