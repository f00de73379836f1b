/// A table of keys that are mostly asked for again in the order they were added: a batch's
/// records come with their fields in one order, one record after another, so the field asked for
/// is most often the one asked for last (an origin) or the one added after it (the next field).
///
/// A lookup compares those two keys first and hashes only when neither matches: hashing a name
/// through the standard library's SipHash costs hundreds of instructions, a comparison of a short
/// name tens (field numbers by name were 4% of a merged operation's instructions; callgrind, P1).
struct InOrderTable<Key: Hashable, Value> {
    /// Every key with its value, in the order added.
    private(set) var entries: [(key: Key, value: Value)] = []
    /// Where the entry found or added last is in `entries`, or -1.
    private(set) var recent = -1
    private var positions: [Key: Int] = [:]

    /// `key`'s value, nil when it has none; the entry found becomes the recent one.
    mutating func value(of key: Key) -> Value? {
        if recent >= 0 {
            if entries[recent].key == key { return entries[recent].value }
            let following = recent + 1 < entries.count ? recent + 1 : 0
            if entries[following].key == key {
                recent = following
                return entries[following].value
            }
        }
        guard let position = positions[key] else { return nil }
        recent = position
        return entries[position].value
    }

    /// Adds `key`, which has no value yet, and makes it the recent one; returns its position.
    @discardableResult
    mutating func add(_ key: Key, _ value: Value) -> Int {
        precondition(positions[key] == nil, "InOrderTable.add: the key is in the table already")
        entries.append((key, value))
        recent = entries.count - 1
        positions[key] = recent
        return recent
    }

    /// Makes the entry at `position` the recent one.
    mutating func use(_ position: Int) { recent = position }
}
