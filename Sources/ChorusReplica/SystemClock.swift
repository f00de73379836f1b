import ChorusCore
#if canImport(Glibc)
import Glibc
#endif

/// The machine's real-time clock, optionally offset (a test option for a skewed replica).
public struct SystemClock: WallClock {
    public let offsetMilliseconds: Int64
    public init(offsetMilliseconds: Int64 = 0) { self.offsetMilliseconds = offsetMilliseconds }

    public func nowMilliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let now = Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000 + offsetMilliseconds
        return now < 0 ? 0 : UInt64(now)
    }
}
