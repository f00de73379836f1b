import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Waiting between the benchmark's phases until the machine is quiet, so that what one phase set
/// going (writeback of its files, the kernel reclaiming what it freed, whatever else shares the
/// machine) does not fall on the next phase's figures. The run's figures are ratios within one
/// run; a phase that starts on a busy machine moves one side of them.
enum MachineQuiet {
    /// The share of the processors' time that must be idle in each of two windows in a row.
    static let idleShareMin = 0.9
    /// One window's length.
    static let windowSeconds = 0.5
    /// The longest wait: a machine busy with something else for good is measured as it is.
    static let waitSecondsMax = 15.0
    /// The longest wait in `--quick`, which must finish within a minute on a busy CI machine.
    static let quickWaitSecondsMax = 2.0

    /// Writes out dirty pages (`sync`), then waits until two windows in a row are at least
    /// `idleShareMin` idle across all processors (from `/proc/stat`), at most `seconds`.
    /// Prints how long it waited when that was more than the two windows. Where `/proc/stat`
    /// cannot be read, it only syncs.
    static func settle(waitingAtMost seconds: Double) {
        sync()
        let start = Date()
        var quietWindows = 0
        guard var before = idleAndTotal() else { return }
        while quietWindows < 2 && Date().timeIntervalSince(start) < seconds {
            usleep(UInt32(windowSeconds * 1_000_000))
            guard let now = idleAndTotal() else { return }
            // proc(5): a counter (iowait) may go backwards; a window where one did counts as busy.
            let total = now.total > before.total ? now.total - before.total : 0
            let idle = total > 0 && now.idle >= before.idle ? Double(now.idle - before.idle) / Double(total) : 0
            quietWindows = idle >= idleShareMin ? quietWindows + 1 : 0
            before = now
        }
        let waited = Date().timeIntervalSince(start)
        if waited > 2 * windowSeconds + 0.5 {
            print(String(format: "  (waited %.1f s for the machine to be quiet%@)\n", waited, quietWindows < 2 ? ", and it was not" : ""))
        }
    }

    /// Idle and total time of all processors so far, in clock ticks, from `/proc/stat`'s `cpu`
    /// line (user, nice, system, idle, iowait, irq, softirq, steal: waiting on the disk counts as
    /// busy, since the next phase's commits would wait on it too).
    static func idleAndTotal() -> (idle: UInt64, total: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard fields.count == 8 else { return nil }
        return (fields[3], fields.reduce(0, +))
    }
}
