extension Model {
    /// Runs the model's own forward and backward on one row, `tokens` (T ≤ context) with the loss
    /// −log P[target] at the last position, and returns every intermediate the seed example's
    /// walk-through names (`Explanation`), read from the model's activation buffers and gradients.
    ///
    /// The loss is the last position's whatever `config.loss` says, as in the text. The tensors
    /// the passes do not keep are computed with the same kernels: the scaled scores (the
    /// attention kernel keeps only their softmax), and x_lastᵀ × error and error × W_outᵀ (the
    /// backward writes them into buffers it reuses). The embedding rows' gradients are the
    /// backward's own; with tied embeddings the output projection's share (dW_outᵀ) is taken out.
    ///
    /// Overwrites the activations and ZEROES `gradients`, then leaves this pass's in them.
    /// Allocates the returned arrays (this is not a training path).
    ///
    /// - Throws: `ExplainError` for an empty prompt, one longer than the context, or a token or
    ///   target outside the vocabulary.
    public func explain(tokens: [Int32], target: Int32) throws -> Explanation {
        let (C, NH, F, V) = (config.dim, config.heads, config.ffnDim, config.vocabSize)
        let HS = C / NH
        let T = tokens.count
        if T == 0 { throw ExplainError.emptyPrompt }
        if T > config.context { throw ExplainError.promptTooLong(tokens: T, context: config.context) }
        for t in tokens + [target] where t < 0 || Int(t) >= V {
            throw ExplainError.tokenOutsideVocabulary(token: t, vocabSize: V)
        }
        let targets = [Int32](repeating: 0, count: T - 1) + [target]
        zeroGradients()
        let loss = tokens.withUnsafeBufferPointer { t in
            targets.withUnsafeBufferPointer { y in forward(tokens: t, targets: y, batch: 1, time: T, loss: .last) }
        }
        typealias Tensor = Explanation.Tensor
        let l = config.layers - 1
        let a = acts.blocks[l]
        let blockInput = l == 0 ? acts.encoded : (config.residual ? acts.blocks[l - 1].res3 : acts.blocks[l - 1].fcProj)
        let blockOutput = config.residual ? a.res3 : a.fcProj
        let hidden = config.layerNorm ? acts.lnf : blockOutput

        var tokenRows: [Float] = []
        for t in tokens { tokenRows.append(contentsOf: UnsafeBufferPointer(start: weights.tokEmbedding + Int(t) * C, count: C)) }
        let heads = (0..<NH).map { h -> Explanation.Head in
            let q = a.qkv + h * HS, k = q + C, v = q + 2 * C
            // scores (T,T) = q·kᵀ/√HS, as attentionForward computes them before its softmax.
            var scores = [Float](repeating: 0, count: T * T)
            scores.withUnsafeMutableBufferPointer { s in
                matmul(s.baseAddress!, ldOut: T, q, lda: 3 * C, k, ldb: 3 * C, transposeB: true,
                       m: T, n: T, k: HS, alpha: 1 / Float(HS).squareRoot())
            }
            // A decoder's causal mask; an encoder's attention sees every position.
            if config.architecture == .decoder { for i in 0..<T { for j in (i + 1)..<T { scores[i * T + j] = -.infinity } } }
            return Explanation.Head(
                q: Tensor(q, rows: T, cols: HS, stride: 3 * C), k: Tensor(k, rows: T, cols: HS, stride: 3 * C),
                v: Tensor(v, rows: T, cols: HS, stride: 3 * C), scores: Tensor(rows: T, cols: T, values: scores),
                a: Tensor(a.att + h * T * T, rows: T, cols: T), o: Tensor(a.attOut + h * HS, rows: T, cols: HS, stride: C))
        }
        let xLast = Tensor(hidden + (T - 1) * C, rows: 1, cols: C)
        let logits = Tensor(acts.logits, rows: 1, cols: V)
        let probs = Tensor(acts.probs, rows: 1, cols: V)
        let positions = positionRows(T).map { Tensor($0, rows: T, cols: C) }
        let forwardPart = (
            x: Tensor(acts.encoded, rows: T, cols: C), blockInput: Tensor(blockInput, rows: T, cols: C),
            ln1: config.layerNorm ? Tensor(a.ln1, rows: T, cols: C) : nil,
            concat: Tensor(a.attOut, rows: T, cols: C), attentionOut: Tensor(a.attProj, rows: T, cols: C),
            residual1: config.residual ? Tensor(a.res2, rows: T, cols: C) : nil,
            ln2: config.layerNorm ? Tensor(a.ln2, rows: T, cols: C) : nil,
            ffnPre: Tensor(a.fc, rows: T, cols: F), ffnHidden: Tensor(a.fcAct, rows: T, cols: F),
            ffnOut: Tensor(a.fcProj, rows: T, cols: C), blockOutput: Tensor(blockOutput, rows: T, cols: C))

        backward()
        // With one loss row, crossEntropyBackward leaves P − onehot(target) in the logits buffer.
        let error = Tensor(acts.logits, rows: 1, cols: V)
        var dWOut = [Float](repeating: 0, count: C * V)
        var dx = [Float](repeating: 0, count: C)
        xLast.values.withUnsafeBufferPointer { xl in
            error.values.withUnsafeBufferPointer { e in
                // dW_out (C,V) = x_lastᵀ (C,1) · error (1,V)
                matmul(&dWOut, ldOut: V, xl.baseAddress!, lda: C, transposeA: true, e.baseAddress!, ldb: V, m: C, n: V, k: 1)
                // dx (1,C) = error (1,V) · W_outᵀ; W_out is lm_head (C,V), or tok_embeddingᵀ when tied.
                if let lmHead = weights.lmHead {
                    matmul(&dx, ldOut: C, e.baseAddress!, lda: V, lmHead, ldb: V, transposeB: true, m: 1, n: C, k: V)
                } else {
                    matmul(&dx, ldOut: C, e.baseAddress!, lda: V, weights.tokEmbedding, ldb: C, m: 1, n: C, k: V)
                }
            }
        }
        let embeddingGradients = Set(tokens).sorted().map { t in
            let row = grads.tokEmbedding + Int(t) * C
            let gradient = (0..<C).map { i in config.tiedEmbeddings ? row[i] - dWOut[i * V + Int(t)] : row[i] }
            return Explanation.EmbeddingGradient(token: t, gradient: gradient)
        }
        return Explanation(
            tokens: tokens, target: target, layer: l, tokenEmbedding: Tensor(rows: T, cols: C, values: tokenRows),
            positions: positions, x: forwardPart.x, blockInput: forwardPart.blockInput, ln1: forwardPart.ln1,
            heads: heads, concat: forwardPart.concat, attentionOut: forwardPart.attentionOut,
            residual1: forwardPart.residual1, ln2: forwardPart.ln2, ffnPre: forwardPart.ffnPre,
            ffnHidden: forwardPart.ffnHidden, ffnOut: forwardPart.ffnOut, blockOutput: forwardPart.blockOutput,
            xLast: xLast, logits: logits, probs: probs, loss: loss, error: error,
            dWOut: Tensor(rows: C, cols: V, values: dWOut), dx: Tensor(rows: 1, cols: C, values: dx),
            embeddingGradients: embeddingGradients)
    }

    /// The position rows 0..<T that the embedding adds (T,C), or nil when the model has none.
    func positionRows(_ T: Int) -> UnsafePointer<Float>? {
        positionTable.map { UnsafePointer($0) }
    }
}
