/// Every number of one pass of the seed example's walk-through, for one prompt and one target
/// word: the tokens, X, each head's Q, K, V, scores and A = softmax(QKᵀ/√d), O = A·V, the
/// concatenation and its projection by WO, the FFN, x_last, logits, P, the loss −log P[target],
/// the error P − onehot, dW_out = x_lastᵀ × error, dx = error × W_outᵀ and the embedding rows
/// that receive gradient (`Model.explain`).
///
/// Shapes as the text writes them, T × C: T the prompt's tokens, C dim, HS = C/NH a head's width,
/// F the FFN's width, V the vocabulary. For a model of several layers the block tensors are the
/// last layer's (`layer`); the earlier layers' work is in `blockInput`.
public struct Explanation: Sendable, Equatable {
    /// A row-major matrix of `rows` × `cols` floats.
    public struct Tensor: Sendable, Equatable {
        public let rows: Int
        public let cols: Int
        public let values: [Float]

        public init(rows: Int, cols: Int, values: [Float]) {
            precondition(values.count == rows * cols, "Explanation.Tensor: \(values.count) values for \(rows) × \(cols)")
            self.rows = rows
            self.cols = cols
            self.values = values
        }

        /// `rows` × `cols` floats from p, whose rows lie `stride` floats apart.
        init(_ p: UnsafePointer<Float>, rows: Int, cols: Int, stride: Int? = nil) {
            let stride = stride ?? cols
            var values: [Float] = []
            values.reserveCapacity(rows * cols)
            for r in 0..<rows { values.append(contentsOf: UnsafeBufferPointer(start: p + r * stride, count: cols)) }
            self.init(rows: rows, cols: cols, values: values)
        }

        public subscript(row: Int, col: Int) -> Float { values[row * cols + col] }

        /// Row r as an array.
        public func row(_ r: Int) -> [Float] { Array(values[(r * cols)..<((r + 1) * cols)]) }
    }

    /// One attention head: q, k, v (T × HS) are its columns of X·WQ, X·WK, X·WV; scores (T × T)
    /// = q·kᵀ/√HS with −∞ above the diagonal (the causal mask: a token sees itself and the tokens
    /// before it); a (T × T) = softmax of each row of scores; o (T × HS) = a·v.
    public struct Head: Sendable, Equatable {
        public let q, k, v, scores, a, o: Tensor
    }

    /// The gradient that the embedding row of one token of the prompt receives (1 × C): the sum
    /// over the positions it occupies. Rows of tokens not in the prompt receive none through the
    /// input (with tied embeddings they receive dW_outᵀ's share, which is not counted here).
    public struct EmbeddingGradient: Sendable, Equatable {
        public let token: Int32
        public let gradient: [Float]
    }

    /// The prompt's tokens (T) and the target token whose −log P is the loss.
    public let tokens: [Int32]
    public let target: Int32
    /// The layer whose block the tensors below show: the last one.
    public let layer: Int
    /// tok_embedding's rows of the tokens (T × C).
    public let tokenEmbedding: Tensor
    /// The positions' rows added to them (T × C): learned or sinusoidal; nil without positions.
    public let positions: Tensor?
    /// X = token embedding (+ positions) (T × C), the first block's input.
    public let x: Tensor
    /// The explained block's input (T × C): X for one layer, else the previous block's output.
    public let blockInput: Tensor
    /// LN1(block input) (T × C), what WQ, WK and WV read; nil without LayerNorm.
    public let ln1: Tensor?
    public let heads: [Head]
    /// The heads' O side by side (T × C).
    public let concat: Tensor
    /// concat · WO (T × C).
    public let attentionOut: Tensor
    /// block input + attention out (T × C); nil without residuals.
    public let residual1: Tensor?
    /// LN2 of the FFN's input (T × C); nil without LayerNorm.
    public let ln2: Tensor?
    /// The FFN's hidden layer before the activation, h·W1 + b1 (T × F).
    public let ffnPre: Tensor
    /// The hidden layer, ReLU (or GELU) of `ffnPre` (T × F).
    public let ffnHidden: Tensor
    /// hidden · W2 + b2 (T × C).
    public let ffnOut: Tensor
    /// The block's output (T × C): residual1 + ffn out with residuals, else ffn out.
    public let blockOutput: Tensor
    /// The last position's row of the block output, after the final LayerNorm when there is one
    /// (1 × C): what W_out reads.
    public let xLast: Tensor
    /// x_last · W_out (1 × V).
    public let logits: Tensor
    /// P = softmax(logits) (1 × V).
    public let probs: Tensor
    /// −log P[target].
    public let loss: Float
    /// d loss / d logits = P − onehot(target) (1 × V).
    public let error: Tensor
    /// d loss / d W_out = x_lastᵀ × error (C × V).
    public let dWOut: Tensor
    /// d loss / d x_last = error × W_outᵀ (1 × C).
    public let dx: Tensor
    /// The embedding rows of the prompt's distinct tokens with their gradients, in token order.
    public let embeddingGradients: [EmbeddingGradient]
}

/// Why `Model.explain` cannot explain a prompt; `description` is one sentence a user can act on.
public enum ExplainError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)
    case tokenOutsideVocabulary(token: Int32, vocabSize: Int)

    public var description: String {
        switch self {
        case .emptyPrompt:
            return "The prompt has no tokens; give --prompt at least one word of the vocabulary."
        case let .promptTooLong(tokens, context):
            return "The prompt has \(tokens) tokens but the model's context is \(context); shorten --prompt to at most \(context) tokens."
        case let .tokenOutsideVocabulary(token, vocabSize):
            return "Token \(token) is outside the model's vocabulary of \(vocabSize) tokens."
        }
    }
}
