import Foundation

/// What `prepareDataset` did, for the CLI to print.
public struct PrepareSummary: Sendable, CustomStringConvertible {
    public let input: URL
    public let out: URL
    public let tokenizer: TokenizerKind
    public let vocabSize: Int
    /// Unicode scalars and UTF-8 bytes of the input.
    public let characters: Int, bytes: Int
    public let trainTokens: Int, valTokens: Int
    /// Wall-clock time of reading, training the tokenizer, encoding and writing.
    public let seconds: Double

    public var tokens: Int { trainTokens + valTokens }
    /// Compression: input characters per token (1 for char).
    public var charactersPerToken: Double { tokens == 0 ? 0 : Double(characters) / Double(tokens) }

    /// Four lines: input, vocabulary, the two files, compression and time.
    public var description: String {
        let unit = tokenizer == .char ? "characters" : "tokens"
        return """
        \(input.lastPathComponent): \(formatCount(characters)) characters, \(formatCount(bytes)) bytes
        \(tokenizer.rawValue) tokenizer: \(formatCount(vocabSize)) \(unit) -> \(out.appendingPathComponent("tokenizer.json").path)
        train.bin \(formatCount(trainTokens)) tokens, val.bin \(formatCount(valTokens)) tokens -> \(out.path)
        \(String(format: "%.3f", charactersPerToken)) characters per token, \(String(format: "%.2f", seconds)) s
        """
    }
}

/// `dptrain prepare`: tokenizes the UTF-8 text `input` (any bytes for the byte tokenizer) and
/// writes out/train.bin (the first 1 - valFraction of the tokens), out/val.bin (the rest) and
/// out/tokenizer.json, creating `out` if needed and replacing those three files if present.
///
/// Streams (`streamPrepare`): reads the input in chunks and writes the tokens as they come, so
/// memory stays bounded whatever the input's size (tens of MB); char and word read the input
/// once more to find their vocabulary, bpe trains on the whole input up to 16 MB and on evenly
/// spaced chunks of a larger one. Up to that size the files are byte for byte those of
/// tokenizing the whole text at once (`PreparedText`, the token cache's way).
public func prepareDataset(input: URL, tokenizer: TokenizerKind, vocabSize: Int?, valFraction: Double, out: URL) throws -> PrepareSummary {
    let clock = ContinuousClock()
    let started = clock.now
    try Dataset.checkValFraction(valFraction)
    let bytes = try checkInput(input)
    do {
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    } catch {
        throw DataError.io(path: out.path, reason: "cannot create the output directory (\(error.localizedDescription))")
    }
    let (made, train, val, characters) = try streamPrepare(input: input, kind: tokenizer, vocabSize: vocabSize,
                                                           valFraction: valFraction, out: out)
    let elapsed = clock.now - started
    return PrepareSummary(
        input: input, out: out, tokenizer: tokenizer, vocabSize: made.vocabSize,
        characters: characters, bytes: bytes,
        trainTokens: train, valTokens: val,
        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
}
