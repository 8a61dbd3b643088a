import DPBase
import DPComm
import DPData
import DPModel
import Foundation

/// One value of a setting as a config file or a flag gives it, before it is read as the setting's type.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case bool(Bool)
    /// A number as written (TOML's `1_000` already read as 1000), so that integers of any size stay exact.
    case number(String)
    case text(String)

    public var description: String {
        switch self {
        case .bool(let value): String(value)
        case .number(let text): text
        case .text(let text): quoted(text)
        }
    }
}

/// The settings that one source gives, in the order they apply: a config file, or the flags.
public struct ConfigLayer: Sendable {
    public struct Entry: Sendable {
        /// The setting's key in config.json, e.g. "training.min_lr".
        public let key: String
        public let value: ConfigValue
        /// Where it came from, for messages: "--min-lr" or "run.toml's training.min_lr".
        public let source: String
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    /// Adds a setting; a later entry for the same key wins.
    public mutating func set(_ key: String, _ value: ConfigValue?, source: String) {
        guard let value else { return }
        entries.append(Entry(key: key, value: value, source: source))
    }

    /// The last entry for `key`, if any.
    public func entry(_ key: String) -> Entry? { entries.last { $0.key == key } }

    /// A flag's value as the command line gave it (nil: not given), with the flag as its source.
    public mutating func flag<T: ConfigReadable>(_ key: String, _ value: T?) {
        guard let value else { return }
        guard let setting = RunConfig.setting(key) else { preconditionFailure("no setting \(key)") }
        set(key, value.configValue, source: setting.flag)
    }
}

extension RunConfig {
    /// One setting: its key in config.json, its command-line flag, and how to read and write it.
    public struct Setting: Sendable {
        public let key: String
        public let flag: String
        /// Reads a value as this setting's type; nil when it is not one.
        let parse: @Sendable (ConfigValue) -> (@Sendable (inout RunConfig) -> Void)?
        /// What kind of value it takes, for messages ("an integer").
        let kind: String
        /// The setting's value in a config, for messages.
        let current: @Sendable (RunConfig) -> String
    }

    /// Every setting, one row each: the table that config files, flags and messages share.
    public static let settings: [Setting] = [
        .value("preset", "--preset", \.preset),
        .value("model.layers", "--layers", \.model.layers),
        .value("model.heads", "--heads", \.model.heads),
        .value("model.dim", "--dim", \.model.dim),
        .value("model.ffn_dim", "--ffn-dim", \.model.ffnDim),
        .value("model.context", "--context", \.model.context),
        .value("model.vocab_size", "the model's vocab_size", \.model.vocabSize),
        .value("model.activation", "--activation", \.model.activation),
        .value("model.tied_embeddings", "--[no-]tie-embeddings", \.model.tiedEmbeddings),
        .value("model.layer_norm", "the model's layer_norm", \.model.layerNorm),
        .value("model.residual", "the model's residual", \.model.residual),
        .value("model.positions", "--positions", \.model.positions),
        .learnedPositions,
        .value("model.loss", "--loss", \.model.loss),
        .value("model.init", "the model's init", \.model.initialization),
        .value("model.architecture", "--architecture", \.model.architecture),
        .value("model.attention_bias", "the model's attention_bias", \.model.attentionBias),
        .value("training.batch", "--batch", \.training.batch),
        .value("training.grad_accum", "--grad-accum", \.training.gradAccum),
        .value("training.steps", "--steps", \.training.steps),
        .value("training.optimizer", "--optimizer", \.training.optimizer),
        .value("training.lr", "--lr", \.training.learningRate),
        .value("training.min_lr", "--min-lr", \.training.minLearningRate),
        .value("training.warmup", "--warmup", \.training.warmup),
        .value("training.schedule", "--schedule", \.training.schedule),
        .value("training.beta1", "--beta1", \.training.beta1),
        .value("training.beta2", "--beta2", \.training.beta2),
        .value("training.weight_decay", "--weight-decay", \.training.weightDecay),
        .value("training.momentum", "--momentum", \.training.momentum),
        .value("training.clip", "--clip", \.training.clip),
        .value("training.sampler", "--sampler", \.training.sampler),
        .value("training.seed", "--seed", \.training.seed),
        .value("training.eval_every", "--eval-every", \.training.evalEvery),
        .value("training.eval_batches", "--eval-batches", \.training.evalBatches),
        .value("training.checkpoint_every", "--checkpoint-every", \.training.checkpointEvery),
        .value("training.keep", "--keep", \.training.keep),
        .value("training.log_every", "--log-every", \.training.logEvery),
        .value("training.hash_every", "the training's hash_every", \.training.hashEvery),
        .value("training.debug", "--debug", \.training.debug),
        .optional("training.val_fraction", "--val-fraction", \.training.valFraction),
        .optional("data.path", "--data", \.data.path),
        .optional("data.tokenizer", "--tokenizer", \.data.tokenizer),
        .optional("data.vocab_size", "--vocab-size", \.data.vocabSize),
        .value("data.from_rank0", "--data-from-rank0", \.data.fromRank0),
        .value("parallel.zero", "--zero", \.parallel.zeroStage),
        .optional("parallel.threads", "--threads", \.parallel.threads),
        .value("parallel.bucket_mb", "--bucket-mb", \.parallel.bucketMB),
        .value("parallel.grad_compression", "--grad-compression", \.parallel.gradientCompression),
        .optional("parallel.collective_timeout", "--collective-timeout", \.parallel.collectiveTimeout),
        .value("out", "--out", \.out),
    ]

