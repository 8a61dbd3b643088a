/// Inference with a key/value cache, and text generation (DESIGN.md §2's model, one position at a
/// time).
///
/// Letters: n new positions, T context, C dim, F FFN dim, V vocab, L layers.
extension Model {
    /// Runs `tokens` (n ≥ 1) at positions cache.count..<cache.count+n, appends their keys and
    /// values to `cache`, and returns the logits (V) after the last of them, equal to
    /// `forwardLogits` on every token the cache holds (up to float summation order).
    ///
    /// Costs the work of n positions: matrix products with n rows (one row when generating),
    /// and attention over the positions so far. The returned buffer is the cache's own and is
    /// valid until its next forward. Allocates nothing.
    public func forwardCached(tokens: UnsafeBufferPointer<Int32>, cache: KVCache) -> UnsafeBufferPointer<Float> {
        let (C, NH, F, V) = (config.dim, config.heads, config.ffnDim, config.vocabSize)
        let n = tokens.count
        let start = cache.count
        // fatalError rather than precondition: these guard memory safety and must survive -Ounchecked.
        if cache.config != config { fatalError("Model.forwardCached: the cache was made for another model config") }
        if n < 1 || start + n > config.context {
            fatalError("Model.forwardCached: \(n) new tokens after \(start) do not fit the context of \(config.context); reset the cache first")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= V {
            fatalError("Model.forwardCached: token \(t) at index \(i) is outside the vocabulary 0..<\(V)")
        }
        let w = weights
        let x = cache.stream
        // x (n,C) = tok_embedding[tokens] + pos_embedding[start..<start+n]
        embeddingForward(x, tokens: tokens.baseAddress!, tokEmbedding: w.tokEmbedding,
                         posEmbedding: w.posEmbedding.map { $0 + start * C }, B: 1, T: n, C: C)
        for l in 0..<config.layers {
            let p = w.blocks[l]
            let keys = cache.keys(layer: l), values = cache.values(layer: l)
            // Attention: the new rows' k and v go straight into the cache.
            let h1 = cachedLayerNorm(cache, x, p.ln1Weight, p.ln1Bias, n: n)
            matmul(cache.query, ldOut: C, h1, lda: C, p.wq, ldb: C, m: n, n: C, k: C)
            matmul(keys + start * C, ldOut: C, h1, lda: C, p.wk, ldb: C, m: n, n: C, k: C)
            matmul(values + start * C, ldOut: C, h1, lda: C, p.wv, ldb: C, m: n, n: C, k: C)
            cachedAttentionForward(cache.attOut, scores: cache.scores, q: cache.query, keys: keys, values: values,
                                   start: start, n: n, C: C, NH: NH)
            matmul(cache.proj, ldOut: C, cache.attOut, lda: C, p.wo, ldb: C, m: n, n: C, k: C)
            cachedResidual(x, cache.proj, count: n * C)
            // FFN
            let h2 = cachedLayerNorm(cache, x, p.ln2Weight, p.ln2Bias, n: n)
            matmul(cache.fc, ldOut: F, h2, lda: C, p.w1, ldb: F, bias: p.b1, m: n, n: F, k: C)
            switch config.activation {
            case .gelu: geluForward(cache.fcAct, slope: nil, cache.fc, N: n * F)
            case .relu: reluForward(cache.fcAct, cache.fc, N: n * F)
            }
            matmul(cache.proj, ldOut: C, cache.fcAct, lda: F, p.w2, ldb: C, bias: p.b2, m: n, n: C, k: F)
            cachedResidual(x, cache.proj, count: n * C)
        }
        cache.count = start + n
        // Only the last row needs the final LayerNorm and the output projection.
        let last = cachedLayerNorm(cache, x + (n - 1) * C, w.lnfWeight, w.lnfBias, n: 1)
        if let lmHead = w.lmHead {
            matmul(cache.logits, ldOut: V, last, lda: C, lmHead, ldb: V, m: 1, n: V, k: C)
        } else {
            matmul(cache.logits, ldOut: V, last, lda: C, w.tokEmbedding, ldb: C, transposeB: true, m: 1, n: V, k: C)
        }
        return UnsafeBufferPointer(start: cache.logits, count: V)
    }

    /// Generates `count` tokens after `prompt`, calling `onToken` with each as soon as it is drawn.
    ///
    /// The model sees at most `context` tokens: the last `context` of the prompt, then a window
    /// that slides by one token per step. With a `cache`, every token within the context costs one
    /// position's work; once the cache is full, each step resets it and re-encodes the last
    /// context − 1 tokens (one batched pass) before the new one, because learned position
    /// embeddings make a rolling cache invalid: every kept token moves to a new position. Without
    /// a cache every step re-runs `forwardLogits` over the whole window (the slow reference).
    /// Both give the logits of `forwardLogits` on the window, so the same tokens up to float
    /// summation order.
    ///
    /// - Precondition: `prompt` is not empty and its tokens are in 0..<V; count ≥ 0.
    public func generate(
        prompt: [Int32], count: Int, sampler: inout TokenSampler, cache: KVCache?,
        onToken: (Int32) throws -> Void
    ) rethrows {
        precondition(!prompt.isEmpty, "Model.generate needs at least one prompt token")
        precondition(count >= 0, "Model.generate: count must be ≥ 0, not \(count)")
        guard count > 0 else { return }
        let T = config.context
        var window = Array(prompt.suffix(T))
        func run(_ tokens: ArraySlice<Int32>) -> UnsafeBufferPointer<Float> {
            tokens.withUnsafeBufferPointer { forwardCached(tokens: $0, cache: cache!) }
        }
        func rerun() -> UnsafeBufferPointer<Float> {
            window.withUnsafeBufferPointer { forwardLogits(tokens: $0, batch: 1, time: window.count) }
        }
        var logits: UnsafeBufferPointer<Float>
        if let cache {
            cache.reset()
            logits = run(window[...])
        } else {
            logits = rerun()
        }
        for i in 0..<count {
            let next = sampler.sample(logits)
            try onToken(next)
            if i == count - 1 { break }
            if window.count == T { window.removeFirst() }
            window.append(next)
            if let cache {
                if cache.count == T {
                    // Slide: the kept tokens move one position down, so their keys change.
                    cache.reset()
                    _ = run(window.dropLast())
                }
                logits = run(window.suffix(1))
            } else {
                logits = rerun()
            }
        }
    }

    /// LN(x) of n rows into the cache's scratch when the config has LayerNorm, else x itself.
    private func cachedLayerNorm(
        _ cache: KVCache, _ x: UnsafeMutablePointer<Float>,
        _ weight: UnsafeMutablePointer<Float>?, _ bias: UnsafeMutablePointer<Float>?, n: Int
    ) -> UnsafeMutablePointer<Float> {
        guard let weight, let bias else { return x }
        layerNormForward(cache.normed, mean: cache.mean, rstd: cache.rstd, x, weight: weight, bias: bias, N: n, C: config.dim)
        return cache.normed
    }

    /// x += fx with residuals, else x = fx (in place: the cache keeps one residual stream).
    private func cachedResidual(_ x: UnsafeMutablePointer<Float>, _ fx: UnsafePointer<Float>, count: Int) {
        if config.residual {
            residualForward(x, x, fx, N: count)
        } else {
            x.update(from: fx, count: count)
        }
    }
}
