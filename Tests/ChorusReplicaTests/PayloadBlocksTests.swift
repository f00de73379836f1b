import XCTest
import ChorusCore
@testable import ChorusReplica
import ChorusTesting

private typealias Op = ChorusCore.Operation

/// Operations' payloads written into shared blocks (`PayloadWriter`) are each exactly the
/// operation's canonical bytes, whatever shares its block, and stay so after the writer and the
/// other payloads are gone.
final class PayloadBlocksTests: XCTestCase {
    private let replica = ReplicaID(hex: "00112233445566778899aabbccddeeff")!

    private func op(_ counter: UInt64, value: JSONValue) -> Op {
        Op(id: OperationID(replica: replica, counter: counter), timestamp: HybridTimestamp(wall: 1_790_000_000_000, logical: 0),
           collection: "people", record: "p\(counter)", field: "bio", action: .set(value: value, supersedes: []))
    }

    private func encode(_ operations: [Op], writer: inout PayloadWriter) -> [MergeEncodings] {
        operations.map { MergeEncodings($0, hashingRecord: true, payloads: &writer) }
    }

    func test_manyPayloadsInSharedBlocks_areEachTheirOperationsCanonicalBytes() {
        for seed in testSeeds(count: 8, base: 0xB10C) {
            var generator = WorkloadGenerator(seed: seed)
            let operations = generator.generate(steps: 1_500)
            var writer = PayloadWriter()
            let encodings = encode(operations, writer: &writer)
            let total = encodings.reduce(0) { $0 + $1.payload.count }
            XCTAssertGreaterThan(total, PayloadBlock.bytes, "seed \(seed): the payloads span more than one block")
            for (op, encoded) in zip(operations, encodings) {
                XCTAssertEqual(encoded.payload.bytes, OperationCodec().canonicalBytes(op, valueText: nil), "seed \(seed): \(op.id)")
                XCTAssertEqual(encoded.valueText, op.action.value?.canonicalText, "seed \(seed): \(op.id)")
            }
        }
    }

    func test_aPayloadLargerThanABlock_getsABlockOfItsOwn_andTheNextGoesOnAfterIt() {
        let small = op(1, value: .string("Engineer"))
        let large = op(2, value: .string(String(repeating: "ä", count: PayloadBlock.bytes)))
        let after = op(3, value: .string("Designer"))
        var writer = PayloadWriter()
        let encodings = encode([small, large, after], writer: &writer)
        XCTAssertGreaterThan(encodings[1].payload.count, PayloadBlock.bytes)
        for (op, encoded) in zip([small, large, after], encodings) {
            XCTAssertEqual(encoded.payload.bytes, OperationCodec().canonicalBytes(op, valueText: nil), "\(op.id)")
        }
        XCTAssert(encodings[1].payload.block !== encodings[0].payload.block, "the large payload has a block of its own")
        XCTAssert(encodings[2].payload.block === encodings[0].payload.block, "the next goes on in the block before the large one")
    }

    func test_aPayload_outlivesItsWriter_andTheOtherPayloadsOfItsBlock() {
        let operations = (1...50).map { op(UInt64($0), value: .string("value \($0)")) }
        var kept: MergeEncodings?
        weak var block: PayloadBlock?
        do {
            var writer = PayloadWriter()
            let encodings = encode(operations, writer: &writer)
            XCTAssert(encodings.allSatisfy { $0.payload.block === encodings[0].payload.block }, "fifty short payloads share one block")
            kept = encodings[25]
            block = encodings[25].payload.block
        }
        XCTAssertNotNil(block, "the block lives while a payload in it does")
        XCTAssertEqual(kept?.payload.bytes, OperationCodec().canonicalBytes(operations[25], valueText: nil))
        kept = nil
        XCTAssertNil(block, "and is freed with the last payload in it")
    }

    func test_anOperationEncodedAsItMerges_isEncodedWhole_withoutItsRecordsHash() {
        let encodings = op(7, value: .string("Engineer")).mergeEncodings()
        XCTAssertEqual(encodings.payload.bytes, OperationCodec().canonicalBytes(op(7, value: .string("Engineer")), valueText: nil))
        XCTAssertNil(encodings.recordHash, "encoded as it merges, the record's hash is looked up by the merge")
    }
}
