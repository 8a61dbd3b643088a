import Foundation

extension Tokenizers {
    /// A Hugging Face tokenizer.json that the `tokenizers` library (and transformers'
    /// `AutoTokenizer`) loads and that gives the same ids and text as `tokenizer`:
    ///
    /// - `huggingface`: its own tokenizer.json, as it was read.
    /// - `bpe`: BPE over GPT-2's ByteLevel (pre-tokenizer with GPT-2's regex, which is
    ///   `GPT2PreSplit`, no prefix space; ByteLevel decoder): token b < 256 is byte b's ByteLevel
    ///   character, token 256 + i the characters of its bytes, merge i the two tokens it joins.
    ///   The library merges by rank one pair at a time and dptrain all of a rank at once; since a
    ///   merge's parts are always made by earlier merges the two give the same ids. Throws if two
    ///   tokens stand for the same bytes (a vocabulary keyed by string cannot hold both).
    /// - `byte`: the same with the 256 byte tokens and no merges.
    /// - `char`: BPE over the characters themselves, no merges, no pre-tokenizer, the Fuse
    ///   decoder: each Unicode scalar is its token. (dptrain throws on a character outside the
    ///   vocabulary where the library drops it; on text it can encode, the ids are the same.)
    /// - `word`: throws: its decoding (no space before punctuation, quotes against their words)
    ///   has no equivalent in the library.
    public static func huggingFaceJSON(for tokenizer: any Tokenizer) throws -> Data {
        switch tokenizer {
        case let t as HuggingFaceTokenizer:
            return try t.jsonData()
        case let t as BPETokenizer:
            var vocab: [String: Int32] = [:]
            var strings: [String] = []
            for id in 0..<Int32(t.vocabSize) {
                let s = ByteLevel.string(of: t.bytes(of: id))
                if let other = vocab[s] {
                    throw DataError.invalidArgument(
                        "The bpe tokenizer cannot be written as a Hugging Face tokenizer.json: tokens \(other) and \(id) both stand for the bytes \(quotedToken(s)), and a Hugging Face vocabulary holds each string once.")
                }
                vocab[s] = id
                strings.append(s)
            }
            let merges = t.merges.map { (strings[Int($0.0)], strings[Int($0.1)]) }
            return try HuggingFaceTokenizer.tokenizerJSON(vocab: vocab, merges: merges, addedTokens: [], byteLevel: true)
        case is ByteTokenizer:
            var vocab: [String: Int32] = [:]
            for b in 0..<256 { vocab[ByteLevel.string(of: [UInt8(b)])] = Int32(b) }
            return try HuggingFaceTokenizer.tokenizerJSON(vocab: vocab, merges: [], addedTokens: [], byteLevel: true)
        case let t as CharTokenizer:
            var vocab: [String: Int32] = [:]
            for (i, s) in t.scalars.enumerated() { vocab[String(s)] = Int32(i) }
            return try HuggingFaceTokenizer.tokenizerJSON(vocab: vocab, merges: [], addedTokens: [], byteLevel: false)
        default:
            throw DataError.invalidArgument(
                "The \(tokenizer.kind.rawValue) tokenizer cannot be written as a Hugging Face tokenizer.json: its decoding (no space before punctuation, quotes against their words) has no equivalent in the tokenizers library; train with the bpe, byte or char tokenizer to export.")
        }
    }

    /// A tokenizer_config.json for `huggingFaceJSON(for:)`'s file, so that transformers'
    /// `AutoTokenizer.from_pretrained` takes the directory: the fast tokenizer class, the context
    /// length, and `<|endoftext|>` as bos/eos/unk when the tokenizer has it (as GPT-2's does).
    public static func huggingFaceTokenizerConfig(for tokenizer: any Tokenizer, context: Int) throws -> Data {
        var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": context,
                                     "clean_up_tokenization_spaces": false]
        if let hf = tokenizer as? HuggingFaceTokenizer, hf.addedTokens.contains(where: { $0.content == HuggingFaceTokenizer.endOfText }) {
            for key in ["bos_token", "eos_token", "unk_token"] { config[key] = HuggingFaceTokenizer.endOfText }
        }
        return try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }
}
