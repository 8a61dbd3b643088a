/// How the training split is cut into micro-batches (DESIGN.md §4).
public enum SamplerKind: String, Codable, Sendable, CaseIterable {
    /// Windows of T+1 tokens at offsets k·T, a fresh permutation of them every epoch.
    case shuffle
    /// llm.c's cursor: micro-batch g starts at token g·W·B·T, wrapping to 0 at the end.
    case sequential
}
