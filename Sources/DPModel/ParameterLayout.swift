/// How a tensor's values are set by `Model.initializeParameters(seed:)`.
public enum TensorInitializer: Sendable, Equatable {
    /// Normal(0, std²).
    case normal(std: Float)
    case ones
    case zeros
}

/// One named tensor in the flat parameter buffer: its checkpoint name (DESIGN.md §3), row-major
/// shape ([in, out] for matrices, so that y = x·W), offset in floats, initializer, and whether
/// AdamW's decoupled weight decay applies to it.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let initializer: TensorInitializer
    /// True for matrices and embeddings; false for biases and LayerNorm weights.
    public let decay: Bool
    /// The number of floats, the product of `shape`.
    public var count: Int { shape.reduce(1, *) }
    /// The floats of this tensor in the flat buffer.
    public var range: Range<Int> { offset..<(offset + count) }
}

/// The single table of parameter tensors: names, shapes, offsets, initializers and the decay
/// set all come from here, so sizes, checkpoint names and the optimizer cannot drift apart.
/// Parameters and gradients (and AdamW's m and v) share this layout.
public struct ParameterLayout: Sendable, Equatable {
    /// In DESIGN.md §3 order; tensors the config does not use are omitted (the seed preset has no
    /// pos_embedding and no ln*, a tied model no lm_head, only the gpt2 preset has attn.b*).
    public let tensors: [TensorSpec]
    /// Total floats.
    public let count: Int

    /// The layout of the model `config` describes.
    public init(config: ModelConfig) {
        let (V, T, C, F, L) = (config.vocabSize, config.context, config.dim, config.ffnDim, config.layers)
        let std: Float = 0.02
        // GPT-2: the projections that write into the residual stream are scaled by 1/√(2L), so
        // that the stream's variance does not grow with depth.
        let projectionStd = std / Float(2 * L).squareRoot()
        // Why the seed preset draws Glorot/Xavier instead: normal(0, 0.02) is GPT-2's choice for a
        // network whose residual stream carries the embedding past every block and whose LayerNorms
        // rescale it to unit variance. The seed model has neither, so the signal through embedding →
        // Q/K/V → WO → W1 → W2 → W_out is multiplied by ~0.02·√fan-in per matrix, arrives at the
        // logits ~10⁻⁸ small, and plain SGD then learns only the output biases' marginal (loss stays
        // at ln 2). Glorot's variance 2/(fan-in + fan-out) keeps each layer's activations and
        // gradients O(1) in both directions. Measured (issue 12): with all four contexts in every
        // batch, SGD lr 0.5 for 300 steps learns all four in 10 of 10 seeds with Glorot, 0 of 10
        // with normal(0, 0.02).
        func matrix(_ shape: [Int], gpt2: Float) -> TensorInitializer {
            switch config.initialization {
            case .gpt2: return .normal(std: gpt2)
            case .glorot: return .normal(std: (2 / Float(shape[0] + shape[1])).squareRoot())
            }
        }
        var entries: [Entry] = []
        func add(_ name: String, _ shape: [Int], _ initializer: TensorInitializer, decay: Bool) {
            entries.append(Entry(name: name, shape: shape, initializer: initializer, decay: decay))
        }
        add("tok_embedding", [V, C], matrix([V, C], gpt2: std), decay: true)
        if config.positions == .learned { add("pos_embedding", [T, C], matrix([T, C], gpt2: std), decay: true) }
        for i in 0..<L {
            let p = "blocks.\(i)."
            if config.layerNorm {
                add(p + "ln1.weight", [C], .ones, decay: false)
                add(p + "ln1.bias", [C], .zeros, decay: false)
            }
            add(p + "attn.wq", [C, C], matrix([C, C], gpt2: std), decay: true)
            add(p + "attn.wk", [C, C], matrix([C, C], gpt2: std), decay: true)
            add(p + "attn.wv", [C, C], matrix([C, C], gpt2: std), decay: true)
            add(p + "attn.wo", [C, C], matrix([C, C], gpt2: projectionStd), decay: true)
            if config.attentionBias {
                for name in ["bq", "bk", "bv", "bo"] { add(p + "attn." + name, [C], .zeros, decay: false) }
            }
            if config.layerNorm {
                add(p + "ln2.weight", [C], .ones, decay: false)
                add(p + "ln2.bias", [C], .zeros, decay: false)
            }
            add(p + "ffn.w1", [C, F], matrix([C, F], gpt2: std), decay: true)
            add(p + "ffn.b1", [F], .zeros, decay: false)
            add(p + "ffn.w2", [F, C], matrix([F, C], gpt2: projectionStd), decay: true)
            add(p + "ffn.b2", [C], .zeros, decay: false)
        }
        if config.layerNorm {
            add("ln_f.weight", [C], .ones, decay: false)
            add("ln_f.bias", [C], .zeros, decay: false)
        }
        if !config.tiedEmbeddings { add("lm_head", [C, V], matrix([C, V], gpt2: std), decay: true) }
        self.init(entries)
    }

    /// One row of the table: a tensor before it has an offset.
    public struct Entry: Sendable {
        public var name: String
        public var shape: [Int]
        public var initializer: TensorInitializer
        public var decay: Bool

        public init(name: String, shape: [Int], initializer: TensorInitializer, decay: Bool) {
            self.name = name
            self.shape = shape
            self.initializer = initializer
            self.decay = decay
        }
    }

    /// A layout of the given tensors, packed in order.
    public init(_ entries: [Entry]) {
        var offset = 0
        tensors = entries.map { e in
            let spec = TensorSpec(name: e.name, shape: e.shape, offset: offset, initializer: e.initializer, decay: e.decay)
            offset += spec.count
            return spec
        }
        count = offset
    }

    /// The tensor called `name`, or nil when this configuration does not have it.
    public subscript(name: String) -> TensorSpec? {
        tensors.first { $0.name == name }
    }
}
