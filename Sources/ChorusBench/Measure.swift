import Foundation

/// Median, minimum and maximum of repeated measurements.
struct Stats {
    let samples: [Double]
    var median: Double { let s = samples.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
    var min: Double { samples.min() ?? 0 }
    var max: Double { samples.max() ?? 0 }
}

/// Seconds taken by `body`.
func time(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// CPU seconds the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`): set beside a wall time,
/// how much of it the thread ran rather than waited (for the disk, for another thread).
func threadCPUSeconds() -> Double { cpuSeconds(CLOCK_THREAD_CPUTIME_ID) }

/// CPU seconds all the process's threads have used (`CLOCK_PROCESS_CPUTIME_ID`): set beside a
/// wall time, how many cores the work had on average.
func processCPUSeconds() -> Double { cpuSeconds(CLOCK_PROCESS_CPUTIME_ID) }

private func cpuSeconds(_ clock: clockid_t) -> Double {
    var spec = timespec()
    clock_gettime(clock, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Runs `setup` then times `body` `repetitions` times.
func repeated<T>(_ repetitions: Int, setup: () throws -> T, _ body: (T) throws -> Void) rethrows -> Stats {
    var samples: [Double] = []
    for _ in 0..<repetitions {
        let state = try setup()
        samples.append(try time { try body(state) })
    }
    return Stats(samples: samples)
}

/// p50 and p99 of `repetitions` runs of `samples` latencies each: one Stats per percentile, so a
/// latency figure carries its median, min and max like every other.
func latencyPercentiles(_ repetitions: Int, samples: Int, _ sample: (Int) throws -> Double) rethrows -> (p50: Stats, p99: Stats) {
    var p50: [Double] = [], p99: [Double] = []
    var index = 0
    for _ in 0..<repetitions {
        var latencies: [Double] = []
        for _ in 0..<samples {
            latencies.append(try sample(index))
            index += 1
        }
        p50.append(percentile(latencies, 50))
        p99.append(percentile(latencies, 99))
    }
    return (Stats(samples: p50), Stats(samples: p99))
}

/// The p-th percentile (0...100) of latencies.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let index = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[Swift.min(Swift.max(index, 0), sorted.count - 1)]
}

/// A fresh folder for one measurement, removed by `remove()`.
final class Scratch {
    let path: String
    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "chorus-bench-\(name)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    /// Removes the folder, unless `CHORUS_BENCH_KEEP_SCRATCH` is set: then it stays, and its path
    /// is printed, for reading a run's databases afterwards (`sqlite3`, `Tests/Bench/fold-estimate.py`).
    func remove() {
        guard ProcessInfo.processInfo.environment["CHORUS_BENCH_KEEP_SCRATCH"] == nil else {
            FileHandle.standardError.write(Data("chorus-bench: kept \(path)\n".utf8))
            return
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Resident memory of a process from /proc: current (VmRSS) and peak (VmHWM), in bytes.
func processMemory(pid: Int32) -> (rss: Int, peak: Int) {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "0") ?? 0) * 1024
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

func fileSize(_ path: String) -> Int {
    ["", "-wal"].reduce(0) { sum, suffix in sum + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0) }
}

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
