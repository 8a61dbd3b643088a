import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a text may be cut so that tokenizing the two sides apart gives exactly the tokens of
/// tokenizing it whole: the chunk ends of `InputChunks` and the range starts of a parallel prepare.
///
/// - byte: anywhere (one token per byte).
/// - char: at any UTF-8 scalar start (one token per scalar).
/// - word, bpe: before p when either
///   1. bytes[p − 1] is "\n", bytes[p] is ASCII and not white space, and bytes[p − 2] (if any) is
///      ASCII and not white space; or
///   2. bytes[p − 1] and bytes[p + 1] are ASCII letters and bytes[p] is " ".
///
/// Why these are safe for GPT-2's pre-split (`GPT2PreSplit`, whose regex is matched left to
/// right, each match depending only on the text from its start on, except where a white-space
/// run reaches the end of the text): in 1., the white-space run before p is the lone "\n" (p − 2
/// is not white space and p is not), which is one chunk whether or not the text ends at p (a run
/// of one is emitted whole either way; a longer run would lose its last scalar to `\s+(?!\S)`
/// only when something follows — " \n" + "X" splits as " ", "\n" in the whole text but stays
/// " \n" at the end of a piece, which is why p − 2 must not be white space); the scalar before
/// it ends a letter, number or other run, or a contraction, at p − 1 in both. In 2., the letter
/// run ends at p in both (the next scalar is a space), and " " + letter starts a chunk
/// ` ?\p{L}+` at p in both. No contraction crosses either point (they start with "'"). The word
/// tokenizer's pieces (words with inner apostrophes, punctuation, "\n"; other white space
/// dropped) end at both points too. `PrepareStreamTests` checks whole against cut texts.
enum TextCut {
    @inline(__always)
    static func isASCIIVisible(_ b: UInt8) -> Bool { b < 0x80 && b != 0x20 && !(0x09...0x0D).contains(b) }

    @inline(__always)
    static func isASCIILetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }

    /// Whether `kind`'s tokens of bytes[..<p] and bytes[p...] are those of the whole; needs
    /// 0 < p < bytes.count (p + 1 < count for rule 2, else it is not used).
    @inline(__always)
    static func isSafe(_ bytes: UnsafeBufferPointer<UInt8>, at p: Int, kind: TokenizerKind) -> Bool {
        switch kind {
        case .byte: return true
        case .char: return bytes[p] & 0xC0 != 0x80
        case .word, .bpe, .huggingface:
            let b = bytes[p]
            if bytes[p - 1] == 0x0A && isASCIIVisible(b) && (p < 2 || isASCIIVisible(bytes[p - 2])) { return true }
            return b == 0x20 && p + 1 < bytes.count && isASCIILetter(bytes[p - 1]) && isASCIILetter(bytes[p + 1])
        }
    }

    /// The last safe p in 0 < p < bytes.count, or nil.
    static func last(_ bytes: [UInt8], kind: TokenizerKind) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            var p = buffer.count - 1
            while p > 0 {
                if isSafe(buffer, at: p, kind: kind) { return p }
                p -= 1
            }
            return nil
        }
    }

    /// The first safe p in max(1, from) ..< to, or nil.
    static func first(_ bytes: [UInt8], from: Int, to: Int, kind: TokenizerKind) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            var p = max(1, from)
            while p < to {
                if isSafe(buffer, at: p, kind: kind) { return p }
                p += 1
            }
            return nil
        }
    }
}

/// The bytes `range` of the input of `dptrain prepare`, read in chunks that end where `TextCut`
/// allows, so that encoding chunk by chunk gives exactly the tokens of encoding the range whole.
/// A chunk with no such point grows until it has one or the range ends. Memory: O(chunk), not
/// O(input).
struct InputChunks {
    let url: URL
    let chunkBytes: Int
    let kind: TokenizerKind
    /// The bytes to read; nil: the whole file.
    var range: Range<Int>? = nil

