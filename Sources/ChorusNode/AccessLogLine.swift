import ChorusCore
import HTTPServer

/// The node's access-log line for a request: one object of canonical JSON (keys sorted by their
/// UTF-8 bytes, no whitespace), with the request's standard members and its annotations (an
/// annotation replaces a standard member of the same name, as a string).
///
/// Written straight out, the standard members in their canonical order with the annotations merged
/// in: building the members as `JSONValue`s and writing them through the general writer was a
/// fifth of a no-op sync's instructions (callgrind, `Tests/Bench/profile-noop.sh`).
/// `AccessLogLineTests` checks it against `JSONValue.object(...).canonicalText`.
enum AccessLogLine {
    static func text(_ entry: HTTPServer.LogEntry, time: UInt64) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(192)
        let annotations = entry.annotations.count < 2 ? Array(entry.annotations)
            : entry.annotations.sorted { JSONValue.utf8Less($0.key, $1.key) }
        var next = 0
        /// Writes the annotations ordered before `key`, then `key` itself: its annotation when it
        /// has one, else `value`.
        func member(_ key: String, _ value: (inout [UInt8]) -> Void) {
            while next < annotations.count && JSONValue.utf8Less(annotations[next].key, key) {
                write(annotations[next].key, annotations[next].value, to: &output)
                next += 1
            }
            if next < annotations.count && annotations[next].key == key {
                write(key, annotations[next].value, to: &output)
                next += 1
                return
            }
            start(key, in: &output)
            value(&output)
        }
        output.append(UInt8(ascii: "{"))
        member("bytes") { DecimalText.append(entry.bytes, to: &$0) }
        member("event") { $0.append(contentsOf: "\"request\"".utf8) }
        member("method") { JSONValue.string(entry.method).write(to: &$0, pretty: false, indent: 0) }
        member("ms") { JSONValue.double((entry.milliseconds * 100).rounded() / 100).write(to: &$0, pretty: false, indent: 0) }
        member("path") { JSONValue.string(entry.path).write(to: &$0, pretty: false, indent: 0) }
        member("remote") { JSONValue.string(entry.remote).write(to: &$0, pretty: false, indent: 0) }
        member("status") { DecimalText.append(entry.status, to: &$0) }
        member("time") { DecimalText.append(Int64(time), to: &$0) }
        while next < annotations.count {
            write(annotations[next].key, annotations[next].value, to: &output)
            next += 1
        }
        output.append(UInt8(ascii: "}"))
        return String(decoding: output, as: UTF8.self)
    }

    /// A comma unless the object has just opened, then the key and its colon.
    private static func start(_ key: String, in output: inout [UInt8]) {
        if output.last != UInt8(ascii: "{") { output.append(UInt8(ascii: ",")) }
        JSONValue.string(key).write(to: &output, pretty: false, indent: 0)
        output.append(UInt8(ascii: ":"))
    }

    private static func write(_ key: String, _ value: String, to output: inout [UInt8]) {
        start(key, in: &output)
        JSONValue.string(value).write(to: &output, pretty: false, indent: 0)
    }
}
