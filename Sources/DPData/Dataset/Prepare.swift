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
    /// The shards a parallel prepare wrote (`data_train_NNNNNN.bin`, `data_val_NNNNNN.bin`);
    /// nil: one process, train.bin and val.bin.
    public let shards: (train: Int, val: Int)?
    /// The ranks that tokenized (1: one process).
    public let ranks: Int
    /// Wall-clock time of reading, training the tokenizer, encoding and writing.
    public let seconds: Double

    public var tokens: Int { trainTokens + valTokens }

    public init(input: URL, out: URL, tokenizer: TokenizerKind, vocabSize: Int, characters: Int, bytes: Int,
                trainTokens: Int, valTokens: Int, shards: (train: Int, val: Int)? = nil, ranks: Int = 1, seconds: Double) {
        self.input = input
        self.out = out
        self.tokenizer = tokenizer
        self.vocabSize = vocabSize
        self.characters = characters
        self.bytes = bytes
        self.trainTokens = trainTokens
        self.valTokens = valTokens
        self.shards = shards
        self.ranks = ranks
        self.seconds = seconds
    }

    private var files: String {
        guard let shards else { return "train.bin \(formatCount(trainTokens)) tokens, val.bin \(formatCount(valTokens)) tokens" }
        let plural = { (n: Int) in n == 1 ? "" : "s" }
        return "\(shards.train) train shard\(plural(shards.train)) (\(PreparedShards.stem)_train_*.bin) \(formatCount(trainTokens)) tokens, "
            + "\(shards.val) val shard\(plural(shards.val)) (\(PreparedShards.stem)_val_*.bin) \(formatCount(valTokens)) tokens"
    }
    /// Compression: input characters per token (1 for char).
    public var charactersPerToken: Double { tokens == 0 ? 0 : Double(characters) / Double(tokens) }

    /// Four lines: input, vocabulary, the two files, compression and time.
    public var description: String {
        let unit = tokenizer == .char ? "characters" : "tokens"
        return """
        \(input.lastPathComponent): \(formatCount(characters)) characters, \(formatCount(bytes)) bytes
        \(tokenizer.rawValue) tokenizer: \(formatCount(vocabSize)) \(unit) -> \(out.appendingPathComponent("tokenizer.json").path)
        \(files) -> \(out.path)
        \(String(format: "%.3f", charactersPerToken)) characters per token, \(String(format: "%.2f", seconds)) s\(ranks > 1 ? " on \(ranks) ranks" : "")
        """
    }
}

/// `dptrain prepare`: tokenizes the UTF-8 text `input` (any bytes for the byte tokenizer) and
/// writes out/train.bin (the first 1 - valFraction of the tokens), out/val.bin (the rest) and
/// out/tokenizer.json, creating `out` if needed and replacing those three files if present (and
/// removing the shards of an earlier parallel prepare there). `progress` hears of each pass.
///
/// Streams (`streamPrepare`): reads the input in chunks and writes the tokens as they come, so
/// memory stays bounded whatever the input's size (tens of MB); char and word read the input
/// once more to find their vocabulary, bpe trains on the whole input up to 16 MB and on 16
/// evenly spaced pieces adding up to 16 MB of a larger one. Up to that size the files are byte
/// for byte those of tokenizing the whole text at once (`PreparedText`). Under mpirun the CLI
/// calls `prepareCollectively` (DPTrainer) instead, which writes the same tokens as shards.
public func prepareDataset(input: URL, tokenizer: TokenizerKind, vocabSize: Int?, valFraction: Double, out: URL,
                           progress: ((PrepareProgress) -> Void)? = nil) throws -> PrepareSummary {
    let clock = ContinuousClock()
    let started = clock.now
    try Dataset.checkValFraction(valFraction)
    let bytes = try checkInput(input)
    try PreparedShards.makeOutput(out, layout: .single)
    let (made, train, val, characters) = try streamPrepare(input: input, kind: tokenizer, vocabSize: vocabSize,
                                                           valFraction: valFraction, out: out, progress: progress)
    let elapsed = clock.now - started
    return PrepareSummary(
        input: input, out: out, tokenizer: tokenizer, vocabSize: made.vocabSize,
        characters: characters, bytes: bytes,
        trainTokens: train, valTokens: val,
        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
}

/// The files of a parallel prepare (`dptrain prepare` under mpirun): rank r's part of the tokens
/// goes to `data_train_RRRRRR.bin` and/or `data_val_RRRRRR.bin` (llm.c's naming, which `--data`
/// finds), so that the shards in name order are the tokens in order — the tokens of train.bin
/// then val.bin of a one-process prepare. No empty shard is written.
public enum PreparedShards {
    public static let stem = "data"

    public enum Layout: Sendable { case single, shards }

    /// Shard `index` of `split` ("train" or "val") in `out`.
    public static func url(_ out: URL, _ split: String, _ index: Int) -> URL {
        let digits = String(index)
        return out.appendingPathComponent("\(stem)_\(split)_\(String(repeating: "0", count: max(0, 6 - digits.count)))\(digits).bin")
    }

    /// Creates `out` if needed and removes what a prepare of the other layout left there, which
    /// `--data` would otherwise read instead (train.bin wins over shards) or besides (stale
    /// shards): train.bin and val.bin before shards, `data_{train,val}_NNNNNN.bin` before either.
    public static func makeOutput(_ out: URL, layout: Layout) throws {
        do {
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        } catch {
            throw DataError.io(path: out.path, reason: "cannot create the output directory (\(error.localizedDescription))")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
        let stale = names.filter { name in
            if layout == .shards && (name == "train.bin" || name == "val.bin") { return true }
            for split in ["train", "val"] where name.hasPrefix("\(stem)_\(split)_") && name.hasSuffix(".bin") {
                let digits = name.dropFirst(stem.count + split.count + 2).dropLast(4)
                if digits.count == 6 && digits.allSatisfy(\.isNumber) { return true }
            }
            return false
        }
        for name in stale {
            do {
                try FileManager.default.removeItem(at: out.appendingPathComponent(name))
            } catch {
                throw DataError.io(path: out.appendingPathComponent(name).path, reason: "is left from an earlier prepare and cannot be removed (\(error.localizedDescription))")
            }
        }
    }

    /// Puts part `index` of a parallel prepare in place: `file`, a complete token file of
    /// `tokens` tokens that start at token `offset` of the whole, becomes the train shard, the val
    /// shard, or both (split where the first `trainCount` tokens of the whole end). Returns which.
    public static func place(_ file: URL, tokens: Int, offset: Int, trainCount: Int, vocabSize: Int,
                             index: Int, out: URL) throws -> (train: Bool, val: Bool) {
        guard tokens > 0 else {
            try? FileManager.default.removeItem(at: file)
            return (false, false)
        }
        let inTrain = min(tokens, max(0, trainCount - offset))
        try splitTokenFile(file, count: tokens, wide: vocabSize > TokenFile.maxVersion1VocabSize, at: inTrain,
                           head: inTrain > 0 ? url(out, "train", index) : nil,
                           tail: inTrain < tokens ? url(out, "val", index) : nil)
        return (inTrain > 0, inTrain < tokens)
    }
}