    /// Calls `body` with each chunk's bytes, in order; `progress` with the bytes read so far.
    func forEach(progress: ((Int) -> Void)? = nil, _ body: ([UInt8]) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.io(path: url.path, reason: "cannot be read")
        }
        defer { try? handle.close() }
        var left = Int.max
        if let range {
            try handle.seek(toOffset: UInt64(range.lowerBound))
            left = range.count
        }
        var pending: [UInt8] = []
        var ended = left == 0
        var done = 0
        while !ended || !pending.isEmpty {
            if !ended {
                let more: Data
                do {
                    more = try handle.read(upToCount: min(chunkBytes, left)) ?? Data()
                } catch {
                    throw DataError.io(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
                }
                left -= more.count
                if more.isEmpty || left == 0 { ended = true }
                pending.append(contentsOf: more)
            }
            if ended {
                if !pending.isEmpty { try body(pending) }
                done += pending.count
                progress?(done)
                pending = []
                continue
            }
            guard pending.count >= chunkBytes, let cut = TextCut.last(pending, kind: kind) else { continue }
            try body(Array(pending[..<cut]))
            pending.removeFirst(cut)
            done += cut
            progress?(done)
        }
    }
}

/// Writes an llm.c token file as its tokens come; `finish` writes the header. Byte for byte what
/// `TokenFile.write` writes for the same tokens.
struct TokenFileWriter {
    let url: URL
    let vocabSize: Int
    private let wide: Bool
    private let handle: FileHandle
    private(set) var count = 0
    /// The little-endian tokens of one `append`, kept between calls: no allocation per chunk.
    private var narrow: [UInt16] = []
    private var words: [UInt32] = []

    init(url: URL, vocabSize: Int) throws {
        self.url = url
        self.vocabSize = vocabSize
        self.wide = vocabSize > TokenFile.maxVersion1VocabSize
        guard FileManager.default.createFile(atPath: url.path, contents: Data(count: TokenFile.headerBytes)),
              let handle = FileHandle(forWritingAtPath: url.path) else {
            throw DataError.io(path: url.path, reason: "cannot be written")
        }
        self.handle = handle
        try handle.seekToEnd()
    }

    mutating func append(_ tokens: ArraySlice<Int32>) throws {
        if let i = tokens.firstIndex(where: { $0 < 0 || Int($0) >= vocabSize }) {
            throw DataError.tokenFile(path: url.path, problem: .tokenOutOfRange(index: count + i - tokens.startIndex, token: Int64(tokens[i]), vocabSize: vocabSize))
        }
        if wide {
            words.removeAll(keepingCapacity: true)
            words.append(contentsOf: tokens.lazy.map { UInt32(bitPattern: $0).littleEndian })
            try words.withUnsafeBytes { try write($0, to: handle, path: url.path) }
        } else {
            narrow.removeAll(keepingCapacity: true)
            narrow.append(contentsOf: tokens.lazy.map { UInt16(truncatingIfNeeded: $0).littleEndian })
            try narrow.withUnsafeBytes { try write($0, to: handle, path: url.path) }
        }
        count += tokens.count
    }

    /// The byte tokenizer's tokens: the bytes themselves (every byte is below its 256).
    mutating func append(bytes: ArraySlice<UInt8>) throws {
        precondition(vocabSize >= 256 && !wide)
        narrow.removeAll(keepingCapacity: true)
        narrow.append(contentsOf: bytes.lazy.map { UInt16($0).littleEndian })
        try narrow.withUnsafeBytes { try write($0, to: handle, path: url.path) }
        count += bytes.count
    }

    /// Writes the header (the count) and closes the file.
    func finish() throws {
        do { try handle.seek(toOffset: 0) } catch { throw DataError.io(path: url.path, reason: "cannot be written (\(error.localizedDescription))") }
        try write(TokenFileWriter.header(count: count, wide: wide), to: handle, path: url.path)
        try? handle.close()
    }

