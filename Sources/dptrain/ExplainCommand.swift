import ArgumentParser
import DPBase
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

/// `dptrain explain`: the seed example's walk-through — embedding, attention, FFN, output,
/// softmax, loss, backprop — with a model's real numbers (`Model.explain`), as text or JSON.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk through one forward and backward pass of a model, every number shown.",
        discussion: """
            Follows the seed example section by section for --prompt and the next word --target: \
            the tokens; X, the embedding rows (plus positions); for each attention head Q, K, V, the \
            scores QKᵀ/√d with the causal mask (none for an encoder, whose prompt may hold [MASK] \
            and whose --target is then the masked word at the last position), A = softmax(scores) and O = A·V; the heads' \
            concatenation and its projection by WO; the FFN's hidden ReLU layer and its output; \
            x_last, the last position's row; logits = x_last·W_out; P = softmax(logits); the loss \
            −log P[target]; the error P − onehot(target); dW_out = x_lastᵀ × error; dx = error × \
            W_outᵀ; and the embedding rows that receive gradient. Each with its shape (tokens × \
            dim). For a model of several layers (the gpt preset) the block shown is the last one, \
            with its LayerNorms and residuals. Without --checkpoint the model is the seed preset's \
            at initialization (--seed), and --embedding one-hot gives it the text's one-hot \
            embedding table. The numbers are the model's own forward and backward pass. Runs as one \
            process.
            """)

    /// Where the token embedding comes from.
    enum Embedding: String, ExpressibleByArgument, CaseIterable {
        /// The model's own tok_embedding (initialized or trained).
        case weights
        /// The text's table: token i is the i-th unit vector (needs vocabulary = dim).
        case oneHot = "one-hot"
    }

    @Option(help: ArgumentHelp(
        "A checkpoint directory, OUT/checkpoints, or a run's --out directory. (default: the seed preset's initial weights)",
        valueName: "path"))
    var checkpoint: String?

    @Option(help: "The input text, at most the model's context in tokens.")
    var prompt = "hello world"

    @Option(help: "The next word the loss is measured against: one token of the vocabulary.")
    var target = "welcome"

    @Flag(help: "Print one JSON object with every tensor instead of the text.")
    var json = false

    @Option(help: "weights (the model's own) or one-hot (the text's table; only without --checkpoint).")
    var embedding: Embedding = .weights

    @Option(parsing: .unconditional, help: "Seed of the initial weights when there is no --checkpoint.")
    var seed: UInt64 = TrainingConfig.seedDefaults.seed

    func validate() throws {
        if checkpoint != nil && embedding == .oneHot {
            throw ValidationError("--embedding one-hot replaces the seed preset's initial embedding; it takes no --checkpoint.")
        }
    }

    func run() throws {
        guard Launcher.rank(environment: ProcessInfo.processInfo.environment) == 0 else { return }
        do {
            let (model, tokenizer) = try load()
            let tokens = try encode(prompt, tokenizer, what: "--prompt")
            let targetTokens = try encode(target, tokenizer, what: "--target")
            guard targetTokens.count == 1 else {
                throw ConfigError("--target must be one token of the \(tokenizer.kind.rawValue) tokenizer, but \(quoted(target)) is \(targetTokens.count) tokens.")
            }
            let explanation = try model.explain(tokens: tokens, target: targetTokens[0])
            let words = (0..<Int32(model.config.vocabSize)).map { tokenizer.decode([$0]) }
            let report = ExplainReport(explanation, config: model.config, words: words)
            if json {
                print(try report.json())
            } else {
                for line in report.text(source: checkpoint.map { "checkpoint \($0)" }
                                        ?? "the seed preset's initial weights (seed \(seed)\(embedding == .oneHot ? ", one-hot embedding" : ""))") {
                    print(line)
                }
            }
        } catch let error as ExplainError {
            printError("dptrain: error: \(error)")
            throw ExitCode.failure
        } catch let error as ConfigError {
            printError("dptrain: error: \(error)")
            throw ExitCode.failure
        } catch let error as CheckpointError {
            printError("dptrain: error: \(error)" + (error.problem.hasSuffix(".") ? "" : "."))
            throw ExitCode.failure
        }
    }

    /// The checkpoint's model and tokenizer, or the seed preset's at initialization.
    private func load() throws -> (Model, any Tokenizer) {
        guard let checkpoint else {
            var config = ModelConfig.seed
            config.vocabSize = Tokenizers.seed.vocabSize
            let model = try Model(config: config, maxBatch: 1)
            model.initializeParameters(seed: seed)
            if embedding == .oneHot {
                let table = model.parameter("tok_embedding")!
                table.update(repeating: 0)
                for i in 0..<config.vocabSize { table[i * config.dim + i] = 1 }
            }
            return (model, Tokenizers.seed)
        }
        let url = URL(fileURLWithPath: checkpoint)
        let restore = try Restore.read(path: url, out: url)
        return (try restore.makeModel(maxBatch: 1), try Tokenizers.load(json: restore.tokenizerJSON))
    }

    private func encode(_ text: String, _ tokenizer: any Tokenizer, what: String) throws -> [Int32] {
        do {
            return try tokenizer.encode(text)
        } catch DataError.unknownCharacter(let character, let offset) {
            throw ConfigError("\(what)'s character \(quoted(character)) (at character \(offset)) is not in the \(tokenizer.kind.rawValue) tokenizer's vocabulary.")
        } catch DataError.unknownWord(let word) {
            let known = tokenizer.vocabSize <= 16
                ? " (" + (0..<Int32(tokenizer.vocabSize)).map { tokenizer.decode([$0]) }.joined(separator: ", ") + ")" : ""
            throw ConfigError("\(what)'s word \(quoted(word)) is not in the vocabulary\(known).")
        }
    }
}

