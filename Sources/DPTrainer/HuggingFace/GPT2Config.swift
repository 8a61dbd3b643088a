import DPModel
import Foundation

/// A Hugging Face GPT-2 config.json (`transformers.GPT2Config`), read into and written from a
/// dptrain `ModelConfig`.
///
/// Read: `model_type` must be "gpt2"; `n_layer`, `n_head`, `n_embd`, `n_positions` (or the older
/// `n_ctx`) and `vocab_size` give the sizes, `n_inner` (null: 4·n_embd) the FFN; the rest must
/// be what dptrain computes: `activation_function` gelu_new (GELU's tanh form, which
/// "gelu_pytorch_tanh" also names), `layer_norm_epsilon` 1e-5, `scale_attn_weights` true,
/// `scale_attn_by_inverse_layer_idx` false. `tie_word_embeddings` (default true) says whether
/// lm_head is wte. Dropout settings are ignored: dptrain trains without dropout.
public enum GPT2Config {
    /// GPT-2's LayerNorm epsilon, the one dptrain's LayerNorm uses.
    static let layerNormEpsilon = 1e-5

    /// The dptrain model (the gpt2 preset's wiring) that config.json's bytes describe.
    ///
    /// - Parameter path: config.json's path, for messages.
    /// - Throws: `HuggingFaceError`, one sentence naming config.json and the key at fault.
    public static func model(json: Data, path: String) throws -> ModelConfig {
        guard let object = try? JSONDecoder().decode([String: Value].self, from: json) else {
            throw HuggingFaceError(path: path, "is not a JSON object")
        }
        func present(_ key: String) -> Value? {
            guard let value = object[key], value != .null else { return nil }
            return value
        }
        func integer(_ key: String, or fallback: String? = nil) throws -> Int {
            guard let value = present(key) ?? fallback.flatMap(present) else {
                throw HuggingFaceError(path: path, "has no \"\(key)\", which a GPT-2 config needs")
            }
            guard case .number(let number) = value, let int = Int(exactly: number), int > 0 else {
                throw HuggingFaceError(path: path, "has \"\(key)\": \(value), not a positive integer")
            }
            return int
        }
        func flag(_ key: String, default fallback: Bool) throws -> Bool {
            guard let value = present(key) else { return fallback }
            guard case .bool(let bool) = value else {
                throw HuggingFaceError(path: path, "has \"\(key)\": \(value), not true or false")
            }
            return bool
        }
        func text(_ key: String) -> String? {
            present(key).map { if case .string(let s) = $0 { s } else { "\($0)" } }
        }
        let modelType = text("model_type")
        guard modelType == "gpt2" else {
            throw HuggingFaceError(path: path, "has model_type \(modelType.map { "\"\($0)\"" } ?? "missing"); dptrain imports only GPT-2 (\"gpt2\")")
        }
        let activation = text("activation_function") ?? "gelu_new"
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw HuggingFaceError(path: path, "has activation_function \"\(activation)\"; dptrain computes GELU's tanh form only (gelu_new)")
        }
        if let epsilon = present("layer_norm_epsilon") {
            guard case .number(let value) = epsilon, abs(value - layerNormEpsilon) <= 1e-12 else {
                throw HuggingFaceError(path: path, "has layer_norm_epsilon \(epsilon); dptrain's LayerNorm uses 1e-05")
            }
        }
        guard try flag("scale_attn_weights", default: true) else {
            throw HuggingFaceError(path: path, "has scale_attn_weights false; dptrain's attention always divides by √(head size)")
        }
        guard try !flag("scale_attn_by_inverse_layer_idx", default: false) else {
            throw HuggingFaceError(path: path, "has scale_attn_by_inverse_layer_idx true, which dptrain's attention does not do")
        }
        let dim = try integer("n_embd")
        var config = ModelConfig.gpt2(
            vocabSize: try integer("vocab_size"), context: try integer("n_positions", or: "n_ctx"), dim: dim,
            heads: try integer("n_head"), layers: try integer("n_layer"))
        config.ffnDim = present("n_inner") == nil ? 4 * dim : try integer("n_inner")
        config.tiedEmbeddings = try flag("tie_word_embeddings", default: true)
        do {
            try config.validate()
        } catch {
            throw HuggingFaceError(path: path, "describes a model dptrain cannot build: \(error)")
        }
        return config
    }

    /// One JSON value of config.json, as much of it as the checks need.
    enum Value: Decodable, Equatable, CustomStringConvertible {
        case null, bool(Bool), number(Double), string(String), other

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else { self = .other }
        }

        var description: String {
            switch self {
            case .null: "null"
            case .bool(let b): String(b)
            case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            case .string(let s): "\"\(s)\""
            case .other: "an array or object"
            }
        }
    }

    /// Why `model` cannot be written as a GPT-2 (one sentence), or nil when it can: LayerNorm,
    /// residuals, learned positions and GELU, as GPT-2 has them. Attention biases are optional (a
    /// gpt-preset model exports zero biases), and so is tying (untied: lm_head.weight is written).
    public static func exportProblem(_ model: ModelConfig) -> String? {
        var missing: [String] = []
        if !model.layerNorm { missing.append("LayerNorm") }
        if !model.residual { missing.append("residual connections") }
        if model.positions != .learned { missing.append("learned positions (it has \(model.positions.rawValue))") }
        if model.activation != .gelu { missing.append("GELU (it has \(model.activation.rawValue))") }
        if model.architecture != .decoder { missing.append("causal attention (it is an encoder)") }
        guard !missing.isEmpty else { return nil }
        return "is not GPT-2-shaped, so Hugging Face's GPT2LMHeadModel cannot express it: it lacks "
            + missing.joined(separator: ", ") + "; only gpt and gpt2 preset models export"
    }

    /// config.json for `model` (which `exportProblem` accepts): GPT2LMHeadModel with dptrain's
    /// sizes, no dropout (dptrain trains without), and `<|endoftext|>`'s id as bos/eos when the
    /// tokenizer has one. Keys sorted, so equal models give equal bytes.
    public static func json(_ model: ModelConfig, endOfText: Int?) throws -> Data {
        var object: [String: Any] = [
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "n_layer": model.layers,
            "n_head": model.heads,
            "n_embd": model.dim,
            "n_positions": model.context,
            "n_ctx": model.context,
            "vocab_size": model.vocabSize,
            "n_inner": model.ffnDim == 4 * model.dim ? NSNull() : model.ffnDim as Any,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": layerNormEpsilon,
            "tie_word_embeddings": model.tiedEmbeddings,
            "scale_attn_weights": true,
            "scale_attn_by_inverse_layer_idx": false,
            "reorder_and_upcast_attn": false,
            "attn_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "resid_pdrop": 0.0,
            "summary_first_dropout": 0.0,
            "initializer_range": 0.02,
            "use_cache": true,
            "torch_dtype": "float32",
        ]
        if let endOfText {
            object["bos_token_id"] = endOfText
            object["eos_token_id"] = endOfText
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}

/// A Hugging Face directory or file dptrain cannot import or write: the path and what is wrong
/// with it, one sentence.
public struct HuggingFaceError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path) \(problem)." }
}
