/// The nonlinearity of the feed-forward block.
public enum Activation: String, Codable, Sendable, CaseIterable {
    /// GPT-2's GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    case gelu
    /// max(0, x), as in the seed example.
    case relu
}

/// Which positions the training loss averages over.
public enum LossMode: String, Codable, Sendable, CaseIterable {
    /// Mean cross-entropy over all B·T positions (next-token prediction everywhere).
    case all
    /// Mean cross-entropy over the last position of each row only (the seed example).
    case last
}

/// How the model tells positions apart (the text's first "next step").
public enum Positions: String, Codable, Sendable, CaseIterable {
    /// A learned `pos_embedding` [T,C] added to the token embedding (GPT-2).
    case learned
    /// The fixed table of "Attention Is All You Need": PE[t, 2i] = sin(t / 10000^(2i/C)),
    /// PE[t, 2i+1] = cos(t / 10000^(2i/C)), added to the token embedding. No parameters: it is
    /// not among the checkpoint's tensors, only in its config.
    case sinusoidal
    /// No positions: attention sees a set of tokens (the seed example).
    case none
}

/// Which positions attention lets each position see, and what the model is trained to predict
/// (the text's last "next step" but one).
public enum Architecture: String, Codable, Sendable, CaseIterable {
    /// Causal attention (position t sees 0...t); trained on the next token (GPT).
    case decoder
    /// Bidirectional attention (every position sees every position); trained on masked-token
    /// prediction as BERT is: the targets are the original tokens at the chosen positions, -1
    /// (ignored) elsewhere, and the loss is the mean over the chosen positions only.
    case encoder
}

/// How `Model.initializeParameters` draws the matrices and embeddings (`ParameterLayout`).
public enum Initialization: String, Codable, Sendable, CaseIterable {
    /// GPT-2's normal(0, 0.02), with the projections into the residual stream scaled by 1/√(2L).
    case gpt2
    /// Glorot/Xavier: normal(0, 2/(fan-in + fan-out)) for a [fan-in, fan-out] tensor, the seed preset's.
    case glorot
}

