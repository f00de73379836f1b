import ChorusCore
import ChorusNode
import ChorusReplica
import ChorusSync
import ChorusTesting
import SQLiteKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// P3 to P6: sync over loopback HTTP, no-op sync load, history scale and memory.
enum NetworkBenchmarks {
    /// A hub node in this process on a free port, serving `replica`.
    static func startNode(_ replica: Replica, limits: Limits = .default) throws -> Node {
        var configuration = Node.Configuration()
        configuration.limits = limits
        configuration.port = 0
        configuration.syncIntervalSeconds = 3600
        configuration.log = { _ in }
        let node = Node(replica: replica, configuration: configuration)
        try node.start()
        // As an upstream that has been serving a while: the empty database its snapshots start
        // from, which a node makes as it starts (`SyncService.prepareSnapshots`), is made.
        node.service.waitForSnapshotPreparation()
        return node
    }

    /// P3: a fresh replica pulls `people` people (10 operations each) from a hub over loopback HTTP.
    ///
    /// The hub holds them as a hub does: an office wrote them and pushed them, and the hub merged
    /// them (`applyRemote`, which keeps each record's entries folded). Beside it, for context, the
    /// office itself as an upstream: its people written there, so their entries are in rows of
    /// their own until `chorus compact` folds them; and the office once compacted.
    static func bootstrap(_ results: Results, people: Int, repetitions: Int) throws {
        results.section = "P3 bootstrap: a fresh replica pulls \(people) people (\(people * 10) operations) over loopback HTTP"
        let scratch = try Scratch("p3")
        defer { scratch.remove() }
        let officeReplica = try Workloads.sourceReplica(at: scratch.file("office"), people: people, seed: 30)
        let hubReplica = try Workloads.pushedReplica(at: scratch.file("hub"), from: officeReplica, seed: 31)
        // The same office people in a second folder, compacted as `chorus compact --vacuum` does
        // (no replica is registered yet, so the whole log goes).
        let compactedReplica = try Workloads.sourceReplica(at: scratch.file("compacted"), people: people, seed: 30)
        _ = try compactedReplica.compactLog()
        _ = try compactedReplica.vacuum()
        // Every repetition makes its own copy: an upstream serves its last copy again for a minute
        // (`snapshotReuseSeconds`), which would time the transfer and the client's side only.
        var upstreamLimits = Limits.default
        upstreamLimits.snapshotReuseSeconds = 0
        let hub = try startNode(hubReplica, limits: upstreamLimits)
        defer { hub.stop(graceSeconds: 1) }
        let office = try startNode(officeReplica, limits: upstreamLimits)
        defer { office.stop(graceSeconds: 1) }
        let compacted = try startNode(compactedReplica, limits: upstreamLimits)
        defer { compacted.stop(graceSeconds: 1) }
        // The snapshots, the replay of the log and the raw bulk insert the target divides by,
        // alternating, so the machine's drift falls on all (the raw insert, measured after all the
        // bootstraps, took 26 to 48 ms across one stop's full runs).
        let rawScratch = try Scratch("p3raw")
        defer { rawScratch.remove() }
        var snapshot: [Double] = [], fromOffice: [Double] = [], fromCompacted: [Double] = [], replay: [Double] = [], raw: [Double] = []
        for _ in 0..<repetitions {
            snapshot.append(try timedBootstrap(hub: hub, people: people, usesSnapshots: true))
            fromOffice.append(try timedBootstrap(hub: office, people: people, usesSnapshots: true))
            fromCompacted.append(try timedBootstrap(hub: compacted, people: people, usesSnapshots: true))
            replay.append(try timedBootstrap(hub: hub, people: people, usesSnapshots: false))
            let db = try Database(path: rawScratch.file("raw-\(UUID().uuidString.prefix(4)).sqlite"))
            try RawBenchmarks.table(db)
            raw.append(try time { try RawBenchmarks.bulkInsert(db, rows: people) })
        }
        results.add("p3", "end to end from the hub's snapshot (copy, send, check, take, durable); the hub merged the people an office pushed",
                    Stats(samples: snapshot), unit: "ms", scale: 1000, digits: 0)
        results.add("p3Office", "end to end from the office's snapshot instead, its people written there (entries in rows)", Stats(samples: fromOffice),
                    unit: "ms", scale: 1000, digits: 0)
        results.add("p3Compacted", "end to end from the office's snapshot once its log is compacted (entries folded)", Stats(samples: fromCompacted),
                    unit: "ms", scale: 1000, digits: 0)
        results.add("p3Replay", "end to end replaying the hub's log (pull, merge, materialise, durable)", Stats(samples: replay), unit: "ms", scale: 1000, digits: 0)
        // The upstream's share of a snapshot bootstrap, and what travels.
        let schema = hub.executor.perform { $0.configuration.schema }
        // As the upstreams write theirs: from the empty database made as they started.
        let template = EmptyStorageTemplate()
        template.prepare(schema: schema, in: scratch.path)
        template.waitForPreparation()
        for (key, node, what) in [("p3", hub, "the hub"), ("p3Office", office, "the office"), ("p3Compacted", compacted, "the compacted office")] {
            let location = node.executor.perform { $0.location }
            var written: [Double] = [], bytes: Int64 = 0
            for _ in 0..<repetitions {
                var file: Replica.SnapshotFile?
                written.append(try time { file = try Replica.writeSnapshot(of: location, schema: schema, template: template) })
                if let file { bytes = file.bytes; Replica.removeSnapshotFile(file.path) }
            }
            results.add("\(key)SnapshotWrite", "of the bootstrap from \(what), its copy written (the replicated tables, history left out, into a new file; checksum)",
                        Stats(samples: written), unit: "ms", scale: 1000, digits: 0)
            results.note("\(key)SnapshotBytes", "snapshot size, \(what)'s", Double(bytes) / 1_000_000, unit: "MB")
        }
        results.add("p3Raw", "raw bulk insert of the same \(people) rows x 10 columns, alternating with the bootstraps", Stats(samples: raw),
                    unit: "ms", scale: 1000, digits: 1)
        try bootstrapStages(results, hub: hub, people: people, repetitions: repetitions)
        try digestRequests(results, hub: hub, people: people, repetitions: repetitions)
    }

