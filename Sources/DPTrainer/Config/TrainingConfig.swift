import DPData
import DPModel

/// Which optimizer updates the weights.
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    /// `W = W − lr·grad` (the seed's rule), with optional momentum.
    case sgd
    /// Adam with decoupled weight decay on matrices and embeddings.
    case adamw
}

/// Everything about a run except the model's shape and the data: batch sizes, optimizer, schedule,
/// logging and checkpoint cadence. Stored in every checkpoint's state.json.
public struct TrainingConfig: Codable, Sendable, Equatable {
    /// Rows per rank per micro-step (B).
    public var batch: Int
    /// Micro-steps per optimizer step (A); gradients accumulate over them.
    public var gradAccum: Int
    /// Optimizer steps of the whole run (the last step's number).
    public var steps: Int
    public var optimizer: OptimizerKind
    public var learningRate: Float
    public var minLearningRate: Float
    public var warmup: Int
    /// cosine: linear warmup to --lr, then cosine decay to --min-lr at the last step;
    /// constant: linear warmup to --lr, then constant.
    public var schedule: LearningRateSchedule.Kind
    public var beta1: Float
    public var beta2: Float
    public var weightDecay: Float
    /// SGD momentum (0 = the seed's plain rule).
    public var momentum: Float
    /// Global gradient-norm clipping threshold; 0 turns clipping off.
    public var clip: Float
    public var sampler: SamplerKind
    public var seed: UInt64
    /// Steps between evaluations on the val split; 0 = never.
    public var evalEvery: Int
    /// Global batches per evaluation.
    public var evalBatches: Int
    /// Steps between checkpoints; a checkpoint is also written at the end. 0 = only at the end.
    public var checkpointEvery: Int
    /// Complete checkpoints kept on disk.
    public var keep: Int
    /// Steps between log lines.
    public var logEvery: Int
    /// Extra checks: gradient spot check, NaN/Inf names, per-step weight hash, phase times.
    public var debug: Bool
    /// Steps between cross-rank weight hash checks when not in debug mode.
    public var hashEvery: Int
    /// The fraction of a text file's tokens (its end) kept for validation; nil in checkpoints
    /// written before it was recorded, which used the default 0.1.
    public var valFraction: Double?

    enum CodingKeys: String, CodingKey {
        case batch, steps, optimizer, warmup, schedule, beta1, beta2, momentum, clip, sampler, seed, keep, debug
        case gradAccum = "grad_accum"
        case learningRate = "lr"
        case minLearningRate = "min_lr"
        case weightDecay = "weight_decay"
        case evalEvery = "eval_every"
        case evalBatches = "eval_batches"
        case checkpointEvery = "checkpoint_every"
        case logEvery = "log_every"
        case hashEvery = "hash_every"
        case valFraction = "val_fraction"
    }

    public init(
        batch: Int = 4, gradAccum: Int = 1, steps: Int = 600, optimizer: OptimizerKind = .adamw,
        learningRate: Float = 1e-3, minLearningRate: Float = 1e-4, warmup: Int = 50,
        schedule: LearningRateSchedule.Kind = .cosine, beta1: Float = AdamW.defaults.beta1, beta2: Float = AdamW.defaults.beta2,
        weightDecay: Float = AdamW.defaults.weightDecay, momentum: Float = 0, clip: Float = 1, sampler: SamplerKind = .shuffle,
        seed: UInt64 = 1337, evalEvery: Int = 100, evalBatches: Int = 8, checkpointEvery: Int = 200,
        keep: Int = 3, logEvery: Int = 10, debug: Bool = false, hashEvery: Int = 200
    ) {
        self.batch = batch
        self.gradAccum = gradAccum
        self.steps = steps
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.minLearningRate = minLearningRate
        self.warmup = warmup
        self.schedule = schedule
        self.beta1 = beta1
        self.beta2 = beta2
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.clip = clip
        self.sampler = sampler
        self.seed = seed
        self.evalEvery = evalEvery
        self.evalBatches = evalBatches
        self.checkpointEvery = checkpointEvery
        self.keep = keep
        self.logEvery = logEvery
        self.debug = debug
        self.hashEvery = hashEvery
    }

