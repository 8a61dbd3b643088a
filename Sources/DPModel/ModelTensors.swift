/// Typed views of one transformer block's tensors in a flat buffer (parameters or gradients).
/// Optional tensors are nil when the configuration has none (no LayerNorm).
struct BlockTensors {
    let ln1Weight, ln1Bias: UnsafeMutablePointer<Float>?
    let wq, wk, wv, wo: UnsafeMutablePointer<Float>
    /// Attention's projection biases (C each), nil without `attentionBias`.
    let bq, bk, bv, bo: UnsafeMutablePointer<Float>?
    let ln2Weight, ln2Bias: UnsafeMutablePointer<Float>?
    let w1, b1, w2, b2: UnsafeMutablePointer<Float>
}

/// Typed views of all tensors of a `ParameterLayout` in one flat buffer, so that parameters and
/// gradients are addressed the same way and the kernels take plain pointers.
struct ModelTensors {
    let tokEmbedding: UnsafeMutablePointer<Float>
    let posEmbedding: UnsafeMutablePointer<Float>?
    let blocks: [BlockTensors]
    let lnfWeight, lnfBias: UnsafeMutablePointer<Float>?
    /// nil when the embeddings are tied (the output projection is tok_embeddingᵀ).
    let lmHead: UnsafeMutablePointer<Float>?

    init(layout: ParameterLayout, layers: Int, base: UnsafeMutablePointer<Float>) {
        func view(_ name: String) -> UnsafeMutablePointer<Float>? {
            layout[name].map { base + $0.offset }
        }
        func required(_ name: String) -> UnsafeMutablePointer<Float> {
            guard let v = view(name) else { fatalError("ParameterLayout has no tensor \(name)") }
            return v
        }
        tokEmbedding = required("tok_embedding")
        posEmbedding = view("pos_embedding")
        blocks = (0..<layers).map { i in
            let p = "blocks.\(i)."
            return BlockTensors(
                ln1Weight: view(p + "ln1.weight"), ln1Bias: view(p + "ln1.bias"),
                wq: required(p + "attn.wq"), wk: required(p + "attn.wk"),
                wv: required(p + "attn.wv"), wo: required(p + "attn.wo"),
                bq: view(p + "attn.bq"), bk: view(p + "attn.bk"), bv: view(p + "attn.bv"), bo: view(p + "attn.bo"),
                ln2Weight: view(p + "ln2.weight"), ln2Bias: view(p + "ln2.bias"),
                w1: required(p + "ffn.w1"), b1: required(p + "ffn.b1"),
                w2: required(p + "ffn.w2"), b2: required(p + "ffn.b2"))
        }
        lnfWeight = view("ln_f.weight")
        lnfBias = view("ln_f.bias")
        lmHead = view("lm_head")
    }
}
