import ChorusCore
import ChorusReplica
import ChorusTesting
import Foundation
import SQLiteKit

/// Data the benchmarks share: people with ten register fields, as operations.
enum Workloads {
    static let fields = ["name", "title", "office", "timezone", "manager", "squad", "tribe", "chapter", "role", "email"]

    /// A replica (synchronous=OFF, to build fast) holding `people` people with all ten fields written,
    /// `people * 10` operations.
    static func sourceReplica(at path: String, people: Int, seed: UInt64, label: String = "v") throws -> Replica {
        var rng = SeededGenerator(seed: seed)
        var configuration = Replica.Configuration()
        configuration.synchronous = .off
        let replica = try Replica.create(at: .directory(path), name: "source-\(seed)", configuration: configuration, using: &rng)
        var batch: [(collection: String, record: String, changes: [Change])] = []
        for index in 0..<people {
            batch.append(("people", "p-\(index)", fields.map { .put(field: $0, value: .string("\(label) \($0) \(index)")) }))
            if batch.count == 500 {
                try replica.writeMany(batch)
                batch = []
            }
        }
        if !batch.isEmpty { try replica.writeMany(batch) }
        return replica
    }

    /// A hub holding `office`'s operations as a hub does: pushed to it and merged
    /// (`applyRemote`, which keeps each record's entries folded), not written on it.
    static func pushedReplica(at path: String, from office: Replica, seed: UInt64) throws -> Replica {
        var rng = SeededGenerator(seed: seed)
        var configuration = Replica.Configuration()
        configuration.synchronous = .off
        let hub = try Replica.create(at: .directory(path), name: "hub-\(seed)", configuration: configuration, using: &rng)
        _ = try hub.applyRemote(try operations(of: office), source: "peer:office")
        return hub
    }

    /// Every operation of a replica's log, decoded.
    static func operations(of replica: Replica) throws -> [ChorusCore.Operation] {
        var all: [ChorusCore.Operation] = []
        var after: Int64 = 0
        while true {
            let page = try replica.log(after: after, limit: 100_000)
            guard let last = page.last else { break }
            all += page.compactMap(\.operation)
            after = last.sequence
        }
        return all
    }

    /// A durable (synchronous=FULL) replica folder.
    static func durableReplica(at path: String, seed: UInt64) throws -> Replica {
        var rng = SeededGenerator(seed: seed)
        return try Replica.create(at: .directory(path), name: "target-\(seed)", configuration: Replica.Configuration(), using: &rng)
    }
}