    static func header(count: Int, wide: Bool) -> Data {
        var header = [Int32](repeating: 0, count: 256)
        (header[0], header[1], header[2]) = (TokenFile.magic, wide ? 2 : 1, Int32(truncatingIfNeeded: count))
        return header.map(\.littleEndian).withUnsafeBytes { Data($0) }
    }
}

/// One complete token file of a part's tokens (`TokenPieceWriter`).
public struct TokenPiece: Sendable {
    public let url: URL
    public let tokens: Int
}

/// Writes a stream of tokens as consecutive complete token files of at most `pieceTokens`
/// tokens each (`BASE.0`, `BASE.1`, …), so that shards of `pieceTokens` tokens are these files
/// renamed, not copies (`PreparedShards.place`). There is always at least one piece (empty for
/// no tokens).
struct TokenPieceWriter {
    let base: URL
    let vocabSize: Int
    let pieceTokens: Int
    private var current: TokenFileWriter
    private var finished: [TokenPiece] = []

    init(base: URL, vocabSize: Int, pieceTokens: Int) throws {
        precondition(pieceTokens >= 1)
        self.base = base
        self.vocabSize = vocabSize
        self.pieceTokens = pieceTokens
        current = try TokenFileWriter(url: Self.url(base, 0), vocabSize: vocabSize)
    }

    static func url(_ base: URL, _ index: Int) -> URL {
        base.deletingLastPathComponent().appendingPathComponent("\(base.lastPathComponent).\(index)")
    }

    var count: Int { finished.reduce(current.count) { $0 + $1.tokens } }

    mutating func append(_ tokens: [Int32]) throws {
        try pieces(of: tokens.count) { writer, range in try writer.append(tokens[range]) }
    }

    /// The byte tokenizer's tokens: the bytes themselves.
    mutating func append(bytes: [UInt8]) throws {
        try pieces(of: bytes.count) { writer, range in try writer.append(bytes: bytes[range]) }
    }

    /// Cuts 0..<count where pieces end and calls `body` with the piece's writer and each part.
    private mutating func pieces(of count: Int, _ body: (inout TokenFileWriter, Range<Int>) throws -> Void) throws {
        var start = 0
        while start < count {
            if current.count == pieceTokens {
                try current.finish()
                finished.append(TokenPiece(url: current.url, tokens: current.count))
                current = try TokenFileWriter(url: Self.url(base, finished.count), vocabSize: vocabSize)
            }
            let n = min(pieceTokens - current.count, count - start)
            try body(&current, start..<(start + n))
            start += n
        }
    }

    /// Finishes the last piece; returns every piece in order.
    func finish() throws -> [TokenPiece] {
        try current.finish()
        return finished + [TokenPiece(url: current.url, tokens: current.count)]
    }
}

private func write(_ data: some DataProtocol, to handle: FileHandle, path: String) throws {
    do {
        try handle.write(contentsOf: data)
    } catch {
        throw DataError.io(path: path, reason: "cannot be written (\(error.localizedDescription))")
    }
}

func move(_ from: URL, to: URL) throws {
    if rename(from.path, to.path) != 0 {
        throw DataError.io(path: to.path, reason: "cannot be written (\(String(cString: strerror(errno))))")
    }
}

/// Splits the complete token file `file` (`count` tokens, `wide`: uint32) at `at`: tokens
/// ..<at become `head` and at... `tail`. A nil side must be empty and is not written (a shard of
/// a parallel prepare); a non-nil side is written even when empty (train.bin, val.bin). The file
/// is renamed, not copied, where it is one side; else the tail is copied out (`copyTokens`) and
/// the file truncated to the head.
func splitTokenFile(_ file: URL, count: Int, wide: Bool, at: Int, head: URL?, tail: URL?) throws {
    precondition(at >= 0 && at <= count && (head != nil || at == 0) && (tail != nil || at == count))
    if at == count, let head {
        try move(file, to: head)
        if let tail {
            guard FileManager.default.createFile(atPath: tail.path, contents: TokenFileWriter.header(count: 0, wide: wide)) else {
                throw DataError.io(path: tail.path, reason: "cannot be written")
            }
        }
        return
    }
    if at == 0, let tail, head == nil {
        try move(file, to: tail)
        return
    }
    try copyTokens(from: [TokenPiece(url: file, tokens: count)], first: at, wide: wide, into: [(tail!, count - at)])
    try truncateTokenFile(file, to: at, wide: wide)
    if let head { try move(file, to: head) } else { try? FileManager.default.removeItem(at: file) }
}

