import ArgumentParser
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

extension TokenizerKind: ExpressibleByArgument {
    /// --help lists the kinds dptrain trains; hf-bpe comes from a checkpoint (import-hf).
    public static var allValueStrings: [String] { trainable.map(\.rawValue) }
}
extension Activation: ExpressibleByArgument {}
extension LossMode: ExpressibleByArgument {}
extension Positions: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension GradientCompression: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}

/// Where the tokens come from.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp(
        "A text file (tokenized and cached in OUT/cache), a directory made by `dptrain prepare`, or a directory or quoted glob of llm.c shards (*_train_*.bin, *_val_*.bin, with their tokenizer.json). Every rank maps the token files itself. Default: the built-in corpus.",
        valueName: "path"))
    var path: String?

    @Option(help: "Tokenizer for a text file: char, byte, word or bpe. (default: char)")
    var tokenizer: TokenizerKind?

    @Option(help: "Vocabulary size for the bpe and word tokenizers. (default: bpe 512, word: every word)")
    var vocabSize: Int?

    @Option(help: "The fraction of a text file's tokens (its end) kept for validation. (default: 0.1, or the checkpoint's)")
    var valFraction: Double?

    @Flag(name: .customLong("data-from-rank0"), help: "Rank 0 alone reads the data and broadcasts the tokens, which every rank then holds in memory: for hosts that cannot see the token files (no shared file system) and data that fits in memory. Otherwise copy the files to every host.")
    var fromRank0 = false

    /// The flags given, as settings.
    func add(to layer: inout ConfigLayer) {
        layer.flag("data.path", path)
        layer.flag("data.from_rank0", fromRank0 ? true : nil)
        layer.flag("data.tokenizer", tokenizer)
        layer.flag("data.vocab_size", vocabSize)
        layer.flag("training.val_fraction", valFraction)
    }
}

extension Preset: ExpressibleByArgument {}

/// The model's shape. Every option is optional: a flag that is given is a setting applied over the
/// preset (or the checkpoint, which it must agree with) and the config file (`RunConfig.resolve`). Numbers parse `.unconditional`ly here and
/// in TrainingOptions, so that `--dim -5` reaches validation and its one sentence instead of
/// being taken for an unknown flag "-5".
struct ModelOptions: ParsableArguments {
    @Option(help: "gpt (GPT-2 style), gpt2 (GPT-2 exactly: attention biases too; GPT-2 small's 12 layers, 12 heads, dim 768, context 1024 and batch 1 unless given) or seed (the seed example). (default: gpt)")
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
    @Option(help: "learned (a trained pos_embedding), sinusoidal (the fixed sin/cos table of \"Attention Is All You Need\", no parameters) or none. (default: learned; seed: none)")
    var positions: Positions?
    @Option(help: "decoder (causal attention, trained on the next token) or encoder (bidirectional attention, trained as BERT on 15% of positions: 80% replaced by a [MASK] token the tokenizer adds, 10% by a random token, 10% kept; the loss over those positions only). (default: decoder)")
    var architecture: Architecture?

    /// The flags given, as settings.
    func add(to layer: inout ConfigLayer) {
        layer.flag("preset", preset)
        layer.flag("model.layers", layers)
        layer.flag("model.heads", heads)
        layer.flag("model.dim", dim)
        layer.flag("model.ffn_dim", ffnDim)
        layer.flag("model.context", context)
        layer.flag("model.activation", activation)
        layer.flag("model.tied_embeddings", tieEmbeddings)
        layer.flag("model.loss", loss)
        layer.flag("model.positions", positions)
        layer.flag("model.architecture", architecture)
    }
}