    /// Where a bootstrap from the hub spends its time, each stage timed on its own as
    /// the sync does it: the download (the hub writing its copy, sending it, the client writing
    /// it and checking its checksum), the adoption (the checks, `integrity_check` beside them, and
    /// the copy of its pages into the replica), and what is left, once the adoption returns, of
    /// the checkpoint of the write-ahead log the pages went into, which runs on a thread of its
    /// own (`BackgroundCheckpoint`; SQLite would run it on the replica's next statement).
    static func bootstrapStages(_ results: Results, hub: Node, people: Int, repetitions: Int) throws {
        let hubID = hub.executor.perform { $0.id }
        var downloads: [Double] = [], adoptions: [Double] = [], checkpoints: [Double] = []
        for _ in 0..<repetitions {
            let client = try Scratch("p3s")
            defer { client.remove() }
            let replica = try Workloads.durableReplica(at: client.file("r"), seed: UInt64.random(in: 1...UInt64.max))
            try replica.setUpstream(url: "http://127.0.0.1:\(hub.port)", tokenFile: "/dev/null")
            let token = try hub.executor.perform { try $0.addPeer(name: "s\(UInt32.random(in: 0...UInt32.max))", role: .replica) }
            let transport = HTTPTransport(baseURL: URL(string: "http://127.0.0.1:\(hub.port)")!, token: token, replica: replica.id, limits: .default)
            let path = client.file("incoming.sqlite")
            var through: Int64 = 0
            downloads.append(try time { through = try transport.snapshot(storage: replica.storageVersion, into: path) })
            adoptions.append(try time { _ = try replica.adoptSnapshot(at: path, through: through, from: hubID) })
            checkpoints.append(try time { _ = try replica.snapshotCheckpoint?.wait() })
        }
        results.add("p3StageDownload", "of the bootstrap from the hub: the download (hub's copy, send, receive, checksum)",
                    Stats(samples: downloads), unit: "ms", scale: 1000, digits: 1)
        results.add("p3StageAdopt", "of it: the checks beside integrity_check, and the pages taken, durably", Stats(samples: adoptions),
                    unit: "ms", scale: 1000, digits: 1)
        results.add("p3StageCheckpoint", "beside it, waited for by no one: the checkpoint of the pages' write-ahead log, on a thread of its own", Stats(samples: checkpoints),
                    unit: "ms", scale: 1000, digits: 1)
    }

