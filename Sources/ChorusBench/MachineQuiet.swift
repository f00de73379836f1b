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
        processorTimes().map { ($0[3], $0.reduce(0, +)) }
    }

    /// Time the hypervisor ran something else while this machine's processors wanted to run
    /// (steal), and the total, in clock ticks so far, from `/proc/stat`.
    static func stolenAndTotal() -> (stolen: UInt64, total: UInt64)? {
        processorTimes().map { ($0[7], $0.reduce(0, +)) }
    }

    /// The first eight counters of `/proc/stat`'s `cpu` line, nil where it cannot be read.
    private static func processorTimes() -> [UInt64]? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        return fields.count == 8 ? fields : nil
    }
}

/// The share of the processors' time stolen by the hypervisor over the spans measured (summed:
/// a span of a few hundred milliseconds is a few dozen clock ticks). Steal taken from the second
/// core slows work on two cores (the merge) more than work on one (the raw updates beside it):
/// this says whether it fell on either.
struct StolenShare {
    private var stolen: UInt64 = 0, total: UInt64 = 0
    private var started: (stolen: UInt64, total: UInt64)?

    mutating func start() { started = MachineQuiet.stolenAndTotal() }

    mutating func stop() {
        guard let started, let now = MachineQuiet.stolenAndTotal(), now.total >= started.total, now.stolen >= started.stolen else { return }
        stolen += now.stolen - started.stolen
        total += now.total - started.total
        self.started = nil
    }

    /// Percent of the spans' processor time, nil when nothing was read.
    var percent: Double? { total > 0 ? Double(stolen) / Double(total) * 100 : nil }
}
