import Foundation

/// A text tokenized and split: what `dptrain prepare` and the text cache both write.
struct PreparedText {
    let tokenizer: any Tokenizer
    let tokens: [Int32]
    /// Tokens 0..<trainCount are the train split, the rest the val split.
    let trainCount: Int

    /// Trains `kind` on the whole text, encodes it, and keeps the last `valFraction` of the tokens
    /// (rounded down to whole tokens for train, as nanoGPT's `int(n*0.9)`) for validation.
    /// `bytes` must be UTF-8 text (else `DataError.notUTF8(path)`), except for the byte
    /// tokenizer, which takes any bytes as they are: one token each. With `fixed`, that
    /// tokenizer encodes the text and none is trained.
    init(bytes: Data, path: String, kind: TokenizerKind, vocabSize: Int?, valFraction: Double,
         using fixed: (any Tokenizer)? = nil) throws {
        try Dataset.checkValFraction(valFraction)
        if let fixed, fixed.kind != .byte {
            let text = try utf8Text(bytes, path: path)
            tokenizer = fixed
            tokens = try fixed.encode(text)
        } else if kind == .byte {
            tokenizer = ByteTokenizer()
            tokens = bytes.map { Int32($0) }
        } else {
            let text = try utf8Text(bytes, path: path)
            tokenizer = try Tokenizers.train(kind, on: text, vocabSize: vocabSize)
            tokens = try tokenizer.encode(text)
        }
        trainCount = Int((Double(tokens.count) * (1 - valFraction)).rounded(.down))
    }

    var valCount: Int { tokens.count - trainCount }

    /// Writes train.bin, val.bin and tokenizer.json into the existing directory `dir`.
    func write(to dir: URL) throws {
        try TokenFile.write(Array(tokens[..<trainCount]), vocabSize: tokenizer.vocabSize, to: dir.appendingPathComponent("train.bin"))
        try TokenFile.write(Array(tokens[trainCount...]), vocabSize: tokenizer.vocabSize, to: dir.appendingPathComponent("val.bin"))
        let jsonURL = dir.appendingPathComponent("tokenizer.json")
        do {
            try tokenizer.jsonData().write(to: jsonURL, options: .atomic)
        } catch {
            throw DataError.io(path: jsonURL.path, reason: "cannot be written (\(error.localizedDescription))")
        }
    }
}