    /// One bootstrap of a new replica from `hub`, timed from the first request to the last commit.
    /// The snapshot is asked for whatever the log's length (`snapshotSequenceMin` 0), so `--quick`
    /// measures it too.
    static func timedBootstrap(hub: Node, people: Int, usesSnapshots: Bool) throws -> Double {
        let client = try Scratch("p3c")
        defer { client.remove() }
        let replica = try Workloads.durableReplica(at: client.file("r"), seed: UInt64.random(in: 1...UInt64.max))
        let name = "c\(UInt32.random(in: 0...UInt32.max))"
        let token = try hub.executor.perform { try $0.addPeer(name: name, role: .replica) }
        // Revoked once measured, as a replica that will never sync again is: a registered replica
        // that has synced holds the history after what it committed in every later copy
        // (`Replica.settledSequenceSQL`), and a replaying client stops partway behind.
        defer { try? hub.executor.perform { try $0.revokePeer(name: name) } }
        try replica.setUpstream(url: "http://127.0.0.1:\(hub.port)", tokenFile: "/dev/null")
        let executor = ReplicaExecutor(replica)
        var limits = Limits.default
        limits.snapshotSequenceMin = 0
        let transport = HTTPTransport(baseURL: URL(string: "http://127.0.0.1:\(hub.port)")!, token: token,
                                      replica: executor.perform { $0.id }, limits: limits)
        var session = SyncSession(executor: executor, transport: transport, limits: limits, wallClock: SystemClock())
        session.usesSnapshots = usesSnapshots
        var report = SyncReport()
        let seconds = try time { report = try session.run() }
        let arrived = Int(report.snapshotOperations) + report.pullApplied
        precondition(arrived == people * 10, "bootstrap brought \(arrived) operations (snapshot: \(report.snapshotRefused ?? "used"))")
        precondition(usesSnapshots == (report.snapshotOperations > 0), "the snapshot was \(usesSnapshots ? "not " : "")used: \(report.snapshotRefused ?? "")")
        return seconds
    }

    /// The digest request of a verifying `chorus sync`, against the P3 hub: after a commit the hub
    /// hashes every row; asked again with nothing committed, it answers from its digest cache.
    /// Each repetition commits one write on the hub first, so every "after a commit" is computed.
    static func digestRequests(_ results: Results, hub: Node, people: Int, repetitions: Int) throws {
        let token = try hub.executor.perform { try $0.addPeer(name: "verifier", role: .replica) }
        // As `chorus sync` asks it: reporting the client's own digest, which the hub records.
        let request = "GET /sync/v1/digest HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer \(token)\r\nChorus-Protocol: 1\r\n"
            + "Chorus-Replica: \(String(repeating: "6b", count: 16))\r\nChorus-Digest: \(String(repeating: "0", count: 64))\r\nChorus-Cursor: 0\r\n\r\n"
        func roundTrip() throws -> Double {
            let client = try RawClient(port: hub.port)
            return try time {
                client.send(request)
                guard let response = client.readResponse(), response.status == 200, response.body.contains("\"digest\"") else {
                    throw ChorusError(.invalidState, "P3: a digest request failed (\(client.lastStatusLine ?? "no response"))")
                }
            }
        }
        // The token's first request binds it to the replica id it names, a commit on the hub:
        // made here, so it does not fall between a repetition's two requests.
        _ = try roundTrip()
        var computed: [Double] = [], cached: [Double] = []
        for index in 0..<repetitions {
            try hub.executor.perform { replica in
                _ = try replica.write(collection: "people", record: "digest-probe", [.put(field: "title", value: .string("probe \(index)"))])
            }
            computed.append(try roundTrip())
            cached.append(try roundTrip())
        }
        results.add("p3DigestComputed", "digest request at \(people) people, after a commit (every row hashed)", Stats(samples: computed),
                    unit: "ms", scale: 1000, digits: 1)
        results.add("p3DigestCached", "the same request again, nothing committed (digest cache)", Stats(samples: cached),
                    unit: "ms", scale: 1000, digits: 3)
    }

