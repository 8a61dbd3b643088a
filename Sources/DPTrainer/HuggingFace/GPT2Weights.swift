import DPModel
import Foundation

/// Hugging Face GPT-2's tensors (`GPT2LMHeadModel.state_dict()`) and how each is made of dptrain's
/// (DESIGN.md §3). One table serves import and export, so the two cannot drift apart.
///
/// HF's GPT-2 uses `Conv1D`, whose weight is [in, out] with y = x·W + b — dptrain's layout, so no
/// matrix is transposed. c_attn fuses q, k and v: its weight [C, 3C] is wq | wk | wv side by side
/// (columns 0..<C, C..<2C, 2C..<3C) and its bias [3C] bq | bk | bv. lm_head.weight is a Linear,
/// [V, C], the transpose of dptrain's lm_head [C, V]; with tied embeddings it is wte and absent.
///
///     wte.weight [V,C]                 tok_embedding
///     wpe.weight [T,C]                 pos_embedding
///     h.{i}.ln_1.weight, .bias [C]     blocks.{i}.ln1.weight, .bias
///     h.{i}.attn.c_attn.weight [C,3C]  blocks.{i}.attn.wq | wk | wv
///     h.{i}.attn.c_attn.bias [3C]      blocks.{i}.attn.bq | bk | bv      (zeros without attention biases)
///     h.{i}.attn.c_proj.weight [C,C]   blocks.{i}.attn.wo
///     h.{i}.attn.c_proj.bias [C]       blocks.{i}.attn.bo                (zeros without attention biases)
///     h.{i}.ln_2.weight, .bias [C]     blocks.{i}.ln2.weight, .bias
///     h.{i}.mlp.c_fc.weight [C,F]      blocks.{i}.ffn.w1      .bias [F]  ffn.b1
///     h.{i}.mlp.c_proj.weight [F,C]    blocks.{i}.ffn.w2      .bias [C]  ffn.b2
///     ln_f.weight, .bias [C]           ln_f.weight, .bias
///     lm_head.weight [V,C]             lm_headᵀ                          (untied only)
///
/// All but lm_head.weight carry the prefix "transformer." as `save_pretrained` writes them; the
/// GPT-2 files on the Hugging Face hub have no prefix. The causal-mask buffers h.{i}.attn.bias
/// and h.{i}.attn.masked_bias that older files hold are not weights and are ignored.
public struct GPT2Weights {
    /// One Hugging Face tensor: its name (without the prefix), shape, and the dptrain tensors
    /// laid side by side along its last axis (nil: zeros, a bias the model does not have).
    struct Tensor {
        let name: String
        let shape: [Int]
        let parts: [String?]
        /// lm_head.weight: the single part is stored transposed.
        let transposed: Bool
    }

    let tensors: [Tensor]

    /// The Hugging Face tensors of a GPT-2 with `config`'s sizes.
    init(config: ModelConfig) {
        let (V, T, C, F) = (config.vocabSize, config.context, config.dim, config.ffnDim)
        let bias = config.attentionBias
        var tensors: [Tensor] = []
        func add(_ name: String, _ shape: [Int], _ parts: [String?], transposed: Bool = false) {
            tensors.append(Tensor(name: name, shape: shape, parts: parts, transposed: transposed))
        }
        add("wte.weight", [V, C], ["tok_embedding"])
        add("wpe.weight", [T, C], ["pos_embedding"])
        for i in 0..<config.layers {
            let (h, b) = ("h.\(i).", "blocks.\(i).")
            add(h + "ln_1.weight", [C], [b + "ln1.weight"])
            add(h + "ln_1.bias", [C], [b + "ln1.bias"])
            add(h + "attn.c_attn.weight", [C, 3 * C], [b + "attn.wq", b + "attn.wk", b + "attn.wv"])
            add(h + "attn.c_attn.bias", [3 * C], bias ? [b + "attn.bq", b + "attn.bk", b + "attn.bv"] : [nil, nil, nil])
            add(h + "attn.c_proj.weight", [C, C], [b + "attn.wo"])
            add(h + "attn.c_proj.bias", [C], [bias ? b + "attn.bo" : nil])
            add(h + "ln_2.weight", [C], [b + "ln2.weight"])
            add(h + "ln_2.bias", [C], [b + "ln2.bias"])
            add(h + "mlp.c_fc.weight", [C, F], [b + "ffn.w1"])
            add(h + "mlp.c_fc.bias", [F], [b + "ffn.b1"])
            add(h + "mlp.c_proj.weight", [F, C], [b + "ffn.w2"])
            add(h + "mlp.c_proj.bias", [C], [b + "ffn.b2"])
        }
        add("ln_f.weight", [C], ["ln_f.weight"])
        add("ln_f.bias", [C], ["ln_f.bias"])
        if !config.tiedEmbeddings { add("lm_head.weight", [V, C], ["lm_head"], transposed: true) }
        self.tensors = tensors
    }

