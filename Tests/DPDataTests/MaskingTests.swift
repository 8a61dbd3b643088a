import DPBase
import Foundation
import Testing
@testable import DPData

/// The [MASK] token every tokenizer kind can carry, and BERT's masking with its seeding contract.
@Suite struct MaskingTests {
    static let text = "to be or not to be, that is the question\n"

    @Test(arguments: TokenizerKind.trainable)
    func theMaskTokenIsTheNextIdAndTheTokenizerJSONRecordsIt(kind: TokenizerKind) throws {
        let base = try Tokenizers.train(kind, on: Self.text, vocabSize: kind == .bpe ? 270 : nil)
        let tokenizer = MaskTokenizer(base: base)
        #expect(tokenizer.vocabSize == base.vocabSize + 1)
        #expect(tokenizer.maskToken == Int32(base.vocabSize))
        #expect(base.maskToken == nil)
        let tokens = try tokenizer.encode("to be or [MASK] to be")
        let before: [Int32] = try base.encode("to be or "), after: [Int32] = try base.encode(" to be")
        let expected: [Int32] = before + [Int32(base.vocabSize)] + after
        #expect(tokens == expected)
        #expect(tokenizer.decode(tokens).contains("[MASK]"))
        // The JSON is the base's plus "mask_token"; loading it gives the same tokenizer back.
        let json = try JSONSerialization.jsonObject(with: tokenizer.jsonData()) as! [String: Any]
        #expect(json["mask_token"] as? String == "[MASK]")
        #expect(json["kind"] as? String == kind.rawValue)
        let loaded = try Tokenizers.load(json: tokenizer.jsonData())
        #expect(loaded.maskToken == tokenizer.maskToken && loaded.vocabSize == tokenizer.vocabSize)
        #expect(try loaded.withoutMask.jsonData() == base.jsonData())
    }

    /// A Hugging Face tokenizer.json (no "kind") carries the mask the same way.
    @Test func aHuggingFaceTokenizerCarriesTheMaskToo() throws {
        let base = try Tokenizers.loadHuggingFace(directory: HFFixtures.directory)
        let tokenizer = MaskTokenizer(base: base)
        let tokens = try tokenizer.encode("to be or [MASK] to be")
        #expect(tokens == (try base.encode("to be or ")) + [Int32(base.vocabSize)] + (try base.encode(" to be")))
        let loaded = try Tokenizers.load(json: tokenizer.jsonData())
        #expect(loaded.kind == .huggingface && loaded.maskToken == Int32(base.vocabSize))
        #expect(try normalizedJSONForTest(loaded.withoutMask.jsonData()) == normalizedJSONForTest(base.jsonData()))
    }

    private func normalizedJSONForTest(_ data: Data) throws -> Data {
        try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: data), options: [.sortedKeys])
    }

    @Test func aTokenizerJSONWithAnotherMaskTokenIsRefused() throws {
        let json = Data(#"{"kind":"byte","mask_token":"<mask>"}"#.utf8)
        #expect(throws: DataError.self) { try Tokenizers.load(json: json) }
    }

    /// Rows firstRow..<firstRow+B of a stream whose token i (counting from row 0) is i mod 50, masked.
    func masked(rows B: Int, T: Int, stream: UInt64, firstRow: Int, masking: TokenMasking) -> (tokens: [Int32], targets: [Int32]) {
        var tokens = (0..<B * T).map { Int32((firstRow * T + $0) % 50) }
        var targets = [Int32](repeating: 7, count: B * T)
        tokens.withUnsafeMutableBufferPointer { t in
            targets.withUnsafeMutableBufferPointer { y in
                masking.apply(tokens: t.baseAddress!, targets: y.baseAddress!, rows: B, time: T, stream: stream, firstRow: firstRow)
            }
        }
        return (tokens, targets)
    }

    /// Each row has exactly round(0.15·T) chosen positions whose targets are the original tokens;
    /// over many rows 80% of them are [MASK], 10% another token or the same by chance, 10% kept.
    @Test func everyRowHasTheSameNumberOfChosenPositionsInBERTsProportions() {
        let masking = TokenMasking(seed: 42, maskToken: 50, dataVocabSize: 50)
        let (B, T) = (2000, 64)
        let (tokens, targets) = masked(rows: B, T: T, stream: 3, firstRow: 0, masking: masking)
        let k = TokenMasking.chosenCount(time: T)
        #expect(k == 10)
        var (masks, kept, other) = (0, 0, 0)
        for b in 0..<B {
            let chosen = (0..<T).filter { targets[b * T + $0] != -1 }
            #expect(chosen.count == k)
            for t in chosen {
                let i = b * T + t
                #expect(targets[i] == Int32(i % 50), "the target is the original token")
                if tokens[i] == 50 { masks += 1 } else if tokens[i] == targets[i] { kept += 1 } else { other += 1 }
            }
            for t in 0..<T where targets[b * T + t] == -1 { #expect(tokens[b * T + t] == Int32((b * T + t) % 50)) }
        }
        let n = Double(B * k)
        // 20,000 draws: the standard error of a 10% share is 0.2%; 1% bounds are 5 of them.
        // Kept: the 10% kept plus the random draws that hit the same token (1 in 50).
        let shares: [(share: Double, expected: Double)] = [
            (Double(masks) / n, 0.8), (Double(kept) / n, 0.1 + 0.1 / 50), (Double(other) / n, 0.1 * 49 / 50),
        ]
        for (share, expected) in shares {
            let error: Double = abs(share - expected)
            #expect(error < 0.01, "share \(share), expected \(expected)")
        }
        let short: [Int] = [TokenMasking.chosenCount(time: 1), TokenMasking.chosenCount(time: 2)]
        #expect(short == [1, 1])
    }

    /// The rank-count contract: rows 0..<8 masked at once equal 4 "ranks" of 2 rows at
    /// firstRow 0, 2, 4, 6; another stream or seed masks otherwise.
    @Test func theChoiceDependsOnlyOnSeedStreamAndRow() {
        let masking = TokenMasking(seed: 1337, maskToken: 50, dataVocabSize: 50)
        let whole = masked(rows: 8, T: 16, stream: 5, firstRow: 0, masking: masking)
        var pieces: [Int32] = [], pieceTargets: [Int32] = []
        for rank in 0..<4 {
            let part = masked(rows: 2, T: 16, stream: 5, firstRow: 2 * rank, masking: masking)
            pieces += part.tokens
            pieceTargets += part.targets
        }
        #expect(pieces == whole.tokens && pieceTargets == whole.targets)
        #expect(masked(rows: 8, T: 16, stream: 6, firstRow: 0, masking: masking).targets != whole.targets)
        #expect(masked(rows: 8, T: 16, stream: 5, firstRow: 0, masking: TokenMasking(seed: 1, maskToken: 50, dataVocabSize: 50)).targets
                != whole.targets)
    }
}
