import ChorusCore
import Foundation

/// Counters and histograms in memory, written out in the Prometheus text exposition format
/// (version 0.0.4) by our own code. Thread-safe.
public final class Metrics: @unchecked Sendable {
    private let lock = NSLock()
    private var counters: [String: [Labels: Double]] = [:]
    private var histograms: [String: [Labels: Histogram]] = [:]
    private let help: [String: String] = [
        "chorus_operations_applied_total": "Operations new to this replica, applied from pushes, pulls and a new replica's snapshot.",
        "chorus_http_requests_total": "HTTP requests served, by route and status.",
        "chorus_http_request_duration_seconds": "Time to handle an HTTP request, by route.",
        "chorus_upstream_syncs_total": "Background syncs with the upstream, by outcome.",
        "chorus_snapshots_served_total": "Snapshots sent to new replicas, by whether the copy was written for the request or reused.",
        "chorus_log_compactions_total": "Automatic log compactions (chorus serve --compact-interval), by outcome.",
        "chorus_log_operations_compacted_total": "Operations automatic compactions removed from the log.",
    ]

    /// The latency buckets, in seconds.
    public static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Label pairs, sorted by name so equal sets hash alike.
    struct Labels: Hashable {
        let pairs: [(String, String)]
        /// Sorted only when they are not in order already (a request's route and status are).
        init(_ pairs: [(String, String)]) {
            let inOrder = pairs.indices.dropFirst().allSatisfy { pairs[$0 - 1].0 < pairs[$0].0 }
            self.pairs = inOrder ? pairs : pairs.sorted { $0.0 < $1.0 }
        }
        static func == (a: Labels, b: Labels) -> Bool {
            a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
        func hash(into hasher: inout Hasher) { for (k, v) in pairs { hasher.combine(k); hasher.combine(v) } }
        var text: String { pairs.isEmpty ? "" : "{" + pairs.map { "\($0.0)=\"\(Metrics.escape($0.1))\"" }.joined(separator: ",") + "}" }
        func adding(_ name: String, _ value: String) -> String {
            let all = pairs + [(name, value)]
            return "{" + all.map { "\($0.0)=\"\(Metrics.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
    }

    struct Histogram {
        var counts = [UInt64](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var count: UInt64 = 0
    }

    public init() {}

    public func increment(_ name: String, by amount: Double = 1, labels: [(String, String)] = []) {
        let key = Labels(labels)
        lock.withLock { counters[name, default: [:]][key, default: 0] += amount }
    }

    public func observe(_ name: String, seconds: Double, labels: [(String, String)] = []) {
        let key = Labels(labels)
        lock.withLock {
            // Changed in place: one lookup, and no copy of the histogram's counts.
            Metrics.add(seconds, to: &histograms[name, default: [:]][key, default: Histogram()])
        }
    }

    private static func add(_ seconds: Double, to histogram: inout Histogram) {
        for (index, bound) in Metrics.buckets.enumerated() where seconds <= bound { histogram.counts[index] += 1 }
        histogram.sum += seconds
        histogram.count += 1
    }

    /// A gauge sampled at scrape time.
    public struct Gauge {
        public let name: String
        public let help: String
        public let samples: [(labels: [(String, String)], value: Double)]
        public init(name: String, help: String, samples: [(labels: [(String, String)], value: Double)]) {
            self.name = name
            self.help = help
            self.samples = samples
        }
    }

    /// The exposition text: counters, histograms, then the given gauges.
    public func render(gauges: [Gauge]) -> String {
        var text = ""
        let (counterCopy, histogramCopy) = lock.withLock { (counters, histograms) }
        for name in Set(counterCopy.keys).union(help.keys.filter { $0.hasSuffix("_total") }).sorted() {
            text += "# HELP \(name) \(help[name] ?? name)\n# TYPE \(name) counter\n"
            for (labels, value) in (counterCopy[name] ?? [:]).sorted(by: { $0.key.text < $1.key.text }) {
                text += "\(name)\(labels.text) \(Metrics.number(value))\n"
            }
        }
        for name in histogramCopy.keys.sorted() {
            text += "# HELP \(name) \(help[name] ?? name)\n# TYPE \(name) histogram\n"
            for (labels, histogram) in histogramCopy[name]!.sorted(by: { $0.key.text < $1.key.text }) {
                for (index, bound) in Metrics.buckets.enumerated() {
                    text += "\(name)_bucket\(labels.adding("le", Metrics.number(bound))) \(histogram.counts[index])\n"
                }
                text += "\(name)_bucket\(labels.adding("le", "+Inf")) \(histogram.count)\n"
                text += "\(name)_sum\(labels.text) \(Metrics.number(histogram.sum))\n"
                text += "\(name)_count\(labels.text) \(histogram.count)\n"
            }
        }
        for gauge in gauges {
            text += "# HELP \(gauge.name) \(gauge.help)\n# TYPE \(gauge.name) gauge\n"
            for sample in gauge.samples { text += "\(gauge.name)\(Labels(sample.labels).text) \(Metrics.number(sample.value))\n" }
        }
        return text
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.isNaN { return "NaN" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