    /// The seed example's training: plain SGD (`W = W − lr·grad`) at a constant rate, on the
    /// sequential sampler. With the seed data's window stride 1, a micro-batch of W·B = 4 rows is
    /// 4 consecutive offsets of the period-4 stream, so every step trains on the four contexts
    /// once each — the text's full-batch gradient descent. (The shuffle sampler draws 4 of the 398
    /// windows at random, so a step may hold one context three times; at lr 0.5 that noise made
    /// 7 of seeds 1–10 diverge or stall, against 10 of 10 learning all four sentences here.)
    public static var seedDefaults: TrainingConfig {
        TrainingConfig(
            batch: 4, steps: 300, optimizer: .sgd, learningRate: 0.5, minLearningRate: 0.5, warmup: 0,
            schedule: .constant, weightDecay: 0, clip: 0, sampler: .sequential, evalEvery: 50, evalBatches: 1, checkpointEvery: 100)
    }

    /// The gpt2 preset's: nanoGPT's GPT-2 small values (lr 6e-4 to 6e-5, β₂ 0.95, weight decay
    /// 0.1) where a CPU can follow them, but one row of 1024 tokens per rank per micro-step
    /// (GPT-2 small at batch 1 peaks near 3.8 GB a rank; nanoGPT's 0.5 M-token batches are for
    /// GPUs) and checkpoints every 100 steps, since a step takes seconds.
    public static var gpt2Defaults: TrainingConfig {
        TrainingConfig(batch: 1, learningRate: 6e-4, minLearningRate: 6e-5, beta2: 0.95, checkpointEvery: 100)
    }

    /// Throws a `ConfigError` naming the option and the allowed values for the first bad setting.
    public func validate() throws {
        func require(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw ConfigError(message()) }
        }
        try require(batch >= 1 && batch <= 1 << 16, "--batch must be between 1 and 65536 rows per rank, not \(batch).")
        try require(gradAccum >= 1 && gradAccum <= 1 << 16, "--grad-accum must be between 1 and 65536, not \(gradAccum).")
        try require(steps >= 1 && steps <= 1 << 40, "--steps must be at least 1, not \(steps).")
        try require(learningRate.isFinite && learningRate > 0 && learningRate <= 1e3,
                    "--lr must be a positive number no larger than 1000, not \(learningRate).")
        try require(minLearningRate.isFinite && minLearningRate >= 0 && minLearningRate <= learningRate,
                    "--min-lr must be between 0 and --lr (\(learningRate)), not \(minLearningRate).")
        try require(warmup >= 0, "--warmup must be 0 or more steps, not \(warmup).")
        try require(beta1.isFinite && beta1 >= 0 && beta1 < 1, "--beta1 must be in [0, 1), not \(beta1).")
        try require(beta2.isFinite && beta2 >= 0 && beta2 < 1, "--beta2 must be in [0, 1), not \(beta2).")
        try require(weightDecay.isFinite && weightDecay >= 0 && weightDecay < 1e3,
                    "--weight-decay must be 0 or a positive number, not \(weightDecay).")
        try require(momentum.isFinite && momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), not \(momentum).")
        try require(clip.isFinite && clip >= 0, "--clip must be 0 (off) or a positive norm, not \(clip).")
        try require(evalEvery >= 0, "--eval-every must be 0 (never) or a number of steps, not \(evalEvery).")
        try require(evalBatches >= 1, "--eval-batches must be at least 1, not \(evalBatches).")
        try require(checkpointEvery >= 0, "--checkpoint-every must be 0 (only at the end) or a number of steps, not \(checkpointEvery).")
        try require(keep >= 1, "--keep must be at least 1 checkpoint, not \(keep).")
        try require(logEvery >= 1, "--log-every must be at least 1 step, not \(logEvery).")
        try require(hashEvery >= 1, "the weight-hash interval must be at least 1 step, not \(hashEvery).")
    }

    /// The learning rate schedule of this run.
    public var learningRateSchedule: LearningRateSchedule {
        LearningRateSchedule(
            kind: schedule, maxLR: learningRate, minLR: minLearningRate,
            warmupSteps: warmup, totalSteps: steps)
    }
}

/// An invalid option or input, in one sentence a user can act on; every rank finds it alike.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
