import Foundation

/// The tokenizers dptrain knows; the raw value is the name used on the command line and in
/// tokenizer.json's "kind". The first four dptrain trains (`trainable`); `huggingface` is read
/// from a Hugging Face tokenizer.json (`Tokenizers.loadHuggingFace`), which is also how it is
/// stored (that file has no "kind").
public enum TokenizerKind: String, Codable, Sendable, CaseIterable {
    /// One token per Unicode scalar seen in the training text (nanoGPT's shakespeare_char).
    case char
    /// One token per byte value (256 tokens); encodes any text.
    case byte
    /// Words and punctuation, capped by frequency, with `<unk>` for the rest.
    case word
    /// Byte-level BPE with a GPT-2 style pre-split, trained to a vocabulary size.
    case bpe
    /// Hugging Face's byte-level BPE (GPT-2's), read from its tokenizer.json or vocab.json +
    /// merges.txt; never trained by dptrain.
    case huggingface = "hf-bpe"

    /// The kinds `Tokenizers.train` can make: all but `huggingface`.
    public static let trainable: [TokenizerKind] = [.char, .byte, .word, .bpe]
}

/// Turns text into token ids in `0..<vocabSize` and back.
public protocol Tokenizer: Sendable {
    var kind: TokenizerKind { get }
    /// The number of distinct token ids; every id `encode` returns is below it.
    var vocabSize: Int { get }
    /// The tokens of `text`. Throws when the text holds something the vocabulary cannot express
    /// (char: an unseen character; word: an unseen word when there is no `<unk>`).
    func encode(_ text: String) throws -> [Int32]
    /// The text of `tokens`. Ids outside the vocabulary decode to U+FFFD.
    func decode(_ tokens: [Int32]) -> String
    /// The contents of tokenizer.json: a JSON object whose "kind" names the tokenizer, enough
    /// for `Tokenizers.load(json:)` to rebuild it exactly.
    func jsonData() throws -> Data
}

extension Tokenizer {
    /// Encodes a JSON-codable description of the tokenizer with stable (sorted) keys.
    func encodeJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }
}
