import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusSync
import HTTP1
import HTTPServer

/// Who is acting on the people API.
///
/// On an office node, a trusted single-sign-on proxy sets a header (`identityHeader`) with the
/// person id; it is honoured only from `trustedProxies` addresses, so a client cannot claim to be
/// someone by sending the header itself. On a laptop, `owner` is the person. Without an identity,
/// reads of public data work and writes are refused (401).
public struct IdentityPolicy: Sendable {
    public var identityHeader: String?
    public var trustedProxies: Set<String> = ["127.0.0.1"]
    public var owner: String?
    public init() {}

    func person(for request: HTTPRequest, remote: String) -> String? {
        let address = String(remote.split(separator: ":").first ?? "")
        if let header = identityHeader, trustedProxies.contains(address), let value = request.head.header(header),
           !value.isEmpty, value.utf8.count <= 128, !value.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return value
        }
        return owner
    }
}

/// `/api/v1/`: the people platform over HTTP (`Docs/reference/openapi.json` documents every route).
public struct PeopleAPI: Sendable {
    public struct Route: Sendable {
        public let method: String
        public let path: String
    }

    public static let routes: [Route] = [
        Route(method: "GET", path: "/api/v1/me"),
        Route(method: "GET", path: "/api/v1/people"),
        Route(method: "GET", path: "/api/v1/people/{id}"),
        Route(method: "GET", path: "/api/v1/people/{id}/matches"),
        Route(method: "GET", path: "/api/v1/feed"),
        Route(method: "GET", path: "/api/v1/feedback"),
        Route(method: "POST", path: "/api/v1/feedback"),
        Route(method: "GET", path: "/api/v1/objectives"),
        Route(method: "GET", path: "/api/v1/opportunities"),
        Route(method: "GET", path: "/api/v1/opportunities/{id}/matches"),
        Route(method: "GET", path: "/api/v1/insights"),
    ]

    let executor: ReplicaExecutor
    let limits: Limits
    let identity: IdentityPolicy

    public init(executor: ReplicaExecutor, limits: Limits, identity: IdentityPolicy) {
        self.executor = executor
        self.limits = limits
        self.identity = identity
    }

    static func match(_ pattern: String, _ path: String) -> [String]? {
        let p = pattern.split(separator: "/"), a = path.split(separator: "/")
        guard p.count == a.count else { return nil }
        var values: [String] = []
        for (x, y) in zip(p, a) { if x.hasPrefix("{") { values.append(percentDecoded(String(y))) } else if x != y { return nil } }
        return values
    }

    static func percentDecoded(_ text: String) -> String { text.removingPercentEncodingShim }

    public func handle(_ request: HTTPRequest, remote: String) -> HTTPResponse {
        let path = request.head.path
        let candidates = PeopleAPI.routes.compactMap { route in PeopleAPI.match(route.path, path).map { (route, $0) } }
        guard !candidates.isEmpty else { return Problem.response(status: 404, detail: "no route \(path.prefix(100))") }
        guard let (route, parameters) = candidates.first(where: { $0.0.method == request.head.method }) else {
            var response = Problem.response(status: 405, detail: "\(path.prefix(100)) takes \(candidates.map(\.0.method).joined(separator: ", "))")
            response.headers.append(("Allow", candidates.map(\.0.method).joined(separator: ", ")))
            return response
        }
        let person = identity.person(for: request, remote: remote)
        do {
            var response = try respond(route, parameters, request, person)
            if let person { response.logAnnotations["person"] = person }
            return response
        } catch let error as SyncError {
            return Problem.response(status: error.status, detail: error.message, extra: error.hint.map { [("hint", $0)] } ?? [])
        } catch let error as ChorusError {
            let mapped = SyncError(error)
            return Problem.response(status: mapped.status == 500 ? 500 : mapped.status, detail: mapped.message, extra: mapped.hint.map { [("hint", $0)] } ?? [])
        } catch {
            return Problem.response(status: 500, detail: "internal error")
        }
    }

    /// A query parameter, at most `max` characters (Unicode scalars, as JSON Schema counts them).
    func query(_ request: HTTPRequest, _ name: String, max: Int = 200) throws -> String? {
        guard let value = request.head.query[name] else { return nil }
        guard value.unicodeScalars.count <= max else { throw SyncError(status: 400, "\(name) is longer than \(max) characters") }
        return value
    }

    func limit(_ request: HTTPRequest, default value: Int = 50) throws -> Int {
        guard let text = try query(request, "limit", max: 10) else { return value }
        guard let limit = Int(text), (1...1000).contains(limit) else { throw SyncError(status: 400, "limit must be an integer from 1 to 1000") }
        return limit
    }

