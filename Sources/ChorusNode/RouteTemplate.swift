/// A route's path template (`/api/v1/people/{id}`) split into segments once, so matching a request
/// splits only the request's path. Splitting every template on every request was most of a no-op
/// sync's instructions (callgrind, `chorus-bench --only-noop`).
struct RouteTemplate: Sendable {
    private enum Segment: Sendable {
        case literal(Substring)
        case placeholder
    }

    private let segments: [Segment]

    init(_ pattern: String) {
        segments = pattern.split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix("{") ? .placeholder : .literal($0) }
    }

    /// A request path's segments, to match against several templates.
    /// Split on the bytes: splitting the characters walked grapheme boundaries, most of matching a
    /// route (callgrind, a no-op sync). A `/` is one byte and never inside a character.
    /// Empty segments are kept, so a path matches only as written: `//sync/v1/push` and
    /// `/sync/v1/push/` reached the push while the checks keyed on the path's prefix skipped them
    /// (a read-only audit).
    static func segments(of path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
    }

    /// The placeholder values (percent-decoded) when the path's segments match, else nil.
    func match(_ path: [Substring]) -> [String]? {
        guard path.count == segments.count else { return nil }
        var values: [String] = []
        for (segment, part) in zip(segments, path) {
            switch segment {
            case .placeholder:
                guard !part.isEmpty else { return nil }
                values.append(PeopleAPI.percentDecoded(String(part)))
            case .literal(let literal): if !literal.utf8.elementsEqual(part.utf8) { return nil }
            }
        }
        return values
    }
}
