import Foundation

/// The train and validation tokens of a run, with the tokenizer that made them.
public struct Dataset: Sendable {
    public let train: TokenSequence
    public let val: TokenSequence
    public let tokenizer: any Tokenizer
    /// One line for the log, e.g. "tinyshakespeare.txt, char tokenizer, 65 tokens, 1,003,854 train / 111,540 val".
    public let summary: String
    /// S, how far apart the windows the samplers cut from these tokens start (`BatchSampler`,
    /// `EvalReader`); nil: the context T, non-overlapping windows (every dataset but the seed
    /// example's).
    public let windowStride: Int?

    public init(train: TokenSequence, val: TokenSequence, tokenizer: any Tokenizer, source: String, windowStride: Int? = nil) {
        self.train = train
        self.val = val
        self.tokenizer = tokenizer
        self.windowStride = windowStride
        self.summary = "\(source), \(tokenizer.kind.rawValue) tokenizer, \(formatCount(tokenizer.vocabSize)) tokens, "
            + "\(formatCount(train.count)) train / \(formatCount(val.count)) val"
    }

    /// The data of a run.
    ///
    /// - `path` nil: the built-in corpus (`BuiltinCorpus`), tokenized and cached like a text file.
    /// - a directory: its train.bin, val.bin and tokenizer.json (as `dptrain prepare` writes them),
    ///   or a directory or glob pattern of llm.c shards (`DataFiles`); `tokenizer` and
    ///   `vocabSize`, when given, must agree with its tokenizer.json. The files are mapped, not read.
    /// - a text file (UTF-8; any bytes for the byte tokenizer; a regular file, not a FIFO or a
    ///   device): tokenized with `tokenizer` (default char, trained on the whole file), split
    ///   into the first 1 - valFraction and the last valFraction of the tokens, and cached under
    ///   `cacheDirectory` in a folder named by a hash of the file's bytes and the settings, so a
    ///   second run maps the cached files at once. Every rank may call this: the result is
    ///   deterministic, and concurrent callers on one host each write a private temporary folder
    ///   and rename it into place (the loser of the race uses the winner's).
    ///
    /// `fixed`, when given, is the tokenizer a text file (or the built-in corpus) is tokenized
    /// with instead of training one — a Hugging Face tokenizer from a checkpoint, which cannot be
    /// trained — and the kind a directory's tokenizer.json must have; the cache key covers its JSON.
    public static func load(path: String?, tokenizer: TokenizerKind?, vocabSize: Int?, valFraction: Double,
                            cacheDirectory: URL, using fixed: (any Tokenizer)? = nil) throws -> Dataset {
        let files = try dataFiles(path: path, tokenizer: tokenizer, vocabSize: vocabSize, valFraction: valFraction,
                                  cacheDirectory: cacheDirectory, using: fixed)
        let mapped = try MappedData(files, expecting: fixed?.kind ?? tokenizer, vocabSize: files.isCache ? nil : vocabSize)
        if !files.isCache {  // the cache was checked when it was found
            for file in mapped.tokenFiles { try file.checkTokens(below: mapped.tokenizer.vocabSize) }
        }
        return mapped.dataset
    }

    /// The token files `load` maps for `path`: a directory's or a pattern's as they are; a text
    /// file's (or, for nil, the built-in corpus's) tokenized into the cache first, named after
    /// the text. Writes only under `cacheDirectory`.
    public static func dataFiles(path: String?, tokenizer: TokenizerKind?, vocabSize: Int?, valFraction: Double,
                                 cacheDirectory: URL, using fixed: (any Tokenizer)? = nil) throws -> DataFiles {
        guard let path else {
            return try cached(bytes: Data(BuiltinCorpus.text().utf8), path: BuiltinCorpus.name, name: BuiltinCorpus.name, stem: "builtin",
                              kind: fixed?.kind ?? tokenizer ?? .char, vocabSize: vocabSize, valFraction: valFraction,
                              cacheDirectory: cacheDirectory, fixed: fixed)
        }
        if let files = try DataFiles.find(path) { return files }
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.io(path: path, reason: "no such file or directory")
        }
        let url = URL(fileURLWithPath: path)
        let bytes = try readInput(url)
        return try cached(bytes: bytes, path: url.path, name: url.lastPathComponent, stem: url.deletingPathExtension().lastPathComponent,
                          kind: fixed?.kind ?? tokenizer ?? .char, vocabSize: vocabSize, valFraction: valFraction,
                          cacheDirectory: cacheDirectory, fixed: fixed)
    }

    /// The seed example's data: "hello world welcome good" over and over with `Tokenizers.seed`,
    /// 400 train and 48 val tokens, with window stride 1. The stream has period 4, so with
    /// context T = 2 it holds four contexts: "hello world -> welcome", "world welcome -> good",
    /// "welcome good -> hello", "good hello -> world". Windows at offsets 2k (stride T) would
    /// see only the first and third; at every offset (stride 1) the shuffle sampler trains on
    /// all four, and the val split's first four windows (one global batch of 4 rows, the seed
    /// preset's evaluation) are exactly the four contexts.
    public static func seedExample() -> Dataset {
        let sentence: [Int32] = [0, 1, 3, 2]  // hello world welcome good, in Tokenizers.seed's ids
        let stream = { (repeats: Int) in TokenSequence(Array([[Int32]](repeating: sentence, count: repeats).joined())) }
        return Dataset(train: stream(100), val: stream(12), tokenizer: Tokenizers.seed, source: "seed example", windowStride: 1)
    }

}