    /// P4: requests per second and latency of a sync with nothing new, `connections` keep-alive
    /// connections for `seconds`, from wrk when it is installed, else from a load generator of our
    /// own (a thread and a raw socket per connection). nginx, when installed, is measured by the
    /// same generator in the same repetitions, alternating with ours, so the machine's drift over
    /// the run falls on both.
    static func noopSync(_ results: Results, connections: Int, seconds requested: Double, repetitions: Int) throws {
        let wrk = Wrk.find()
        let seconds = wrk == nil ? requested : Double(Wrk.wholeSeconds(requested))
        let generator = wrk == nil ? "own load generator" : "wrk, \(Wrk.threads) threads"
        results.section = "P4 no-op sync, \(connections) keep-alive connections (\(generator)), \(repetitions) runs of \(format(seconds)) s alternating with nginx"
        let scratch = try Scratch("p4")
        defer { scratch.remove() }
        let replica = try Workloads.sourceReplica(at: scratch.file("hub"), people: 100, seed: 40)
        let latest = try replica.latestSequence()
        let path = "/sync/v1/pull?after=\(latest)&limit=1000"
        // One peer's request on every connection, from either generator: wrk sends the same
        // headers on all (a script choosing per request would cost wrk more for ours than for
        // nginx's), and the server's cost per request is the same for one peer or 64 (its token
        // and activity are looked up by key either way).
        let token = try replica.addPeer(name: "load", role: .replica)
        var rng = SeededGenerator(seed: 1000)
        let headers = syncHeaders((token, ReplicaID.random(using: &rng)))
        let hub = try startNode(replica)
        defer { hub.stop(graceSeconds: 1) }
        let nginx = try NginxServer.start()
        defer { nginx?.stop() }
        // A failed measurement names its server: one full run's "connection refused" did not say
        // whether it was the hub's or nginx's.
        func measure(port: UInt16, path: String, headers: [(String, String)]) throws -> (rate: Double, p50: Double, p99: Double) {
            do {
                return try load(port: port, path: path, headers: headers, connections: connections, seconds: seconds, wrk: wrk)
            } catch {
                let server = port == hub.port ? "the hub (chorus serve)" : "nginx"
                throw ChorusError(.invalidState, "measuring \(server) on port \(port): \(error)")
            }
        }
        var rates: [Double] = [], p50: [Double] = [], p99: [Double] = [], nginxRates: [Double] = [], nginxP99: [Double] = []
        for _ in 0..<repetitions {
            let ours = try measure(port: hub.port, path: path, headers: headers)
            rates.append(ours.rate)
            p50.append(ours.p50)
            p99.append(ours.p99)
            if let nginx {
                let theirs = try measure(port: nginx.port, path: "/file.txt", headers: [])
                nginxRates.append(theirs.rate)
                nginxP99.append(theirs.p99)
            }
        }
        results.add("p4Rate", "requests per second", Stats(samples: rates), unit: "req/s", digits: 0)
        results.add("p4P50", "latency p50", Stats(samples: p50), unit: "ms", scale: 1000, digits: 3)
        results.add("p4P99", "latency p99", Stats(samples: p99), unit: "ms", scale: 1000, digits: 3)
        if nginx != nil {
            results.add("p4Nginx", "nginx, static 200-byte file, same generator", Stats(samples: nginxRates), unit: "req/s", digits: 0)
            // The machine's own pauses reach nginx's tail too: context for ours.
            results.add("p4NginxP99", "nginx latency p99, same generator", Stats(samples: nginxP99), unit: "ms", scale: 1000, digits: 3)
        } else {
            print("  nginx not installed: run Tests/Bench/run-benchmarks.sh to compare with it")
        }
    }

    /// One load run against `port`: `connections` keep-alive connections each sending `GET path`
    /// with `headers` for `seconds`, through wrk when given, else the own load generator.
    static func load(port: UInt16, path: String, headers: [(String, String)], connections: Int, seconds: Double,
                     wrk: Wrk?) throws -> (rate: Double, p50: Double, p99: Double) {
        if let wrk {
            let result = try wrk.run(url: "http://127.0.0.1:\(port)\(path)", headers: headers.map { "\($0.0): \($0.1)" },
                                     connections: connections, seconds: seconds)
            return (result.rate, result.p50, result.p99)
        }
        let (rate, latencies) = try LoadGenerator.run(port: port, requests: Array(repeating: getRequest(path, headers), count: connections),
                                                      seconds: seconds)
        return (rate, percentile(latencies, 50), percentile(latencies, 99))
    }

    /// The bytes of an HTTP/1.1 `GET path` with `headers`, as the raw clients send it.
    static func getRequest(_ path: String, _ headers: [(String, String)]) -> String {
        "GET \(path) HTTP/1.1\r\nHost: bench\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
    }

