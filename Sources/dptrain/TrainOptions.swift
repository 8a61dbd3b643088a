import ArgumentParser
import DPData
import DPModel
import DPTrainer
import Foundation

extension TokenizerKind: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}
extension LossMode: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}

/// Where the tokens come from.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp(
        "A text file (tokenized and cached in OUT/cache), or a directory made by `dptrain prepare`. Default: the built-in corpus.",
        valueName: "path"))
    var path: String?

    @Option(help: "Tokenizer for a text file: char, byte, word or bpe. (default: char)")
    var tokenizer: TokenizerKind?

    @Option(help: "Vocabulary size for the bpe and word tokenizers. (default: bpe 512, word: every word)")
    var vocabSize: Int?

    @Option(help: "The fraction of a text file's tokens (its end) kept for validation. (default: 0.1, or the checkpoint's)")
    var valFraction: Double?

    func validate() throws {
        if let vocabSize, vocabSize < 2 || vocabSize > 1 << 24 {
            throw ValidationError("--vocab-size must be between 2 and 16777216, not \(vocabSize).")
        }
        if let valFraction, !(valFraction.isFinite && valFraction > 0 && valFraction < 1) {
            throw ValidationError("--val-fraction must be between 0 and 1 (exclusive), not \(valFraction).")
        }
    }
}

/// The model presets.
enum Preset: String, CaseIterable, ExpressibleByArgument {
    /// GPT-2 style: pre-LN, residuals, learned positions, GELU, tied embeddings, FFN = 4·dim.
    case gpt
    /// The seed example: 4 words, dim 4, 2 heads, FFN 4→8→4, ReLU, last-token loss, SGD.
    case seed
}

/// The model's shape. Every option is optional so that `--resume` can tell a flag that was given
/// (and must agree with the checkpoint) from a default. Numbers parse `.unconditional`ly here and
/// in TrainingOptions, so that `--dim -5` reaches validation and its one sentence instead of
/// being taken for an unknown flag "-5".
struct ModelOptions: ParsableArguments {
    @Option(help: "gpt (GPT-2 style) or seed (the seed example). (default: gpt)")
    var preset: Preset?
    @Option(parsing: .unconditional, help: "Transformer blocks. (default: 4)") var layers: Int?
    @Option(parsing: .unconditional, help: "Attention heads; must divide --dim. (default: 4)") var heads: Int?
    @Option(parsing: .unconditional, help: "Model dimension. (default: 128)") var dim: Int?
    @Option(parsing: .unconditional, help: "Feed-forward dimension. (default: 4·dim)") var ffnDim: Int?
    @Option(parsing: .unconditional, help: "Context length in tokens. (default: 64)") var context: Int?
    @Option(help: "gelu or relu. (default: gelu)") var activation: Activation?
    @Flag(inversion: .prefixedNo, help: "Share the token embedding with the output projection. (default: tied)")
    var tieEmbeddings: Bool?
    @Option(help: "Loss over all positions or the last one only. (default: all)") var loss: LossMode?

    func validateSizes() throws {
        for (name, value, limit) in [("--layers", layers, 1024), ("--heads", heads, 4096), ("--dim", dim, 1 << 16),
                                     ("--ffn-dim", ffnDim, 1 << 18), ("--context", context, 1 << 16)] {
            if let value, value < 1 || value > limit {
                throw ValidationError("\(name) must be between 1 and \(limit), not \(value).")
            }
        }
        if let heads, let dim, dim % heads != 0 {
            throw ValidationError("--heads (\(heads)) must divide --dim (\(dim)).")
        }
    }

    /// The model config: the checkpoint's when resuming (a given flag that contradicts it is an
    /// error), else the preset with the flags applied.
    func config(vocabSize: Int, restored: ModelConfig?) throws -> ModelConfig {
        if let restored {
            let given: [(String, String?, String)] = [
                ("--layers", layers.map(String.init), String(restored.layers)),
                ("--heads", heads.map(String.init), String(restored.heads)),
                ("--dim", dim.map(String.init), String(restored.dim)),
                ("--ffn-dim", ffnDim.map(String.init), String(restored.ffnDim)),
                ("--context", context.map(String.init), String(restored.context)),
                ("--activation", activation?.rawValue, restored.activation.rawValue),
                ("--loss", loss?.rawValue, restored.loss.rawValue),
                ("--[no-]tie-embeddings", tieEmbeddings.map { $0 ? "tied" : "untied" }, restored.tiedEmbeddings ? "tied" : "untied"),
                ("--preset", preset?.rawValue, restored == .seed ? "seed" : "gpt"),
            ]
            for (flag, value, stored) in given where value != nil && value != stored {
                throw ValidationError("\(flag) \(value!) contradicts the checkpoint's \(stored); drop the flag to resume, or start a new run with another --out.")
            }
            if restored.vocabSize != vocabSize {
                throw ValidationError("the data's vocabulary has \(vocabSize) tokens but the checkpoint's model has \(restored.vocabSize).")
            }
            return restored
        }
        if preset == .seed { return .seed }
        let d = dim ?? 128
        var config = ModelConfig.gpt(vocabSize: vocabSize, context: context ?? 64, dim: d, heads: heads ?? 4, layers: layers ?? 4)
        if let ffnDim { config.ffnDim = ffnDim }
        if let activation { config.activation = activation }
        if let tieEmbeddings { config.tiedEmbeddings = tieEmbeddings }
        if let loss { config.loss = loss }
        try config.validate()
        return config
    }
}

