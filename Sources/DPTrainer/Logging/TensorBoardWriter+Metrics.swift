import Foundation

/// The tags of DESIGN.md §5, in one place: what `metrics.jsonl` holds, TensorBoard shows.
extension TensorBoardWriter {
    /// Tags of a logged training step, in the order written.
    public static let stepTags = ["train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "train/mfu"]
    /// The tag of an evaluation.
    public static let evaluationTag = "val/loss"

    /// Writes one logged step's loss, learning rate, gradient norm, tokens/s and MFU.
    public func add(_ metrics: StepMetrics, wallTime: Double = Date().timeIntervalSince1970) throws {
        let values = [metrics.loss, metrics.lr, metrics.gradNorm, metrics.tokensPerSecond, metrics.mfu]
        try add(scalars: zip(Self.stepTags, values).map { ($0, Float($1)) }, step: metrics.step, wallTime: wallTime)
    }

    /// Writes the val loss of the evaluation after `step`.
    public func addEvaluation(step: Int, valLoss: Double, wallTime: Double = Date().timeIntervalSince1970) throws {
        try add(scalars: [(Self.evaluationTag, Float(valLoss))], step: step, wallTime: wallTime)
    }
}
