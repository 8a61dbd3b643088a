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
        let (C, V) = (config.dim, config.vocabSize)
        let n = tokens.count
        let start = cache.count
        // fatalError rather than precondition: these guard memory safety and must survive -Ounchecked.
        if cache.config != config { fatalError("Model.forwardCached: the cache was made for another model config") }
        if config.architecture == .encoder { fatalError("Model.forwardCached: an encoder's attention is bidirectional; only a decoder generates") }
        if n < 1 || start + n > config.context {
            fatalError("Model.forwardCached: \(n) new tokens after \(start) do not fit the context of \(config.context); reset the cache first")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= V {
            fatalError("Model.forwardCached: token \(t) at index \(i) is outside the vocabulary 0..<\(V)")
        }
        // x (n,C) = tok_embedding[tokens] + positions[start..<start+n] (learned or sinusoidal)
        embeddingForward(cache.stream, tokens: tokens.baseAddress!, tokEmbedding: weights.tokEmbedding,
                         posEmbedding: positionTable.map { $0 + start * C }, B: 1, T: n, C: C)
        // The blocks write into the cache's scratch and update the stream in place; attention
        // appends the new rows' k and v to the cache.
        let scratch = BlockBuffers(
            ln1: cache.normed, ln1Mean: cache.mean, ln1Rstd: cache.rstd, attOut: cache.attOut, attProj: cache.proj,
            res2: cache.stream, ln2: cache.normed, ln2Mean: cache.mean, ln2Rstd: cache.rstd,
            fc: cache.fc, fcAct: cache.fcAct, fcSlope: nil, fcProj: cache.proj, res3: cache.stream)
        var x = cache.stream
        for l in 0..<config.layers {
            let attention = BlockAttention.cached(
                query: cache.query, keys: cache.keys(layer: l), values: cache.values(layer: l), scores: cache.scores, start: start)
            x = blockForward(l, x, rows: n, into: scratch, attention: attention)
        }
        cache.count = start + n
        // Only the last row needs the final LayerNorm and the output projection.
        let last = layerNorm(cache.normed, cache.mean, cache.rstd, x + (n - 1) * C, weights.lnfWeight, weights.lnfBias, N: 1)
        outputProjection(cache.logits, hidden: last, ldHidden: C, rows: 1)
        return UnsafeBufferPointer(start: cache.logits, count: V)
    }

    /// Generates `count` tokens after `prompt`, calling `onToken` with each as soon as it is drawn.
    ///
    /// The model sees at most `context` tokens: the last `context` of the prompt, then a window
    /// that slides by one token per step. With a `cache`, every token within the context costs one
    /// position's work; once the cache is full, each step resets it and re-encodes the window,
    /// the kept context − 1 tokens and the new one (one batched pass), because learned position
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
                    // Slide: the kept tokens move one position down, so their keys change; the
                    // window is re-encoded in one pass with the new token.
                    cache.reset()
                    logits = run(window[...])
                } else {
                    logits = run(window.suffix(1))
                }
            } else {
                logits = rerun()
            }
        }
    }
}
