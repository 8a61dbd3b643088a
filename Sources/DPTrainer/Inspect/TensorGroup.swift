/// The part of the model a checkpoint tensor belongs to, by its DESIGN.md §3 name.
public enum TensorGroup: String, CaseIterable, Sendable {
    /// tok_embedding, pos_embedding.
    case embeddings
    /// blocks.{i}.attn.wq, .wk, .wv, .wo.
    case attention
    /// blocks.{i}.ffn.w1, .b1, .w2, .b2.
    case ffn = "FFN"
    /// blocks.{i}.ln1.*, blocks.{i}.ln2.*, ln_f.*.
    case layerNorm = "LayerNorm"
    /// lm_head (absent when tied to tok_embedding).
    case head
    /// Any name dptrain does not write.
    case other

    public init(tensorName name: String) {
        let parts = name.split(separator: ".")
        if name == "tok_embedding" || name == "pos_embedding" {
            self = .embeddings
        } else if name == "lm_head" {
            self = .head
        } else if parts.first == "ln_f" || parts.contains(where: { $0 == "ln1" || $0 == "ln2" }) {
            self = .layerNorm
        } else if parts.first == "blocks" && parts.contains("attn") {
            self = .attention
        } else if parts.first == "blocks" && parts.contains("ffn") {
            self = .ffn
        } else {
            self = .other
        }
    }
}