    /// The headers of a replica's sync request.
    static func syncHeaders(_ peer: (token: String, id: ReplicaID)) -> [(String, String)] {
        [("Authorization", "Bearer \(peer.token)"), ("Chorus-Protocol", "1"), ("Chorus-Replica", peer.id.hex)]
    }

    /// P5: no-op sync latency with a large history against a small one; database size per live row.
    static func scale(_ results: Results, large: Int, small: Int, repetitions: Int, connections: Int, loadSeconds: Double) throws {
        results.section = "P5 scale: \(large) operations of history against \(small)"
        // Both hubs run side by side and their repetitions alternate (small, large, small, ...), so
        // the machine's drift over the run falls on both alike instead of on whichever came second.
        // A probe checks every response and reconnects when the hub closes the connection (after
        // `requestsPerConnectionMax` requests, as HTTP allows): a round trip that failed fast would
        // otherwise be timed as a very fast one.
        final class Probe {
            let scratch: Scratch, hub: Node, path: String, headers: [(String, String)], request: String
            var client: RawClient?
            init(scratch: Scratch, hub: Node, path: String, headers: [(String, String)]) {
                (self.scratch, self.hub, self.path, self.headers) = (scratch, hub, path, headers)
                request = NetworkBenchmarks.getRequest(path, headers)
            }
            func roundTrip() throws {
                let client = try self.client ?? RawClient(port: hub.port)
                client.send(request)
                guard let response = client.readResponse(), response.status == 200 else {
                    throw ChorusError(.invalidState, "P5: a no-op pull failed (\(client.lastStatusLine ?? "no response"))",
                                      hint: "a failed round trip returns fast and would be timed as a fast one; the figure is not reported")
                }
                self.client = response.headers.contains("Connection: close") ? nil : client
            }
        }
        var probes: [Int: Probe] = [:]
        defer { for probe in probes.values { probe.hub.stop(graceSeconds: 1); probe.scratch.remove() } }
        for history in [small, large] {
            let scratch = try Scratch("p5")
            let replica = try Workloads.sourceReplica(at: scratch.file("hub"), people: history / 10, seed: UInt64(history))
            let latest = try replica.latestSequence()
            let token = try replica.addPeer(name: "probe", role: .replica)
            let hub = try startNode(replica)
            probes[history] = Probe(scratch: scratch, hub: hub, path: "/sync/v1/pull?after=\(latest)&limit=1000",
                                    headers: syncHeaders((token, ReplicaID(bytes: Array(repeating: 0x5A, count: 16))!)))
        }
        // Connected only now: a connection opened before the large hub was built would have sat idle
        // past the hub's keep-alive limit and been closed.
        for probe in probes.values { for _ in 0..<50 { try probe.roundTrip() } }
        // A round trip takes 0.05 to 0.3 ms on this machine: 200 of them a repetition and 5
        // repetitions let one stall decide the ratio (1.0x to 1.7x between runs of one build), so
        // 500 a repetition, 9 repetitions, about 2 s in all.
        let roundTrips = 500
        var samples: [Int: [Double]] = [small: [], large: []]
        for _ in 0..<max(repetitions, 9) {
            for history in [small, large] {
                let probe = probes[history]!
                samples[history]!.append(try time {
                    for _ in 0..<roundTrips { try probe.roundTrip() }
                } / Double(roundTrips))
            }
        }
        var medians: [Int: Double] = [:]
        for history in [small, large] {
            let stats = Stats(samples: samples[history]!)
            medians[history] = stats.median
            results.add("p5Sync\(history)", "no-op sync round trip, \(history) operations of history", stats, unit: "ms", scale: 1000, digits: 3)
        }
        results.numbers["p5RoundTripRatio"] = (medians[large] ?? 0) / Swift.max(medians[small] ?? 1, 1e-9)
        // The hub's own time per no-op sync, which is what the history could change: a lone round
        // trip's time is mostly the machine waking the hub's event loop and the client (its ratio
        // between the two hubs went from 0.54x to 1.56x across five full runs of one build, the
        // large history as often faster). Under load, connections kept busy as in P4, a hub never
        // sleeps between requests and its requests per second give its time per request. The two
        // hubs alternate, as above.
        let wrk = Wrk.find()
        var rates: [Int: [Double]] = [small: [], large: []]
        for _ in 0..<repetitions {
            for history in [small, large] {
                let probe = probes[history]!
                rates[history]!.append(try load(port: probe.hub.port, path: probe.path, headers: probe.headers, connections: connections,
                                                seconds: loadSeconds, wrk: wrk).rate)
            }
        }
        let generator = wrk == nil ? "own load generator" : "wrk"
        var rateMedians: [Int: Double] = [:]
        for history in [small, large] {
            let stats = Stats(samples: rates[history]!)
            rateMedians[history] = stats.median
            results.add("p5Load\(history)", "no-op syncs per second under load (\(connections) connections, \(generator)), \(history) operations of history",
                        stats, unit: "req/s", digits: 0)
        }
        // Time per request is the inverse of the rate: the large history's over the small one's.
        results.numbers["p5Ratio"] = (rateMedians[small] ?? 0) / Swift.max(rateMedians[large] ?? 1, 1e-9)
        // Like the plain table below: the write-ahead log checkpointed into the file and emptied.
        let hubFile = probes[large]!.scratch.file("hub/chorus.sqlite")
        _ = try Database(path: hubFile).checkpointTruncate()
        let bytes = fileSize(hubFile)
        results.note("p5BytesPerRow", "database bytes per live field value (\(large) values, each written once)",
                     Double(bytes) / Double(large), unit: "bytes", digits: 1)
        for (table, tableBytes) in try bytesByTable(hubFile) {
            results.note("p5Bytes.\(table)", "  of which \(table)", Double(tableBytes) / Double(large), unit: "bytes", digits: 1)
        }
        let raw = try Scratch("p5raw")
        defer { raw.remove() }
        let db = try Database(path: raw.file("raw.sqlite"))
        try RawBenchmarks.table(db)
        try RawBenchmarks.bulkInsert(db, rows: large / 10)
        try db.checkpointTruncate()
        results.note("p5RawBytesPerRow", "plain SQLite bytes per field value, same rows", Double(fileSize(raw.file("raw.sqlite"))) / Double(large),
                     unit: "bytes", digits: 1)

        // Erasing a person with the large history, durably, through a second connection while the
        // idle hub runs: the log has no index from records to their operations, so an erasure
        // reads every log block once and rewrites the blocks holding the person's operations.
        // Not a target; what the rare erasure pays for a merge without that index.
        let eraser = try Replica.open(at: .directory(probes[large]!.scratch.file("hub")), configuration: Replica.Configuration())
        var erased = 0
        let erasure = try repeated(max(repetitions, 5), setup: {}) { (_: Void) in
            erased += 1
            try eraser.write(collection: "people", record: "p-\((erased * 7919) % (large / 10))", [.erase])
        }
        results.add("p5Erase", "erasing one person, \(large) operations of history", erasure, unit: "ms", scale: 1000, digits: 0)

        // History compacted as `chorus compact --vacuum` does, once the probe (the one registered
        // replica, which never acknowledges) is revoked: every operation has reached everyone.
        try eraser.revokePeer(name: "probe")
        let compactionStart = DispatchTime.now().uptimeNanoseconds
        let compaction = try eraser.compactLog()
        results.note("p5CompactMilliseconds", "compacting the whole log, durably (one run: there is one log to compact)",
                     Double(DispatchTime.now().uptimeNanoseconds - compactionStart) / 1e6, unit: "ms", digits: 0)
        precondition(compaction.floor == compaction.latest, "P5: the log was compacted only through \(compaction.floor) of \(compaction.latest)")
        _ = try eraser.vacuum()
        let compactedBytes = fileSize(hubFile)
        results.note("p5CompactedBytesPerRow", "database bytes per live field value, log compacted (`chorus compact --vacuum`)",
                     Double(compactedBytes) / Double(large), unit: "bytes", digits: 1)
        for (table, tableBytes) in try bytesByTable(hubFile) {
            results.note("p5CompactedBytes.\(table)", "  of which \(table)", Double(tableBytes) / Double(large), unit: "bytes", digits: 1)
        }
    }

