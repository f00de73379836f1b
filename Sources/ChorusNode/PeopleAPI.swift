import ChorusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
    /// Host names, beside loopback ones, under which a browser reaches this node for its owner
    /// (`chorus serve --owner-host`, at most `ownerHostsMax`).
    public var ownerHosts: Set<String> = []
    public init() {}

    /// Names `--owner-host` takes at most.
    public static let ownerHostsMax = 16

    /// The person a request is from: the identity header's, from a trusted proxy, else the owner.
    ///
    /// - Throws: 400 when a trusted proxy's request names a person twice, in two headers or in one
    ///   joined by a comma (as proxies join repeated headers): a proxy that adds its header instead
    ///   of replacing the client's must not let the client's count.
    func person(for request: HTTPRequest, remote: String) throws(SyncError) -> String? {
        let address = String(remote.split(separator: ":").first ?? "")
        if let header = identityHeader, trustedProxies.contains(address), let value = request.head.header(header) {
            if request.head.repeats(header) || value.contains(",") {
                throw SyncError(status: 400, "the \(header.prefix(64)) header names more than one person",
                                hint: "the sign-on proxy must replace the header a client sends, not add to it")
            }
            if !value.isEmpty, value.utf8.count <= 128, !value.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                return value
            }
        }
        guard let owner else { return nil }
        // Nor from another machine, whatever it names in `Host`: a node listening beyond
        // loopback (`--listen 0.0.0.0:7420`, for `--owner-host`) gave anyone on the network who
        // sent `Host: localhost` the owner's private feedback and their writes (a read-only audit).
        guard IdentityPolicy.isThisMachine(address) else {
            throw SyncError(status: 403, "this node acts for its owner only for requests from this machine, and \(address.prefix(64)) is another",
                            hint: "open the page on the machine the node runs on; to serve others, run an office node with a sign-on proxy (--identity-header)")
        }
        // The owner's identity comes with no credential: any page the owner's browser opens
        // could send requests here. The browser keeps other sites' pages out by origin, but a page
        // whose own name it resolves again to 127.0.0.1 (DNS rebinding) is of its own origin to
        // it, and names itself in `Host`. Only the names the owner reaches the node by act for them.
        if request.head.repeats("Host") {
            throw SyncError(status: 400, "the Host header appears more than once", hint: "send it once")
        }
        // A request that names no host (HTTP/1.0; 1.1 requires it) is not known to be the owner's.
        let host = request.head.header("Host")
        if host == nil || !isOwnerHost(host!) {
            throw SyncError(status: 403, "this node acts for its owner only when reached as localhost or by a loopback address, not as \(host.map { String($0.prefix(100)) } ?? "a request naming no host (Host)"): a page of another site, its name pointed at this machine, could act in their name",
                            hint: "open the node at http://127.0.0.1:PORT/ or http://localhost:PORT/; to reach it by another name, start it with `chorus serve --owner-host NAME`")
        }
        return owner
    }

    /// Whether `address` (IPv4, dotted) is this machine's: a loopback address, or one of its
    /// interfaces' (a browser on the laptop reaching it by the laptop's network name connects from
    /// that address). Asked only for a request from beyond loopback: the interfaces are read each
    /// time, as they change (a new network, a VPN).
    static func isThisMachine(_ address: String) -> Bool {
        if address.hasPrefix("127.") { return true }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return false }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            if let socketAddress = current.pointee.ifa_addr, socketAddress.pointee.sa_family == sa_family_t(AF_INET) {
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                let found = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                    var raw = inet.pointee.sin_addr
                    return inet_ntop(AF_INET, &raw, &text, socklen_t(INET_ADDRSTRLEN)) != nil
                }
                if found && String(cString: text) == address { return true }
            }
            entry = current.pointee.ifa_next
        }
        return false
    }

    /// Whether a `Host` header names this node as its owner reaches it: `localhost` (or a name
    /// under it), a loopback address, or one of `ownerHosts`; its port is not compared.
    func isOwnerHost(_ header: String) -> Bool {
        let host = IdentityPolicy.hostName(header)
        return ownerHosts.contains(host) || IdentityPolicy.isLoopbackName(host)
    }

    /// Whether a host name (as `hostName` gives it) names this machine's loopback: `localhost`
    /// (or a name under it), `::1`, or a dotted 127 address.
    public static func isLoopbackName(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        // Digits only: `UInt8("+0")` parses, and a browser takes "127.+0.+0.+1" for a name.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } && UInt8($0) != nil }
    }

    /// The name in a `Host` header, lowercased, without its port, an IPv6 address's brackets or
    /// a final dot (`localhost.` is `localhost`).
    public static func hostName(_ header: String) -> String {
        var text = header.lowercased()
        // An IPv6 address: what follows its bracket is nothing or a port, else the whole text is
        // the name (`[::1]evil.example` is no loopback address).
        if text.hasPrefix("["), let end = text.firstIndex(of: "]") {
            let after = text[text.index(after: end)...]
            guard after.isEmpty || (after.first == ":" && after.utf8.dropFirst().allSatisfy({ (0x30...0x39).contains($0) })) else { return text }
            return String(text[text.index(after: text.startIndex)..<end])
        }
        // A port is digits: "localhost:80@evil.example" is no name of this machine's.
        if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":"),
           text[text.index(after: colon)...].utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            text = String(text[..<colon])
        }
        if text.count > 1, text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

/// `/api/v1/`: the people platform over HTTP (`Docs/reference/openapi.json` documents every route).
public struct PeopleAPI: Sendable {
    public struct Route: Sendable {
        public let method: String
        public let path: String
        let template: RouteTemplate

        init(method: String, path: String) {
            self.method = method
            self.path = path
            self.template = RouteTemplate(path)
        }
    }

