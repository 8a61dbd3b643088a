// One transformer block, forward and backward side by side (DESIGN.md §2):
//
//     x2 = x  + attention(q, k, v) · wo + bo,   q, k, v = LN1(x) · wq + bq, · wk + bk, · wv + bv
//     x3 = x2 + act(LN2(x2) · w1 + b1) · w2 + b2
//
// the attention biases bq, bk, bv, bo only with `attentionBias` (the gpt2 preset); without
// LayerNorm LNi is the identity, without residuals `x +` and `x2 +` are dropped.
// `forward` and `forwardCached` run the same `blockForward`; they differ only in where it writes
// (`BlockBuffers`) and in which positions attention sees (`BlockAttention`).
//
// Letters: N rows (B·T, or the n new positions of a cache), C dim, F FFN dim.

/// Where one block's forward writes, n rows each. `forward` saves every intermediate for the
/// backward pass (`BlockActivations.buffers`); `forwardCached` points them at the cache's scratch,
/// shares one buffer between LN1 and LN2 and between the two projections, and updates the
/// residual stream in place (res2 = res3 = the stream). That sharing is safe because every
/// buffer is read before it is written again; without residuals a block's output stays in the
/// projection buffer, which the next block reads (LN1 or q, k, v) before wo overwrites it.
struct BlockBuffers {
    let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>    // (N,C), (N), (N)
    let attOut: UnsafeMutablePointer<Float>                   // (N,C) heads concatenated, before wo
    let attProj: UnsafeMutablePointer<Float>                  // (N,C) after wo
    let res2: UnsafeMutablePointer<Float>                     // (N,C) x + attention (with residuals)
    let ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>    // (N,C), (N), (N)
    let fc, fcAct: UnsafeMutablePointer<Float>                // (N,F) before and after the activation
    /// (N,F) the activation's derivative, saved for backward (GELU only); nil at inference.
    let fcSlope: UnsafeMutablePointer<Float>?
    let fcProj: UnsafeMutablePointer<Float>                   // (N,C) after w2, b2
    let res3: UnsafeMutablePointer<Float>                     // (N,C) block output (with residuals)
}

/// The positions a block's attention sees.
enum BlockAttention {
    /// B rows of T positions, all computed now: q, k, v into qkv (B·T,3C), the probabilities
    /// into att (B,NH,T,T) for the backward pass.
    case full(qkv: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, B: Int, T: Int)
    /// n new positions after the `start` positions a KV cache holds: q into query (n,C); k and v
    /// appended to the layer's keys and values (T,C) at row `start`; scores holds T floats.
    case cached(query: UnsafeMutablePointer<Float>, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
                scores: UnsafeMutablePointer<Float>, start: Int)
}

extension BlockActivations {
    /// The training forward's buffers: every intermediate saved, GELU's slope when `training`.
    func buffers(training: Bool) -> BlockBuffers {
        BlockBuffers(
            ln1: ln1, ln1Mean: ln1Mean, ln1Rstd: ln1Rstd, attOut: attOut, attProj: attProj, res2: res2,
            ln2: ln2, ln2Mean: ln2Mean, ln2Rstd: ln2Rstd, fc: fc, fcAct: fcAct, fcSlope: training ? fcSlope : nil,
            fcProj: fcProj, res3: res3)
    }
}

