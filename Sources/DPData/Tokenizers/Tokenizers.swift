import DPBase
import Foundation

/// Training, loading and the fixed seed tokenizer.
public enum Tokenizers {
    /// The BPE vocabulary size used when none is given.
    public static let defaultBPEVocabSize = 512

    /// A tokenizer of `kind` fitted to `text`.
    ///
    /// - `char`: the sorted set of Unicode scalars in `text`; `vocabSize` is ignored.
    /// - `byte`: always 256 tokens; `text` and `vocabSize` are ignored.
    /// - `word`: words and punctuation by descending frequency, capped at `vocabSize` tokens
    ///   including `<unk>` (nil: every word).
    /// - `bpe`: byte-level BPE with `vocabSize` tokens (nil: `defaultBPEVocabSize`); fewer when
    ///   the text has no pair left that occurs twice.
    /// - `huggingface`: cannot be trained; throws (read one with `loadHuggingFace`).
    public static func train(_ kind: TokenizerKind, on text: String, vocabSize: Int?) throws -> any Tokenizer {
        switch kind {
        case .char: return CharTokenizer(training: text)
        case .byte: return ByteTokenizer()
        case .word: return try WordTokenizer(training: text, vocabSize: vocabSize)
        case .bpe: return try BPETokenizer(training: text, vocabSize: vocabSize ?? defaultBPEVocabSize)
        case .huggingface: throw DataError.invalidArgument(untrainable)
        }
    }

    /// Why `--tokenizer hf-bpe` cannot tokenize a text by itself.
    public static let untrainable = "The hf-bpe tokenizer is read from a Hugging Face tokenizer.json (dptrain import-hf), "
        + "not trained by dptrain; choose one of \(TokenizerKind.trainable.map(\.rawValue).joined(separator: ", ")), "
        + "or start from a checkpoint that holds a Hugging Face tokenizer."

    /// The tokenizer that `jsonData()` described: a dptrain tokenizer.json (with "kind"), or a
    /// Hugging Face tokenizer.json (with "model" and no "kind"), which is how `huggingface`
    /// tokenizers are stored in checkpoints and prepared data; with a "mask_token" key, a
    /// `MaskTokenizer` around the base tokenizer the other keys describe.
    public static func load(json: Data) throws -> any Tokenizer {
        struct Header: Decodable {
            let kind: String?
            let model: Ignored?
            let mask_token: String?
        }
        struct Ignored: Decodable { init(from decoder: any Decoder) throws {} }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: json)
        } catch {
            throw DataError.invalidTokenizerJSON("it is not a JSON object with a \"kind\" (it \(jsonProblem(error)))")
        }
        if let mask = header.mask_token, mask != MaskTokenizer.text {
            throw DataError.invalidTokenizerJSON("its mask_token is \(quoted(mask)), not \(quoted(MaskTokenizer.text))")
        }
        guard let name = header.kind else {
            guard header.model != nil else {
                throw DataError.invalidTokenizerJSON("it is not a JSON object with a \"kind\" (it has no \"kind\")")
            }
            do {
                // The Hugging Face file itself is the JSON without the mask's key.
                let base = try HuggingFaceTokenizer(parsing: header.mask_token == nil ? json : MaskTokenizer.removingKey(from: json))
                return header.mask_token == nil ? base : MaskTokenizer(base: base)
            } catch let problem as HuggingFaceTokenizer.Problem {
                throw DataError.invalidTokenizerJSON("it is a Hugging Face tokenizer.json, but \(problem.reason)")
            }
        }
        guard let kind = TokenizerKind(rawValue: name), kind != .huggingface else {
            throw DataError.invalidTokenizerJSON(
                "unknown kind \"\(name)\" (known: \(TokenizerKind.trainable.map(\.rawValue).joined(separator: ", ")))")
        }
        do {
            let base: any Tokenizer = switch kind {
            case .char: try CharTokenizer(json: json)
            case .byte: ByteTokenizer()
            case .word: try WordTokenizer(json: json)
            case .bpe: try BPETokenizer(json: json)
            case .huggingface: fatalError("unreachable: a Hugging Face tokenizer.json has no \"kind\"")
            }
            return header.mask_token == nil ? base : MaskTokenizer(base: base)
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError.invalidTokenizerJSON("the \(kind.rawValue) tokenizer \(jsonProblem(error))")
        }
    }

    /// The Hugging Face tokenizer in `directory`: its tokenizer.json, or else its vocab.json and
    /// merges.txt (GPT-2's older pair). Errors are one sentence naming the file
    /// (`DataError.huggingFaceTokenizer`, `DataError.io`).
    public static func loadHuggingFace(directory: URL) throws -> HuggingFaceTokenizer {
        let json = directory.appendingPathComponent("tokenizer.json")
        let vocab = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
        if exists(json) {
            return try HuggingFaceTokenizer(tokenizerJSON: readFile(json), path: json.path)
        }
        guard exists(vocab) || exists(merges) else {
            throw DataError.io(path: directory.path, reason: "holds no tokenizer.json, nor vocab.json and merges.txt, so it has no Hugging Face tokenizer")
        }
        for url in [vocab, merges] where !exists(url) {
            throw DataError.io(path: url.path, reason: "is missing; a Hugging Face tokenizer needs tokenizer.json, or vocab.json with merges.txt")
        }
        return try HuggingFaceTokenizer(vocabJSON: readFile(vocab), merges: readFile(merges), vocabPath: vocab.path, mergesPath: merges.path)
    }

    private static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw DataError.io(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }

    /// The seed example's word tokenizer: exactly hello=0, world=1, good=2, welcome=3, no `<unk>`.
    public static var seed: any Tokenizer {
        WordTokenizer(words: ["hello", "world", "good", "welcome"], hasUnknown: false)
    }
}