/// Copies `count` tokens starting at token `first` of the pieces `sources` (consecutive, as
/// `TokenPieceWriter` wrote them) into new complete token files, `parts[i].url` getting the next
/// `parts[i].tokens` tokens, in pieces of 8 MB: memory stays bounded. Each part is written under a
/// temporary name and renamed when complete.
func copyTokens(from sources: [TokenPiece], first: Int, wide: Bool, into parts: [(url: URL, tokens: Int)]) throws {
    let width = wide ? 4 : 2
    var source = 0, at = first  // the next token to read: token `at` of sources[source]
    for part in parts {
        let staged = part.url.deletingLastPathComponent().appendingPathComponent(".\(part.url.lastPathComponent).tmp-\(getpid())")
        defer { try? FileManager.default.removeItem(at: staged) }
        guard FileManager.default.createFile(atPath: staged.path, contents: TokenFileWriter.header(count: part.tokens, wide: wide)),
              let out = FileHandle(forWritingAtPath: staged.path) else {
            throw DataError.io(path: part.url.path, reason: "cannot be written")
        }
        defer { try? out.close() }
        do {
            try out.seekToEnd()
            var left = part.tokens
            while left > 0 {
                while at == sources[source].tokens { source += 1; at = 0 }
                guard let input = FileHandle(forReadingAtPath: sources[source].url.path) else {
                    throw DataError.io(path: sources[source].url.path, reason: "cannot be read")
                }
                defer { try? input.close() }
                try input.seek(toOffset: UInt64(TokenFile.headerBytes + at * width))
                var run = min(left, sources[source].tokens - at)
                left -= run
                at += run
                while run > 0 {
                    let piece = try input.read(upToCount: min(run * width, 8 << 20)) ?? Data()
                    guard !piece.isEmpty else { throw DataError.io(path: sources[source].url.path, reason: "ended early while being cut into shards") }
                    try write(piece, to: out, path: staged.path)
                    run -= piece.count / width
                }
            }
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError.io(path: part.url.path, reason: "cannot be written (\(error.localizedDescription))")
        }
        try move(staged, to: part.url)
    }
}

/// Keeps the first `tokens` tokens of the complete token file `file` (truncates it and rewrites
/// its header).
func truncateTokenFile(_ file: URL, to tokens: Int, wide: Bool) throws {
    guard let handle = FileHandle(forUpdatingAtPath: file.path) else { throw DataError.io(path: file.path, reason: "cannot be written") }
    defer { try? handle.close() }
    do {
        try handle.truncate(atOffset: UInt64(TokenFile.headerBytes + tokens * (wide ? 4 : 2)))
        try handle.seek(toOffset: 0)
    } catch {
        throw DataError.io(path: file.path, reason: "cannot be cut into shards (\(error.localizedDescription))")
    }
    try write(TokenFileWriter.header(count: tokens, wide: wide), to: handle, path: file.path)
}

/// A text file for `dptrain prepare`, in one process or cut into ranges for the ranks of a
/// parallel prepare. Every step reads the file in chunks (`InputChunks`): memory O(chunk).
public struct PrepareInput: Sendable {
    public let url: URL
    public let kind: TokenizerKind
    /// The file's size in bytes.
    public let size: Int
    let chunkBytes: Int
    /// bpe trains on the whole input up to this size, else on `bpeSamplePieces` evenly spaced
    /// pieces adding up to it.
    let bpeSampleBytes: Int
    static let bpeSamplePieces = 16

