#if canImport(Glibc)
import Glibc
#endif

import ChorusCore

/// Record ids, fields and keys as storage and the protocol compare them: by their UTF-8 bytes.
///
/// Swift's `String ==` is canonical equivalence, so "é" (U+00E9) and "e" followed by U+0301 are
/// equal to it, yet they are two record ids, fields or map keys in SQLite (BINARY collation), in
/// the state digest and on the wire. The batch's in-memory tables key on these names; with String
/// equality, two such records applied in one batch shared one row id, and two such map keys one
/// materialised value, so the result depended on how operations were batched.
enum ExactText {
    static func equal(_ a: String, _ b: String) -> Bool {
        // One representation (a small string's bytes held inline, or one native buffer) holds
        // one text: most names compared are equal and short (a field's name against the same
        // field's, each decoded apart), so this answers most calls without reading the bytes.
        if sameRepresentation(a, b) { return true }
        // Names of other lengths differ: told by their counts, kept with native strings.
        guard a.utf8.count == b.utf8.count else { return false }
        // Native and small strings are read in place; copying each to reach `withUTF8` retained
        // and released both (a merge compares a few names an operation; callgrind, P1).
        let inPlace = a.utf8.withContiguousStorageIfAvailable { x in b.utf8.withContiguousStorageIfAvailable { y in sameBytes(x, y) } }
        if let inPlace = inPlace ?? nil { return inPlace }
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in sameBytes(x, y) } }
    }

    /// Whether the two strings are held the same way: a true answer means equal texts, a false
    /// one means nothing.
    static func sameRepresentation(_ a: String, _ b: String) -> Bool {
        withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    private static func sameBytes(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
    }

    /// Byte order, as SQLite's BINARY collation sorts (`ORDER BY` on a name column), and as the
    /// canonical JSON orders object keys.
    static func less(_ a: String, _ b: String) -> Bool { JSONValue.utf8Less(a, b) }

    static func hash(_ text: String, into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
    }
}
