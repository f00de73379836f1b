import CLinux
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One thread waiting on epoll for the sockets of its connections and for the shared listener.
///
/// Why not a Dispatch read source per connection: each readable socket then went from
/// libdispatch's manager thread to a worker thread woken for it, on a pool that grew to about 90
/// threads for 64 busy connections; on 2 cores the switching, not the requests, took most of the
/// time (`perf`, `chorus-bench --only-noop`; Docs/performance-notes.md, sixteenth round). A loop
/// reads, parses and answers what the server's inline handler can answer at once, on its own
/// thread; what may wait (the replica's turn) goes to the connection's Dispatch queue, and the
/// socket comes back to the loop when that request is done.
///
/// Every loop watches the listener with `EPOLLEXCLUSIVE`, so a new connection wakes one loop,
/// which then owns it. Timeouts are checked by a sweep every `sweepMilliseconds`.
final class EventLoop: @unchecked Sendable {
    /// The loop's thread holds the server strongly while it runs (`start`), so a server dropped
    /// without a shutdown keeps serving; the server holds its loops, not the other way round.
    unowned let server: HTTPServer
    /// Internal for a test that breaks it (`HTTPServerTests`).
    let epoll: Int32
    /// Written to wake the loop at once (shutdown), instead of at its next sweep.
    private let wake: Int32
    private let listener: Int32
    private let sweepMilliseconds: Int32
    private let lock = NSLockShim()
    /// The connections this loop owns, by descriptor; changed under `lock` from any thread.
    private var connections: [Int32: Connection] = [:]
    private var isListening = true
    /// The listener is unwatched until the next sweep: the process ran out of descriptors.
    private var listenerPaused = false
    /// The epoll and eventfd descriptors are closed (the loop ended, or never started).
    private var isClosed = false

    /// Ready descriptors handled per wait.
    static let eventsPerWaitMax: Int32 = 64

    init(server: HTTPServer, listener: Int32, sweepMilliseconds: Int32) throws {
        self.server = server
        self.listener = listener
        self.sweepMilliseconds = sweepMilliseconds
        epoll = chorus_epoll_create()
        guard epoll >= 0 else { throw Socket.Failure(call: "epoll_create1", code: errno) }
        wake = chorus_eventfd()
        guard wake >= 0 else { let code = errno; close(epoll); throw Socket.Failure(call: "eventfd", code: code) }
        guard chorus_epoll_add(epoll, listener, chorus_epoll_in | chorus_epoll_exclusive) == 0,
              chorus_epoll_add(epoll, wake, chorus_epoll_in) == 0 else {
            let code = errno
            close(epoll)
            close(wake)
            throw Socket.Failure(call: "epoll_ctl", code: code)
        }
    }