    /// `url` must be a non-empty regular file (`checkInput`'s errors otherwise).
    public init(url: URL, kind: TokenizerKind) throws {
        try self.init(url: url, kind: kind, chunkBytes: 4 << 20, bpeSampleBytes: 16 << 20)
    }

    init(url: URL, kind: TokenizerKind, chunkBytes: Int, bpeSampleBytes: Int) throws {
        self.url = url
        self.kind = kind
        self.size = try checkInput(url)
        self.chunkBytes = chunkBytes
        self.bpeSampleBytes = bpeSampleBytes
    }

    func chunks(_ range: Range<Int>?) -> InputChunks { InputChunks(url: url, chunkBytes: chunkBytes, kind: kind, range: range) }

    func text(_ bytes: [UInt8]) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw DataError.notUTF8(path: url.path) }
        return s
    }

    /// The first safe cut (`TextCut`) at or after `offset`, or `size` when there is none. Reads
    /// from just before `offset` in windows of 64 KB until it finds one.
    func cut(atOrAfter offset: Int) throws -> Int {
        guard offset > 0 else { return 0 }
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw DataError.io(path: url.path, reason: "cannot be read") }
        defer { try? handle.close() }
        var from = offset  // the first candidate
        while from < size {
            let start = max(0, from - 2)  // two bytes of look-behind for rule 1
            let window: [UInt8]
            do {
                try handle.seek(toOffset: UInt64(start))
                window = [UInt8](try handle.read(upToCount: 64 << 10) ?? Data())
            } catch {
                throw DataError.io(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
            }
            // The window's last byte is a candidate only at the end of the file (rule 2 looks one ahead).
            let limit = start + window.count >= size ? window.count : window.count - 1
            if let p = TextCut.first(window, from: from - start, to: limit, kind: kind) { return start + p }
            guard limit > from - start else { break }
            from = start + limit
        }
        return size
    }

    /// `parts` consecutive byte ranges covering the file, each starting at the first safe cut at
    /// or after k·size/parts (some may be empty when the text has few cuts).
    public func ranges(_ parts: Int) throws -> [Range<Int>] {
        var starts = [0]
        for k in 1..<max(1, parts) {
            starts.append(max(starts.last!, try cut(atOrAfter: k * size / parts)))
        }
        starts.append(size)
        return (0..<max(1, parts)).map { starts[$0]..<starts[$0 + 1] }
    }

    /// char: the scalars of `range`.
    public func scalars(in range: Range<Int>?, progress: ((Int) -> Void)? = nil) throws -> Set<UInt32> {
        var seen = Set<UInt32>()
        try chunks(range).forEach(progress: progress) { for s in try text($0).unicodeScalars { seen.insert(s.value) } }
        return seen
    }

    /// word: how often each piece occurs in `range`.
    public func wordCounts(in range: Range<Int>?, progress: ((Int) -> Void)? = nil) throws -> [[UInt8]: Int] {
        var counts: [[UInt8]: Int] = [:]
        try chunks(range).forEach(progress: progress) { bytes in
            _ = try text(bytes)
            WordTokenizer.split(bytes) { counts[Array(bytes[$0]), default: 0] += 1 }
        }
        return counts
    }

    /// bpe: the text it trains on — the whole input up to `bpeSampleBytes`, else
    /// `bpeSamplePieces` pieces, the k-th from the first safe cut at or after k·size/pieces to the
    /// first at or after its start + bpeSampleBytes/pieces (seeks: reads only the sample).
    public func bpeSample() throws -> String {
        if size <= bpeSampleBytes {
            var sample: [UInt8] = []
            try chunks(nil).forEach { sample += $0 }
            return try text(sample)
        }
        let pieces = Self.bpeSamplePieces, pieceBytes = bpeSampleBytes / Self.bpeSamplePieces
        var sample: [UInt8] = []
        var last = 0
        for k in 0..<pieces {
            let start = max(last, try cut(atOrAfter: k * size / pieces))
            let end = min(size, max(start, try cut(atOrAfter: start + pieceBytes)))
            last = end
            guard end > start else { continue }
            guard let handle = FileHandle(forReadingAtPath: url.path) else { throw DataError.io(path: url.path, reason: "cannot be read") }
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(start))
            sample += [UInt8](try handle.read(upToCount: end - start) ?? Data())
        }
        return try text(sample)
    }

    /// The tokenizer of the whole input trained in one process: char's scalars, word's counts,
    /// bpe's sample; byte needs none.
    public func tokenizer(vocabSize: Int?, progress: ((Int) -> Void)? = nil) throws -> any Tokenizer {
        switch kind {
        case .byte: return ByteTokenizer()
        case .char: return CharTokenizer(scalars: try scalars(in: nil, progress: progress).sorted().map { Unicode.Scalar($0)! })
        case .word: return try WordTokenizer(counts: try wordCounts(in: nil, progress: progress), vocabSize: vocabSize)
        case .bpe: return try BPETokenizer(training: bpeSample(), vocabSize: vocabSize ?? Tokenizers.defaultBPEVocabSize)
        case .huggingface: throw DataError.invalidArgument(Tokenizers.untrainable)
        }
    }

    /// Encodes `range` (nil: the whole file) with `tokenizer` into complete token files of at
    /// most `pieceTokens` tokens (`TokenPieceWriter`, named after `base`). Returns the pieces,
    /// the tokens written and the Unicode scalars read.
    public func encode(_ range: Range<Int>?, with tokenizer: any Tokenizer, into base: URL, pieceTokens: Int,
                       progress: ((Int) -> Void)? = nil) throws -> (pieces: [TokenPiece], tokens: Int, characters: Int) {
        var writer = try TokenPieceWriter(base: base, vocabSize: tokenizer.vocabSize, pieceTokens: pieceTokens)
        var characters = 0
        try chunks(range).forEach(progress: progress) { bytes in
            if kind == .byte {
                // Scalar starts: the scalars of UTF-8 text, which chunks cut anywhere do not change.
                characters += bytes.reduce(0) { $0 + ($1 & 0xC0 != 0x80 ? 1 : 0) }
                try writer.append(bytes: bytes)
            } else {
                let s = try text(bytes)
                characters += s.unicodeScalars.count
                try writer.append(try tokenizer.encode(s))
            }
        }
        let pieces = try writer.finish()
        return (pieces, writer.count, characters)
    }
}

