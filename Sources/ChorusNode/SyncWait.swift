#if canImport(Glibc)
import Glibc
#endif

/// The wait before a background sync, measured so that a laptop's sleep counts.
///
/// Why: a timer on the process's uptime clock (`DispatchTime`, Linux's `CLOCK_MONOTONIC`) stops
/// while the machine is suspended. A laptop closed during a backoff (its network went first, so
/// its syncs failed) woke with the rest of up to five minutes still to wait, and an office's
/// changes reached it that much later. The wall clock runs on during a suspension, but it jumps
/// when it is set: a clock fixed from an hour ahead (what a refused sync asks for) would have
/// held the next sync for that hour. `CLOCK_BOOTTIME` runs during a suspension and is never set.
///
/// So the node looks at most every `checkSeconds` (on the uptime clock) and syncs once the wait has
/// passed on the boot clock, or at once when the machine slept at least `sleptSecondsMin` since
/// the wait began: a wake-up is when networks come back, so the backoff starts again from there.
/// Pure: `Node` reads the clocks (`SyncWait.Clocks.now`).
public struct SyncWait: Sendable, Equatable {
    /// How long to wait, seconds.
    public let seconds: Double
    /// The clocks as the wait began.
    public let began: Clocks

    /// Seconds between looks at the clocks, at most: how late after a wake-up the sync comes.
    public static let checkSeconds = 5.0
    /// A suspension at least this long (boot clock minus uptime, since the wait began) ends the wait.
    public static let sleptSecondsMin = 10.0

    /// The two clocks, in nanoseconds: `awake` stops during a suspension, `boot` does not.
    public struct Clocks: Sendable, Equatable {
        public let awake: UInt64
        public let boot: UInt64
        public init(awake: UInt64, boot: UInt64) { (self.awake, self.boot) = (awake, boot) }

        /// This machine's clocks now (`CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`).
        public static var now: Clocks {
            func read(_ clock: clockid_t) -> UInt64 {
                var time = timespec()
                guard clock_gettime(clock, &time) == 0 else { return 0 }
                return UInt64(max(time.tv_sec, 0)) &* 1_000_000_000 &+ UInt64(max(time.tv_nsec, 0))
            }
            return Clocks(awake: read(CLOCK_MONOTONIC), boot: read(CLOCK_BOOTTIME))
        }
    }

    public init(seconds: Double, began: Clocks) {
        self.seconds = max(seconds, 0)
        self.began = began
    }

    /// Seconds since the wait began at `now`, awake and in all (sleep counted).
    private func elapsed(at now: Clocks) -> (awake: Double, total: Double) {
        (Double(now.awake &- min(began.awake, now.awake)) / 1e9, Double(now.boot &- min(began.boot, now.boot)) / 1e9)
    }

    /// Whether the sync is due at `now`.
    public func isDue(at now: Clocks) -> Bool {
        let (awake, total) = elapsed(at: now)
        return total >= seconds || awake >= seconds || total - awake >= SyncWait.sleptSecondsMin
    }

    /// Seconds from `now` until the next look at the clocks: what is left of the wait (by the
    /// clock that has run the most), at most `checkSeconds`, so the sync comes when the wait ends,
    /// not at the next multiple of a look's period.
    public func nextCheckSeconds(at now: Clocks) -> Double {
        let (awake, total) = elapsed(at: now)
        return max(0, min(SyncWait.checkSeconds, seconds - max(awake, total)))
    }
}