extension Model {
    /// Block l on x (N,C); returns the block output (N,C): `out.res3` with residuals, else `out.fcProj`.
    func blockForward(
        _ l: Int, _ x: UnsafeMutablePointer<Float>, rows N: Int, into out: BlockBuffers, attention: BlockAttention
    ) -> UnsafeMutablePointer<Float> {
        let (C, NH, F) = (config.dim, config.heads, config.ffnDim)
        let p = weights.blocks[l]
        // Attention: x2 = x + wo · attention(LN1(x))
        let h1 = layerNorm(out.ln1, out.ln1Mean, out.ln1Rstd, x, p.ln1Weight, p.ln1Bias, N: N)
        let (q, k, v, ldQKV) = switch attention {
        case let .full(qkv, _, _, _): (qkv, qkv + C, qkv + 2 * C, 3 * C)
        case let .cached(query, keys, values, _, start): (query, keys + start * C, values + start * C, C)
        }
        matmul(q, ldOut: ldQKV, h1, lda: C, p.wq, ldb: C, bias: p.bq, m: N, n: C, k: C)
        matmul(k, ldOut: ldQKV, h1, lda: C, p.wk, ldb: C, bias: p.bk, m: N, n: C, k: C)
        matmul(v, ldOut: ldQKV, h1, lda: C, p.wv, ldb: C, bias: p.bv, m: N, n: C, k: C)
        switch attention {
        case let .full(qkv, att, B, T):
            attentionForward(out.attOut, att: att, qkv: qkv, B: B, T: T, C: C, NH: NH, causal: config.architecture == .decoder)
        case let .cached(query, keys, values, scores, start):
            cachedAttentionForward(out.attOut, scores: scores, q: query, keys: keys, values: values, start: start, n: N, C: C, NH: NH)
        }
        matmul(out.attProj, ldOut: C, out.attOut, lda: C, p.wo, ldb: C, bias: p.bo, m: N, n: C, k: C)
        let x2 = residual(out.res2, x, out.attProj, count: N * C)
        // FFN: x3 = x2 + w2 · act(w1 · LN2(x2) + b1) + b2
        let h2 = layerNorm(out.ln2, out.ln2Mean, out.ln2Rstd, x2, p.ln2Weight, p.ln2Bias, N: N)
        matmul(out.fc, ldOut: F, h2, lda: C, p.w1, ldb: F, bias: p.b1, m: N, n: F, k: C)
        switch config.activation {
        case .gelu: geluForward(out.fcAct, slope: out.fcSlope, out.fc, N: N * F)
        case .relu: reluForward(out.fcAct, out.fc, N: N * F)
        }
        matmul(out.fcProj, ldOut: C, out.fcAct, lda: F, p.w2, ldb: C, bias: p.b2, m: N, n: C, k: F)
        return residual(out.res3, x2, out.fcProj, count: N * C)
    }

    /// Backpropagates block l of the last `forward` (B,T), the calls of `blockForward` reversed:
    /// ADDS its weight gradients into `gradients`; on entry dx (N,C) holds d(block output), on
    /// exit d(block input) x. Uses dC, dF, dFAct, dqkv and dScores as scratch.
    func blockBackward(_ l: Int, input x: UnsafePointer<Float>, B: Int, T: Int, ready: ((Int) -> Void)? = nil) {
        let (C, NH, F) = (config.dim, config.heads, config.ffnDim)
        let N = B * T
        let (a, p, d) = (acts.blocks[l], weights.blocks[l], grads.blocks[l])
        let (dx, dC, dqkv) = (acts.dx, acts.dC, acts.dqkv)
        let (hasLN, hasResidual) = (config.layerNorm, config.residual)
        let x2 = hasResidual ? a.res2 : a.attProj
        let h1 = hasLN ? UnsafePointer(a.ln1) : x
        let h2 = hasLN ? a.ln2 : x2
        let frontiers = backwardFrontiers.blocks[l]
        var reported = Int.max
        // Reports `gradients[k...]` final (see `backward(gradientsReady:)`), once per offset.
        func final(_ k: Int) {
            guard let ready, k < reported else { return }
            reported = k
            ready(k)
        }

        // FFN; dx holds d(x3). With residuals x3 = x2 + ffn(x2), so dx already holds the skip's
        // share of d(x2) and the branch adds its own; without, the branch writes d(x2).
        matmulBackward(dinp: acts.dFAct, dweight: d.w2, dbias: d.b2, dout: dx, inp: a.fcAct, weight: p.w2, N: N, C: F, OC: C)
        final(frontiers.w2)
        switch config.activation {
        case .gelu: geluBackward(dinp: acts.dF, dout: acts.dFAct, slope: a.fcSlope, N: N * F)
        case .relu: reluBackward(dinp: acts.dF, dout: acts.dFAct, inp: a.fc, N: N * F)
        }
        matmulBackward(dinp: hasLN ? dC : dx, dweight: d.w1, dbias: d.b1, dout: acts.dF, inp: h2, weight: p.w1,
                       N: N, C: C, OC: F, accumulateInput: !hasLN && hasResidual)
        final(frontiers.w1)
        if hasLN { blockLayerNormBackward(2, l, dout: dC, inp: x2, N: N) }
        final(frontiers.ln2)

        // Attention; dx holds d(x2).
        matmulBackward(dinp: dC, dweight: d.wo, dbias: d.bo, dout: dx, inp: a.attOut, weight: p.wo, N: N, C: C, OC: C)
        final(frontiers.wo)
        attentionBackward(dqkv: dqkv, scratch: acts.dScores, dout: dC, qkv: a.qkv, att: a.att, B: B, T: T, C: C, NH: NH,
                          causal: config.architecture == .decoder)
        // dh1 = dq·wqᵀ + dk·wkᵀ + dv·wvᵀ
        let dh1 = hasLN ? dC : dx
        let first = !hasLN && hasResidual
        matmulBackward(dinp: dh1, dweight: d.wq, dbias: d.bq, dout: dqkv, ldOut: 3 * C, inp: h1, weight: p.wq,
                       N: N, C: C, OC: C, accumulateInput: first)
        matmulBackward(dinp: dh1, dweight: d.wk, dbias: d.bk, dout: dqkv + C, ldOut: 3 * C, inp: h1, weight: p.wk,
                       N: N, C: C, OC: C, accumulateInput: true)
        matmulBackward(dinp: dh1, dweight: d.wv, dbias: d.bv, dout: dqkv + 2 * C, ldOut: 3 * C, inp: h1, weight: p.wv,
                       N: N, C: C, OC: C, accumulateInput: true)
        final(frontiers.wq)
        if hasLN { blockLayerNormBackward(1, l, dout: dC, inp: x, N: N) }
        final(frontiers.start)
    }

