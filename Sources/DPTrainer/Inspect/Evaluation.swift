import DPComm
import DPData
import DPModel
import Foundation

/// The mean loss of a model on the first windows of a split, read as `EvalReader` reads them:
/// sequential windows of T+1 tokens (window k starts at token k·S, S the window stride: T,
/// non-overlapping, for every dataset but the seed example's, whose S is 1), global batch
/// i being windows i·W·B ..< (i+1)·W·B, rank r taking the r-th block of B. The windows evaluated
/// are therefore the first `windows` of the split whatever W and B are; only the order in which
/// the per-row losses are summed changes (results agree to float rounding, about 1e-6 relative).
///
/// Letters: W ranks, B rows per rank per batch, T context.
public struct Evaluation: Sendable, Equatable {
    /// Mean cross-entropy per predicted token: over all T positions of every window, over the
    /// last position only when the model's loss is `LossMode.last`, or over the masked positions
    /// of an encoder (`TokenMasking`).
    public let loss: Double
    /// Global batches evaluated.
    public let batches: Int
    /// W·B windows per global batch.
    public let windowsPerBatch: Int
    /// T, the tokens each window predicts from.
    public let context: Int

    /// Windows of T+1 tokens evaluated: batches·W·B.
    public var windows: Int { batches * windowsPerBatch }
    /// exp(loss).
    public var perplexity: Double { exp(loss) }

    /// The most rows an evaluation takes by default (`batches` nil): about 640,000 tokens at T = 64.
    public static let defaultMaxWindows = 10_000

    /// Evaluates `model` on `tokens` on every rank and sums the losses over ranks. Collective;
    /// every rank must pass the same tokens, `batch` and `batches`.
    ///
    /// - Parameters:
    ///   - batch: B, rows per rank per batch (at most `model.maxBatch`).
    ///   - batches: global batches to evaluate; nil: all that fit in the split, at most
    ///     `defaultMaxWindows` windows. More than the split holds is an error.
    ///   - windowStride: S (`Dataset.windowStride`); nil: T.
    ///   - masking: an encoder's masking (`TokenMasking`, stream `evalStream`, row = the window's
    ///     index in the evaluation); the loss is then over the masked positions. nil: a decoder.
    ///   - inspect: called on this rank with each batch's index and its B·T inputs and targets as
    ///     the model saw them (after masking), for a dump.
    /// - Throws: `RankFailure` (on every rank) when the split is shorter than one global batch or
    ///   shorter than `batches` global batches.
    /// - Complexity: one forward pass per batch per rank: batches·B·T tokens per rank.
    public static func run(comm: any Communicator, model: Model, tokens: TokenSequence, batch: Int, batches: Int?,
                           windowStride: Int? = nil, masking: TokenMasking? = nil,
                           inspect: ((Int, UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Int32>) throws -> Void)? = nil) throws -> Evaluation {
        precondition(batch >= 1 && batch <= model.maxBatch, "eval batch \(batch) must be in 1...\(model.maxBatch) (the model's maxBatch)")
        let (W, B, T) = (comm.size, batch, model.config.context)
        let reader = EvalReader(tokens: tokens, batch: B, context: T, stride: windowStride, rank: comm.rank, worldSize: W)
        let count = try comm.collectively { () throws -> Int in
            guard reader.batchCount > 0 else {
                throw ConfigError("the val split has \(tokens.count) tokens, fewer than one global batch needs (\(W) rank\(W == 1 ? "" : "s") × \(B) rows × \(T) tokens + 1); lower --batch or use more data.")
            }
            if let batches {
                guard batches <= reader.batchCount else {
                    throw ConfigError("--batches \(batches) asks for more than the val split holds: \(reader.batchCount) global batches of \(W * B) windows of \(T) tokens.")
                }
                return batches
            }
            return max(1, min(reader.batchCount, defaultMaxWindows / (W * B)))
        }

        let inputs = UnsafeMutableBufferPointer<Int32>.allocate(capacity: B * T)
        let targets = UnsafeMutableBufferPointer<Int32>.allocate(capacity: B * T)
        defer { inputs.deallocate(); targets.deallocate() }
        var sum = 0.0
        for index in 0..<count {
            reader.batch(index, tokens: inputs.baseAddress!, targets: targets.baseAddress!)
            masking?.apply(tokens: inputs.baseAddress!, targets: targets.baseAddress!, rows: B, time: T,
                           stream: TokenMasking.evalStream, firstRow: (index * W + comm.rank) * B)
            try inspect?(index, UnsafeBufferPointer(inputs), UnsafeBufferPointer(targets))
            sum += Double(model.forward(tokens: UnsafeBufferPointer(inputs), targets: UnsafeBufferPointer(targets), batch: B, time: T))
        }
        // Every batch has the same number of predicted tokens (an encoder's: k masked per row), so the mean of the per-batch means
        // is the mean over all of them.
        let loss = try comm.sum(sum) / Double(W * count)
        return Evaluation(loss: loss, batches: count, windowsPerBatch: W * B, context: T)
    }
}
