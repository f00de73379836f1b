import ChorusCore
import ChorusNode
import ChorusReplica
import ChorusSync
import Foundation

enum SyncCommand: Command {
    static let spec = CommandSpec("sync", "sync with the upstream once, now, and report what moved",
        details: """
        Pushes what the upstream lacks, pulls what this replica lacks (in pages, with progress), then
        compares state digests to prove the two match. Exit 1 if the upstream cannot be reached or
        refuses; nothing is lost either way. It may run beside a `chorus serve` of the same folder
        (their transactions take turns, and cursors only move forward); --set-aside-refused may not.
        A new replica whose upstream's log is long (10,000 operations or more) starts from a copy of
        the upstream's database (a snapshot) instead of replaying every operation, then pulls what
        came after it; a snapshot that fails its checks is discarded and the log pulled instead.
        On a laptop registered for one person, a push holding a write that is not theirs is refused
        whole, and later writes wait behind it: --set-aside-refused then starts this replica again
        from the upstream's snapshot, makes again the waiting writes the upstream takes (those that
        named no one, made before the laptop knew its person, anew as that person), and sets
        the others aside (`chorus set-aside` lists them; they are kept, never synced). It
        does not run beside `chorus serve` of the same folder.
        """,
        options: [.data, .json, OptionSpec(name: "--no-verify", valueName: nil, help: "skip the digest comparison"),
                  OptionSpec(name: "--no-snapshot", valueName: nil, help: "pull the whole log even when this replica is new"),
                  OptionSpec(name: "--set-aside-refused", valueName: nil, help: "set aside the writes the upstream refuses as not this laptop's person's, and send the rest"),
                  OptionSpec(name: "--clock-offset-ms", valueName: "MS", help: "test option: pretend this machine's clock is off by MS milliseconds")])

    /// A sync's report for `--json`: `upstream` is the upstream's name (as the session reports
    /// it), and `upstreamUrl` what `chorus status --json` calls `upstream`, so a script reads the
    /// two alike.
    static func json(_ report: SyncReport, upstream: Replica.Upstream) -> JSONValue {
        var object = report.json.objectValue ?? [:]
        object["upstreamUrl"] = .string(upstream.url)
        return .object(object)
    }

    static func run(_ context: CommandContext) throws -> Int32 {
        let setsAside = context.arguments.flag("--set-aside-refused")
        if setsAside && context.arguments.flag("--no-snapshot") { throw context.usageError("--set-aside-refused starts again from the upstream's snapshot: leave --no-snapshot out") }
        // It empties the replicated tables and takes the snapshot's: a node serving the folder
        // meanwhile would answer from a state that is being replaced.
        // The folder is known to hold a replica first: taken on a mistyped --data, the lock made
        // the folder and its lock file before the replica was found missing (a read-only audit).
        if setsAside {
            try Replica.requireReplicaFile(in: context.dataDirectory, schema: context.configuration.schema)
            try ServeLock.take(folder: context.dataDirectory)
        }
        let replica = try context.openReplica()
        guard let upstream = try replica.upstream() else {
            throw ChorusError(.invalidConfiguration, "this replica has no upstream", hint: "run `chorus join URL --token-file FILE` first")
        }
        let executor = ReplicaExecutor(replica)
        let report: SyncReport
        // What moved before a failure after the pull: with `--json`, beside the error.
        var movedBeforeFailure: SyncReport?
        do {
            do {
                report = try Node.sync(executor: executor, upstream: upstream, limits: replica.configuration.limits,
                                       wallClock: replica.configuration.wallClock, compareDigests: !context.arguments.flag("--no-verify"),
                                       usesSnapshots: !context.arguments.flag("--no-snapshot"), setsAsideRefused: setsAside, progress: { context.output.error($0) },
                                       failedAfterPull: { movedBeforeFailure = $0 })
            } catch let error as SyncError {
                throw ChorusError(error.code, error.message, hint: error.hint ?? (error.isRetryable ? "retry later; local changes are kept" : nil),
                                  isRetryable: error.isRetryable)
            }
        } catch let error as ChorusError {
            replica.finishBackgroundCheckpoints()
            if context.isJSON, let moved = movedBeforeFailure { throw FailureAfterWork(error: error, report: json(moved, upstream: upstream)) }
            throw error
        }
        // A snapshot's pages, and a long pull's log, are checkpointed on threads of their own
        // (`BackgroundCheckpoint`): a command about to exit lets them finish.
        replica.finishBackgroundCheckpoints()
        // A state syncing will not mend fails the command, and is recorded as the sync's outcome
        // (`chorus status`, the page), where the session recorded a success.
        let unmended = report.lostOwnUnrecovered.map(lostOwnOperations) ?? (report.diverged ? divergence(report) : nil)
        if let unmended { try? replica.recordUpstream(error: .some(SyncReport.divergedPrefix + unmended.message)) }
        if context.isJSON {
            if let unmended { throw FailureAfterWork(error: unmended, report: json(report, upstream: upstream)) }
            context.output.json(json(report, upstream: upstream))
            return 0
        }
        context.output.print("synced with \(report.upstreamName) (\(upstream.url))")
        if report.upstreamRewound {
            context.output.print("  note: the upstream no longer holds what this replica had pulled (its log ended before the cursor, or holds another operation there: it was restored from an older backup): everything was sent again, and pulled again from its compaction point")
            if report.unsendableAfterRewind > 0 {
                context.output.print("  note: operations made here or below (or, for a relay, by the upstream itself), through sequence \(report.unsendableAfterRewind) of this replica's log, were compacted from it: what the upstream lost of them could not be sent again (the digests were compared, below)")
            }
        }
        func operations(_ count: Int) -> String { count == 1 ? "1 operation" : "\(count) operations" }
        context.output.print("  up:   \(operations(report.pushedOperations)) sent, \(report.pushApplied) new to the upstream")
        if report.snapshotOperations > 0 {
            context.output.print("  snapshot: \(operations(Int(report.snapshotOperations))) taken from the upstream's copy")
        } else if let refused = report.snapshotRefused {
            context.output.print("  snapshot: not used (\(refused)); the log was pulled instead")
        }
        context.output.print("  down: \(operations(report.pulledOperations)) received, \(report.pullApplied) new here"
                             + (report.pullCutShort ? "; more waits at the upstream: sync again (a sync pulls for at most \(Int(replica.configuration.limits.pullSecondsPerSyncMax)) s)" : ""))
        if report.setAside > 0 || report.madeAgain > 0 || report.droppedErased > 0 || report.madeAsPerson > 0 || report.leftOut > 0 {
            let person = try replica.upstream()?.person ?? "its person"
            let erased = (report.madeAsPerson > 0 ? "; \(operations(report.madeAsPerson)) of writes that named no one made anew as \(person) and sent" : "")
                + (report.leftOut > 0 ? "; \(operations(report.leftOut)) of writes that named no one left out, a later write of \(person)'s deciding (the same field written again, or the record deleted after)" : "")
                + (report.droppedErased > 0 ? "; \(operations(report.droppedErased)) of records erased meanwhile dropped" : "")
            context.output.print("  set aside: \(report.setAsideWrites == 1 ? "1 write" : "\(report.setAsideWrites) writes") (\(operations(report.setAside))) the upstream refuses, kept here (`chorus set-aside`); \(operations(report.madeAgain)) made again and sent\(erased)")
        } else if setsAside {
            context.output.print("  set aside: nothing (the upstream took every write)")
        }
        if abs(report.skewMilliseconds) >= 1000 {
            context.output.print("  clock: the upstream's clock is \(report.skewMilliseconds > 0 ? "ahead of" : "behind") ours by \(HybridClock.describe(milliseconds: report.skewMilliseconds.magnitude))")
        }
        // Further ahead than the upstream takes: every write made here now would be refused by
        // it, and every write after that one too (a replica's clock never goes back), until the
        // upstream's clock caught up. Said before any is made: set right after, it is too late.
        let drift = replica.configuration.limits.clockDriftMillisecondsMax
        if report.skewMilliseconds < 0, report.skewMilliseconds.magnitude > drift {
            context.output.error("warning: this machine's clock is \(HybridClock.describe(milliseconds: report.skewMilliseconds.magnitude)) ahead of the upstream's, more than the \(HybridClock.describe(milliseconds: drift)) it takes: set it right (NTP) before writing here. A write made now would be refused by the upstream, and every write after it, for \(HybridClock.describe(milliseconds: report.skewMilliseconds.magnitude - drift)), and setting the clock right afterwards would not change that")
        }
        if let unmended { throw unmended }
        if let matches = report.digestMatches {
            context.output.print(matches ? "  state: identical to the upstream (digest \(report.localDigest!.prefix(16))...)"
                                         : "  state: differs from the upstream (it changed meanwhile, or holds operations not yet sent here); sync again")
        }
        return 0
    }

