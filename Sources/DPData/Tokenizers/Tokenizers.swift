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
    public static func train(_ kind: TokenizerKind, on text: String, vocabSize: Int?) throws -> any Tokenizer {
        switch kind {
        case .char: return CharTokenizer(training: text)
        case .byte: return ByteTokenizer()
        case .word: return try WordTokenizer(training: text, vocabSize: vocabSize)
        case .bpe: return try BPETokenizer(training: text, vocabSize: vocabSize ?? defaultBPEVocabSize)
        }
    }

    /// The tokenizer that `jsonData()` described; with a "mask_token" key, a `MaskTokenizer`
    /// around the base tokenizer the other keys describe.
    public static func load(json: Data) throws -> any Tokenizer {
        struct Header: Decodable {
            let kind: String
            let mask_token: String?
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: json)
        } catch {
            throw DataError.invalidTokenizerJSON("it is not a JSON object with a \"kind\" (it \(jsonProblem(error)))")
        }
        guard let kind = TokenizerKind(rawValue: header.kind) else {
            throw DataError.invalidTokenizerJSON(
                "unknown kind \"\(header.kind)\" (known: \(TokenizerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let mask = header.mask_token, mask != MaskTokenizer.text {
            throw DataError.invalidTokenizerJSON("its mask_token is \(quoted(mask)), not \(quoted(MaskTokenizer.text))")
        }
        do {
            let base: any Tokenizer = switch kind {
            case .char: try CharTokenizer(json: json)
            case .byte: ByteTokenizer()
            case .word: try WordTokenizer(json: json)
            case .bpe: try BPETokenizer(json: json)
            }
            return header.mask_token == nil ? base : MaskTokenizer(base: base)
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError.invalidTokenizerJSON("the \(kind.rawValue) tokenizer \(jsonProblem(error))")
        }
    }

    /// The seed example's word tokenizer: exactly hello=0, world=1, good=2, welcome=3, no `<unk>`.
    public static var seed: any Tokenizer {
        WordTokenizer(words: ["hello", "world", "good", "welcome"], hasUnknown: false)
    }
}
