extension Model {
    /// Backpropagates the last `forward`: ADDS d(mean loss)/dW into `gradients`.
    ///
    /// The forward pass's calls in reverse: loss, output projection, ln_f, the blocks last to
    /// first (`blockBackward`), the embeddings. `dx` (N,C) carries the gradient of the residual
    /// stream; each branch adds its input gradient into it, which is the backward of the residual
    /// connection (without residuals the branch writes it instead).
    ///
    /// `gradientsReady`, when given, reports as backward goes which gradients are done, so that a
    /// caller can start all-reducing them while backward goes on. It is called with strictly
    /// decreasing flat offsets k into `gradients`; after the call with k, `gradients[k..<layout.count]`
    /// is final: this backward neither writes nor reads it again, so another thread may all-reduce
    /// it in place while backward goes on. The calls come after the output projection
    /// and ln_f (k = the first offset after the last block); within each block, last block first,
    /// after w2/b2, w1/b1, ln2, wo, wq/wk/wv and ln1 (k = the first offset of what is final, so the
    /// last is the block's first offset; an offset equal to the previous one is not reported again);
    /// and after the embeddings (k = 0, always the last call): exactly `gradientFrontiers`.
    /// With tied embeddings the output projection also adds into tok_embedding (offset 0), which
    /// is therefore final only at 0. The callback runs on the calling thread; nil costs nothing.
    public func backward(gradientsReady: ((Int) -> Void)? = nil) {
        let (B, T, loss) = backwardShape()
        let (C, V) = (config.dim, config.vocabSize)
        let N = B * T
        let (dx, dC) = (acts.dx, acts.dC)
        // The residual stream after block l (l = -1: the embeddings), and the final hidden states.
        func blockOutput(_ l: Int) -> UnsafeMutablePointer<Float> {
            if l < 0 { return acts.encoded }
            return config.residual ? acts.blocks[l].res3 : acts.blocks[l].fcProj
        }
        let xFinal = blockOutput(config.layers - 1)
        let hFinal = config.layerNorm ? acts.lnf : xFinal

        // Loss: dlogits (rows,V) into the logits buffer.
        let lossRows = loss == .all ? N : B
        crossEntropyBackward(dlogits: acts.logits, probs: acts.probs, targets: acts.lossTargets, N: lossRows, V: V)
        // Output projection: dhFinal into dC (then ln_f's backward) or straight into dx.
        let dh = config.layerNorm ? dC : dx
        switch loss {
        case .all:
            outputProjectionBackward(dHidden: dh, ldHidden: C, hidden: hFinal, rows: N)
        case .last:
            dh.update(repeating: 0, count: N * C)
            outputProjectionBackward(dHidden: dh + (T - 1) * C, ldHidden: T * C, hidden: hFinal + (T - 1) * C, rows: B)
        }
        if config.layerNorm {
            dx.update(repeating: 0, count: N * C)
            layerNormBackward(
                dinp: dx, dweight: grads.lnfWeight!, dbias: grads.lnfBias!, dout: dC, inp: xFinal,
                weight: weights.lnfWeight!, mean: acts.lnfMean, rstd: acts.lnfRstd, scratch: acts.dScores, N: N, C: C)
        }
        if let gradientsReady, backwardFrontiers.head < layout.count { gradientsReady(backwardFrontiers.head) }

        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            blockBackward(l, input: blockOutput(l - 1), B: B, T: T, ready: gradientsReady)
        }
        embeddingBackward(
            dTokEmbedding: grads.tokEmbedding, dPosEmbedding: grads.posEmbedding, dout: dx, tokens: acts.tokens, B: B, T: T, C: C)
        gradientsReady?(0)
    }

    /// The backward of `outputProjection`: dW (lm_head, or tok_embedding when tied) += its weight
    /// gradient, and dHidden (rows,C; row stride ldHidden) = dlogits · Wᵀ, from dlogits (rows,V)
    /// in the logits buffer.
    private func outputProjectionBackward(dHidden: UnsafeMutablePointer<Float>, ldHidden: Int, hidden: UnsafePointer<Float>, rows: Int) {
        let (C, V) = (config.dim, config.vocabSize)
        if let lmHead = weights.lmHead {
            matmulBackward(dinp: dHidden, dweight: grads.lmHead!, dbias: nil, dout: acts.logits,
                           inp: hidden, ldInp: ldHidden, weight: lmHead, N: rows, C: C, OC: V)
        } else {
            matmulBackward(dinp: dHidden, dweight: grads.tokEmbedding, dbias: nil, dout: acts.logits,
                           inp: hidden, ldInp: ldHidden, weight: weights.tokEmbedding, transposedWeight: true, N: rows, C: C, OC: V)
        }
    }
}
