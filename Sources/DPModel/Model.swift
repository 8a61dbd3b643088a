import DPBase

/// The transformer of DESIGN.md §2, with its parameters, gradients and activations.
///
/// Letters: B batch rows, T positions (≤ context), N = B·T, C dim, NH heads, HS = C/NH,
/// F FFN dim, V vocab, L layers.
///
/// Parameters and gradients are each one contiguous buffer with the layout of `layout`; every
/// tensor is a view into it, so the optimizer is one loop and the all-reduce one call.
/// Activations for (maxBatch, context) are allocated once in `init`; `forward`, `backward` and
/// `forwardLogits` allocate nothing.
///
/// Gradient convention: `backward` ADDS d(mean loss)/dW into `gradients`. The caller zeroes them
/// (`zeroGradients`) before the first micro-step of an optimizer step, so gradient accumulation is
/// several forward/backward pairs; for the mean over k micro-steps scale by 1/k afterwards
/// (`scaleGradients`).
public final class Model {
    public let config: ModelConfig
    public let layout: ParameterLayout
    public let maxBatch: Int
    /// `layout.count` floats; views per `TensorSpec`.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Same layout as `parameters`.
    public let gradients: UnsafeMutableBufferPointer<Float>

    let weights: ModelTensors
    /// The position rows (context,C) the embedding adds: the learned pos_embedding, the fixed
    /// sinusoidal table (owned here, not a parameter), or nil without positions.
    let positionTable: UnsafeMutablePointer<Float>?
    let grads: ModelTensors
    let acts: ActivationBuffers
    /// The offsets `backward(gradientsReady:)` reports: per block, where its tensors become final
    /// one after another as its backward goes (`BlockFrontiers`), and where the tensors after the
    /// last block (ln_f, lm_head) start.
    let backwardFrontiers: (blocks: [BlockFrontiers], head: Int)
    /// (B, T) of the last forward, 0 when there is none to backpropagate.
    private var lastBatch = 0
    private var lastTime = 0
    /// The positions the last forward's loss averaged over (`config.loss`, or `.last` for `explain`).
    private var lastLoss = LossMode.all

    /// (B, T) and the loss positions of the forward that `backward` undoes.
    func backwardShape() -> (Int, Int, LossMode) {
        if lastBatch == 0 { fatalError("Model.backward needs a forward(tokens:targets:) first") }
        return (lastBatch, lastTime, lastLoss)
    }

    /// Validates the config and allocates parameters (zero until `initializeParameters`),
    /// gradients (zero) and all activations for batches of up to `maxBatch` rows of `context`.
    public init(config: ModelConfig, maxBatch: Int) throws {
        try config.validate()
        guard maxBatch > 0 else { throw ModelConfigError.notPositive(name: "batch size", value: maxBatch) }
        self.config = config
        self.layout = ParameterLayout(config: config)
        self.maxBatch = maxBatch
        func allocate(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            let p = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
            return UnsafeMutableBufferPointer(start: p, count: count)
        }
        parameters = allocate(layout.count)
        gradients = allocate(layout.count)
        weights = ModelTensors(layout: layout, layers: config.layers, base: parameters.baseAddress!)
        grads = ModelTensors(layout: layout, layers: config.layers, base: gradients.baseAddress!)
        acts = ActivationBuffers(config: config, maxBatch: maxBatch)
        switch config.positions {
        case .learned: positionTable = weights.posEmbedding
        case .none: positionTable = nil
        case .sinusoidal:
            let table = UnsafeMutablePointer<Float>.allocate(capacity: config.context * config.dim)
            sinusoidalPositions(table, T: config.context, C: config.dim)
            positionTable = table
        }
        backwardFrontiers = Self.frontiers(layout, layers: config.layers)
    }

    /// Block l's tensors are the contiguous range from blocks[l].start to blocks[l+1].start (or
    /// head), in the layout order tok_embedding, pos_embedding, blocks 0..<L, ln_f, lm_head; within
    /// a block ln1, wq, wk, wv, wo, [bq, bk, bv, bo,] ln2, w1, b1, w2, b2, which its backward
    /// finishes from the end.
    private static func frontiers(_ layout: ParameterLayout, layers: Int) -> (blocks: [BlockFrontiers], head: Int) {
        let blocks = (0..<layers).map { l in
            let p = "blocks.\(l)."
            let start = layout.tensors.filter { $0.name.hasPrefix(p) }.map(\.offset).min()!
            return BlockFrontiers(
                w2: layout[p + "ffn.w2"]!.offset, w1: layout[p + "ffn.w1"]!.offset,
                ln2: layout[p + "ln2.weight"]?.offset ?? layout[p + "ffn.w1"]!.offset,
                // With attention biases bq, bk, bv (after wo in the layout) are final only with wq,
                // so what wo's backward finishes from the end starts at bo.
                wo: (layout[p + "attn.bo"] ?? layout[p + "attn.wo"]!).offset, wq: layout[p + "attn.wq"]!.offset, start: start)
        }
        let head = layout.tensors.filter { $0.name.hasPrefix("blocks.") }.map(\.range.upperBound).max()!
        return (blocks, head)
    }

