import DPComm
import DPData
import DPModel

/// The model presets: where a new run's settings start before the config file and the flags.
public enum Preset: String, Codable, Sendable, CaseIterable {
    /// GPT-2 style: pre-LN, residuals, learned positions, GELU, tied embeddings, FFN = 4·dim, AdamW.
    case gpt
    /// GPT-2 exactly (`ModelConfig.gpt2`): the gpt wiring plus attention's q, k, v and output
    /// biases; GPT-2 small's shape (12 layers, 12 heads, dim 768, context 1024) unless the flags, a
    /// config file or an `--init-from` checkpoint give another; batch 1 (`TrainingConfig.gpt2Defaults`).
    case gpt2
    /// The seed example: 4 words, dim 4, 2 heads, FFN 4→8→4, ReLU, last-token loss, plain SGD.
    case seed
}

/// Where a run's tokens come from.
public struct DataConfig: Codable, Sendable, Equatable {
    /// `--data`: a text file (tokenized and cached in OUT/cache), a `dptrain prepare` directory,
    /// or a directory or glob pattern of llm.c shards; nil: the built-in corpus (the seed preset:
    /// the seed example's sentences). Absolute once resolved.
    public var path: String?
    /// `--tokenizer` for a text file; nil: a prepared directory's own, else char.
    public var tokenizer: TokenizerKind?
    /// `--vocab-size` of the bpe and word tokenizers; nil: their defaults.
    public var vocabSize: Int?
    /// `--data-from-rank0`: rank 0 alone reads the data and broadcasts every token, which every
    /// rank then holds in memory (4 bytes a token) — for hosts that cannot see the files and data
    /// that fits in memory. false: every rank maps the token files itself.
    public var fromRank0: Bool

    public init(path: String? = nil, tokenizer: TokenizerKind? = nil, vocabSize: Int? = nil, fromRank0: Bool = false) {
        self.path = path
        self.tokenizer = tokenizer
        self.vocabSize = vocabSize
        self.fromRank0 = fromRank0
    }

    enum CodingKeys: String, CodingKey {
        case path, tokenizer
        case vocabSize = "vocab_size"
        case fromRank0 = "from_rank0"
    }

    /// Checkpoints and config files written before `from_rank0` existed read as false.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        tokenizer = try c.decodeIfPresent(TokenizerKind.self, forKey: .tokenizer)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
        fromRank0 = try c.decodeIfPresent(Bool.self, forKey: .fromRank0) ?? false
    }
}

/// How the ranks share the work.
public struct ParallelConfig: Codable, Sendable, Equatable {
    /// ZeRO stage: 0 all-reduces the gradients and every rank updates every weight; 1
    /// reduce-scatters them, each rank updates its 1/W of the weights and optimizer state, and an
    /// all-gather brings the weights back together (optimizer memory ÷ W, same results).
    public var zeroStage: Int
    /// BLAS threads per rank; nil: the host's cores divided by the ranks on that host. Not taken
    /// from a checkpoint: it belongs to the machine, not the run.
    public var threads: Int?
    /// `--bucket-mb`: MiB of binary32 gradients (2^18 floats per MiB) in the largest bucket of the
    /// all-reduce that a communication thread runs while backward goes on (graded from 1 MiB at
    /// both ends, `BucketedExchange.buckets`); 0 = one all-reduce of every gradient after
    /// backward, not overlapped. Only runs of several ranks communicate.
    public var bucketMB: Double
    /// `--grad-compression`: how gradients cross the network (see `GradientCompression`).
    public var gradientCompression: GradientCompression
    /// `--collective-timeout`: seconds a step's collective may make no progress before the job ends
    /// (`CollectiveWatchdog`); 0 off; nil the default, the larger of 300 s and 10 × the slowest
    /// step so far. Not taken from a checkpoint: it belongs to the machine and its network.
    public var collectiveTimeout: Double?

