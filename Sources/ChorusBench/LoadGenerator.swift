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
    private let process = Process()
    private let scratch: Scratch
    let port: UInt16

    /// Nil when nginx is not installed (Tests/Bench/run-benchmarks.sh installs it).
    static func start() throws -> NginxServer? {
        guard let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        return try NginxServer(binary: binary)
    }

    private init(binary: String) throws {
        scratch = try Scratch("nginx")
        try String(repeating: "x", count: 199).appending("\n").write(toFile: scratch.file("file.txt"), atomically: true, encoding: .utf8)
        port = UInt16(20000 + Int.random(in: 0..<20000))
        let config = """
        daemon off; worker_processes 2; pid \(scratch.file("nginx.pid")); error_log \(scratch.file("error.log"));
        events { worker_connections 1024; }
        http { access_log off; keepalive_requests 100000;
          server { listen 127.0.0.1:\(port); root \(scratch.path); location / { } } }
        """
        try config.write(toFile: scratch.file("nginx.conf"), atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-c", scratch.file("nginx.conf"), "-p", scratch.path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<50 { if (try? RawClient(port: port)) != nil { break }; usleep(50_000) }
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