/// An `Explanation` as the text's sections (`text`) or one JSON object (`json`).
struct ExplainReport {
    let e: Explanation
    let config: ModelConfig
    /// Each token's text, by id.
    let words: [String]

    init(_ e: Explanation, config: ModelConfig, words: [String]) {
        self.e = e
        self.config = config
        self.words = words
    }

    private func word(_ t: Int32) -> String { words.indices.contains(Int(t)) ? words[Int(t)] : "#\(t)" }

    /// "2 × 4"
    private func shape(_ t: Explanation.Tensor) -> String { "\(t.rows) × \(t.cols)" }

    /// A matrix, one line per row, rows labelled by `labels` when given.
    private func matrix(_ t: Explanation.Tensor, labels: [String]? = nil, indent: String = "    ") -> [String] {
        let width = labels?.map(\.count).max() ?? 0
        return (0..<t.rows).map { r in
            let label = labels.map { $0[r].padding(toLength: width, withPad: " ", startingAt: 0) + "  " } ?? ""
            let cells = t.row(r).map { v in v == -.infinity ? "     -∞" : String(format: "%7.4f", v) }
            return indent + label + "[" + cells.joined(separator: " ") + " ]"
        }
    }

    private func section(_ title: String, _ t: Explanation.Tensor, labels: [String]? = nil, note: String? = nil) -> [String] {
        ["", "\(title)  (\(shape(t)))" + (note.map { "  — " + $0 } ?? "")] + matrix(t, labels: labels)
    }

    func text(source: String) -> [String] {
        let T = e.tokens.count
        let rows = e.tokens.map(word)
        let vocab = words
        let lastLayer = config.layers > 1 ? " (layer \(e.layer + 1) of \(config.layers))" : ""
        var out = ["dptrain explain: \(source)"]
        out += ["", "Tokens  (\(T))", "    " + e.tokens.map { "\(word($0)) = \($0)" }.joined(separator: ", ")
                + "; target: \(word(e.target)) = \(e.target)"]
        out += section("Embedding rows E[tokens]", e.tokenEmbedding, labels: rows)
        if let positions = e.positions {
            out += section("Positions", positions, labels: (0..<T).map { "pos \($0)" },
                           note: config.positions == .sinusoidal ? "the fixed sin/cos table" : "learned pos_embedding rows")
        }
        out += section("X = E[tokens]" + (e.positions == nil ? "" : " + positions"), e.x, labels: rows,
                       note: "tokens × dim")
        if config.layers > 1 { out += section("Input of the last block\(lastLayer)", e.blockInput, labels: rows) }
        if let ln1 = e.ln1 { out += section("LN1(x): what WQ, WK, WV read", ln1, labels: rows) }
        let HS = config.headSize
        for (h, head) in e.heads.enumerated() {
            out += ["", "Attention head \(h + 1) of \(e.heads.count)\(lastLayer): columns \(h * HS)..<\((h + 1) * HS) of the projections"]
            out += section("  Q = X·WQ", head.q, labels: rows)
            out += section("  K = X·WK", head.k, labels: rows)
            out += section("  V = X·WV", head.v, labels: rows)
            out += section("  scores = Q·Kᵀ/√\(HS)", head.scores, labels: rows, note: config.architecture == .decoder
                               ? "-∞: the causal mask (a token sees itself and earlier ones)"
                               : "no mask: an encoder's token sees every token")
            out += section("  A = softmax(scores)", head.a, labels: rows, note: "each row sums to 1")
            out += section("  O = A·V", head.o, labels: rows)
        }
        out += section("Concatenation of the heads", e.concat, labels: rows)
        out += section("Attention output = concat·WO", e.attentionOut, labels: rows)
        if let residual1 = e.residual1 { out += section("Residual: x + attention output", residual1, labels: rows) }
        if let ln2 = e.ln2 { out += section("LN2: what W1 reads", ln2, labels: rows) }
        let act = config.activation == .relu ? "ReLU" : "GELU"
        out += section("FFN hidden = \(act)(h·W1 + b1)", e.ffnHidden, labels: rows)
        out += section("FFN output = hidden·W2 + b2", e.ffnOut, labels: rows)
        if config.residual { out += section("Block output: residual + FFN output", e.blockOutput, labels: rows) }
        out += section("x_last: the last token's row" + (config.layerNorm ? ", after the final LayerNorm" : ""), e.xLast)
        out += section("logits = x_last·W_out", e.logits, note: vocab.joined(separator: " "))
        out += section("P = softmax(logits)", e.probs, note: vocab.joined(separator: " "))
        out += ["", "Loss = −log P[\(word(e.target))] = −log \(String(format: "%.4f", e.probs.values[Int(e.target)])) = \(String(format: "%.4f", e.loss))"]
        out += section("error = P − onehot(\(word(e.target)))", e.error, note: "d loss / d logits")
        out += section("dW_out = x_lastᵀ × error", e.dWOut, note: "dim × vocab")
        out += section("dx = error × W_outᵀ", e.dx, note: "d loss / d x_last, carried back through the FFN and attention")
        out += ["", "Embedding rows that receive gradient: " + e.embeddingGradients.map { word($0.token) }.joined(separator: ", ")
                + " (the prompt's tokens; the others get none" + (config.tiedEmbeddings ? " through the input" : "") + ")"]
        for g in e.embeddingGradients {
            out += matrix(Explanation.Tensor(rows: 1, cols: g.gradient.count, values: g.gradient), labels: ["dE[\(word(g.token))]"])
        }
        out += ["", "Gradient descent then updates every weight: W = W − lr·grad."]
        return out
    }

