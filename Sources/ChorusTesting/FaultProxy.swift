import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy between a replica and its upstream that misbehaves on purpose, from a seed:
/// it delays, cuts connections in the middle of a response, and drops a response after the
/// upstream has already acted on the request. Scheduled only, never drawn: it answers with a
/// body that never ends, or passes the upstream's answer on a byte at a time. One thread per
/// connection; loopback only.
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: String, CaseIterable, Sendable {
        case none, delay, cutMidResponse, dropResponse
        /// Answers in the upstream's place: a 200 whose body (no length, to the connection's end)
        /// goes on until the client closes.
        case endlessAnswer
        /// The same, announcing a length of 1 GiB.
        case oversizedAnswer
        /// Passes the upstream's answer on with its head whole, then its body one byte every 50 ms.
        case trickledAnswer
    }

    public let upstreamPort: UInt16
    public private(set) var port: UInt16 = 0
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var rng: SeededGenerator
    private var stopped = false
    /// How many connections suffered each fault.
    public private(set) var counts: [Fault: Int] = [:]
    /// Bytes written to clients by `endlessAnswer`, before each client closed.
    public var endlessBytesSent: Int { lock.withLock { endlessSent } }
    private var endlessSent = 0
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
        (listener, port) = LoopbackListener.open()
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
        var headBytes = Int.max
        var lastFour: UInt32 = 0
        while true {
            var pollers = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
            if poll(&pollers, 2, 20_000) <= 0 { return }
            if pollers[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                if fault == .endlessAnswer || fault == .oversizedAnswer { return answerWithoutEnd(client, announcing: fault == .oversizedAnswer ? 1 << 30 : nil) }
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
                case .trickledAnswer:
                    for index in 0..<n {
                        if !sendAll(client, [buffer[index]], 1) { return }
                        responseBytes += 1
                        if responseBytes > headBytes { usleep(50_000) }
                        lastFour = lastFour << 8 | UInt32(buffer[index])
                        if headBytes == Int.max, lastFour == 0x0D0A_0D0A { headBytes = responseBytes }   // the head's blank line
                    }
                case .delay:
                    usleep(useconds_t(delayMilliseconds * 1000))
                    fallthrough
                case .none, .endlessAnswer, .oversizedAnswer:
                    responseBytes += n
                    if !sendAll(client, buffer, n) { return }
                }
            }
        }
    }

    /// A 200 whose body goes on until the client closes the connection, with no length or
    /// announcing `length`.
    private func answerWithoutEnd(_ client: Int32, announcing length: Int?) {
        let framing = length.map { "Content-Length: \($0)\r\n" } ?? ""
        let head = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\(framing)Connection: close\r\n\r\n[".utf8)
        guard sendAll(client, head, head.count) else { return }
        let piece = [UInt8](repeating: UInt8(ascii: " "), count: 64 * 1024)
        while sendAll(client, piece, piece.count) {
            lock.withLock { endlessSent += piece.count }
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