/// A run's token files mapped (headers checked, tokens not read) with their tokenizer: what every
/// rank holds of the data — the mappings, not the tokens.
public struct MappedData: Sendable {
    public let files: DataFiles
    public let tokenizer: any Tokenizer
    /// tokenizer.json as read.
    public let tokenizerJSON: Data
    public let train: [MappedTokenFile], val: [MappedTokenFile]

    /// Reads `files.tokenizer` and maps every token file, checking their headers (O(files)).
    /// `kind` and `vocabSize`, when given, must agree with the tokenizer.
    public init(_ files: DataFiles, expecting kind: TokenizerKind?, vocabSize: Int?) throws {
        let jsonURL = files.tokenizer
        let dir = jsonURL.deletingLastPathComponent()
        let json: Data
        do {
            json = try Data(contentsOf: jsonURL)
        } catch {
            throw DataError.io(path: jsonURL.path, reason: files.isSharded
                ? "cannot be read; shards need the tokenizer.json that made them beside them (`dptrain prepare` writes one)"
                : "cannot be read; a data directory needs train.bin, val.bin and tokenizer.json as `dptrain prepare` writes them")
        }
        let tokenizer: any Tokenizer
        do {
            tokenizer = try Tokenizers.load(json: json)
        } catch let error as DataError {
            throw DataError.io(path: jsonURL.path, reason: error.description.trimmingCharacters(in: ["."]))
        }
        if let kind, kind != tokenizer.kind {
            throw DataError.invalidArgument("\(dir.path) was prepared with the \(tokenizer.kind.rawValue) tokenizer, not \(kind.rawValue); drop --tokenizer or prepare it again.")
        }
        if let vocabSize, vocabSize != tokenizer.vocabSize, tokenizer.kind == .bpe || tokenizer.kind == .word {
            throw DataError.invalidArgument("\(dir.path) has a vocabulary of \(tokenizer.vocabSize) tokens, not \(vocabSize); drop --vocab-size or prepare it again.")
        }
        self.files = files
        self.tokenizer = tokenizer
        self.tokenizerJSON = json
        self.train = try files.train.map { try TokenFile.map($0) }
        self.val = try files.val.map { try TokenFile.map($0) }
    }

    /// Every token file: train, then val.
    public var tokenFiles: [MappedTokenFile] { train + val }

    /// (bytes, cheap checksum) of each of `files.all` — tokenizer.json (all of it hashed), then
    /// every token file (`MappedTokenFile.checksum`) — for the ranks to compare their copies. O(files).
    public var fingerprints: [(bytes: Int, checksum: UInt64)] {
        var hash = FNV1a64()
        hash.add(tokenizerJSON)
        return [(tokenizerJSON.count, hash.value)] + tokenFiles.map { ($0.bytes, $0.checksum) }
    }

    /// The dataset over the mappings; the source named as `files.name` (with the shard count when sharded).
    public var dataset: Dataset {
        let source = files.isSharded ? "\(files.name) (\(train.count) train / \(val.count) val shards)" : files.name
        return Dataset(train: TokenSequence(shards: train.map(\.tokens)), val: TokenSequence(shards: val.map(\.tokens)),
                       tokenizer: tokenizer, source: source)
    }
}

/// 1003854 -> "1,003,854".
func formatCount(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return n < 0 ? "-" + out : out
}