    /// Starts the loop's thread, which runs until the server shuts down and the loop's last
    /// connection has closed. Returns pthread_create's error (the process is out of threads:
    /// `RLIMIT_NPROC`, a cgroup's `pids.max`), 0 when it started; one not started is closed with
    /// `abandonUnstarted`.
    func start() -> Int32 {
        final class Running {
            let loop: EventLoop, server: HTTPServer
            init(_ loop: EventLoop) { self.loop = loop; self.server = loop.server }
        }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Running(self)).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            let running = Unmanaged<Running>.fromOpaque(raw!).takeRetainedValue()
            running.loop.run()
            return nil
        }, box)
        guard created == 0 else {
            Unmanaged<Running>.fromOpaque(box).release()
            return created
        }
        pthread_detach(thread)
        return 0
    }

    /// A loop whose thread could not start: it stops listening (the last one closes the
    /// listener) and closes its descriptors.
    func abandonUnstarted() {
        stopListening()
        closeDescriptors()
    }

    private func run() {
        var ready = [Int32](repeating: 0, count: Int(EventLoop.eventsPerWaitMax))
        var nextSweep = DispatchTime.now().uptimeNanoseconds + UInt64(sweepMilliseconds) * 1_000_000
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            let wait = now >= nextSweep ? 0 : Int32((nextSweep - now) / 1_000_000) + 1
            let count = chorus_epoll_wait(epoll, &ready, EventLoop.eventsPerWaitMax, wait)
            if count < 0 && errno != EINTR {
                fail(call: "epoll_wait", code: errno)
                return
            }
            for index in 0..<Int(max(count, 0)) {
                let fd = ready[index]
                if fd == listener {
                    acceptPending()
                } else if fd == wake {
                    var value: UInt64 = 0
                    _ = read(wake, &value, 8)
                } else if let connection = lock.withLock({ connections[fd] }) {
                    connection.ready()
                }
            }
            let after = DispatchTime.now().uptimeNanoseconds
            if after >= nextSweep {
                nextSweep = after + UInt64(sweepMilliseconds) * 1_000_000
                for connection in lock.withLock({ Array(connections.values) }) { connection.sweep(now: after) }
                resumeListening()
            }
            if server.shuttingDown {
                stopListening()
                for connection in lock.withLock({ Array(connections.values) }) { connection.closeIfIdle() }
                if lock.withLock({ connections.isEmpty }) { break }
            }
        }
        stopListening()
        closeDescriptors()
    }

    deinit { closeDescriptors() }

    /// The loop cannot wait any more (`epoll_wait` failed with EBADF or EINVAL, which only a
    /// fault in this process can cause): it stops listening, tells the server, and closes every
    /// connection it has, so no client waits on a socket nobody will read. A connection a worker
    /// has is closed when the worker gives it back (`watch` then refuses it).
    private func fail(call: String, code: Int32) {
        closeDescriptors()
        stopListening()
        for connection in lock.withLock({ Array(connections.values) }) { connection.abandon() }
        server.loopFailed(Socket.Failure(call: call, code: code))
    }

    /// Closes the epoll and eventfd descriptors once; `wakeUp` writes nothing after.
    private func closeDescriptors() {
        lock.withLock {
            guard !isClosed else { return }
            isClosed = true
            close(wake)
            close(epoll)
        }
    }

    private func stopListening() {
        let was = lock.withLock { () -> Bool in
            defer { isListening = false }
            return isListening
        }
        if was {
            lock.withLock { if !isClosed { _ = chorus_epoll_delete(epoll, listener) } }
            server.loopStoppedListening()
        }
    }

    /// Wakes the loop now (it otherwise notices a shutdown at its next sweep).
    func wakeUp() {
        // Under the lock, so the descriptor cannot be closed (and its number reused) meanwhile.
        lock.withLock {
            guard !isClosed else { return }
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
        }
    }

    /// Connections taken from the listener per wake-up: under a flood (refused ones included,
    /// each a 503 and a log line) the loop goes back to its own connections and its sweep in
    /// between, instead of accepting until the backlog is empty, which a flood never lets it be.
    /// The listener, still readable, wakes a loop again at once.
    static let acceptsPerWakeMax = 64

    private func acceptPending() {
        for _ in 0..<EventLoop.acceptsPerWakeMax {
            let (fd, remote): (Int32, String)
            switch Socket.accept(listener) {
            case .connection(let accepted, let address): (fd, remote) = (accepted, address)
            case .none: return
            case .exhausted:
                pauseListening()
                return
            }
            guard (try? Socket.setNonBlocking(fd)) != nil else { close(fd); continue }
            let connection = Connection(fd: fd, remote: remote, server: server, loop: self)
            guard server.register(connection) else { server.refuse(fd, remote: remote); continue }
            lock.withLock { connections[fd] = connection }
            connection.start()
        }
    }

    /// Out of descriptors, the listener stays readable and every wait would return at once to an
    /// `accept` that fails again: the loop would spin a core until a descriptor came free. It
    /// stops watching the listener until its next sweep (at most 250 ms); pending connections
    /// wait in the backlog meanwhile, and those of its connections that end free descriptors.
    private func pauseListening() {
        lock.withLock {
            guard !isClosed, isListening, !listenerPaused else { return }
            _ = chorus_epoll_delete(epoll, listener)
            listenerPaused = true
        }
        server.noteDescriptorsExhausted()
    }

    /// Watches the listener again after `pauseListening` (at a sweep).
    private func resumeListening() {
        lock.withLock {
            guard listenerPaused else { return }
            listenerPaused = false
            guard !isClosed, isListening else { return }
            _ = chorus_epoll_add(epoll, listener, chorus_epoll_in | chorus_epoll_exclusive)
        }
    }

    /// Starts or resumes watching a connection's socket; false when epoll refuses it or the loop
    /// has ended. Under the lock, so the epoll descriptor cannot be closed (and its number
    /// reused) meanwhile.
    func watch(_ fd: Int32, writing: Bool = false) -> Bool {
        lock.withLock { !isClosed && chorus_epoll_add(epoll, fd, writing ? chorus_epoll_out : chorus_epoll_in) == 0 }
    }

    /// Switches a watched socket between waiting to read and waiting to write (the rest of a
    /// response the client is slow to take: the loop sends it as the socket drains, and reads
    /// nothing more meanwhile); false when epoll refuses it or the loop has ended.
    func rewatch(_ fd: Int32, writing: Bool) -> Bool {
        lock.withLock { !isClosed && chorus_epoll_modify(epoll, fd, writing ? chorus_epoll_out : chorus_epoll_in) == 0 }
    }

    /// Stops watching a connection's socket (while a worker has it, or before it closes).
    func unwatch(_ fd: Int32) {
        lock.withLock { if !isClosed { _ = chorus_epoll_delete(epoll, fd) } }
    }

    /// Forgets a closed connection; called before its descriptor is closed, so a new connection
    /// given the same number is never mistaken for it.
    func forget(_ fd: Int32) {
        lock.withLock { _ = connections.removeValue(forKey: fd) }
    }
}