    /// One JSON object: tokens, X, heads[{Q,K,V,scores,A,O}], concat, attention_out, ffn_hidden,
    /// ffn_out, x_last, logits, P, loss, error, dW_out, dx, and the rest of the walk-through.
    /// Matrices are arrays of rows; the masked scores are null.
    func json() throws -> String {
        struct Head: Encodable { let Q, K, V: [[Float]]; let scores: [[Float?]]; let A, O: [[Float]] }
        struct Row: Encodable { let token: Int32; let word: String; let gradient: [Float] }
        struct Object: Encodable {
            let tokens: [Int32]; let words: [String]; let target: Int32; let vocabulary: [String]; let layer: Int
            let token_embedding: [[Float]]; let positions: [[Float]]?; let X: [[Float]]; let block_input: [[Float]]
            let ln1: [[Float]]?; let heads: [Head]; let concat: [[Float]]; let attention_out: [[Float]]
            let residual: [[Float]]?; let ln2: [[Float]]?; let ffn_pre: [[Float]]; let ffn_hidden: [[Float]]
            let ffn_out: [[Float]]; let block_output: [[Float]]; let x_last: [Float]; let logits: [Float]; let P: [Float]
            let loss: Float; let error: [Float]; let dW_out: [[Float]]; let dx: [Float]; let embedding_gradients: [Row]
        }
        func m(_ t: Explanation.Tensor) -> [[Float]] { (0..<t.rows).map(t.row) }
        let object = Object(
            tokens: e.tokens, words: e.tokens.map(word), target: e.target, vocabulary: words, layer: e.layer,
            token_embedding: m(e.tokenEmbedding), positions: e.positions.map(m), X: m(e.x), block_input: m(e.blockInput),
            ln1: e.ln1.map(m),
            heads: e.heads.map { h in
                Head(Q: m(h.q), K: m(h.k), V: m(h.v), scores: m(h.scores).map { $0.map { $0.isFinite ? $0 : nil } }, A: m(h.a), O: m(h.o))
            },
            concat: m(e.concat), attention_out: m(e.attentionOut), residual: e.residual1.map(m), ln2: e.ln2.map(m),
            ffn_pre: m(e.ffnPre), ffn_hidden: m(e.ffnHidden), ffn_out: m(e.ffnOut), block_output: m(e.blockOutput),
            x_last: e.xLast.values, logits: e.logits.values, P: e.probs.values, loss: e.loss, error: e.error.values,
            dW_out: m(e.dWOut), dx: e.dx.values,
            embedding_gradients: e.embeddingGradients.map { Row(token: $0.token, word: word($0.token), gradient: $0.gradient) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(object), as: UTF8.self)
    }
}