    /// The failure of a sync that found this replica lacking operations of its own that the upstream
    /// holds, and could not start again from its snapshot (`SyncReport.lostOwnUnrecovered`).
    static func lostOwnOperations(_ why: String) -> ChorusError {
        ChorusError(.diverged, why,
                    hint: "what it wrote since went up; to have the rest back, \(SyncError.newFolderSteps) and retire this one (an office node: after moving the replicas below it to the new one)")
    }

    /// The failure of a sync that moved what it could and left the two states apart for good
    /// (`SyncReport.diverged`): exit 1, so a script or a monitor sees it, where a state that
    /// differs only because something was written meanwhile is a success ("sync again").
    static func divergence(_ report: SyncReport) -> ChorusError {
        // The upstream was restored from a backup and lacks what this replica compacted since:
        // its own writes, and those below it, that no one can send again. Said so, where the
        // general words blamed the upstream's own writes.
        if report.upstreamRewound && report.unsendableAfterRewind > 0 {
            return ChorusError(.diverged, """
                the upstream was restored from a backup, and may lack operations made here or below that this replica had \
                compacted from its log (through sequence \(report.unsendableAfterRewind)), which cannot be sent again: digest \
                \(report.localDigest ?? "") here, \(report.upstreamDigest ?? "") upstream
                """,
                hint: """
                their values are still here: for each record that differs (`chorus get COLLECTION ID` here and in the upstream's \
                folder, or the two nodes' pages), write the value again here, and it reaches the upstream. Other offices that have \
                not synced since the restore send theirs when they do. To keep this from happening, let compaction keep at least \
                as long as the age of the backups the upstream may be restored from (`chorus compact --keep-hours`, a week by default)
                """)
        }
        return ChorusError(.diverged, """
            this replica's state differs from the upstream's at the same point of its log (sequence \(report.upstreamSequence)), \
            with nothing left to push: digest \(report.localDigest ?? "") here, \(report.upstreamDigest ?? "") upstream
            """,
            hint: """
            syncing again will not change it: one side holds an operation the other lacks for good. If the upstream \
            was restored from a backup, it lost its own writes made since, which this replica holds and sends back only \
            when its token there is a relay's (an office): `chorus log` here lists them, made by the upstream's replica \
            (`chorus status` names it). Write those values again here; each makes a conflict at the upstream alone, \
            against the value it went back to: resolve it there (`chorus conflicts --remote UPSTREAM`). If this folder was restored \
            from a backup of itself, or copied, keep it, \(SyncError.newFolderSteps), and make there again what it \
            lacks of your latest writes (`chorus log` here lists them)
            """)
    }
}