    /// dx (N,C) gets the input gradient of block l's LayerNorm `ln` (1 or 2) from dout: added to
    /// the skip's share with residuals, written without; its weight and bias gradients are added.
    private func blockLayerNormBackward(_ ln: Int, _ l: Int, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, N: Int) {
        let (a, p, d) = (acts.blocks[l], weights.blocks[l], grads.blocks[l])
        if !config.residual { acts.dx.update(repeating: 0, count: N * config.dim) }
        let (dweight, dbias, weight, mean, rstd) = ln == 1
            ? (d.ln1Weight!, d.ln1Bias!, p.ln1Weight!, a.ln1Mean, a.ln1Rstd)
            : (d.ln2Weight!, d.ln2Bias!, p.ln2Weight!, a.ln2Mean, a.ln2Rstd)
        layerNormBackward(
            dinp: acts.dx, dweight: dweight, dbias: dbias, dout: dout, inp: inp,
            weight: weight, mean: mean, rstd: rstd, scratch: acts.dScores, N: N, C: config.dim)
    }

    /// LN(x) into out when the config has LayerNorm (weight and bias present), else x itself.
    func layerNorm(
        _ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
        _ x: UnsafeMutablePointer<Float>, _ weight: UnsafeMutablePointer<Float>?, _ bias: UnsafeMutablePointer<Float>?, N: Int
    ) -> UnsafeMutablePointer<Float> {
        guard let weight, let bias else { return x }
        layerNormForward(out, mean: mean, rstd: rstd, x, weight: weight, bias: bias, N: N, C: config.dim)
        return out
    }

    /// x + f(x) into out with residuals (out may be x itself), else f(x) itself.
    func residual(
        _ out: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ fx: UnsafeMutablePointer<Float>, count: Int
    ) -> UnsafeMutablePointer<Float> {
        guard config.residual else { return fx }
        residualForward(out, x, fx, N: count)
        return out
    }
}

/// Where block l's gradients become final as its backward goes, in the order it finishes them:
/// after w2 (and b2) all from w2's offset on, after w1 (and b1) from w1's, after ln2 from ln2's
/// (w1's without LayerNorm), after wo from wo's, after wq, wk, wv from wq's, after ln1 from the
/// block's first offset.
struct BlockFrontiers: Sendable {
    let w2, w1, ln2, wo, wq, start: Int
    /// Decreasing; equal neighbours (no LayerNorm) kept, `backward` reports each once.
    var offsets: [Int] { [w2, w1, ln2, wo, wq, start] }
}