    public static let routes: [Route] = [
        Route(method: "GET", path: "/api/v1/me"),
        Route(method: "GET", path: "/api/v1/status"),
        Route(method: "GET", path: "/api/v1/skills"),
        Route(method: "GET", path: "/api/v1/people"),
        Route(method: "GET", path: "/api/v1/people/{id}"),
        Route(method: "GET", path: "/api/v1/people/{id}/matches"),
        Route(method: "GET", path: "/api/v1/feed"),
        Route(method: "GET", path: "/api/v1/feedback"),
        Route(method: "POST", path: "/api/v1/feedback"),
        Route(method: "GET", path: "/api/v1/feedback/{id}"),
        Route(method: "DELETE", path: "/api/v1/feedback/{id}"),
        Route(method: "POST", path: "/api/v1/feedback/{id}/comments"),
        Route(method: "DELETE", path: "/api/v1/feedback/{id}/comments/{entry}"),
        Route(method: "POST", path: "/api/v1/feedback/{id}/high-fives"),
        Route(method: "POST", path: "/api/v1/opportunities/{id}/interest"),
        Route(method: "DELETE", path: "/api/v1/opportunities/{id}/interest"),
        Route(method: "GET", path: "/api/v1/objectives"),
        Route(method: "GET", path: "/api/v1/opportunities"),
        Route(method: "GET", path: "/api/v1/opportunities/{id}/matches"),
        Route(method: "GET", path: "/api/v1/insights"),
    ] + PeopleAPI.editable.flatMap { collection -> [Route] in
        var routes = [Route(method: "POST", path: "/api/v1/\(collection)"), Route(method: "PATCH", path: "/api/v1/\(collection)/{id}")]
        if collection != "people" { routes.append(Route(method: "GET", path: "/api/v1/\(collection)/{id}")) }
        if !["people", "objectives", "opportunities"].contains(collection) { routes.append(Route(method: "GET", path: "/api/v1/\(collection)")) }
        return routes
    }

    /// Whether a route reads the skill taxonomy (`SkillTaxonomy.esco`): a write of a record with
    /// skill fields, a ranking, insights, a skill search.
    static func readsSkills(_ route: Route) -> Bool {
        route.method == "POST" && (route.path == "/api/v1/people" || route.path == "/api/v1/opportunities")
            || route.method == "PATCH" || route.path.hasSuffix("/matches") || route.path == "/api/v1/insights"
            || route.path == "/api/v1/skills" || route.path == "/api/v1/people"
    }

    /// Collections the API creates and updates generically (feedback has its own routes).
    public static let editable = ["people", "teams", "badges", "objectives", "opportunities", "abilities", "observations"]

    /// The people platform's rules for values (`DomainRules`), for the collections the API edits
    /// through them, wherever a value is written outside this API: `chorus put` and its kin, and
    /// an admin's value settling a conflict (`Replica.resolveConflict`), which once took a skill
    /// level of 9 everywhere. (Feedback has its own bounds, `Feedback`; a value of the wrong JSON
    /// type is the replica's to refuse, with its own message.)
    public static func checkValues(_ changes: [Change], in collection: CollectionSchema) throws(ChorusError) {
        if collection.name == "feedback" {
            for change in changes {
                switch change {
                case .put(let field, let value): try Feedback.check(field: field, value: value)
                case .append("comments", let value): try Feedback.checkComment(value)
                default: continue
                }
            }
        }
        guard editable.contains(collection.name) else { return }
        try DomainRules.check(changes, in: collection)
    }

    /// What an admin's value settling a conflict (`resolveConflict(checkingValue:)`) must pass, as
    /// a person's write of it would: the values' rules (400), then what they name
    /// (`DomainReferences`, 422 or 409). A resolution once made a person their own manager, and
    /// filled an opportunity with a person nobody has.
    public static func checkResolution(_ replica: Replica) -> (Change, CollectionSchema, String) throws -> Void {
        { change, collection, record in
            try checkValues([change], in: collection)
            try checkReferences(change, in: collection.name, record: record, replica: replica)
        }
    }

    /// `DomainReferences` of an admin's resolution (a register's or a map key's value): what it
    /// names must exist, as over HTTP (422; an email already another person's, 409). A problem the
    /// record had before the value (an objective whose owner has left, two offices' dates
    /// crossed) is not the value's: it would leave no field of that record to settle.
    static func checkReferences(_ change: Change, in collection: String, record: String, replica: Replica) throws {
        let body: [String: JSONValue]
        switch change {
        case .put(let field, let value): body = [field: value]
        case .mapSet(let field, let key, let value): body = [field: .object([key: value])]
        default: return
        }
        let existing = try replica.get(collection: collection, record: record)?.fields
        if let problem = try DomainReferences.introducedProblem(collection: collection, recordID: record, existing: existing, body: body, replica: replica) {
            throw SyncError(status: problem.status, problem.message)
        }
    }

    let executor: ReplicaExecutor
    let limits: Limits
    let identity: IdentityPolicy

    public init(executor: ReplicaExecutor, limits: Limits, identity: IdentityPolicy) {
        self.executor = executor
        self.limits = limits
        self.identity = identity
    }

    static func percentDecoded(_ text: String) -> String { percentDecode(text, plusAsSpace: false) }