    /// The setting with config.json key `key`.
    public static func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    /// The setting a flat config file's `name` stands for: a flag's name without its dashes
    /// (`grad-accum` or `grad_accum`), `data` for `--data`, `tie-embeddings` for the tied flag.
    public static func setting(flatName name: String) -> Setting? {
        let flag = "--" + name.replacingOccurrences(of: "_", with: "-")
        if flag == "--tie-embeddings" { return setting("model.tied_embeddings") }
        return settings.first { $0.flag == flag } ?? setting(name)
    }

    /// The model settings that a resumed run fixes.
    static let modelKeys = settings.map(\.key).filter { $0.hasPrefix("model.") && $0 != "model.vocab_size" }
    /// The model settings that the seed preset fixes: all but the positions, the text's next step.
    static let seedKeys = modelKeys.filter { $0 != "model.positions" && $0 != "model.learned_positions" }

    /// The run: `base` (a preset's defaults, or `RunConfig.resuming` a checkpoint) with every
    /// layer applied in order (the config file, then the flags), then the defaults that follow from
    /// other settings (FFN = 4·dim unless given, --min-lr no higher than a given --lr), then
    /// `validate()`. Collective-free and the same on every rank.
    ///
    /// - Parameters:
    ///   - checkpoint: the checkpoint being resumed (its model is fixed: a setting that contradicts
    ///     it is an error, as is --steps below its step).
    ///   - initFrom: the checkpoint a new run starts from (`--init-from`): its model is fixed too.
    /// - Throws: `ConfigError`, one sentence naming the flag or file key and the value it is compared with.
    public static func resolve(base: RunConfig, layers: [ConfigLayer], checkpoint: CheckpointState? = nil,
                               initFrom: CheckpointState? = nil) throws -> RunConfig {
        var config = base
        var given: [String: ConfigLayer.Entry] = [:]
        for layer in layers {
            for entry in layer.entries {
                guard let setting = setting(entry.key) else {
                    throw ConfigError("\(entry.source) is not a setting of dptrain train.")
                }
                guard let write = setting.parse(entry.value) else {
                    throw ConfigError("\(entry.source) must be \(setting.kind), not \(entry.value).")
                }
                write(&config)
                given[entry.key] = entry
            }
        }
        // The model is fixed by a checkpoint being resumed, and by the seed preset.
        let fixed: (model: ModelConfig, what: String, remedy: String)? =
            if let checkpoint { (checkpoint.model, "the checkpoint's", "drop the flag to resume, or start a new run with another --out") }
            else if let initFrom { (initFrom.model, "the --init-from checkpoint's", "drop the flag: --init-from takes the model's shape from the checkpoint") }
            else if config.preset == .seed { (ModelConfig.seed.with(positions: config.model.positions), "the seed preset's",
                                             "the seed example's model is fixed but for --positions: drop the flag, or use --preset gpt") }
            else { nil }
        if let fixed {
            let want = RunConfig(preset: Preset(of: fixed.model), model: fixed.model, training: config.training)
            for key in ["preset"] + (checkpoint == nil && initFrom == nil ? seedKeys : modelKeys) {
                let setting = setting(key)!
                if let entry = given[key], setting.current(config) != setting.current(want) {
                    throw ConfigError("\(entry.source) \(setting.current(config)) contradicts \(fixed.what) \(setting.current(want)); \(fixed.remedy).")
                }
            }
            config.model.ffnDim = fixed.model.ffnDim
        } else if given["model.ffn_dim"] == nil {
            config.model.ffnDim = 4 * config.model.dim
        }
        if given["training.lr"] != nil && given["training.min_lr"] == nil {
            config.training.minLearningRate = min(config.training.minLearningRate, config.training.learningRate)
        }
        if config.training.valFraction == nil { config.training.valFraction = 0.1 }
        // Absolute, so that `--resume` from another directory finds the same data.
        if let path = config.data.path, given["data.path"] != nil {
            config.data.path = URL(fileURLWithPath: path).standardizedFileURL.path
        }
        if let checkpoint, config.training.steps < checkpoint.step {
            throw ConfigError("--steps \(config.training.steps) is below the checkpoint's step \(checkpoint.step); pass a larger --steps to train further.")
        }
        try config.validate()
        return config
    }
}

extension RunConfig.Setting {
    /// model.learned_positions of config files written before --positions: true is learned, false none.
    static var learnedPositions: Self {
        Self(key: "model.learned_positions", flag: "the model's learned_positions", parse: { value in
            Bool(config: value).map { learned in { @Sendable config in config.model.positions = learned ? .learned : .none } }
        }, kind: Bool.configKind, current: { String($0.model.positions == .learned) })
    }