    /// Where a database's pages go, by table with its indexes, largest first (SQLite's `dbstat`;
    /// empty when this SQLite was built without it), and free pages. Under 2% of the file is left out.
    static func bytesByTable(_ path: String) throws -> [(String, Int)] {
        let db = try Database(path: path)
        guard let rows = try? db.query("""
            SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d LEFT JOIN sqlite_schema m ON m.name = d.name
            GROUP BY 1 ORDER BY 2 DESC
            """) else { return [] }
        let free = Int(try db.queryScalarInteger("PRAGMA freelist_count") ?? 0) * Int(try db.queryScalarInteger("PRAGMA page_size") ?? 0)
        let tables = rows.compactMap { row in row.text(0).map { ($0, Int(row.integer(1) ?? 0)) } } + [("free pages", free)]
        let total = tables.reduce(0) { $0 + $1.1 }
        return tables.filter { $0.1 * 50 >= total }.sorted { $0.1 > $1.1 }
    }

    /// P6: peak memory of a `chorus serve` hub while `replicas` replicas sync with it, and of an idle
    /// node holding `people` people.
    static func memory(_ results: Results, replicas: Int, people: Int, chorus: String, repetitions: Int) throws {
        results.section = "P6 memory of child `chorus serve` processes"
        guard FileManager.default.isExecutableFile(atPath: chorus) else {
            print("  \(chorus) not built: skipped")
            return
        }
        let scratch = try Scratch("p6")
        defer { scratch.remove() }
        let hubPath = scratch.file("hub")
        let seeded = try Workloads.sourceReplica(at: hubPath, people: 100, seed: 60)
        var tokens: [String] = []
        for index in 0..<replicas { tokens.append(try seeded.addPeer(name: "r\(index)", role: .replica)) }
        let allTokens = tokens
        // Each repetition is a fresh hub process on the same data; every replica keeps its id, so
        // its token stays bound to it.
        var hubPeaks: [Double] = [], seconds: [Double] = []
        for _ in 0..<repetitions {
            let hub = try ServeChild(chorus: chorus, data: hubPath)
            defer { hub.stop() }
            let hubPort = hub.port
            seconds.append(time {
                DispatchQueue.concurrentPerform(iterations: Swift.min(32, replicas)) { worker in
                    for index in stride(from: worker, to: replicas, by: Swift.min(32, replicas)) {
                        var rng = SeededGenerator(seed: UInt64(index) + 7)
                        let id = ReplicaID.random(using: &rng)
                        guard let client = try? RawClient(port: hubPort) else { continue }
                        let headers = "Host: hub\r\nAuthorization: Bearer \(allTokens[index])\r\nChorus-Protocol: 1\r\nChorus-Replica: \(id.hex)\r\n"
                        client.send("GET /sync/v1/info HTTP/1.1\r\n\(headers)\r\n"); _ = client.readResponse()
                        client.send("GET /sync/v1/pull?after=0 HTTP/1.1\r\n\(headers)\r\n"); _ = client.readResponse()
                    }
                }
            })
            hubPeaks.append(Double(processMemory(pid: hub.pid).peak))
        }
        results.add("p6Hub", "hub peak RSS after \(replicas) replicas synced (\(format(Stats(samples: seconds).median, 1)) s)",
                    Stats(samples: hubPeaks), unit: "MB", scale: 1 / 1_048_576)
        let idlePath = scratch.file("idle")
        _ = try Workloads.sourceReplica(at: idlePath, people: people, seed: 61)
        var idleSizes: [Double] = []
        for _ in 0..<repetitions {
            let idle = try ServeChild(chorus: chorus, data: idlePath)
            defer { idle.stop() }
            Thread.sleep(forTimeInterval: 1)
            idleSizes.append(Double(processMemory(pid: idle.pid).rss))
        }
        results.add("p6Idle", "idle node holding \(people) people, RSS", Stats(samples: idleSizes), unit: "MB", scale: 1 / 1_048_576)
    }
}

/// A `chorus serve` child process on a free port.
final class ServeChild {
    let process = Process()
    private(set) var port: UInt16 = 0
    var pid: Int32 { process.processIdentifier }

    init(chorus: String, data: String) throws {
        process.executableURL = URL(fileURLWithPath: chorus)
        process.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:0", "--sync-interval", "3600"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = out.fileHandleForReading
        var buffer = Data()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            buffer.append(handle.availableData)
            if let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n").first(where: { $0.contains("listening") }),
               let url = (try? JSONParser().parse(String(line)))?["url"]?.stringValue, let bound = url.split(separator: ":").last.flatMap({ UInt16($0) }) {
                port = bound
                // Keep draining the log so the child never blocks on a full pipe.
                handle.readabilityHandler = { _ = $0.availableData }
                return
            }
        }
        throw ChorusError(.storage, "chorus serve did not start")
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}