    /// A write a browser sends from another site (a form or script of a page elsewhere) is refused:
    /// the person's identity comes with the request (a laptop's `--owner`, a sign-on proxy's
    /// cookie), so such a page could otherwise high-five, register interest or edit in their name.
    /// Browsers say where a request comes from (`Sec-Fetch-Site`; else `Origin`, compared with
    /// `Host`); clients that are not browsers send neither and are not affected.
    static func crossSiteRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        guard !["GET", "HEAD"].contains(request.head.method) else { return nil }
        // The node's own page is same-origin. A `same-site` page is another host of the same
        // site (a sibling subdomain), which must not act in a person's name either. A browser
        // that sends `Sec-Fetch-Site` is believed: behind a proxy, `Host` is often not the
        // page's (nginx's default, or a port left out), so comparing `Origin` with it would
        // refuse the node's own page. Without it, `Origin` is compared with `Host`.
        let crossSite: Bool
        if let site = request.head.header("Sec-Fetch-Site")?.lowercased() {
            crossSite = !["same-origin", "none"].contains(site)
        } else if let origin = request.head.header("Origin"), origin != "null" {
            let host = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init)
            crossSite = host?.lowercased() != request.head.header("Host")?.lowercased()
        } else {
            crossSite = request.head.header("Origin") == "null"
        }
        guard crossSite else { return nil }
        return SyncError(status: 403, "a write from a page of another site is refused",
                         hint: "use this node's own page, or a client that is not a browser").response
    }

    public func handle(_ request: HTTPRequest, remote: String) -> HTTPResponse {
        let (route, parameters): (Route, [String])
        // HEAD of a read: its GET's answer, whose body the server does not send.
        switch NodeRouter.find(PeopleAPI.routes, method: request.head.method, path: request.head.path, template: \.template, method: \.method,
                               answersHead: { $0.method == "GET" }) {
        case .success(let found): (route, parameters) = found
        case .failure(let refusal): return refusal.response
        }
        if let refusal = PeopleAPI.crossSiteRefusal(request) { return refusal }
        // Loaded on this connection's thread if it is not yet: a first load inside the replica's
        // turn (the skill lists parsed, about 96,000 names) held every sync and request behind it.
        if PeopleAPI.readsSkills(route) { _ = SkillTaxonomy.esco }
        do {
            let person = try identity.person(for: request, remote: remote)
            var response = try respond(route, parameters, request, person)
            if let person { response.logAnnotations["person"] = person }
            return response
        } catch let error as SyncError {
            return error.response
        } catch let error as ChorusError {
            return SyncError(error).response
        } catch {
            return Problem.internalError(error)
        }
    }

    /// A query parameter, at most `max` characters (Unicode scalars, as JSON Schema counts them).
    func query(_ request: HTTPRequest, _ name: String, max: Int = 200) throws -> String? {
        guard let value = request.head.query[name] else { return nil }
        guard value.unicodeScalars.count <= max else { throw SyncError(status: 400, "\(name) is longer than \(max) characters") }
        return value
    }

    /// A list's filter naming someone or something (`about`, `skill`, `owner`, `person`): an empty
    /// one is a 400, as an empty `kind` is, not an empty list that looks like none matched (a
    /// day-2 review: `?skill=` answered no opportunity at all). Its OpenAPI parameter says
    /// `minLength: 1`.
    func filterQuery(_ request: HTTPRequest, _ name: String, max: Int) throws -> String? {
        guard let value = try query(request, name, max: max) else { return nil }
        guard !value.isEmpty else {
            throw SyncError(status: 400, "\(name) is empty", hint: "give a value, or leave \(name) out to list them all")
        }
        return value
    }

    /// A list's filter on a field of a fixed set of values (`DomainRules.enums[field]`): another
    /// value is a 400, as a status is, not an empty list that looks like none matched.
    func listFilter(_ request: HTTPRequest, _ name: String, _ field: String) throws -> String? {
        guard let value = try query(request, name, max: 32) else { return nil }
        let allowed = DomainRules.enums[field] ?? []
        guard allowed.contains(value) else { throw SyncError(status: 400, "\(name) is one of \(allowed.joined(separator: ", ")), not \(value.prefix(32))") }
        return value
    }

    /// A page of the feedback `viewer` may read, newest first, by `after` (the `nextAfter` of the
    /// page before: items given meanwhile do not shift it) or else by `offset` (kept for older
    /// clients: an item given between two pages shows twice); `next` and `nextAfter` say where the
    /// next begins.
    func feedbackPage(_ request: HTTPRequest, viewer: String?, about: String?) throws -> (items: [RecordSnapshot], page: [String: JSONValue]) {
        let limit = try limit(request)
        if let text = try query(request, "after", max: PeopleAPI.pageCursorCharactersMax) {
            guard let cursor = Feedback.PageCursor(text) else {
                throw SyncError(status: 400, "after must be the nextAfter of a page before (GIVEN:ID)", hint: "start without after; each page's nextAfter names the next")
            }
            _ = try offset(request)   // checked, as every parameter; `after` says where the page starts
            let page = try executor.perform { try Feedback.visiblePage($0, viewer: viewer, about: about, after: cursor, limit: limit) }
            return (page.items, ["next": .null, "nextAfter": page.next.map { .string($0.text) } ?? .null])
        }
        let offset = try offset(request)
        let page = try executor.perform { try Feedback.visiblePage($0, viewer: viewer, about: about, after: nil, limit: offset + limit) }
        let more = page.next != nil
        return (Array(page.items.dropFirst(offset)), ["next": more ? .integer(Int64(offset + limit)) : .null,
                                                      "nextAfter": page.next.map { .string($0.text) } ?? .null])
    }

    /// Where a page starts in an ordered list (`next` in the previous page's response).
    func offset(_ request: HTTPRequest) throws -> Int {
        guard let text = try query(request, "offset", max: 10) else { return 0 }
        guard let offset = Int(text), (0...PeopleAPI.offsetMax).contains(offset) else {
            throw SyncError(status: 400, "offset must be an integer from 0 to \(PeopleAPI.offsetMax)")
        }
        return offset
    }

    /// Most objectives of one owner a list reads before choosing those the person may read.
    static let ownerObjectivesMax = 10_000

    /// Most people one `GET /api/v1/people?ids=` names.
    static let idsMax = 100

    /// Longest `ids` list of `GET /api/v1/people?ids=`, in characters (well inside the request line limit).
    static let idsCharactersMax = 4000
    /// Records one list request looks at, readable or not, before it answers with what it found.
    static let listScanRowsMax = 10_000

    /// Up to `limit` records after `after` that `person` may read, and the cursor of the next page.
    /// Records the person may not read are skipped before the page is cut, so the cursor is the
    /// last record returned and never names one they may not see; only when `listScanRowsMax`
    /// rows in a row are unreadable does it stop there (the id of such a record, never its
    /// content), or a reader could never get past them.
    /// `about`, for observations, keeps those of one person (by `observations_by_person`): a
    /// profile lists the evidence about its person without paging every observation.
    static func readablePage(_ replica: Replica, _ collection: String, after: String?, limit: Int, person: String?, about: String? = nil) throws
        -> (records: [RecordSnapshot], next: String?) {
        var found: [RecordSnapshot] = []
        var position = after
        var scanned = 0
        while scanned < listScanRowsMax {
            let asked = min(max(limit + 1, 100), listScanRowsMax - scanned)
            let chunk: [(id: String, isVisible: Bool)]
            if let about, collection == "observations" {
                chunk = try replica.withDatabase { db in
                    try db.query("SELECT id FROM observations WHERE person = ? AND _deleted = 0 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
                                 about, position, asked).compactMap { row in row.text(0).map { (id: $0, isVisible: true) } }
                }
            } else {
                chunk = try replica.list(collection: collection, after: position, limit: asked)
            }
            for entry in chunk {
                scanned += 1
                position = entry.id
                guard let record = try replica.get(collection: collection, record: entry.id), try mayRead(record, person, replica) else { continue }
                if found.count == limit { return (found, found.last?.id) }   // one more exists: a next page
                found.append(record)
            }
            if chunk.count < asked { return (found, nil) }   // the end of the collection
        }
        return (found, position)
    }

    /// Deepest page start accepted: past it, narrow the query (by quarter, owner, kind).
    static let offsetMax = 100_000

    /// The offset of the next page, or null when `fetched` (asked for `limit + 1`) shows this is the last.
    static func next(_ offset: Int, _ limit: Int, _ fetched: Int) -> JSONValue {
        fetched > limit ? .integer(Int64(offset + limit)) : .null
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
        case ("GET", "/api/v1/status"):
            return json(try executor.perform { try PeopleAPI.status($0, signedIn: person != nil) })
        case ("GET", "/api/v1/skills"):
            let q = try query(request, "q", max: 100) ?? "", limit = try limit(request, default: 10)
            return json(.object(["skills": .array(SkillTaxonomy.esco.suggest(q, limit: min(limit, 50)).map {
                .object(["id": .string($0.id), "label": .string($0.label)]) })]))
        case ("GET", "/api/v1/people"):
            let limit = try limit(request)
            let after = try query(request, "after", max: 128)
            // Every parameter is checked before one of them picks the answer: with `ids` present,
            // an over-long `q` was accepted unread (found by the API fuzzer).
            let q = try query(request, "q")
            let offset = try offset(request)
            if let list = try query(request, "ids", max: PeopleAPI.idsCharactersMax) {
                // Each id once, in the order asked; more than a page is refused, not cut short.
                var seen = Set<String>()
                let ids = list.split(separator: ",").map(String.init).filter { seen.insert($0).inserted }
                guard ids.count <= PeopleAPI.idsMax else {
                    throw SyncError(status: 400, "ids names \(ids.count) people; at most \(PeopleAPI.idsMax) at once", hint: "ask in several requests")
                }
                let people = try executor.perform { replica in try ids.compactMap { try replica.get(collection: "people", record: $0) }.filter(\.isVisible) }
                return json(.object(["people": .array(people.map { PeopleAPI.labelled($0, for: person) }), "next": .null]))
            }
            if let q, !q.trimmingCharacters(in: .whitespaces).isEmpty {
                let hits = try executor.perform { try PeopleDirectory.search($0, query: q, limit: limit + 1, offset: offset) }
                return json(.object(["people": .array(hits.prefix(limit).map { .object(["id": .string($0.id), "name": .string($0.name),
                                                                          "title": $0.title.map(JSONValue.string) ?? .null, "office": $0.office.map(JSONValue.string) ?? .null]) }),
                                     "next": PeopleAPI.next(offset, limit, hits.count)]))
            }
            let page = try executor.perform { try $0.list(collection: "people", after: after, limit: limit + 1) }
            let ids = page.prefix(limit).map(\.id)
            let people = try executor.perform { replica in try ids.compactMap { try replica.get(collection: "people", record: $0) } }
            return json(.object(["people": .array(people.map { PeopleAPI.labelled($0, for: person) }), "next": page.count > limit ? .string(ids.last!) : .null]))
        case ("GET", "/api/v1/people/{id}"):
            guard let record = try executor.perform({ try $0.get(collection: "people", record: parameters[0]) }), record.isVisible else {
                throw SyncError(status: 404, "no person \(parameters[0].prefix(128))")
            }
            return json(PeopleAPI.labelled(record, for: person))
        case ("GET", "/api/v1/people/{id}/matches"):
            let limit = try limit(request, default: 10)
            let matches = try executor.perform { replica -> [Match] in
                guard let candidate = try MatchingData.candidates(replica, only: parameters[0]).first else {
                    throw SyncError(status: 404, "no person \(parameters[0].prefix(128))")
                }
                return Matcher().rank(try MatchingData.opportunities(replica), for: candidate, limit: limit)
            }
            // Each match carries its opportunity, so a page shows titles without fetching the marketplace.
            let details = try executor.perform { replica in try matches.map { try replica.get(collection: "opportunities", record: $0.opportunity) } }
            return json(.object(["matches": .array(zip(matches, details).map { match, record in
                guard case .object(var object) = match.json else { return match.json }
                object["details"] = record.map { PeopleAPI.labelled($0, for: person) } ?? .null
                return .object(object)
            })]))
        case ("GET", "/api/v1/opportunities/{id}/matches"):
            let limit = try limit(request, default: 10)
            let (status, matches) = try executor.perform { replica -> (String, [Match]) in
                guard let opportunity = try MatchingData.opportunities(replica, includeClosed: true, only: parameters[0]).first else {
                    throw SyncError(status: 404, "no opportunity \(parameters[0].prefix(128))")
                }
                return (opportunity.status, Matcher().rank(try MatchingData.candidates(replica), for: opportunity, limit: limit))
            }
            // A filled, closed or ended one is still ranked (its owner may compare), and says it is no longer open.
            return json(.object(["status": .string(status), "matches": .array(matches.map(\.json))]))
        case ("GET", "/api/v1/feed"):
            let (items, bounds) = try feedbackPage(request, viewer: nil, about: nil)
            var page = bounds
            let badges = try executor.perform { replica in
                try Set(items.compactMap { $0.fields["badge"]?.stringValue }).sorted()
                    .compactMap { try replica.get(collection: "badges", record: $0) }.filter(\.isVisible)
            }
            page["items"] = .array(items.map(Feedback.listed))
            page["badges"] = .object(Dictionary(uniqueKeysWithValues: badges.map { ($0.id, $0.json) }))
            return json(.object(page))
        case ("GET", "/api/v1/feedback"):
            let (items, bounds) = try feedbackPage(request, viewer: person, about: try filterQuery(request, "about", max: 128))
            var page = bounds
            page["items"] = .array(items.map(Feedback.listed))
            return json(.object(page))
        case ("POST", "/api/v1/feedback"):
            let person = try writer(person)
            let body = try object(request, allowed: ["to", "kind", "body", "visibility", "badge"])
            guard case .string(let to)? = body["to"], case .string(let text)? = body["body"] else {
                throw SyncError(status: 400, "to and body are required strings")
            }
            for key in ["kind", "visibility", "badge"] where body[key] != nil && body[key]?.stringValue == nil {
                throw SyncError(status: 400, "\(key) must be a string")
            }
            let kind = body["kind"]?.stringValue ?? "feedback"
            // Well formed, but not a combination the platform gives: 422, as for other writes that
            // are valid JSON the rules refuse.
            if let refusal = Feedback.badgeRefusal(kind: kind, badge: body["badge"]?.stringValue) {
                throw SyncError(status: 422, refusal.message, hint: refusal.hint)
            }
            let visibility = body["visibility"]?.stringValue ?? Feedback.defaultVisibility(kind: kind)
            let id = try executor.perform { replica in
                // Well formed, naming a person or badge that is not here, or a reader there is not: 422, as other writes.
                try Feedback.give(replica, from: person, to: to, kind: kind, body: text, visibility: visibility, badge: body["badge"]?.stringValue,
                                  referenceRefused: { SyncError(status: 422, $0.message, hint: $0.hint) })
            }
            return json(.object(["id": .string(id)]), status: 201)
        case ("GET", "/api/v1/feedback/{id}"):
            guard let item = try executor.perform({ try Feedback.visibleItem($0, id: parameters[0], viewer: person) }) else {
                throw SyncError(status: 404, "no feedback item \(parameters[0].prefix(128))")
            }
            return json(Feedback.whole(item))
        case ("DELETE", "/api/v1/feedback/{id}"):
            let person = try writer(person)
            try executor.perform { try Feedback.withdraw($0, id: parameters[0], by: person) }
            return json(.object(["id": .string(parameters[0]), "withdrawn": true]))
        case ("DELETE", "/api/v1/feedback/{id}/comments/{entry}"):
            let person = try writer(person)
            let item = try executor.perform { try Feedback.withdrawComment($0, on: parameters[0], entry: parameters[1], by: person) }
            return json(Feedback.listed(item))
        case ("POST", "/api/v1/feedback/{id}/comments"):
            let person = try writer(person)
            let body = try object(request, allowed: ["body"])
            guard case .string(let text)? = body["body"] else { throw SyncError(status: 400, "body is required, a string") }
            let item = try executor.perform { replica in
                try Feedback.comment(replica, on: parameters[0], by: person, body: text, at: Int64(replica.configuration.wallClock.nowMilliseconds()))
            }
            return json(Feedback.listed(item), status: 201)
        case ("POST", "/api/v1/feedback/{id}/high-fives"):
            let person = try writer(person)
            let item = try executor.perform { try Feedback.highFive($0, on: parameters[0], by: person) }
            return json(Feedback.listed(item))
        case ("POST", "/api/v1/opportunities/{id}/interest"), ("DELETE", "/api/v1/opportunities/{id}/interest"):
            let person = try writer(person)
            let record = try executor.perform { replica -> RecordSnapshot in
                guard let existing = try replica.get(collection: "opportunities", record: parameters[0]), existing.isVisible else {
                    throw SyncError(status: 404, "no opportunity \(parameters[0].prefix(128))")
                }
                let interested = existing.fields["interested"]?.arrayValue?.contains(.string(person)) ?? false
                if route.method == "POST", !interested {
                    guard existing.fields["status"]?.stringValue ?? "open" == "open" else { throw SyncError(status: 409, "the opportunity is no longer open") }
                    if let end = existing.fields["endDate"]?.stringValue, DomainRules.hasEnded(endDate: end, today: MatchingData.today(of: replica)) {
                        throw SyncError(status: 409, "the opportunity ended on \(end)")
                    }
                    // The owner sees who is interested; their own name in that list only misleads.
                    guard existing.fields["owner"]?.stringValue != person else {
                        throw SyncError(status: 409, "you posted this opportunity", hint: "interest is for other people; its card shows you who is interested")
                    }
                    try replica.write(collection: "opportunities", record: parameters[0], [.add(field: "interested", element: person)], by: person)
                } else if route.method == "DELETE", interested {
                    try replica.write(collection: "opportunities", record: parameters[0], [.remove(field: "interested", element: person)], by: person)
                }
                return try replica.get(collection: "opportunities", record: parameters[0])!
            }
            return json(PeopleAPI.labelled(record, for: person))
        case ("GET", "/api/v1/objectives"):
            let quarter = try query(request, "quarter", max: 16), owner = try filterQuery(request, "owner", max: 128)
            if let quarter, !DomainRules.isQuarter(quarter) { throw SyncError(status: 400, "quarter must be \(DomainRules.quarterForm)") }
            let (limit, offset) = (try limit(request), try offset(request))
            let ownerKind = try listFilter(request, "ownerKind", "objectives.ownerKind")
            // One owner's objectives, asked by someone signed in, include the drafts and private
            // ones that person may read (their own, a report's, their team's): before, a draft
            // was reached only by its id. Everyone else, and every other list, reads the published.
            let unpublishedToo = owner != nil && person != nil
            let rows = try executor.perform { replica in
                let ids = try replica.withDatabase { db in
                    try db.query("""
                        SELECT id FROM objectives WHERE _deleted = 0 AND \(unpublishedToo ? "1 = 1" : ReadPolicy.publishedObjectivesSQL)
                        AND (? IS NULL OR quarter = ?) AND (? IS NULL OR owner = ?) AND (? IS NULL OR coalesce(ownerKind, 'person') = ?)
                        ORDER BY quarter DESC, owner, id LIMIT ? OFFSET ?
                        """, quarter, quarter, owner, owner, ownerKind, ownerKind,
                        unpublishedToo ? PeopleAPI.ownerObjectivesMax : limit + 1, unpublishedToo ? 0 : offset).compactMap { $0.text(0) }
                }
                let records = try ids.compactMap { try replica.get(collection: "objectives", record: $0) }
                guard unpublishedToo else { return records.map(\.json) }
                return Array(try records.filter { try PeopleAPI.mayRead($0, person, replica) }.dropFirst(offset).prefix(limit + 1).map(\.json))
            }
            return json(.object(["objectives": .array(Array(rows.prefix(limit))), "next": PeopleAPI.next(offset, limit, rows.count)]))
        case ("GET", "/api/v1/opportunities"):
            let kind = try listFilter(request, "kind", "opportunities.kind"), status = try query(request, "status", max: 16) ?? "open"
            guard PeopleAPI.opportunityStatuses.contains(status) else {
                throw SyncError(status: 400, "status is one of \(PeopleAPI.opportunityStatuses.joined(separator: ", ")), not \(status)")
            }
            let location = try listFilter(request, "location", "opportunities.location")
            // A skill as free text ("python"): opportunities that ask for it or teach it. Text that
            // names no skill of the taxonomy also finds custom skills holding its words in a run
            // ("interface design" finds "custom:user interface design"), as people type a part.
            let skill = try filterQuery(request, "skill", max: 200).map { SkillTaxonomy.esco.resolve($0).id }
            let customWords = skill.flatMap { $0.hasPrefix("custom:") ? " \(SkillTaxonomy.normalise(String($0.dropFirst(7)))) " : nil }
            let (limit, offset) = (try limit(request), try offset(request))
            let rows = try executor.perform { replica in
                // The open ones leave out those that ended (matched to no one, taking no interest).
                let today = MatchingData.today(of: replica)
                return try replica.withDatabase { db in
                    try db.query("""
                        SELECT o.id FROM opportunities o WHERE o._deleted = 0 AND (? IS NULL OR o.kind = ?) AND (?3 = 'all' OR coalesce(o.status, 'open') = ?3)
                        AND (? IS NULL OR o.location = ?)
                        AND (?6 IS NULL OR EXISTS (SELECT 1 FROM opportunities__requiredSkills r WHERE r.id = o.id AND (r.key = ?6
                                               OR (?7 IS NOT NULL AND r.key LIKE 'custom:%' AND instr(' ' || substr(r.key, 8) || ' ', ?7) > 0)))
                                       OR EXISTS (SELECT 1 FROM opportunities__learnableSkills l WHERE l.id = o.id AND (l.element = ?6
                                               OR (?7 IS NOT NULL AND l.element LIKE 'custom:%' AND instr(' ' || substr(l.element, 8) || ' ', ?7) > 0))))
                        AND (?3 != 'open' OR NOT \(DomainRules.endedSQL("o.endDate", today: "?10")))
                        ORDER BY o.id LIMIT ?8 OFFSET ?9
                        """, kind, kind, status, location, location, skill, customWords, limit + 1, offset, today).compactMap { $0.text(0) }
                }.compactMap { try replica.get(collection: "opportunities", record: $0) }.map { PeopleAPI.labelled($0, for: person) }
            }
            return json(.object(["opportunities": .array(Array(rows.prefix(limit))), "next": PeopleAPI.next(offset, limit, rows.count)]))
        case ("GET", "/api/v1/insights"):
            let insights = try executor.perform { try Insights.compute($0, now: $0.configuration.wallClock.nowMilliseconds()) }
            return json(insights.json)
        default:
            return try generic(route, parameters, request, person)
        }
    }

    /// Create, read, update and list for the editable collections.
    private func generic(_ route: Route, _ parameters: [String], _ request: HTTPRequest, _ person: String?) throws -> HTTPResponse {
        let collection = String(route.path.split(separator: "/")[2])
        guard let schema = PeopleSchema.current.collection(collection) else { throw SyncError(status: 404, "no route") }
        switch route.method {
        case "GET" where parameters.isEmpty:
            let limit = try limit(request), after = try query(request, "after", max: 128)
            let about = collection == "observations" ? try filterQuery(request, "person", max: 128) : nil
            let (records, next) = try executor.perform { replica in
                try PeopleAPI.readablePage(replica, collection, after: after, limit: limit, person: person, about: about)
            }
            return json(.object([collection: .array(records.map(\.json)), "next": next.map(JSONValue.string) ?? .null]))
        case "GET":
            let record = try executor.perform { replica -> RecordSnapshot? in
                guard let record = try replica.get(collection: collection, record: parameters[0]), record.isVisible,
                      try PeopleAPI.mayRead(record, person, replica) else { return nil }
                return record
            }
            guard let record else {
                throw SyncError(status: 404, "no \(collection) record \(parameters[0].prefix(128))")
            }
            return json(PeopleAPI.labelled(record, for: person))
        case "POST", "PATCH":
            // Profiles are made by anyone (onboarding), a new hire's own included; changed only by
            // someone with a live one (an offboarded manager, deleted, still named as manager, is not).
            let person = collection == "people" && route.method == "POST" ? try PeopleAPI.writer(person) : try writer(person)
            var body = try object(request, allowed: Set(schema.fields.map(\.name) + (route.method == "POST" ? ["id"] : [])))
            var id: String
            if route.method == "POST" {
                if let given = body.removeValue(forKey: "id") {
                    guard case .string(let text) = given, PeopleAPI.isValidID(text) else {
                        throw SyncError(status: 400, "id must be \(PeopleAPI.idRule)")
                    }
                    id = text
                } else {
                    var generator = SystemRandomNumberGenerator()
                    id = "\(PeopleAPI.idPrefix[collection] ?? collection)-\(String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36))"
                }
                // The field a create must give (so a new record always has a value), never cleared after (DomainRules).
                let first = DomainRules.requiredFields[collection] ?? "name"
                guard case .string(let value)? = body[first], !value.isEmpty else { throw SyncError(status: 400, "\(first) is required, a non-empty string") }
            } else {
                id = parameters[0]
                guard !body.isEmpty else { throw SyncError(status: 400, "nothing to change: give at least one field") }
            }
            if route.method == "POST" {
                // Left out or null, an owner field names the person acting (a stored null once
                // left the record without an owner, for anyone to claim).
                if let field = WritePolicy.ownerField[collection], body[field] == nil || body[field] == .null { body[field] = .string(person) }
                if collection == "objectives" {
                    if body["ownerKind"] == nil || body["ownerKind"] == .null { body["ownerKind"] = "person" }
                    if body["owner"] == nil || body["owner"] == .null, body["ownerKind"] == "person" { body["owner"] = .string(person) }
                }
            }
            let finalID = id, fields = body
            let record = try executor.perform { replica -> RecordSnapshot in
                let existing = try replica.get(collection: collection, record: finalID)
                let erased = try replica.isErased(collection: collection, record: finalID)
                if route.method == "POST", existing != nil || erased {
                    throw SyncError(status: 409, "\(collection) record \(finalID) already exists")
                }
                // A record the person may not read is, to them, not there: changing it (and reading
                // it back in the answer) would reveal it, and a refusal naming its owner would too.
                let readable = try existing.map { record in
                    try PeopleAPI.mayRead(record, person, replica)
                } ?? false
                if route.method == "PATCH", existing?.isVisible != true || !readable {
                    throw SyncError(status: 404, "no \(collection) record \(finalID.prefix(128))")
                }
                // Values are checked first (400), as the reference documents: a career step of 9
                // was answered 422, "no milestone 9", by the references' check.
                var changes = try PeopleAPI.changes(for: fields, in: schema, existing: existing)
                if let refusal = try WritePolicy.refusal(collection: collection, recordID: finalID, existing: existing?.fields, body: fields, person: person,
                                                         lookup: ReadPolicy.visibleFields(replica)) {
                    throw SyncError(status: 403, refusal.message, hint: refusal.hint)
                }
                if let problem = try DomainReferences.introducedProblem(collection: collection, recordID: finalID, existing: existing?.fields,
                                                                        body: fields, replica: replica) {
                    throw SyncError(status: problem.status, problem.message)
                }
                if route.method == "POST", collection == "badges" { changes.append(.put(field: "isCustom", value: true)) }  // made by a person
                if !changes.isEmpty { try replica.write(collection: collection, record: finalID, changes, by: person) }
                return try replica.get(collection: collection, record: finalID)!
            }
            return json(PeopleAPI.labelled(record, for: person), status: route.method == "POST" ? 201 : 200)
        default:
            throw SyncError(status: 405, "method not allowed")
        }
    }

    /// A record as JSON for `viewer`, with `skillLabels`: the label of every skill id it
    /// mentions, so a page can show "Python (computer programming)" rather than an ESCO id.
    /// Who is interested in an opportunity is its owner's to see (a person's interest in another
    /// role is theirs to tell): anyone else reads only whether they are among them, and the
    /// count (`interestedCount`) the page shows beside it.
    static func labelled(_ record: RecordSnapshot, for viewer: String?) -> JSONValue {
        guard case .object(var object) = record.json else { return record.json }
        // Every opportunity says both, none interested too (the fields once went with the last
        // interest withdrawn).
        if record.collection == "opportunities", record.isVisible {
            let interested = record.fields["interested"]?.arrayValue ?? []
            object["interestedCount"] = .integer(Int64(interested.count))
            object["interested"] = .array(viewer != nil && record.fields["owner"]?.stringValue == viewer
                                          ? interested : interested.filter { viewer != nil && $0 == .string(viewer!) })
        }
        var ids = Set<String>()
        for field in ["skills", "requiredSkills"] { ids.formUnion(record.fields[field]?.objectValue?.keys.map { $0 } ?? []) }
        for field in ["developmentGoals", "learnableSkills"] { ids.formUnion(record.fields[field]?.arrayValue?.compactMap(\.stringValue) ?? []) }
        for entry in record.fields["experience"]?.objectValue?.values ?? [:].values {
            ids.formUnion(entry["skills"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
        if !ids.isEmpty {
            object["skillLabels"] = .object(Dictionary(uniqueKeysWithValues: ids.map { ($0, JSONValue.string(SkillTaxonomy.esco.resolve($0).label)) }))
        }
        return .object(object)
    }

    /// Whether this node is in step with its upstream: what the page's indicator shows.
    ///
    /// Where the upstream is, and what its last error said (a host name, an address, a refusal's
    /// words), only to a signed-in person: a caller on the network with no identity learns the
    /// state and the counts, not the way to the hub.
    static func status(_ replica: Replica, signedIn: Bool) throws -> JSONValue {
        guard let upstream = try replica.upstream() else {
            // Nothing waits for an upstream a standalone node does not have.
            return .object(["state": "standalone", "upstream": .null, "waitingToPush": .integer(0), "waitingWrites": .integer(0),
                            "lastSyncAt": .null, "lastAttemptAt": .null, "lastError": .null])
        }
        let (waiting, writes) = try replica.pendingPushCounts()
        let state: String
        if let error = upstream.lastError {
            state = error.hasPrefix(SyncReport.divergedPrefix) ? "diverged" : HTTPTransport.isRefusal(error) ? "refused" : "offline"
        } else {
            state = upstream.lastSuccessWall == nil ? "connecting" : (waiting > 0 ? "waiting" : "inSync")
        }
        return .object(["state": .string(state), "upstream": signedIn ? .string(upstream.url) : .null, "waitingToPush": .integer(waiting),
                        "waitingWrites": .integer(writes),
                        "lastSyncAt": upstream.lastSuccessWall.map { .integer(Int64($0)) } ?? .null,
                        "lastAttemptAt": upstream.lastAttemptWall.map { .integer(Int64($0)) } ?? .null,
                        "lastError": signedIn ? upstream.lastError.map { .string(String($0.prefix(300))) } ?? .null : .null])
    }

    /// Whether `viewer` may read `record` (ReadPolicy); private records are never sent to others.
    static func mayRead(_ record: RecordSnapshot, _ viewer: String?, _ replica: Replica) throws -> Bool {
        try ReadPolicy.mayRead(collection: record.collection, fields: record.fields, viewer: viewer, lookup: ReadPolicy.visibleFields(replica),
                               managedSinceMade: ReadPolicy.managedSinceMade(collection: record.collection, record: record.id, replica: replica))
    }

    /// The person making a write, who must have a live profile here: feedback, comments,
    /// interest or a posting by an id nobody has (a laptop's `--owner` mistyped, a sign-on user
    /// whose profile this node has not yet received) would stand for good, from no one.
    func writer(_ person: String?) throws -> String {
        let person = try PeopleAPI.writer(person)
        guard try executor.perform({ try PeopleDirectory.hasProfile($0, person) }) else {
            throw SyncError(status: 403, "no one here has the person id \(person.prefix(128)): writes are made by a person with a profile",
                            hint: "create the profile first (POST /api/v1/people), or let this node sync; a laptop's `chorus serve --owner` names a person id")
        }
        return person
    }

    /// The person making a write; without one, writes are refused.
    static func writer(_ person: String?) throws -> String {
        guard let person else {
            throw SyncError(status: 401, "no identity: writes are made by a person",
                            hint: "sign in through the single-sign-on proxy (its identity header is taken only from the addresses `chorus serve --trusted-proxy` names), or configure the laptop's owner (chorus serve --owner)")
        }
        return person
    }

    /// Longest `after` a feedback page takes: a wall time, a colon and a record id.
    static let pageCursorCharactersMax = 20 + 1 + 128

    /// What `GET /api/v1/opportunities?status=` takes: a status, or all of them.
    static let opportunityStatuses = ["open", "filled", "closed", "all"]

    /// How generated ids start, per collection: `badge-k3x9...`, `opp-...`.
    public static let idPrefix = ["people": "p", "teams": "team", "badges": "badge", "objectives": "obj", "opportunities": "opp",
                           "abilities": "ability", "observations": "obs"]


    /// JSON Schema's integers include 5.0: store integral numbers in integer fields as integers.
    static func normalised(_ value: JSONValue, for type: ValueType) -> JSONValue {
        if type == .integer, case .double(let d) = value, d.rounded() == d, abs(d) < 9e15 { return .integer(Int64(d)) }
        return value
    }

    /// The ids the platform makes records under, in words (`isValidID`).
    public static let idRule = "1 to 128 letters, digits, '.', '_' or '-'"

    /// Whether the platform makes a record under `text` (a new record's id, over HTTP or by
    /// `chorus put`): ids appear in URL paths (`/api/v1/people/{id}`) and the page's links.
    public static func isValidID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128 && text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
        }
    }

    /// Turns a request body into changes: registers take a value (null clears), sets
    /// `{"add": [...], "remove": [...]}`, maps an object of keys (null removes the key).
    static func changes(for body: [String: JSONValue], in schema: CollectionSchema, existing: RecordSnapshot?) throws -> [Change] {
        var changes: [Change] = []
        for name in body.keys.sorted() {
            let field = schema.field(name)!, value = body[name]!
            do {
                switch field.kind {
                case .register:
                    let value = normalised(value, for: field.valueType)
                    try DomainRules.check(collection: schema.name, field: field, value: value)
                    // The manager as it is, written again (a roster sent whole): nothing changes,
                    // and a new write would start again when the manager began to read what others
                    // write for them (`ReadPolicy.managedSinceMade`). A conflict's value is written.
                    if schema.name == "people", name == "manager", let existing, existing.fields[name] == value, !existing.conflicts.contains(name) { continue }
                    changes.append(.put(field: name, value: value))
                case .set:
                    guard case .object(let ops) = value, Set(ops.keys).isSubset(of: ["add", "remove"]) else {
                        throw SyncError(status: 400, "\(name) takes {\"add\": [strings], \"remove\": [strings]}")
                    }
                    let present = Set(existing?.fields[name]?.arrayValue?.compactMap(\.stringValue) ?? [])
                    let isSkillField = DomainRules.skillFields.contains("\(schema.name).\(name)")
                    var named: [String: String] = [:]   // element -> the operation naming it in this request
                    for (op, list) in ops.sorted(by: { $0.key < $1.key }) {
                        guard case .array(let items) = list, items.count <= 100 else { throw SyncError(status: 400, "\(name).\(op) must be an array of at most 100 strings") }
                        for item in items {
                            // Blank (spaces, or only invisible characters) is never added: it would show
                            // as nothing, or as a skill with no name. Removing one is let through.
                            guard case .string(let given) = item, !given.isEmpty, given.unicodeScalars.count <= DomainRules.shortTextCharactersMax,
                                  DomainRules.textProblem(given, long: false) == nil, op == "remove" || !DomainRules.isBlank(given) else {
                                throw SyncError(status: 400, "\(name).\(op) holds something that is not a string of 1 to \(DomainRules.shortTextCharactersMax) characters, not blank")
                            }
                            let element = DomainRules.skillFields.contains("\(schema.name).\(name)") ? SkillTaxonomy.esco.resolve(given).id : given
                            // Removed and added at once (a page's editor removing a skill and adding it
                            // back, by another of its names): it stays, as the last step asked.
                            // `add` sorts first, so a remove of what this request adds is left out.
                            if named[element] != nil { continue }
                            named[element] = op
                            if op == "add" { changes.append(.add(field: name, element: element)) }
                            else if present.contains(element) { changes.append(.remove(field: name, element: element)) }
                            if isSkillField {
                                changes += PeopleAPI.otherNames(of: element, in: present).map { .remove(field: name, element: $0) }
                            }
                        }
                    }
                    try PeopleAPI.checkEntries(of: schema.name, name, present: present, changes: changes)
                case .map:
                    guard case .object(let entries) = value, entries.count <= 100 else {
                        throw SyncError(status: 400, "\(name) takes an object of at most 100 keys (null removes a key)")
                    }
                    let present = Set(existing?.fields[name]?.objectValue?.keys.map { $0 } ?? [])
                    let isSkillField = DomainRules.skillFields.contains("\(schema.name).\(name)")
                    var given: [String: (key: String, entry: JSONValue)] = [:]   // resolved key -> as given
                    // Values before nulls: a key removed and set again by another of its names (a
                    // page's editor removing "Python" and adding "python" at level 4) is set.
                    for (key, entry) in entries.sorted(by: { ($0.value == .null ? 1 : 0, $0.key) < ($1.value == .null ? 1 : 0, $1.key) }) {
                        guard !key.isEmpty, key.unicodeScalars.count <= DomainRules.shortTextCharactersMax,
                              DomainRules.textProblem(key, long: false) == nil, !DomainRules.isBlank(key) else {
                            throw SyncError(status: 400, "\(name) keys are 1 to \(DomainRules.shortTextCharactersMax) characters, not blank, with no control characters")
                        }
                        let typed = key
                        let key = DomainRules.skillFields.contains("\(schema.name).\(name)") ? SkillTaxonomy.esco.resolve(key).id : key
                        // Two names of one skill ("python" and "Python3") with two values: one would
                        // be dropped unseen. The same value twice, or a null beside a value, is one change.
                        let entry = normalised(entry, for: DomainRules.levelMaps.contains("\(schema.name).\(name)") ? .integer : field.valueType)
                        if let first = given[key] {
                            if entry == .null || entry == first.entry { continue }
                            throw SyncError(status: 400, "\(name): \(first.key.prefix(80)) and \(typed.prefix(80)) name the same skill (\(SkillTaxonomy.esco.resolve(key).label)) with two values",
                                            hint: "give it once")
                        }
                        given[key] = (typed, entry)
                        if isSkillField {
                            changes += PeopleAPI.otherNames(of: key, in: present).map { .mapRemove(field: name, key: $0) }
                        }
                        if entry == .null {
                            if present.contains(key) { changes.append(.mapRemove(field: name, key: key)) }
                        } else {
                            // Named as given: a skill's id ("ccd0a1d9-...") says nothing to the person who typed "python".
                            try DomainRules.check(collection: schema.name, field: field, key: typed, value: entry)
                            changes.append(.mapSet(field: name, key: key, value: entry))
                        }
                    }
                    try PeopleAPI.checkEntries(of: schema.name, name, present: present, changes: changes)
                case .counter, .log:
                    throw SyncError(status: 400, "\(name) cannot be written here")
                }
            } catch let error as ChorusError {
                throw SyncError(status: 400, error.message, hint: error.hint)
            }
        }
        return changes
    }

    /// Most entries a field matching reads holds through this API (a person's skills, goals and
    /// past roles, an opportunity's required or learnable skills): each request added up to 100
    /// with no bound on the whole, and a ranking's work grows with them, on the node's one queue
    /// (a read-only audit).
    static let matchedEntriesMax = 100
    static let matchedFields = DomainRules.skillFields.union(["people.experience"])

    /// The keys of `present` other than `id` that name the skill `id` (typed at the CLI, or at an
    /// office running an older version), in byte order: a write of the skill removes them, so
    /// it is held once, by the name the API writes, and removed, it is gone (it stayed for good
    /// while the answer said it went; a read-only audit).
    static func otherNames(of id: String, in present: Set<String>) -> [String] {
        present.sorted().filter { $0 != id && SkillTaxonomy.esco.resolve($0).id == id }
    }

    /// Refuses a write that leaves such a field over `matchedEntriesMax` entries, counted by
    /// applying the write's `changes` of it to the keys `present` (so a rename of a skill at the
    /// limit passes); one over it already (by sync) may still shrink.
    static func checkEntries(of collection: String, _ field: String, present: Set<String>, changes: [Change]) throws {
        let qualified = "\(collection).\(field)"
        guard matchedFields.contains(qualified) else { return }
        var after = present
        for change in changes {
            switch change {
            case .add(field, let key), .mapSet(field, let key, _): after.insert(key)
            case .remove(field, let key), .mapRemove(field, let key): after.remove(key)
            default: break
            }
        }
        guard after.count > matchedEntriesMax, after.count > present.count else { return }
        throw SyncError(status: 400, "\(qualified) would hold \(after.count) entries, over the \(matchedEntriesMax) it may hold",
                        hint: "keep those that matter most; remove some first")
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
