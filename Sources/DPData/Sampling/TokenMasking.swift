import DPBase

/// BERT's masked-token corruption of an encoder's inputs, the same on every rank count.
///
/// In each row of T tokens exactly k = max(1, round(0.15·T)) positions are chosen (as BERT's
/// `create_pretraining_data` predicts round(0.15·length) tokens of each sequence); of the chosen,
/// each becomes the [MASK] token with probability 0.8, a uniformly random token of the data's
/// vocabulary with probability 0.1, and stays unchanged with probability 0.1. The targets are the
/// original tokens at the chosen positions and −1 (ignored by the loss) elsewhere.
///
/// The choice in a row depends only on (seed, stream, row): one SplitMix64 generator seeded by
/// mix(mix(mix(seed) ^ stream) ^ row) (`SplitMix64.mix`) draws, for i = 0..<k in turn, one step
/// of a partial Fisher–Yates shuffle of order = [0, 1, …, T−1] (j = i + below(T − i), swap
/// order[i] and order[j]; position order[i] is chosen), then `below(10)` for it (0–7 [MASK],
/// 8 a random token: one more `below(V)`, 9 unchanged). Training uses stream = the optimizer
/// step (1-based) and row = the row's index in that step's global batch, m·W·B + r·B + b for
/// micro-step m, rank r, row b; evaluation uses stream = `evalStream` and row = the window's index
/// in the val split. Both are the same for every W with the same W·B, so `-n 4 --batch 2` and
/// `-n 1 --batch 8` mask alike; and because every row has the same k, each rank's mean over its
/// chosen positions averages to the mean over the global batch's.
public struct TokenMasking: Sendable, Equatable {
    /// The fraction of each row's positions chosen for prediction.
    public static let fraction = 0.15
    /// The stream of evaluation's masking (training's streams are the steps, 1, 2, …).
    public static let evalStream = UInt64.max

    public let seed: UInt64
    /// The [MASK] token's id (`MaskTokenizer.maskToken`).
    public let maskToken: Int32
    /// The data's vocabulary, 0..<dataVocabSize, from which random replacements are drawn.
    public let dataVocabSize: Int

    public init(seed: UInt64, maskToken: Int32, dataVocabSize: Int) {
        precondition(dataVocabSize > 0, "TokenMasking needs a vocabulary")
        self.seed = seed
        self.maskToken = maskToken
        self.dataVocabSize = dataVocabSize
    }

    /// The masking of an encoder whose tokenizer has a [MASK] token; nil otherwise.
    public init?(seed: UInt64, tokenizer: any Tokenizer) {
        guard let mask = tokenizer.maskToken else { return nil }
        self.init(seed: seed, maskToken: mask, dataVocabSize: tokenizer.withoutMask.vocabSize)
    }

    /// k: the positions chosen in a row of T tokens.
    public static func chosenCount(time T: Int) -> Int {
        max(1, Int((fraction * Double(T)).rounded()))
    }

    /// In place over B rows of T: corrupts `tokens` (B,T) and writes `targets` (B,T) — the
    /// original token at the chosen positions, −1 elsewhere. Row b is row `firstRow + b` of
    /// `stream`.
    /// - Complexity: O(B·T).
    public func apply(tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>,
                      rows B: Int, time T: Int, stream: UInt64, firstRow: Int) {
        let k = Self.chosenCount(time: T)
        var order = [Int](repeating: 0, count: T)
        for b in 0..<B {
            let row = tokens + b * T
            let target = targets + b * T
            target.update(repeating: -1, count: T)
            var rng = SplitMix64(seed: SplitMix64.mix(SplitMix64.mix(SplitMix64.mix(seed) ^ stream) ^ UInt64(firstRow + b)))
            for t in 0..<T { order[t] = t }
            for i in 0..<k {
                let j = i + rng.below(T - i)
                order.swapAt(i, j)
                let t = order[i]
                target[t] = row[t]
                switch rng.below(10) {
                case 0..<8: row[t] = maskToken
                case 8: row[t] = Int32(rng.below(dataVocabSize))
                default: break
                }
            }
        }
    }
}
