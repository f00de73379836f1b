import ChorusCore
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
                                  replica: ReplicaID.random(using: &generator), limits: limits, caller: .admin)
    }

    public func get(_ path: String, query: [String: String] = [:]) throws -> JSONValue {
        let items = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return try transport.json(try transport.send("GET", path, query: items))
    }

    public func post(_ path: String, body: JSONValue) throws -> JSONValue {
        try transport.json(try transport.send("POST", path, body: body.canonicalBytes))
    }
}
