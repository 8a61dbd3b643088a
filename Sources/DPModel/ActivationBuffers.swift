/// One block's saved forward activations, sized for N = maxBatch·context rows.
/// Shapes with N = B·T of the current step; buffers are used from their start.
struct BlockActivations {
    let ln1: UnsafeMutablePointer<Float>        // (N,C)
    let ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>  // (N)
    let qkv: UnsafeMutablePointer<Float>        // (N,3C)
    let att: UnsafeMutablePointer<Float>        // (B,NH,T,T) attention probabilities
    let attOut: UnsafeMutablePointer<Float>     // (N,C) heads concatenated, before wo
    let attProj: UnsafeMutablePointer<Float>    // (N,C) after wo
    let res2: UnsafeMutablePointer<Float>       // (N,C) x + attention (with residuals)
    let ln2: UnsafeMutablePointer<Float>        // (N,C)
    let ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>  // (N)
    let fc: UnsafeMutablePointer<Float>         // (N,F) before the activation
    let fcAct: UnsafeMutablePointer<Float>      // (N,F) after it
    let fcSlope: UnsafeMutablePointer<Float>    // (N,F) the activation's derivative (GELU only)
    let fcProj: UnsafeMutablePointer<Float>     // (N,C) after w2, b2
    let res3: UnsafeMutablePointer<Float>       // (N,C) block output (with residuals)
}

/// Every buffer a forward and backward pass needs, carved from one 64-byte aligned allocation
/// made once, so that a training step allocates nothing.
struct ActivationBuffers {
    let encoded: UnsafeMutablePointer<Float>    // (N,C) token + position embedding
    let blocks: [BlockActivations]
    let lnf: UnsafeMutablePointer<Float>        // (N,C)
    let lnfMean, lnfRstd: UnsafeMutablePointer<Float>  // (N)
    let logits: UnsafeMutablePointer<Float>     // (N,V); holds dlogits after backward
    let probs: UnsafeMutablePointer<Float>      // (N,V)
    // Gradient scratch for the backward pass.
    let dx: UnsafeMutablePointer<Float>         // (N,C) gradient of the residual stream
    let dC: UnsafeMutablePointer<Float>         // (N,C)
    let dFAct: UnsafeMutablePointer<Float>      // (N,F) gradient after the FFN activation
    let dF: UnsafeMutablePointer<Float>         // (N,F) gradient before it
    let dqkv: UnsafeMutablePointer<Float>       // (N,3C)
    let dScores: UnsafeMutablePointer<Float>    // (T,T), or 2C for LayerNorm backward
    // Inputs copied at forward, used by backward.
    let tokens: UnsafeMutablePointer<Int32>     // (N)
    let lossTargets: UnsafeMutablePointer<Int32>  // (N) the targets of the loss rows

    private let floats: UnsafeMutableRawPointer
    private let ints: UnsafeMutablePointer<Int32>

    init(config: ModelConfig, maxBatch: Int) {
        let (T, C, F, V, NH) = (config.context, config.dim, config.ffnDim, config.vocabSize, config.heads)
        let N = maxBatch * T
        let perBlock = 10 * N * C + 4 * N + maxBatch * NH * T * T + 3 * N * F
        let total = 2 * N * C + config.layers * perBlock + 2 * N + 2 * N * V + 5 * N * C + 2 * N * F + max(T * T, 2 * C)
        // Every buffer is rounded up to 16 floats, so all stay 64-byte aligned.
        let capacity = total + 16 * (2 + config.layers * 17 + 12)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64)
        memory.initializeMemory(as: Float.self, repeating: 0, count: capacity)
        var cursor = 0
        func take(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = (memory + cursor * 4).assumingMemoryBound(to: Float.self)
            cursor += (count + 15) / 16 * 16
            precondition(cursor <= capacity, "ActivationBuffers: size computation is out of date")
            return p
        }
        floats = memory
        encoded = take(N * C)
        blocks = (0..<config.layers).map { _ in
            BlockActivations(
                ln1: take(N * C), ln1Mean: take(N), ln1Rstd: take(N), qkv: take(N * 3 * C),
                att: take(maxBatch * NH * T * T), attOut: take(N * C), attProj: take(N * C),
                res2: take(N * C), ln2: take(N * C), ln2Mean: take(N), ln2Rstd: take(N),
                fc: take(N * F), fcAct: take(N * F), fcSlope: take(N * F), fcProj: take(N * C), res3: take(N * C))
        }
        lnf = take(N * C)
        lnfMean = take(N)
        lnfRstd = take(N)
        logits = take(N * V)
        probs = take(N * V)
        dx = take(N * C)
        dC = take(N * C)
        dFAct = take(N * F)
        dF = take(N * F)
        dqkv = take(N * 3 * C)
        dScores = take(max(T * T, 2 * C))
        ints = .allocate(capacity: 2 * N)
        ints.initialize(repeating: 0, count: 2 * N)
        tokens = ints
        lossTargets = ints + N
    }

    func deallocate() {
        floats.deallocate()
        ints.deallocate()
    }
}
