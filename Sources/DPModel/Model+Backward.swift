extension Model {
    /// Backpropagates the last `forward`: ADDS d(mean loss)/dW into `gradients`.
    ///
    /// The forward pass in reverse. `dx` (N,C) carries the gradient of the residual stream; each
    /// branch adds its input gradient into it, which is the backward of the residual connection
    /// (without residuals the branch writes it instead).
    ///
    /// `gradientsReady`, when given, reports as backward goes which gradients are done, so that a
    /// caller can start all-reducing them while backward goes on. It is called with strictly
    /// decreasing flat offsets k into `gradients`; after the call with k, `gradients[k..<layout.count]`
    /// is final: this backward will not write it again. The calls come after the output projection
    /// and ln_f (k = the first offset after the last block), after each block, last block first
    /// (k = that block's first offset), and after the embeddings (k = 0, always the last call).
    /// With tied embeddings the output projection also adds into tok_embedding (offset 0), which
    /// is therefore final only at 0. The callback runs on the calling thread; nil costs nothing.
    public func backward(gradientsReady: ((Int) -> Void)? = nil) {
        let (B, T) = backwardShape()
        let (C, NH, F, V) = (config.dim, config.heads, config.ffnDim, config.vocabSize)
        let N = B * T
        let w = weights, g = grads, a0 = acts
        let dx = a0.dx, dC = a0.dC, dF = a0.dF, dqkv = a0.dqkv
        let hasLN = config.layerNorm

        // Block outputs (the residual stream after each block) and the final hidden states.
        func blockOutput(_ l: Int) -> UnsafeMutablePointer<Float> {
            if l < 0 { return a0.encoded }
            return config.residual ? a0.blocks[l].res3 : a0.blocks[l].fcProj
        }
        let xFinal = blockOutput(config.layers - 1)
        let hFinal = hasLN ? a0.lnf : xFinal

        // Loss and output projection: dlogits (rows,V) into the logits buffer, then dhFinal.
        let lossRows = config.loss == .all ? N : B
        crossEntropyBackward(dlogits: a0.logits, probs: a0.probs, targets: a0.lossTargets, N: lossRows, V: V)
        let dh = hasLN ? dC : dx
        switch config.loss {
        case .all:
            outputProjectionBackward(dHidden: dh, ldHidden: C, hidden: hFinal, rows: N)
        case .last:
            dh.update(repeating: 0, count: N * C)
            outputProjectionBackward(dHidden: dh + (T - 1) * C, ldHidden: T * C, hidden: hFinal + (T - 1) * C, rows: B)
        }
        if hasLN {
            dx.update(repeating: 0, count: N * C)
            layerNormBackward(
                dinp: dx, dweight: g.lnfWeight!, dbias: g.lnfBias!, dout: dC, inp: xFinal,
                weight: w.lnfWeight!, mean: a0.lnfMean, rstd: a0.lnfRstd, scratch: a0.dScores, N: N, C: C)
        }
        if let gradientsReady, backwardFrontiers.head < layout.count { gradientsReady(backwardFrontiers.head) }

        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let a = a0.blocks[l]
            let p = w.blocks[l]
            let d = g.blocks[l]
            let x = blockOutput(l - 1)
            let x2 = config.residual ? a.res2 : a.attProj
            let h1 = hasLN ? a.ln1 : x
            let h2 = hasLN ? a.ln2 : x2

            // FFN branch; dx holds d(block output).
            matmul(d.w2, ldOut: C, a.fcAct, lda: F, transposeA: true, dx, ldb: C, m: F, n: C, k: N, accumulate: true)
            biasBackward(d.b2, dx, m: N, n: C)
            matmul(a0.dFAct, ldOut: F, dx, lda: C, p.w2, ldb: C, transposeB: true, m: N, n: F, k: C)
            switch config.activation {
            case .gelu: geluBackward(dinp: dF, dout: a0.dFAct, slope: a.fcSlope, N: N * F)
            case .relu: reluBackward(dinp: dF, dout: a0.dFAct, inp: a.fc, N: N * F)
            }
            matmul(d.w1, ldOut: F, h2, lda: C, transposeA: true, dF, ldb: F, m: C, n: F, k: N, accumulate: true)
            biasBackward(d.b1, dF, m: N, n: F)
            if hasLN {
                matmul(dC, ldOut: C, dF, lda: F, p.w1, ldb: F, transposeB: true, m: N, n: C, k: F)
                if !config.residual { dx.update(repeating: 0, count: N * C) }
                layerNormBackward(
                    dinp: dx, dweight: d.ln2Weight!, dbias: d.ln2Bias!, dout: dC, inp: x2,
                    weight: p.ln2Weight!, mean: a.ln2Mean, rstd: a.ln2Rstd, scratch: a0.dScores, N: N, C: C)
            } else {
                matmul(dx, ldOut: C, dF, lda: F, p.w1, ldb: F, transposeB: true, m: N, n: C, k: F, accumulate: config.residual)
            }

            // Attention branch; dx holds d(x2).
            matmul(d.wo, ldOut: C, a.attOut, lda: C, transposeA: true, dx, ldb: C, m: C, n: C, k: N, accumulate: true)
            matmul(dC, ldOut: C, dx, lda: C, p.wo, ldb: C, transposeB: true, m: N, n: C, k: C)
            attentionBackward(dqkv: dqkv, scratch: a0.dScores, dout: dC, qkv: a.qkv, att: a.att, B: B, T: T, C: C, NH: NH)
            matmul(d.wq, ldOut: C, h1, lda: C, transposeA: true, dqkv, ldb: 3 * C, m: C, n: C, k: N, accumulate: true)
            matmul(d.wk, ldOut: C, h1, lda: C, transposeA: true, dqkv + C, ldb: 3 * C, m: C, n: C, k: N, accumulate: true)
            matmul(d.wv, ldOut: C, h1, lda: C, transposeA: true, dqkv + 2 * C, ldb: 3 * C, m: C, n: C, k: N, accumulate: true)
            // dh1 = dq·wqᵀ + dk·wkᵀ + dv·wvᵀ
            let dh1 = hasLN ? dC : dx
            let first = hasLN ? false : config.residual
            matmul(dh1, ldOut: C, dqkv, lda: 3 * C, p.wq, ldb: C, transposeB: true, m: N, n: C, k: C, accumulate: first)
            matmul(dh1, ldOut: C, dqkv + C, lda: 3 * C, p.wk, ldb: C, transposeB: true, m: N, n: C, k: C, accumulate: true)
            matmul(dh1, ldOut: C, dqkv + 2 * C, lda: 3 * C, p.wv, ldb: C, transposeB: true, m: N, n: C, k: C, accumulate: true)
            if hasLN {
                if !config.residual { dx.update(repeating: 0, count: N * C) }
                layerNormBackward(
                    dinp: dx, dweight: d.ln1Weight!, dbias: d.ln1Bias!, dout: dC, inp: x,
                    weight: p.ln1Weight!, mean: a.ln1Mean, rstd: a.ln1Rstd, scratch: a0.dScores, N: N, C: C)
            }
            // dx holds d(block input).
            gradientsReady?(backwardFrontiers.blocks[l])
        }
        embeddingBackward(
            dTokEmbedding: g.tokEmbedding, dPosEmbedding: g.posEmbedding, dout: dx, tokens: a0.tokens, B: B, T: T, C: C)
        gradientsReady?(0)
    }

    /// dW (lm_head, or tok_embedding when tied) += the output projection's weight gradient, and
    /// dHidden (rows,C; row stride ldHidden) = dlogits · Wᵀ, from dlogits (rows,V) in the logits buffer.
    private func outputProjectionBackward(dHidden: UnsafeMutablePointer<Float>, ldHidden: Int, hidden: UnsafePointer<Float>, rows: Int) {
        let (C, V) = (config.dim, config.vocabSize)
        let dlogits = acts.logits
        if let lmHead = weights.lmHead {
            // dlm_head (C,V) += hiddenᵀ (C,rows) · dlogits (rows,V)
            matmul(grads.lmHead!, ldOut: V, hidden, lda: ldHidden, transposeA: true, dlogits, ldb: V, m: C, n: V, k: rows, accumulate: true)
            matmul(dHidden, ldOut: ldHidden, dlogits, lda: V, lmHead, ldb: V, transposeB: true, m: rows, n: C, k: V)
        } else {
            // logits = hidden · tokᵀ: dtok (V,C) += dlogitsᵀ (V,rows) · hidden (rows,C)
            matmul(grads.tokEmbedding, ldOut: C, dlogits, lda: V, transposeA: true, hidden, ldb: ldHidden, m: V, n: C, k: rows, accumulate: true)
            matmul(dHidden, ldOut: ldHidden, dlogits, lda: V, weights.tokEmbedding, ldb: C, m: rows, n: C, k: V)
        }
    }
}