/// Batch, optimizer, schedule and cadence. Optional so that a resumed run keeps the checkpoint's
/// settings unless a flag says otherwise; the defaults below are `TrainingConfig()`'s.
struct TrainingOptions: ParsableArguments {
    private static let d = TrainingConfig()

    @Option(parsing: .unconditional, help: "Rows per rank per micro-step. (default: \(d.batch))") var batch: Int?
    @Option(parsing: .unconditional, help: "Micro-steps per optimizer step (gradient accumulation). (default: \(d.gradAccum))") var gradAccum: Int?
    @Option(parsing: .unconditional, help: "Optimizer steps of the whole run. (default: \(d.steps))") var steps: Int?
    @Option(help: "adamw or sgd. (default: \(d.optimizer.rawValue); seed: sgd)") var optimizer: OptimizerKind?
    @Option(parsing: .unconditional, help: "Peak learning rate. (default: \(d.learningRate); seed: 0.5)") var lr: Float?
    @Option(parsing: .unconditional, help: "Final learning rate of the cosine schedule. (default: \(d.minLearningRate))") var minLr: Float?
    @Option(parsing: .unconditional, help: "Linear warmup steps. (default: \(d.warmup))") var warmup: Int?
    @Option(help: "cosine or constant after the warmup. (default: \(d.schedule.rawValue))") var schedule: LearningRateSchedule.Kind?
    @Option(parsing: .unconditional, help: "AdamW β1. (default: \(d.beta1))") var beta1: Float?
    @Option(parsing: .unconditional, help: "AdamW β2. (default: \(d.beta2))") var beta2: Float?
    @Option(parsing: .unconditional, help: "AdamW decoupled weight decay on matrices and embeddings. (default: \(d.weightDecay))") var weightDecay: Float?
    @Option(parsing: .unconditional, help: "SGD momentum. (default: \(d.momentum))") var momentum: Float?
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this; 0 = off. (default: \(d.clip))") var clip: Float?
    @Option(help: "shuffle or sequential. (default: \(d.sampler.rawValue))") var sampler: SamplerKind?
    @Option(parsing: .unconditional, help: "Seed of initialization and shuffling. (default: \(d.seed))") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Evaluate on the val split every N steps; 0 = never. (default: \(d.evalEvery))") var evalEvery: Int?
    @Option(parsing: .unconditional, help: "Global batches per evaluation. (default: \(d.evalBatches))") var evalBatches: Int?
    @Option(parsing: .unconditional, help: "Write a checkpoint every N steps (and at the end); 0 = only at the end. (default: \(d.checkpointEvery))") var checkpointEvery: Int?
    @Option(parsing: .unconditional, help: "Checkpoints to keep. (default: \(d.keep))") var keep: Int?
    @Option(parsing: .unconditional, help: "Print and record metrics every N steps. (default: \(d.logEvery))") var logEvery: Int?
    @Flag(help: "Extra checks: a finite-difference gradient spot check at step 0, NaN/Inf names, a cross-rank weight hash every step, per-phase times.")
    var debug = false
    @Option(help: "ZeRO stage: 0 all-reduces the gradients and every rank updates every weight; 1 reduce-scatters them, each rank updates its 1/W of the weights and optimizer state, then all-gathers the weights (optimizer memory ÷ W, same results).")
    var zero = 0

    func validate() throws {
        guard zero == 0 || zero == 1 else { throw ValidationError("--zero must be 0 or 1, not \(zero).") }
    }

    /// `base` with every given flag applied.
    func resolved(over base: TrainingConfig) -> TrainingConfig {
        var c = base
        if let batch { c.batch = batch }
        if let gradAccum { c.gradAccum = gradAccum }
        if let steps { c.steps = steps }
        if let optimizer { c.optimizer = optimizer }
        if let lr { c.learningRate = lr }
        if let minLr { c.minLearningRate = minLr }
        if let warmup { c.warmup = warmup }
        if let schedule { c.schedule = schedule }
        if let beta1 { c.beta1 = beta1 }
        if let beta2 { c.beta2 = beta2 }
        if let weightDecay { c.weightDecay = weightDecay }
        if let momentum { c.momentum = momentum }
        if let clip { c.clip = clip }
        if let sampler { c.sampler = sampler }
        if let seed { c.seed = seed }
        if let evalEvery { c.evalEvery = evalEvery }
        if let evalBatches { c.evalBatches = evalBatches }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        if let keep { c.keep = keep }
        if let logEvery { c.logEvery = logEvery }
        c.debug = debug
        if lr != nil && minLr == nil { c.minLearningRate = min(c.minLearningRate, c.learningRate) }
        return c
    }
}

/// Where results go, and where to resume from.
struct OutputOptions: ParsableArguments {
    /// The value `--resume` without a path stands for (see `DPTrain.normalizingResume`).
    static let latest = "@latest"

    @Option(help: "Output directory: metrics.jsonl, checkpoints/, tensorboard/, cache/, config.json.")
    var out = "runs/dptrain"

    @Option(help: ArgumentHelp(
        "Read options from a JSON object or flat TOML file (keys are option names, e.g. steps = 2000); flags on the command line override it.",
        valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp(
        "Continue from a checkpoint: --resume alone takes OUT's newest valid one; --resume PATH a checkpoint directory or another OUT.",
        valueName: "path"))
    var resume: String?

    @Flag(help: "Print only warnings, errors and the final line (no step lines or progress).")
    var quiet = false

    @Option(help: ArgumentHelp(
        "End this invocation after step N with a checkpoint, as a preempted job would; --resume continues to --steps.",
        valueName: "N"))
    var stopAt: Int?
}
