/// A set of integers built once and asked often: a bit for each number in `0..<denseLimit`
/// (origin and field numbers, handed out from 1 up, are all there), a `Set` for any other.
///
/// A received snapshot's check asks three such questions of every folded entry (its origin and
/// field known, its field one of its record's registers): through `Set<Int64>`, which hashes
/// every number it is asked, that was a fifth of the check's instructions (callgrind, P3 in
/// `Docs/performance-notes.md`); a shift and a mask cost next to nothing.
struct SmallIntegerSet {
    /// Numbers below this get a bit (8 KB at most); a file may hold any other, so those are kept
    /// in a `Set`, which a sound file leaves empty.
    static let denseLimit: Int64 = 1 << 16

    private var bits: [UInt64] = []
    private var others = Set<Int64>()

    init() {}

    init<Numbers: Sequence>(_ numbers: Numbers) where Numbers.Element == Int64 {
        for number in numbers { insert(number) }
    }

    mutating func insert(_ number: Int64) {
        guard number >= 0, number < SmallIntegerSet.denseLimit else {
            others.insert(number)
            return
        }
        let word = Int(number >> 6)
        if word >= bits.count { bits += [UInt64](repeating: 0, count: word + 1 - bits.count) }
        bits[word] |= 1 << UInt64(number & 63)
    }

    @inline(__always)
    func contains(_ number: Int64) -> Bool {
        let word = Int(truncatingIfNeeded: number >> 6)
        if number >= 0, word < bits.count { return bits[word] & (1 << UInt64(number & 63)) != 0 }
        return !others.isEmpty && others.contains(number)
    }
}