/// The number of train tokens of `total`: the first 1 − valFraction, rounded down (nanoGPT's
/// `int(n*0.9)`). One process and a parallel prepare split alike.
public func trainTokenCount(total: Int, valFraction: Double) -> Int {
    Int((Double(total) * (1 - valFraction)).rounded(.down))
}

/// Writes `tokenizer`'s tokenizer.json into `dir`.
public func writeTokenizerJSON(_ tokenizer: any Tokenizer, to dir: URL) throws {
    let jsonURL = dir.appendingPathComponent("tokenizer.json")
    do {
        try tokenizer.jsonData().write(to: jsonURL, options: .atomic)
    } catch {
        throw DataError.io(path: jsonURL.path, reason: "cannot be written (\(error.localizedDescription))")
    }
}

/// `dptrain prepare`'s work in one process in bounded memory: the tokenizer (`PrepareInput.tokenizer`),
/// then a second pass that encodes chunk by chunk into a temporary file, split into train.bin
/// and val.bin. With `shardTokens` and a split above it, the tokens go to shards of at most that
/// many tokens instead (`PreparedShards.place`: `data_train_NNNNNN.bin`, `data_val_NNNNNN.bin`,
/// numbered from 0; train.bin and val.bin of an earlier prepare removed). Returns the tokenizer,
/// token counts, characters and the shards written (nil: train.bin and val.bin). With `fixed` (a
/// Hugging Face tokenizer from a checkpoint), that tokenizer encodes and none is trained.
func streamPrepare(input: URL, kind: TokenizerKind, vocabSize: Int?, valFraction: Double, out: URL,
                   shardTokens: Int? = nil, chunkBytes: Int = 4 << 20, bpeSampleBytes: Int = 16 << 20,
                   progress: ((PrepareProgress) -> Void)? = nil,
                   using fixed: (any Tokenizer)? = nil) throws -> (any Tokenizer, train: Int, val: Int, characters: Int,
                                                                   shards: (train: Int, val: Int)?) {
    // TextCut's rules hold for GPT-2's pre-split; a Hugging Face tokenizer that adds a prefix space
    // to every piece, or whose added tokens strip the whitespace around them, would see each chunk's
    // start differently, so it encodes the input as one chunk.
    var chunkBytes = chunkBytes
    if let hf = fixed as? HuggingFaceTokenizer, hf.addPrefixSpace || hf.addedTokens.contains(where: { $0.lstrip || $0.rstrip }) {
        chunkBytes = max(chunkBytes, try checkInput(input))
    }
    let source = try PrepareInput(url: input, kind: fixed?.kind ?? kind, chunkBytes: chunkBytes, bpeSampleBytes: bpeSampleBytes)
    let tokenizer = try fixed ?? source.tokenizer(vocabSize: vocabSize, progress: progress.map { report in
        { report(PrepareProgress(phase: kind == .char ? "reading the characters" : "counting the words", done: $0, total: source.size)) }
    })
    // Pieces of a shard's size, so that the shards are the pieces renamed.
    let temporary = out.appendingPathComponent(".train.bin.tmp-\(getpid())")
    let encoded = try source.encode(nil, with: tokenizer, into: temporary, pieceTokens: shardTokens ?? Int(Int32.max), progress: progress.map { report in
        { report(PrepareProgress(phase: "encoding", done: $0, total: source.size)) }
    })
    defer { for piece in encoded.pieces { try? FileManager.default.removeItem(at: piece.url) } }
    let count = encoded.tokens, characters = encoded.characters
    let wide = tokenizer.vocabSize > TokenFile.maxVersion1VocabSize
    let trainCount = trainTokenCount(total: count, valFraction: valFraction)
    var shards: (train: Int, val: Int)? = nil
    if let shardTokens, max(trainCount, count - trainCount) > shardTokens {
        try PreparedShards.makeOutput(out, layout: .shards)
        let numbering = try PreparedShards.numbering(counts: [count], trainCount: trainCount, shardTokens: shardTokens)
        shards = try PreparedShards.place(encoded.pieces, offset: 0, trainCount: trainCount, vocabSize: tokenizer.vocabSize,
                                          shardTokens: shardTokens, first: numbering.first[0], out: out)
    } else {
        // At most two pieces (train and val each fit a shard): one file, then split.
        let whole = encoded.pieces[0].url
        if encoded.pieces.count > 1 {
            let joined = out.appendingPathComponent(".train.bin.joined-\(getpid())")
            defer { try? FileManager.default.removeItem(at: joined) }
            try copyTokens(from: encoded.pieces, first: 0, wide: wide, into: [(joined, count)])
            try move(joined, to: whole)
        }
        try splitTokenFile(whole, count: count, wide: wide, at: trainCount,
                           head: out.appendingPathComponent("train.bin"), tail: out.appendingPathComponent("val.bin"))
    }
    try writeTokenizerJSON(tokenizer, to: out)
    return (tokenizer, trainCount, count - trainCount, characters, shards)
}

/// How far a pass of `prepare` is: `done` of `total` bytes of its input (a rank's own range
/// under mpirun). For a progress line on a terminal.
public struct PrepareProgress: Sendable {
    public let phase: String
    public let done: Int, total: Int
    public init(phase: String, done: Int, total: Int) {
        self.phase = phase
        self.done = done
        self.total = total
    }
}