/// The shape and wiring of the transformer (DESIGN.md §2).
///
/// Letters used throughout DPModel: B batch rows, T time (positions, at most `context`),
/// C = `dim`, NH = `heads`, HS = C/NH, F = `ffnDim`, V = `vocabSize`, L = `layers`.
/// JSON keys are snake_case; decoding validates, so a config read from a checkpoint or a file
/// is always buildable.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    /// The longest sequence the model takes (T ≤ context); sizes `pos_embedding`.
    public var context: Int
    public var dim: Int
    public var heads: Int
    public var layers: Int
    public var ffnDim: Int
    public var activation: Activation
    /// When true the output projection is `tok_embedding`ᵀ and there is no `lm_head` tensor.
    public var tiedEmbeddings: Bool
    /// Pre-norm LayerNorm before attention, before the FFN and before the output (ln1, ln2, ln_f).
    public var layerNorm: Bool
    /// x = x + f(x) around attention and FFN; when false, x = f(x).
    public var residual: Bool
    /// What is added to the token embedding to mark positions.
    public var positions: Positions
    public var loss: LossMode
    /// How the weights are drawn; configs written before it decode as `.gpt2`, which they used.
    public var initialization: Initialization
    /// Causal decoder or bidirectional encoder; configs written before it decode as `.decoder`.
    public var architecture: Architecture
    /// Biases on attention's q, k, v and output projections (GPT-2's c_attn and c_proj biases:
    /// blocks.i.attn.bq, bk, bv, bo); configs written before it decode as false.
    public var attentionBias: Bool

    public init(
        vocabSize: Int, context: Int, dim: Int, heads: Int, layers: Int, ffnDim: Int,
        activation: Activation, tiedEmbeddings: Bool, layerNorm: Bool, residual: Bool,
        positions: Positions, loss: LossMode,
        initialization: Initialization = .gpt2, architecture: Architecture = .decoder, attentionBias: Bool = false
    ) {
        self.vocabSize = vocabSize
        self.context = context
        self.dim = dim
        self.heads = heads
        self.layers = layers
        self.ffnDim = ffnDim
        self.activation = activation
        self.tiedEmbeddings = tiedEmbeddings
        self.layerNorm = layerNorm
        self.residual = residual
        self.positions = positions
        self.loss = loss
        self.initialization = initialization
        self.architecture = architecture
        self.attentionBias = attentionBias
    }

    /// GPT-2 style: pre-LN, residuals, learned positions, GELU, tied embeddings, FFN = 4·dim,
    /// loss over all positions.
    public static func gpt(vocabSize: Int, context: Int, dim: Int, heads: Int, layers: Int) -> ModelConfig {
        ModelConfig(
            vocabSize: vocabSize, context: context, dim: dim, heads: heads, layers: layers,
            ffnDim: 4 * dim, activation: .gelu, tiedEmbeddings: true, layerNorm: true,
            residual: true, positions: .learned, loss: .all)
    }

    /// GPT-2 exactly (Radford et al. 2019, Hugging Face's `GPT2LMHeadModel`): the `gpt` wiring
    /// plus biases on attention's q, k, v and output projections. GPT-2 small is
    /// `gpt2(vocabSize: 50257, context: 1024, dim: 768, heads: 12, layers: 12)`.
    public static func gpt2(vocabSize: Int, context: Int, dim: Int, heads: Int, layers: Int) -> ModelConfig {
        var config = gpt(vocabSize: vocabSize, context: context, dim: dim, heads: heads, layers: layers)
        config.attentionBias = true
        return config
    }

    /// The seed example exactly: vocabulary hello/world/good/welcome, C = 4, two heads of size 2,
    /// FFN 4→8→4 with biases and ReLU, no LayerNorm, no residual, no positions, untied W_out,
    /// loss on the last token. Context 2 fits its input "hello world".
    public static var seed: ModelConfig {
        ModelConfig(
            vocabSize: 4, context: 2, dim: 4, heads: 2, layers: 1, ffnDim: 8, activation: .relu,
            tiedEmbeddings: false, layerNorm: false, residual: false, positions: .none,
            loss: .last, initialization: .glorot)
    }

    /// This config with other positions.
    public func with(positions: Positions) -> ModelConfig {
        var config = self
        config.positions = positions
        return config
    }

    /// This config with another architecture.
    public func with(architecture: Architecture) -> ModelConfig {
        var config = self
        config.architecture = architecture
        return config
    }

    /// C/NH, the width of one attention head.
    public var headSize: Int { dim / heads }

    /// The number of trainable floats (all tensors of `ParameterLayout`).
    public var parameterCount: Int { ParameterLayout(config: self).count }

    /// Training FLOPs per token as nanoGPT and PaLM count them: 6·N for the matmuls of forward and
    /// backward plus 12·L·C·T for attention, with N = `parameterCount` and T = `context`.
    public var flopsPerToken: Double {
        6 * Double(parameterCount) + 12 * Double(layers) * Double(dim) * Double(context)
    }

    /// Throws `ModelConfigError` (one sentence saying what to change) unless every size is
    /// positive and `heads` divides `dim`.
    public func validate() throws {
        let sizes: [(String, Int)] = [
            ("vocab_size", vocabSize), ("context", context), ("dim", dim), ("heads", heads),
            ("layers", layers), ("ffn_dim", ffnDim),
        ]
        for (name, value) in sizes where value <= 0 {
            throw ModelConfigError.notPositive(name: name, value: value)
        }
        if dim % heads != 0 {
            throw ModelConfigError.headsDoNotDivideDim(dim: dim, heads: heads)
        }
        if architecture == .encoder && loss == .last {
            throw ModelConfigError.encoderWithLastLoss
        }
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case context
        case dim
        case heads
        case layers
        case ffnDim = "ffn_dim"
        case activation
        case tiedEmbeddings = "tied_embeddings"
        case layerNorm = "layer_norm"
        case residual
        case positions
        /// Configs written before `positions`: true is `.learned`, false `.none`.
        case learnedPositions = "learned_positions"
        case loss
        case initialization = "init"
        case architecture
        case attentionBias = "attention_bias"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(context, forKey: .context)
        try c.encode(dim, forKey: .dim)
        try c.encode(heads, forKey: .heads)
        try c.encode(layers, forKey: .layers)
        try c.encode(ffnDim, forKey: .ffnDim)
        try c.encode(activation, forKey: .activation)
        try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try c.encode(layerNorm, forKey: .layerNorm)
        try c.encode(residual, forKey: .residual)
        try c.encode(positions, forKey: .positions)
        try c.encode(loss, forKey: .loss)
        try c.encode(initialization, forKey: .initialization)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(attentionBias, forKey: .attentionBias)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            vocabSize: try c.decode(Int.self, forKey: .vocabSize),
            context: try c.decode(Int.self, forKey: .context),
            dim: try c.decode(Int.self, forKey: .dim),
            heads: try c.decode(Int.self, forKey: .heads),
            layers: try c.decode(Int.self, forKey: .layers),
            ffnDim: try c.decode(Int.self, forKey: .ffnDim),
            activation: try c.decode(Activation.self, forKey: .activation),
            tiedEmbeddings: try c.decode(Bool.self, forKey: .tiedEmbeddings),
            layerNorm: try c.decode(Bool.self, forKey: .layerNorm),
            residual: try c.decode(Bool.self, forKey: .residual),
            positions: try c.decodeIfPresent(Positions.self, forKey: .positions)
                ?? (try c.decode(Bool.self, forKey: .learnedPositions) ? .learned : .none),
            loss: try c.decode(LossMode.self, forKey: .loss),
            initialization: try c.decodeIfPresent(Initialization.self, forKey: .initialization) ?? .gpt2,
            architecture: try c.decodeIfPresent(Architecture.self, forKey: .architecture) ?? .decoder,
            attentionBias: try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false)
        try validate()
    }
}

/// Why a `ModelConfig` cannot be built; `description` is one sentence a user can act on.
public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case notPositive(name: String, value: Int)
    case headsDoNotDivideDim(dim: Int, heads: Int)
    case encoderWithLastLoss

    public var description: String {
        switch self {
        case let .notPositive(name, value):
            return "Model \(name) must be a positive integer, but it is \(value)."
        case let .headsDoNotDivideDim(dim, heads):
            return "Model dim (\(dim)) must be a multiple of heads (\(heads)); choose heads that divide dim, e.g. \(divisorHint(dim: dim, heads: heads))."
        case .encoderWithLastLoss:
            return "An encoder is trained on masked tokens, not on the last one: use --loss all with --architecture encoder."
        }
    }
}

/// The divisor of `dim` closest to `heads`, to suggest in an error message.
private func divisorHint(dim: Int, heads: Int) -> Int {
    guard dim > 0 else { return 1 }
    let divisors = (1...dim).filter { dim % $0 == 0 }
    return divisors.min { abs($0 - heads) < abs($1 - heads) } ?? 1
}