    /// Every offset `backward(gradientsReady:)` reports, in the order it reports them (strictly
    /// decreasing, ending at 0). Depends only on the config, so a caller can cut its buckets of the
    /// gradient buffer at these offsets before the first step: a bucket that starts at one of
    /// them is final the moment backward reports it.
    public var gradientFrontiers: [Int] {
        var result: [Int] = []
        func add(_ k: Int) { if result.last.map({ k < $0 }) ?? true { result.append(k) } }
        if backwardFrontiers.head < layout.count { add(backwardFrontiers.head) }
        for l in stride(from: config.layers - 1, through: 0, by: -1) { backwardFrontiers.blocks[l].offsets.forEach(add) }
        add(0)
        return result
    }

    deinit {
        UnsafeMutableRawPointer(parameters.baseAddress!).deallocate()
        UnsafeMutableRawPointer(gradients.baseAddress!).deallocate()
        acts.deallocate()
        if config.positions == .sinusoidal { positionTable?.deallocate() }
    }

    /// Sets every tensor from its `TensorSpec.initializer`: normal(0, 0.02) for matrices and
    /// embeddings, 0.02/√(2L) for wo and w2 (`Initialization.gpt2`), or Glorot's
    /// normal(0, 2/(fan-in + fan-out)) (`.glorot`, the seed preset); LayerNorm weights 1, biases 0. One SplitMix64 stream
    /// over the tensors in layout order, normals from exact arithmetic only, so a seed gives the
    /// same bits on every machine.
    public func initializeParameters(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for spec in layout.tensors {
            let p = parameters.baseAddress! + spec.offset
            switch spec.initializer {
            case let .normal(std):
                for i in 0..<spec.count { p[i] = Float(rng.nextNormal() * Double(std)) }
            case .ones:
                p.update(repeating: 1, count: spec.count)
            case .zeros:
                p.update(repeating: 0, count: spec.count)
            }
        }
    }

    public func zeroGradients() {
        gradients.update(repeating: 0)
    }