/// Batch, optimizer, schedule and cadence. Optional so that a resumed run keeps the checkpoint's
/// settings unless a flag says otherwise; the defaults shown are `TrainingConfig()`'s.
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
    @Option(parsing: .unconditional, help: "ZeRO stage: 0 all-reduces the gradients and every rank updates every weight; 1 reduce-scatters them, each rank updates its 1/W of the weights and optimizer state, then all-gathers the weights (optimizer memory ÷ W, same results). (default: 0)")
    var zero: Int?
    @Option(parsing: .unconditional, help: "MiB of gradients in the largest bucket of the all-reduce that runs while backward goes on (several ranks; buckets grow from 1 MiB at both ends of the gradients, and models no larger than one bucket use one all-reduce); 0 = one all-reduce after backward. (default: 25)")
    var bucketMb: Double?
    @Option(help: "none, or bf16: gradients cross the network as bfloat16, summed in float32 at every hop (half the bytes, for slow links). (default: none)")
    var gradCompression: GradientCompression?
    @Option(parsing: .unconditional, help: ArgumentHelp("End the job when a step's collective (the gradient all-reduce, …) makes no progress for this long — a stopped rank or a dead network link — naming the step, the collective and the ranks; 0 = never. (default: the larger of \(Int(CollectiveWatchdog.minimumSeconds)) s and \(Int(CollectiveWatchdog.slowestStepMultiple)) × the slowest step so far)", valueName: "seconds"))
    var collectiveTimeout: Double?

    /// The flags given, as settings.
    func add(to layer: inout ConfigLayer) {
        layer.flag("training.batch", batch)
        layer.flag("training.grad_accum", gradAccum)
        layer.flag("training.steps", steps)
        layer.flag("training.optimizer", optimizer)
        layer.flag("training.lr", lr)
        layer.flag("training.min_lr", minLr)
        layer.flag("training.warmup", warmup)
        layer.flag("training.schedule", schedule)
        layer.flag("training.beta1", beta1)
        layer.flag("training.beta2", beta2)
        layer.flag("training.weight_decay", weightDecay)
        layer.flag("training.momentum", momentum)
        layer.flag("training.clip", clip)
        layer.flag("training.sampler", sampler)
        layer.flag("training.seed", seed)
        layer.flag("training.eval_every", evalEvery)
        layer.flag("training.eval_batches", evalBatches)
        layer.flag("training.checkpoint_every", checkpointEvery)
        layer.flag("training.keep", keep)
        layer.flag("training.log_every", logEvery)
        layer.flag("training.debug", debug ? true : nil)
        layer.flag("parallel.zero", zero)
        layer.flag("parallel.bucket_mb", bucketMb)
        layer.flag("parallel.grad_compression", gradCompression)
        layer.flag("parallel.collective_timeout", collectiveTimeout)
    }
}

/// Where results go, and where to resume from.
struct OutputOptions: ParsableArguments {
    /// The value `--resume` without a path stands for (see `DPTrain.normalizingResume`).
    static let latest = "@latest"

    @Option(help: "Output directory: metrics.jsonl, checkpoints/, tensorboard/, cache/, config.json. (default: \(RunConfig.defaultOut))")
    var out: String?

    @Option(help: ArgumentHelp(
        "Settings from a JSON or TOML file: config.json's structure (a run's OUT/config.json repeats it) or option names (steps = 2000); flags on the command line override it.",
        valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp(
        "Continue from a checkpoint: --resume alone takes OUT's newest valid one; --resume PATH a checkpoint directory or another OUT.",
        valueName: "path"))
    var resume: String?

    @Option(help: ArgumentHelp(
        "Start a new run from a checkpoint's weights (dptrain import-hf writes one; a checkpoint directory or another run's OUT), not its optimizer state, step or data position: the model's shape and tokenizer are the checkpoint's, and --data is tokenized with that tokenizer.",
        valueName: "path"))
    var initFrom: String?

    @Flag(help: "Print only warnings, errors and the final line (no step lines or progress).")
    var quiet = false

    @Option(help: ArgumentHelp(
        "End this invocation after step N with a checkpoint, as a preempted job would; --resume continues to --steps.",
        valueName: "N"))
    var stopAt: Int?
}