    /// A setting of a type that reads from and prints as text (numbers, booleans, enums).
    static func value<T: ConfigReadable>(_ key: String, _ flag: String, _ path: WritableKeyPath<RunConfig, T> & Sendable) -> Self {
        Self(key: key, flag: flag, parse: { value in
            T(config: value).map { parsed in { @Sendable config in config[keyPath: path] = parsed } }
        }, kind: T.configKind, current: { T.describe($0[keyPath: path]) })
    }

    /// An optional setting; in a file it is set by giving it (absence keeps the default).
    static func optional<T: ConfigReadable>(_ key: String, _ flag: String, _ path: WritableKeyPath<RunConfig, T?> & Sendable) -> Self {
        Self(key: key, flag: flag, parse: { value in
            T(config: value).map { parsed in { @Sendable config in config[keyPath: path] = parsed } }
        }, kind: T.configKind, current: { $0[keyPath: path].map(T.describe) ?? "none" })
    }
}

/// A setting's type as config files and flags give it.
public protocol ConfigReadable: Sendable {
    init?(config: ConfigValue)
    var configValue: ConfigValue { get }
    /// "an integer", "a number", "true or false", "one of …".
    static var configKind: String { get }
    static func describe(_ value: Self) -> String
}

extension ConfigReadable where Self: LosslessStringConvertible {
    public static func describe(_ value: Self) -> String { String(value) }
    public var configValue: ConfigValue { .number(String(self)) }
}

extension Int: ConfigReadable {
    public init?(config: ConfigValue) {
        guard case .number(let text) = config, let value = Int(text) ?? Double(text).flatMap({ Int(exactly: $0) }) else { return nil }
        self = value
    }
    public static var configKind: String { "an integer" }
}

extension UInt64: ConfigReadable {
    public init?(config: ConfigValue) {
        guard case .number(let text) = config, let value = UInt64(text) ?? Double(text).flatMap({ UInt64(exactly: $0) }) else { return nil }
        self = value
    }
    public static var configKind: String { "an integer of 0 or more" }
}

extension Float: ConfigReadable {
    public init?(config: ConfigValue) {
        guard case .number(let text) = config, let value = Float(text) else { return nil }
        self = value
    }
    public static var configKind: String { "a number" }
}

extension Double: ConfigReadable {
    public init?(config: ConfigValue) {
        guard case .number(let text) = config, let value = Double(text) else { return nil }
        self = value
    }
    public static var configKind: String { "a number" }
}

extension Bool: ConfigReadable {
    public init?(config: ConfigValue) {
        guard case .bool(let value) = config else { return nil }
        self = value
    }
    public var configValue: ConfigValue { .bool(self) }
    public static var configKind: String { "true or false" }
}

extension String: ConfigReadable {
    public init?(config: ConfigValue) {
        guard case .text(let text) = config else { return nil }
        self = text
    }
    public var configValue: ConfigValue { .text(self) }
    public static var configKind: String { "a string" }
    public static func describe(_ value: String) -> String { value }
}

/// Enums read from their raw names.
public protocol ConfigEnum: ConfigReadable, RawRepresentable, CaseIterable where RawValue == String {}

extension ConfigEnum {
    public init?(config: ConfigValue) {
        guard case .text(let text) = config, let value = Self(rawValue: text) else { return nil }
        self = value
    }
    public var configValue: ConfigValue { .text(rawValue) }
    public static var configKind: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
    public static func describe(_ value: Self) -> String { value.rawValue }
}

extension Preset: ConfigEnum {}
extension Activation: ConfigEnum {}
extension LossMode: ConfigEnum {}
extension Positions: ConfigEnum {}
extension Initialization: ConfigEnum {}
extension Architecture: ConfigEnum {}
extension OptimizerKind: ConfigEnum {}
extension LearningRateSchedule.Kind: ConfigEnum {}
extension SamplerKind: ConfigEnum {}
extension TokenizerKind: ConfigEnum {}
extension GradientCompression: ConfigEnum {}
