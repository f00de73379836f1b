import ChorusCore
import ChorusTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A closed-loop HTTP load generator: one thread per keep-alive connection, each sending its
/// request and waiting for the whole response before the next, for a fixed time.
enum LoadGenerator {
    static func run(port: UInt16, requests: [String], seconds: Double) throws -> (rate: Double, latencies: [Double]) {
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var latencies: [Double] = []
            var failures = 0
            var firstFailure = "could not connect"
        }
        let shared = Shared()
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        let started = DispatchTime.now().uptimeNanoseconds
        Threads.run(count: requests.count) { index in
            var local: [Double] = []
            local.reserveCapacity(100_000)
            guard var client = try? RawClient(port: port) else { shared.lock.withLock { shared.failures += 1 }; return }
            let bytes = Array(requests[index].utf8)
            var mustReconnect = false
            while DispatchTime.now().uptimeNanoseconds < deadline {
                let start = DispatchTime.now().uptimeNanoseconds
                if mustReconnect {
                    // The server closes a connection after requestsPerConnectionMax requests, as HTTP allows.
                    guard let fresh = try? RawClient(port: port) else { shared.lock.withLock { shared.failures += 1 }; return }
                    client = fresh
                    mustReconnect = false
                }
                client.send(bytes)
                guard let response = client.readResponse(), response.status == 200 else {
                    shared.lock.withLock {
                        shared.failures += 1
                        if shared.failures == 1 { shared.firstFailure = client.lastStatusLine ?? "no response" }
                    }
                    return
                }
                local.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                if response.headers.contains("Connection: close") { mustReconnect = true }
            }
            shared.lock.withLock { shared.latencies += local }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        // As with wrk: a failing server answers fast, and its rate would not be the rate measured.
        if shared.failures > 0 {
            throw ChorusError(.invalidState, "\(shared.failures) of the load generator's \(requests.count) connections failed (first: \(shared.firstFailure)): the figure is not reported")
        }
        return (Double(shared.latencies.count) / elapsed, shared.latencies)
    }
}

/// nginx serving a static 200-byte file on 127.0.0.1, when it is installed: started once, measured
/// as often as the run asks, stopped at the end.
final class NginxServer {
    private var process = Process()
    private let scratch: Scratch
    private(set) var port: UInt16 = 0

    /// Attempts at starting it, each on a port the kernel just reported free.
    static let startAttempts = 5

    /// Nil when nginx is not installed (Tests/Bench/run-benchmarks.sh installs it).
    static func start() throws -> NginxServer? {
        guard let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        return try NginxServer(binary: binary)
    }

    /// Starts nginx on a free port of 127.0.0.1 and waits until it accepts connections.
    ///
    /// Why a port the kernel reports free, and attempts: a random port from 20,000 to 40,000 (as
    /// before) fell in the range the kernel gives connections' own ports (from 32,768), and in one
    /// full run of six nginx could not bind one, exited, and the measurement failed with "connection
    /// refused". A port can still be taken between the check and nginx's bind, so a start whose
    /// nginx exits is tried again on another.
    private init(binary: String) throws {
        scratch = try Scratch("nginx")
        try String(repeating: "x", count: 199).appending("\n").write(toFile: scratch.file("file.txt"), atomically: true, encoding: .utf8)
        for _ in 0..<NginxServer.startAttempts {
            port = try NginxServer.freePort()
            let config = """
            daemon off; worker_processes 2; pid \(scratch.file("nginx.pid")); error_log \(scratch.file("error.log"));
            events { worker_connections 1024; }
            http { access_log off; keepalive_requests 100000;
              server { listen 127.0.0.1:\(port); root \(scratch.path); location / { } } }
            """
            try config.write(toFile: scratch.file("nginx.conf"), atomically: true, encoding: .utf8)
            process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["-c", scratch.file("nginx.conf"), "-p", scratch.path]
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<50 {
                if (try? RawClient(port: port)) != nil { return }
                if !process.isRunning { break }
                usleep(50_000)
            }
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }
        let log = (try? String(contentsOfFile: scratch.file("error.log"), encoding: .utf8)) ?? ""
        scratch.remove()
        throw ChorusError(.invalidState, "nginx did not start in \(NginxServer.startAttempts) attempts: \(log.suffix(400))",
                          hint: "run `\(binary) -t` to check the installation; the comparison needs it")
    }

    /// A port of 127.0.0.1 that no socket is bound to now: the one the kernel gives a socket bound to port 0.
    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChorusError(.invalidState, "could not open a socket to find a free port (errno \(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ChorusError(.invalidState, "could not bind a socket to find a free port (errno \(errno))") }
        return UInt16(bigEndian: address.sin_port)
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        scratch.remove()
    }
}

/// Runs `body(index)` on `count` threads of its own, all at once, and returns when every one has.
/// Not `DispatchQueue.concurrentPerform`: it runs about as many iterations at a time as the machine
/// has cores, so 64 "connections" that block on their sockets were 2 in flight on this machine.
enum Threads {
    static func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            let thread = Thread { body(index); group.leave() }
            thread.stackSize = 256 * 1024
            thread.start()
        }
        group.wait()
    }
}
