import ChorusCore
import ChorusSync
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Calls a node's admin routes (`chorus conflicts --remote`, `chorus resolve --remote`,
/// `chorus replicas health --remote`).
public struct AdminClient: Sendable {
    let transport: HTTPTransport

    /// - Parameters:
    ///   - url: the node, e.g. `http://hub.example:7420`.
    ///   - tokenFile: a file holding an admin token from `chorus replicas add NAME --role admin`.
    public init(url: String, tokenFile: String, limits: Limits) throws {
        let parsed = try HTTPTransport.nodeURL(url)
        var generator = SystemRandomNumberGenerator()
        transport = HTTPTransport(baseURL: parsed, token: try HTTPTransport.readToken(path: tokenFile, limits: limits),
                                  replica: ReplicaID.random(using: &generator), limits: limits)
    }

    public func get(_ path: String, query: [String: String] = [:]) throws -> JSONValue {
        let items = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return try AdminClient.asAdmin { try transport.json(try transport.send("GET", path, query: items)) }
    }

    public func post(_ path: String, body: JSONValue) throws -> JSONValue {
        try AdminClient.asAdmin { try transport.json(try transport.send("POST", path, body: body.canonicalBytes)) }
    }

    /// A node out of reach, said as an admin asking it, not as a sync (whose "upstream" keeps
    /// changes to send later).
    static func asAdmin<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SyncError where error.status == 0 {
            let syncsOnly = error.hint.map { $0.contains("changes are kept") || $0.contains("next sync") } ?? true
            throw SyncError(status: 0, error.message.replacingOccurrences(of: "the upstream", with: "the node"),
                            hint: syncsOnly ? "check the URL (--remote) and that `chorus serve` runs there" : error.hint)
        }
    }
}