    private func respond(_ route: Route, _ parameters: [String], _ request: HTTPRequest, _ person: String?) throws -> HTTPResponse {
        switch (route.method, route.path) {
        case ("GET", "/api/v1/me"):
            return json(.object(["person": person.map(JSONValue.string) ?? .null]))
        case ("GET", "/api/v1/people"):
            let limit = try limit(request)
            let after = try query(request, "after", max: 128)
            if let q = try query(request, "q"), !q.trimmingCharacters(in: .whitespaces).isEmpty {
                let hits = try executor.perform { try PeopleDirectory.search($0, query: q, limit: limit) }
                return json(.object(["people": .array(hits.map { .object(["id": .string($0.id), "name": .string($0.name),
                                                                          "title": $0.title.map(JSONValue.string) ?? .null, "office": $0.office.map(JSONValue.string) ?? .null]) }),
                                     "next": .null]))
            }
            let page = try executor.perform { try $0.list(collection: "people", after: after, limit: limit + 1) }
            let ids = page.prefix(limit).map(\.id)
            let people = try executor.perform { replica in try ids.compactMap { try replica.get(collection: "people", record: $0)?.json } }
            return json(.object(["people": .array(people), "next": page.count > limit ? .string(ids.last!) : .null]))
        case ("GET", "/api/v1/people/{id}"):
            guard let record = try executor.perform({ try $0.get(collection: "people", record: parameters[0]) }), record.isVisible else {
                throw SyncError(status: 404, "no person \(parameters[0].prefix(128))")
            }
            return json(record.json)
        case ("GET", "/api/v1/people/{id}/matches"):
            let limit = try limit(request, default: 10)
            let matches = try executor.perform { replica -> [Match] in
                guard let candidate = try MatchingData.candidates(replica).first(where: { $0.id == parameters[0] }) else {
                    throw SyncError(status: 404, "no person \(parameters[0].prefix(128))")
                }
                return Array(Matcher().rank(try MatchingData.opportunities(replica), for: candidate).prefix(limit))
            }
            return json(.object(["matches": .array(matches.map(\.json))]))
        case ("GET", "/api/v1/opportunities/{id}/matches"):
            let limit = try limit(request, default: 10)
            let matches = try executor.perform { replica -> [Match] in
                guard let opportunity = try MatchingData.opportunities(replica, includeClosed: true).first(where: { $0.id == parameters[0] }) else {
                    throw SyncError(status: 404, "no opportunity \(parameters[0].prefix(128))")
                }
                return Array(Matcher().rank(try MatchingData.candidates(replica), for: opportunity).prefix(limit))
            }
            return json(.object(["matches": .array(matches.map(\.json))]))
        case ("GET", "/api/v1/feed"):
            let limit = try limit(request)
            let items = try executor.perform { try Feedback.visibleItems($0, viewer: nil, limit: limit) }
            return json(.object(["items": .array(items.map(\.json))]))
        case ("GET", "/api/v1/feedback"):
            let limit = try limit(request)
            let about = try query(request, "about", max: 128)
            let items = try executor.perform { try Feedback.visibleItems($0, viewer: person, about: about, limit: limit) }
            return json(.object(["items": .array(items.map(\.json))]))
        case ("POST", "/api/v1/feedback"):
            guard let person else {
                throw SyncError(status: 401, "no identity: writes are made by a person",
                                hint: "sign in through the single-sign-on proxy, or configure the laptop's owner (chorus serve --owner)")
            }
            let body = try object(request, allowed: ["to", "kind", "body", "visibility", "badge"])
            guard case .string(let to)? = body["to"], case .string(let text)? = body["body"] else {
                throw SyncError(status: 400, "to and body are required strings")
            }
            let kind = body["kind"]?.stringValue ?? "feedback"
            let id = try executor.perform { replica in
                try Feedback.give(replica, from: person, to: to, kind: kind, body: text,
                                  visibility: body["visibility"]?.stringValue ?? (kind == "feedback" ? "private" : "public"), badge: body["badge"]?.stringValue)
            }
            return json(.object(["id": .string(id)]), status: 201)
        case ("GET", "/api/v1/objectives"):
            let quarter = try query(request, "quarter", max: 16), owner = try query(request, "owner", max: 128), limit = try limit(request)
            let rows = try executor.perform { replica in
                try replica.withDatabase { db in
                    try db.query("""
                        SELECT id FROM objectives WHERE _deleted = 0 AND coalesce(visibility, 'public') = 'public'
                        AND (? IS NULL OR quarter = ?) AND (? IS NULL OR owner = ?) ORDER BY quarter DESC, owner, id LIMIT ?
                        """, quarter, quarter, owner, owner, limit).compactMap { $0.text(0) }
                }.compactMap { try replica.get(collection: "objectives", record: $0)?.json }
            }
            return json(.object(["objectives": .array(rows)]))
        case ("GET", "/api/v1/opportunities"):
            let kind = try query(request, "kind", max: 32), limit = try limit(request), status = try query(request, "status", max: 16)
            let rows = try executor.perform { replica in
                try MatchingData.opportunities(replica, includeClosed: status == "all").compactMap {
                    try replica.get(collection: "opportunities", record: $0.id)
                }.filter { kind == nil || $0.fields["kind"]?.stringValue == kind }.prefix(limit).map(\.json)
            }
            return json(.object(["opportunities": .array(Array(rows))]))
        case ("GET", "/api/v1/insights"):
            let insights = try executor.perform { try Insights.compute($0, now: $0.configuration.wallClock.nowMilliseconds()) }
            return json(insights.json)
        default:
            throw SyncError(status: 404, "no route")
        }
    }

    /// A JSON object body with only the allowed keys.
    func object(_ request: HTTPRequest, allowed: Set<String>) throws -> [String: JSONValue] {
        guard request.head.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false else {
            throw SyncError(status: 415, "send Content-Type: application/json")
        }
        let value: JSONValue
        do { value = try JSONParser(depthMax: 8, bytesMax: limits.requestBodyBytesMax).parse(request.body) } catch {
            throw SyncError(status: 400, "body: \(error)")
        }
        guard case .object(let object) = value else { throw SyncError(status: 400, "the body must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw SyncError(status: 400, "unknown field \(unknown.prefix(40)); allowed: \(allowed.sorted().joined(separator: ", "))")
        }
        return object
    }

    func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: value.canonicalBytes)
    }
}

extension String {
    /// Percent-decoding without Foundation; invalid escapes are kept as they are.
    var removingPercentEncodingShim: String {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