    public init(zeroStage: Int = 0, threads: Int? = nil, bucketMB: Double = 25, gradientCompression: GradientCompression = .none,
                collectiveTimeout: Double? = nil) {
        self.zeroStage = zeroStage
        self.threads = threads
        self.bucketMB = bucketMB
        self.gradientCompression = gradientCompression
        self.collectiveTimeout = collectiveTimeout
    }

    /// Checkpoints and config files written before the bucket settings existed lack them: the
    /// defaults then.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        zeroStage = try c.decode(Int.self, forKey: .zeroStage)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        bucketMB = try c.decodeIfPresent(Double.self, forKey: .bucketMB) ?? 25
        gradientCompression = try c.decodeIfPresent(GradientCompression.self, forKey: .gradientCompression) ?? .none
        collectiveTimeout = try c.decodeIfPresent(Double.self, forKey: .collectiveTimeout)
    }

    /// Floats per bucket (0: one bucket of everything).
    public var bucketElements: Int { Int((bucketMB * 262_144).rounded()) }

    /// What a checkpoint records and a resumed run takes over: all but the threads and the
    /// collective timeout.
    public var recorded: ParallelConfig {
        var parallel = self
        parallel.threads = nil
        parallel.collectiveTimeout = nil
        return parallel
    }

    enum CodingKeys: String, CodingKey {
        case zeroStage = "zero"
        case threads
        case bucketMB = "bucket_mb"
        case gradientCompression = "grad_compression"
        case collectiveTimeout = "collective_timeout"
    }
}

/// Every setting of a training run, resolved once (`RunConfig.resolve`) from the preset — or the
/// checkpoint's settings on `--resume` — then the config file, then the command-line flags, and
/// validated once. OUT/config.json is this record, and `--config` reads it back.
///
/// `model.vocabSize` is 0 until the tokenizer is known (`adoptVocabulary`).
public struct RunConfig: Codable, Sendable, Equatable {
    public var preset: Preset
    public var model: ModelConfig
    public var training: TrainingConfig
    public var data: DataConfig
    public var parallel: ParallelConfig
    /// The run's directory: metrics.jsonl, checkpoints/, tensorboard/, cache/, config.json.
    public var out: String

    public init(preset: Preset, model: ModelConfig, training: TrainingConfig, data: DataConfig = DataConfig(),
                parallel: ParallelConfig = ParallelConfig(), out: String = RunConfig.defaultOut) {
        self.preset = preset
        self.model = model
        self.training = training
        self.data = data
        self.parallel = parallel
        self.out = out
    }

    public static let defaultOut = "runs/dptrain"

    /// A preset's settings before any file or flag; the model's vocabulary is still unknown (0).
    public static func defaults(_ preset: Preset) -> RunConfig {
        switch preset {
        case .gpt:
            return RunConfig(preset: .gpt, model: .gpt(vocabSize: 0, context: 64, dim: 128, heads: 4, layers: 4),
                             training: TrainingConfig())
        case .gpt2:
            return RunConfig(preset: .gpt2, model: .gpt2(vocabSize: 0, context: 1024, dim: 768, heads: 12, layers: 12),
                             training: .gpt2Defaults)
        case .seed:
            return RunConfig(preset: .seed, model: .seed, training: .seedDefaults)
        }
    }

    /// The settings a checkpoint was trained with, as the base of a resumed run. Machine-specific
    /// settings (threads) and OUT are not taken from it.
    public static func resuming(_ state: CheckpointState) -> RunConfig {
        var training = state.training
        training.valFraction = training.valFraction ?? 0.1
        training.debug = false  // a choice of this invocation, as --debug says
        return RunConfig(
            preset: Preset(of: state.model), model: state.model, training: training,
            data: state.dataConfig ?? DataConfig(path: state.dataPath),
            parallel: state.parallel?.recorded ?? ParallelConfig())
    }
}

extension RunConfig {
    /// The base of a new run that starts from a checkpoint's weights (`--init-from`): the model
    /// (shape and vocabulary) is the checkpoint's and fixed; training, data and parallel settings
    /// are the defaults of the model's preset, not the checkpoint's — a new run, not a resumed one.
    public static func initializing(from state: CheckpointState) -> RunConfig {
        var config = defaults(Preset(of: state.model))
        config.model = state.model
        return config
    }
}

