import Testing
import ChorusCore

/// Limits and identifiers, written with Swift Testing (the rest of the suite uses XCTest).
@Suite("Limits and identifiers")
struct LimitsSpec {
    @Test("the default limits are consistent with each other")
    func defaultsValidate() throws {
        try Limits.default.validate()
    }

    @Test("a value limit larger than an operation is caught", arguments: [2 * 1024 * 1024, 1024 * 1024])
    func valueLargerThanOperationIsCaught(valueBytes: Int) {
        var limits = Limits()
        limits.valueBytesMax = valueBytes
        #expect(throws: ChorusError.self) { try limits.validate() }
    }

    @Test("a sync request timeout below a second, which URLSession fires at once, is caught", arguments: [0.5, 0, -1, 90_000])
    func subSecondSyncTimeoutIsCaught(seconds: Double) {
        var limits = Limits()
        limits.syncRequestTimeoutSeconds = seconds
        #expect(throws: ChorusError.self) { try limits.validate() }
    }

    @Test("a client's bounds on an answer derive from the pull page and the request timeout")
    func answerBoundsDerive() {
        var limits = Limits()
        limits.pullPageBytesMax = 2 * 1024 * 1024
        limits.syncRequestTimeoutSeconds = 10
        #expect(limits.syncAnswerBytesMax == 3 * 1024 * 1024)
        #expect(limits.syncAnswerSecondsMax == 40)
    }

    @Test("replica ids are 32 hex digits and compare by bytes")
    func replicaIDs() {
        let low = ReplicaID(hex: String(repeating: "0", count: 31) + "1")
        let high = ReplicaID(hex: "f" + String(repeating: "0", count: 31))
        #expect(low != nil && high != nil)
        #expect(low! < high!)
        #expect(ReplicaID(hex: "abc") == nil)
    }
}
