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
    /// The shards written (`data_train_NNNNNN.bin`, `data_val_NNNNNN.bin`: always under mpirun,
    /// in one process when a split has more than `--shard-tokens`); nil: train.bin and val.bin.
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
///
/// When the train or the val split holds more than `shardTokens` tokens, both go to llm.c shards
/// of at most `shardTokens` tokens instead (`PreparedShards`), numbered from 0 in token order.
public func prepareDataset(input: URL, tokenizer: TokenizerKind, vocabSize: Int?, valFraction: Double, out: URL,
                           shardTokens: Int = PreparedShards.defaultShardTokens,
                           progress: ((PrepareProgress) -> Void)? = nil) throws -> PrepareSummary {
    let clock = ContinuousClock()
    let started = clock.now
    try Dataset.checkValFraction(valFraction)
    try PreparedShards.checkShardTokens(shardTokens)
    let bytes = try checkInput(input)
    try PreparedShards.makeOutput(out, layout: .single)
    let (made, train, val, characters, shards) = try streamPrepare(input: input, kind: tokenizer, vocabSize: vocabSize,
                                                                   valFraction: valFraction, out: out, shardTokens: shardTokens,
                                                                   progress: progress)
    let elapsed = clock.now - started
    return PrepareSummary(
        input: input, out: out, tokenizer: tokenizer, vocabSize: made.vocabSize,
        characters: characters, bytes: bytes,
        trainTokens: train, valTokens: val, shards: shards,
        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
}

/// The shards `dptrain prepare` writes: under mpirun always, in one process when the train or
/// the val split holds more than `--shard-tokens` tokens. Each part of the tokens (a rank's range
/// under mpirun; the whole in one process) is cut into `data_train_NNNNNN.bin` and
/// `data_val_NNNNNN.bin` (llm.c's naming, which `--data` finds) of at most `shardTokens` tokens
/// each, numbered on from the shards of the parts before it (`numbering`), so that the shards in
/// name order hold the tokens in order — the tokens of train.bin then val.bin of a one-process
/// prepare without shards. No empty shard is written; the last of a part may be shorter.
public enum PreparedShards {
    public static let stem = "data"

    /// `--shard-tokens`'s default: FineWeb's shards of 100 M tokens.
    public static let defaultShardTokens = 100_000_000

    /// The most shards of a split: six digits, so that name order is number order.
    public static let maxShards = 1_000_000

    /// The most tokens in a shard must be at least 1 and fit the llm.c header's int32 count.
    public static func checkShardTokens(_ n: Int) throws {
        guard n >= 1 && n <= Int(Int32.max) else {
            throw DataError.invalidArgument("The tokens per shard must be between 1 and \(Int32.max) (the llm.c header's int32 count); got \(n).")
        }
    }

    /// How many shards of at most `shardTokens` tokens hold `tokens` tokens (none for none).
    public static func shardCount(_ tokens: Int, shardTokens: Int) -> Int {
        tokens / shardTokens + (tokens % shardTokens == 0 ? 0 : 1)
    }

    /// The train and val tokens of a part of `tokens` tokens that starts at token `offset` of the
    /// whole, whose first `trainCount` tokens are train.
    public static func split(tokens: Int, offset: Int, trainCount: Int) -> (train: Int, val: Int) {
        let train = min(tokens, max(0, trainCount - offset))
        return (train, tokens - train)
    }

    /// The parts of `counts` tokens, in order, of a whole whose first `trainCount` tokens are
    /// train: the number of each part's first train and val shard (the shards of the parts before
    /// it) and the shards of each split in all. Every rank of a parallel prepare computes the same
    /// from the gathered counts. Throws when a split would need more than `maxShards`.
    public static func numbering(counts: [Int], trainCount: Int, shardTokens: Int) throws
        -> (first: [(train: Int, val: Int)], total: (train: Int, val: Int)) {
        var first: [(train: Int, val: Int)] = []
        var next = (train: 0, val: 0), offset = 0
        for tokens in counts {
            first.append(next)
            let (train, val) = split(tokens: tokens, offset: offset, trainCount: trainCount)
            next.train += shardCount(train, shardTokens: shardTokens)
            next.val += shardCount(val, shardTokens: shardTokens)
            offset += tokens
        }
        for (name, n) in [("train", next.train), ("val", next.val)] where n > maxShards {
            throw DataError.invalidArgument("The \(name) split would need \(n) shards of at most \(shardTokens) tokens, more than the \(maxShards) that six-digit names keep in order; pass a larger --shard-tokens.")
        }
        return (first, next)
    }

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

    /// Puts a part of the tokens in place: `pieces`, complete token files of `shardTokens` tokens
    /// each but the last (`TokenPieceWriter`), holding the part's tokens that start at token
    /// `offset` of the whole, are cut where the first `trainCount` tokens of the whole end and
    /// into shards of at most `shardTokens`: train shards numbered from `first.train`, val shards
    /// from `first.val` (`numbering`). The train shards are the pieces renamed (the last one cut
    /// where train ends); the val shards are the pieces renamed too when train ends at a piece's
    /// end, else copied out of them in pieces (`copyTokens`): at most the val tokens are copied,
    /// and memory stays bounded. The pieces are gone afterwards. Returns the shards written of
    /// each split.
    public static func place(_ pieces: [TokenPiece], offset: Int, trainCount: Int, vocabSize: Int,
                             shardTokens: Int, first: (train: Int, val: Int), out: URL) throws -> (train: Int, val: Int) {
        precondition(pieces.dropLast().allSatisfy { $0.tokens == shardTokens } && (pieces.last?.tokens ?? 0) <= shardTokens)
        let tokens = pieces.reduce(0) { $0 + $1.tokens }
        let wide = vocabSize > TokenFile.maxVersion1VocabSize
        guard tokens > 0 else {
            for piece in pieces { try? FileManager.default.removeItem(at: piece.url) }
            return (0, 0)
        }
        let (train, val) = split(tokens: tokens, offset: offset, trainCount: trainCount)
        let whole = train / shardTokens, head = train % shardTokens  // pieces all train; train tokens of the next
        for k in 0..<whole { try move(pieces[k].url, to: url(out, "train", first.train + k)) }
        var rest = Array(pieces[whole...])
        if head > 0 {
            if val > 0 {
                let parts = (0..<shardCount(val, shardTokens: shardTokens)).map { j in
                    (url: url(out, "val", first.val + j), tokens: min(shardTokens, val - j * shardTokens))
                }
                try copyTokens(from: rest, first: head, wide: wide, into: parts)
                try truncateTokenFile(rest[0].url, to: head, wide: wide)
            }
            try move(rest[0].url, to: url(out, "train", first.train + whole))
            for piece in rest.dropFirst() { try? FileManager.default.removeItem(at: piece.url) }
            rest = []
        }
        // Train ended at a piece's end: the val shards start where the remaining pieces do.
        for (j, piece) in rest.enumerated() where piece.tokens > 0 { try move(piece.url, to: url(out, "val", first.val + j)) }
        return (shardCount(train, shardTokens: shardTokens), shardCount(val, shardTokens: shardTokens))
    }
}
