extension Database {
    /// Whether each commit syncs the write-ahead log, as `Options.synchronous` says (true), or
    /// only writes it (false: `synchronous=NORMAL`, until set back), for a caller that commits
    /// many transactions and reports none of them durable before its last.
    ///
    /// Why this keeps everything a caller acknowledged: a sync of the log file makes every frame
    /// written to it durable, those of the unsynced commits before it too. So the last commit of
    /// such a run, made with syncs back on, makes the whole run durable, and a power cut before it
    /// can lose only commits nobody was told were kept. A process killed at any instant loses
    /// nothing either way: the frames are in the operating system's cache. Each commit stays
    /// atomic and the file consistent (SQLite: "WAL mode is always consistent with
    /// synchronous=NORMAL"); readers see each commit as before.
    ///
    /// Nothing changes unless the connection is write-ahead logged with `synchronous=FULL`.
    /// Allowed inside a transaction: the setting is read when a commit syncs.
    public func syncsEachCommit(_ on: Bool) throws {
        guard isWriteAheadLogged, synchronous == .full else { return }
        try execute("PRAGMA synchronous=\(on ? Synchronous.full.rawValue : Synchronous.normal.rawValue)")
    }
}