extension Preset {
    /// The preset a model belongs to: seed for the seed example's, gpt2 for one with attention
    /// biases, gpt otherwise.
    public init(of model: ModelConfig) {
        self = RunConfig.isSeedExample(model) ? .seed : model.attentionBias ? .gpt2 : .gpt
    }
}

extension RunConfig {
    /// Whether `model` is the seed example's model, with whatever positions (`--positions`).
    public static func isSeedExample(_ model: ModelConfig) -> Bool {
        var model = model.with(positions: .none)
        model.initialization = ModelConfig.seed.initialization  // checkpoints from before Glorot
        return model == .seed
    }

    /// Throws a `ConfigError` naming the option, its value and what it is compared with, for the
    /// first setting that is out of range or contradicts another. A model vocabulary of 0 (not yet
    /// known) is not checked.
    public func validate() throws {
        let m = model
        for (flag, value, limit) in [("--layers", m.layers, 1024), ("--heads", m.heads, 4096), ("--dim", m.dim, 1 << 16),
                                     ("--ffn-dim", m.ffnDim, 1 << 18), ("--context", m.context, 1 << 16)]
        where value < 1 || value > limit {
            throw ConfigError("\(flag) must be between 1 and \(limit), not \(value).")
        }
        if m.dim % m.heads != 0 { throw ConfigError("--heads (\(m.heads)) must divide --dim (\(m.dim)).") }
        if m.architecture == .encoder && m.loss == .last {
            throw ConfigError("--architecture encoder predicts masked tokens, not the last one, so it cannot take --loss last; use --loss all.")
        }
        if m.vocabSize != 0 { try m.validate() }
        if preset == .seed && data.path != nil {
            throw ConfigError("--preset seed trains on the seed example's own sentences; it takes no --data.")
        }
        if let vocabSize = data.vocabSize, vocabSize < 2 || vocabSize > 1 << 24 {
            throw ConfigError("--vocab-size must be between 2 and 16777216, not \(vocabSize).")
        }
        if let fraction = training.valFraction, !(fraction.isFinite && fraction > 0 && fraction < 1) {
            throw ConfigError("--val-fraction must be between 0 and 1 (exclusive), not \(fraction).")
        }
        try training.validate()
        if parallel.zeroStage != 0 && parallel.zeroStage != 1 {
            throw ConfigError("--zero must be 0 or 1, not \(parallel.zeroStage).")
        }
        if !(parallel.bucketMB.isFinite && parallel.bucketMB >= 0 && parallel.bucketMB <= 2048) {
            throw ConfigError("--bucket-mb must be between 0 and 2048 (MiB of gradients per bucket; 0 = one all-reduce after backward), not \(parallel.bucketMB).")
        }
        if let threads = parallel.threads, threads < 1 || threads > 1024 {
            throw ConfigError("--threads must be between 1 and 1024, not \(threads).")
        }
        if let timeout = parallel.collectiveTimeout, !(timeout.isFinite && timeout >= 0 && timeout <= 1e7) {
            throw ConfigError("--collective-timeout must be 0 (off) or a number of seconds up to 10000000, not \(timeout).")
        }
        if out.isEmpty { throw ConfigError("--out must name a directory, not an empty string.") }
    }

    /// Sets the model's vocabulary to the tokenizer's once the data is loaded. A vocabulary already
    /// set (by a checkpoint, or a config file's model.vocab_size: `source` names it) must agree.
    public mutating func adoptVocabulary(_ size: Int, source: String?) throws {
        if model.vocabSize != 0 && model.vocabSize != size {
            throw ConfigError("\(source ?? "the model's vocabulary") is \(model.vocabSize), but the data's tokenizer has \(size) tokens.")
        }
        model.vocabSize = size
        try model.validate()
    }
}
