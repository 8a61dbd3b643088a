import Foundation

/// A tokenizer with one more token, [MASK], for an encoder's masked-token prediction: the id
/// after the base tokenizer's last (`maskToken` = base.vocabSize), so every id of the data keeps
/// its meaning and the model's vocabulary is the data's plus one.
///
/// Every tokenizer kind records it the same way: its tokenizer.json object with one more key,
/// `"mask_token": "[MASK]"` (a checkpoint's state.json holds that object under "tokenizer");
/// `Tokenizers.load` rebuilds the base tokenizer from the other keys and wraps it. A data
/// directory's own tokenizer.json never has it: the mask belongs to the encoder, not the data.
///
/// Encoding splits the text at every literal "[MASK]" and encodes the pieces between with the
/// base tokenizer; decoding writes "[MASK]" for the mask id.
public struct MaskTokenizer: Tokenizer {
    /// The text that stands for the mask token in a prompt and in decoded text.
    public static let text = "[MASK]"
    /// tokenizer.json's key for it.
    static let jsonKey = "mask_token"

    public let base: any Tokenizer

    public init(base: any Tokenizer) {
        self.base = base
    }

    public var kind: TokenizerKind { base.kind }
    public var vocabSize: Int { base.vocabSize + 1 }
    /// The mask token's id: the last one, base.vocabSize.
    public var maskToken: Int32? { Int32(base.vocabSize) }

    public func encode(_ text: String) throws -> [Int32] {
        var tokens: [Int32] = []
        for (i, piece) in text.components(separatedBy: Self.text).enumerated() {
            if i > 0 { tokens.append(Int32(base.vocabSize)) }
            if !piece.isEmpty { tokens += try base.encode(piece) }
        }
        return tokens
    }

    public func decode(_ tokens: [Int32]) -> String {
        var out = ""
        var run: [Int32] = []
        for t in tokens {
            if t == Int32(base.vocabSize) {
                out += base.decode(run) + Self.text
                run = []
            } else {
                run.append(t)
            }
        }
        return out + base.decode(run)
    }

    /// `json` (a tokenizer's JSON object with the mask's key) without that key: the base's JSON.
    static func removingKey(from json: Data) throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw DataError.invalidTokenizerJSON("it is not a JSON object")
        }
        object[jsonKey] = nil
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    public func jsonData() throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: base.jsonData()) as? [String: Any] else {
            throw DataError.invalidTokenizerJSON("the \(kind.rawValue) tokenizer's JSON is not an object")
        }
        object[Self.jsonKey] = Self.text
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}

extension Tokenizer {
    /// The [MASK] token's id when this tokenizer has one (`MaskTokenizer`), else nil.
    public var maskToken: Int32? { (self as? MaskTokenizer)?.maskToken }

    /// The tokenizer without its [MASK] token: what the data was tokenized with.
    public var withoutMask: any Tokenizer { (self as? MaskTokenizer)?.base ?? self }
}
