/// The keys and values of the positions a model has seen so far, per layer, and the scratch of
/// the cached forward pass (`Model.forwardCached`), so that generating one more token costs one
/// position's work instead of a re-run over the whole context.
///
/// Shapes (T = context, C = dim, F = ffnDim, V = vocabSize, L = layers): keys and values are
/// (L,T,C), row t of layer l holding position t's k and v (head h in columns h·HS..<(h+1)·HS).
/// The scratch holds up to T new rows. Everything is one allocation made in `init`.
///
/// Positions are absolute (learned position embeddings), so the cache cannot roll: when it is
/// full the caller resets it and re-encodes the tokens it keeps (`Model.generate` keeps the last
/// context − 1).
public final class KVCache {
    public let config: ModelConfig
    /// Positions held, 0...capacity; the next token goes to position `count`.
    public internal(set) var count = 0
    /// The most positions the cache holds: the model's context.
    public var capacity: Int { config.context }

    let keys: UnsafeMutablePointer<Float>       // (L,T,C)
    let values: UnsafeMutablePointer<Float>     // (L,T,C)
    // Scratch for n ≤ T new rows.
    let stream: UnsafeMutablePointer<Float>     // (n,C) the residual stream (without residuals the blocks' outputs stay in proj)
    let normed: UnsafeMutablePointer<Float>     // (n,C) LayerNorm output
    let query: UnsafeMutablePointer<Float>      // (n,C)
    let attOut: UnsafeMutablePointer<Float>     // (n,C) heads concatenated, before wo
    let proj: UnsafeMutablePointer<Float>       // (n,C) after wo, or after w2
    let fc: UnsafeMutablePointer<Float>         // (n,F) before the activation
    let fcAct: UnsafeMutablePointer<Float>      // (n,F) after it
    let mean, rstd: UnsafeMutablePointer<Float> // (n) LayerNorm statistics (unused afterwards)
    let scores: UnsafeMutablePointer<Float>     // (T) one attention row
    let logits: UnsafeMutablePointer<Float>     // (V) of the last new row

    private let memory: UnsafeMutableRawPointer

    /// An empty cache for models of `config`.
    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        let (T, C, F, V, L) = (config.context, config.dim, config.ffnDim, config.vocabSize, config.layers)
        let sizes = [L * T * C, L * T * C, T * C, T * C, T * C, T * C, T * C, T * F, T * F, T, T, T, V]
        // Every buffer rounded up to 16 floats, so all stay 64-byte aligned.
        let rounded = sizes.map { ($0 + 15) / 16 * 16 }
        let total = rounded.reduce(0, +)
        memory = UnsafeMutableRawPointer.allocate(byteCount: total * 4, alignment: 64)
        memory.initializeMemory(as: Float.self, repeating: 0, count: total)
        var cursor = 0
        var buffers: [UnsafeMutablePointer<Float>] = []
        for size in rounded {
            buffers.append((memory + cursor * 4).assumingMemoryBound(to: Float.self))
            cursor += size
        }
        (keys, values, stream, normed, query, attOut, proj) =
            (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5], buffers[6])
        (fc, fcAct, mean, rstd, scores, logits) = (buffers[7], buffers[8], buffers[9], buffers[10], buffers[11], buffers[12])
    }

    deinit { memory.deallocate() }

    /// Forgets every position (the next token goes to position 0).
    public func reset() { count = 0 }

    /// Layer l's keys (T,C).
    func keys(layer l: Int) -> UnsafeMutablePointer<Float> { keys + l * config.context * config.dim }

    /// Layer l's values (T,C).
    func values(layer l: Int) -> UnsafeMutablePointer<Float> { values + l * config.context * config.dim }
}