    /// The name in a file: "transformer." + name, except lm_head.weight, which has no prefix.
    static func fileName(_ name: String, prefix: String) -> String {
        name == "lm_head.weight" ? name : prefix + name
    }

    /// Whether `name` (prefix removed) is a buffer of older files, not a weight.
    static func isBuffer(_ name: String) -> Bool {
        let parts = name.split(separator: ".")
        return parts.count == 4 && parts[0] == "h" && Int(parts[1]) != nil && parts[2] == "attn"
            && (parts[3] == "bias" || parts[3] == "masked_bias")
    }

    /// Fills `parameters` (laid out as `layout`) from the HF tensors `read` gives (values of the
    /// shape asked for, row-major). Every tensor of `layout` is written.
    func importInto(_ parameters: UnsafeMutableBufferPointer<Float>, layout: ParameterLayout, read: (Tensor) throws -> [Float]) throws {
        var written = Set<String>()
        for tensor in tensors {
            let values = try read(tensor)
            let columns = tensor.shape.last!, rows = values.count / columns
            let width = columns / tensor.parts.count
            for (p, part) in tensor.parts.enumerated() {
                guard let part, let spec = layout[part] else { continue }
                precondition(spec.count == rows * width, "\(part): \(spec.shape) against \(tensor.name) \(tensor.shape)")
                let out = parameters.baseAddress! + spec.offset
                if tensor.transposed {
                    // HF [V,C] → dptrain [C,V]: out[c·V + v] = hf[v·C + c]
                    for r in 0..<rows { for j in 0..<columns { out[j * rows + r] = values[r * columns + j] } }
                } else {
                    for r in 0..<rows { for j in 0..<width { out[r * width + j] = values[r * columns + p * width + j] } }
                }
                written.insert(part)
            }
        }
        let unwritten = layout.tensors.map(\.name).filter { !written.contains($0) }
        precondition(unwritten.isEmpty, "GPT2Weights does not map \(unwritten)")
    }

    /// Every HF tensor's values from `parameters` (laid out as `layout`), row-major.
    func export(_ parameters: UnsafeBufferPointer<Float>, layout: ParameterLayout) -> [(Tensor, [Float])] {
        tensors.map { tensor in
            let columns = tensor.shape.last!, count = tensor.shape.reduce(1, *), rows = count / columns
            let width = columns / tensor.parts.count
            var values = [Float](repeating: 0, count: count)
            for (p, part) in tensor.parts.enumerated() {
                guard let part else { continue }
                guard let spec = layout[part] else { preconditionFailure("the model has no \(part)") }
                let source = parameters.baseAddress! + spec.offset
                if tensor.transposed {
                    for r in 0..<rows { for j in 0..<columns { values[r * columns + j] = source[j * rows + r] } }
                } else {
                    for r in 0..<rows { for j in 0..<width { values[r * columns + p * width + j] = source[r * width + j] } }
                }
            }
            return (tensor, values)
        }
    }
}