    /// The view of tensor `name` in `parameters`, or nil when the config has no such tensor.
    public func parameter(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(rebasing: parameters[$0.range]) }
    }

    /// The view of tensor `name` in `gradients`, or nil when the config has no such tensor.
    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(rebasing: gradients[$0.range]) }
    }

    // MARK: Forward

    /// Runs the model on tokens (B,T) row-major and returns the mean cross-entropy against targets
    /// (B,T): over all B·T positions, or over the B last positions for `LossMode.last`; an
    /// encoder's targets are −1 where it predicts nothing, and the mean is over the others (the
    /// masked positions, `TokenMasking`). B ≤ maxBatch, T ≤ context, tokens and targets in 0..<V.
    /// Saves what `backward` needs.
    public func forward(tokens: UnsafeBufferPointer<Int32>, targets: UnsafeBufferPointer<Int32>, batch B: Int, time T: Int) -> Float {
        forward(tokens: tokens, targets: targets, batch: B, time: T, loss: config.loss)
    }

    /// `forward` with the loss over the positions `loss` names rather than `config.loss`'s
    /// (`explain` takes the last position's loss of any model); `backward` follows it.
    func forward(tokens: UnsafeBufferPointer<Int32>, targets: UnsafeBufferPointer<Int32>, batch B: Int, time T: Int, loss: LossMode) -> Float {
        checkShape(B, T, tokens)
        checkTokens(targets, count: B * T, what: "target", allowIgnored: config.architecture == .encoder)
        let V = config.vocabSize
        let x = forwardToFinalHidden(B: B, T: T, training: true)
        let N: Int
        switch loss {
        case .all:
            N = B * T
            acts.lossTargets.update(from: targets.baseAddress!, count: N)
            outputProjection(acts.logits, hidden: x, ldHidden: config.dim, rows: N)
        case .last:
            N = B
            for b in 0..<B { acts.lossTargets[b] = targets[b * T + T - 1] }
            // Only the last row of each batch row: a strided view of the hidden states.
            outputProjection(acts.logits, hidden: x + (T - 1) * config.dim, ldHidden: T * config.dim, rows: B)
        }
        lastBatch = B
        lastTime = T
        lastLoss = loss
        return crossEntropyForward(probs: acts.probs, logits: acts.logits, targets: acts.lossTargets, N: N, V: V)
    }

    /// Logits of the last position of each row, (B,V), for sampling. The buffer is the model's own
    /// and is valid until the next forward; this overwrites what `backward` would use.
    public func forwardLogits(tokens: UnsafeBufferPointer<Int32>, batch B: Int, time T: Int) -> UnsafeBufferPointer<Float> {
        checkShape(B, T, tokens)
        let x = forwardToFinalHidden(B: B, T: T, training: false)
        outputProjection(acts.logits, hidden: x + (T - 1) * config.dim, ldHidden: T * config.dim, rows: B)
        lastBatch = 0
        return UnsafeBufferPointer(start: acts.logits, count: B * config.vocabSize)
    }

    /// Logits of every position, (B·T,V) row-major, for an encoder's masked positions (fill-mask).
    /// The buffer is the model's own and is valid until the next forward; this overwrites what
    /// `backward` would use.
    public func forwardAllLogits(tokens: UnsafeBufferPointer<Int32>, batch B: Int, time T: Int) -> UnsafeBufferPointer<Float> {
        checkShape(B, T, tokens)
        let x = forwardToFinalHidden(B: B, T: T, training: false)
        outputProjection(acts.logits, hidden: x, ldHidden: config.dim, rows: B * T)
        lastBatch = 0
        return UnsafeBufferPointer(start: acts.logits, count: B * T * config.vocabSize)
    }

    /// Embedding, the blocks and the final LayerNorm; returns the final hidden states (N,C).
    /// `training` also saves what only the backward pass needs (GELU's slope).
    private func forwardToFinalHidden(B: Int, T: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        let w = weights
        embeddingForward(acts.encoded, tokens: acts.tokens, tokEmbedding: w.tokEmbedding, posEmbedding: positionTable,
                         B: B, T: T, C: config.dim)
        var x = acts.encoded
        for (l, a) in acts.blocks.enumerated() {
            x = blockForward(l, x, rows: B * T, into: a.buffers(training: training), attention: .full(qkv: a.qkv, att: a.att, B: B, T: T))
        }
        return layerNorm(acts.lnf, acts.lnfMean, acts.lnfRstd, x, w.lnfWeight, w.lnfBias, N: B * T)
    }

    /// logits (rows,V) = hidden (rows,C; row stride ldHidden) · lm_head (C,V), or · tok_embeddingᵀ when tied.
    func outputProjection(_ logits: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>, ldHidden: Int, rows: Int) {
        let (C, V) = (config.dim, config.vocabSize)
        if let lmHead = weights.lmHead {
            matmul(logits, ldOut: V, hidden, lda: ldHidden, lmHead, ldb: V, m: rows, n: V, k: C)
        } else {
            matmul(logits, ldOut: V, hidden, lda: ldHidden, weights.tokEmbedding, ldb: C, transposeB: true, m: rows, n: V, k: C)
        }
    }

    private func checkShape(_ B: Int, _ T: Int, _ tokens: UnsafeBufferPointer<Int32>) {
        // fatalError rather than precondition: these guard memory safety and must survive -Ounchecked.
        if B < 1 || B > maxBatch || T < 1 || T > config.context {
            fatalError("Model: batch \(B) × time \(T) outside 1...\(maxBatch) × 1...\(config.context)")
        }
        checkTokens(tokens, count: B * T, what: "token")
        acts.tokens.update(from: tokens.baseAddress!, count: B * T)
    }

    private func checkTokens(_ tokens: UnsafeBufferPointer<Int32>, count: Int, what: String, allowIgnored: Bool = false) {
        if tokens.count < count { fatalError("Model: \(tokens.count) \(what)s given, \(count) needed") }
        let V = Int32(config.vocabSize)
        for i in 0..<count where (tokens[i] < 0 || tokens[i] >= V) && !(allowIgnored && tokens[i] == ignoredTarget) {
            fatalError("Model: \(what) \(tokens[i]) at index \(i) is outside the vocabulary 0..<\(V)")
        }
    }
}
