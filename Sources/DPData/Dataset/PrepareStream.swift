import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The input of `dptrain prepare`, read in chunks that end where a tokenizer's pieces end, so
/// that encoding chunk by chunk gives exactly the tokens of encoding the whole text.
///
/// A chunk ends after a newline that is followed by an ASCII character other than white space:
/// no word, punctuation run or white-space run of the word tokenizer or of GPT-2's pre-split
/// (bpe) crosses such a point, and char and byte tokens are per scalar and per byte. A chunk with
/// no such point grows until it has one or the input ends. Memory: O(chunk), not O(input).
struct InputChunks {
    let url: URL
    let chunkBytes: Int

    /// Calls `body` with each chunk's bytes, in order.
    func forEach(_ body: ([UInt8]) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.io(path: url.path, reason: "cannot be read")
        }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var ended = false
        while !ended || !pending.isEmpty {
            if !ended {
                let more = try handle.read(upToCount: chunkBytes) ?? Data()
                if more.isEmpty { ended = true } else { pending.append(contentsOf: more) }
            }
            if ended {
                if !pending.isEmpty { try body(pending) }
                pending = []
                continue
            }
            guard pending.count >= chunkBytes, let cut = Self.lastBoundary(pending) else { continue }
            try body(Array(pending[..<cut]))
            pending.removeFirst(cut)
        }
    }

    /// The last index p > 0 with bytes[p - 1] == "\n" and bytes[p] ASCII and not white space.
    static func lastBoundary(_ bytes: [UInt8]) -> Int? {
        var p = bytes.count - 1
        while p > 0 {
            let b = bytes[p]
            if bytes[p - 1] == 0x0A && b < 0x80 && b != 0x20 && !(0x09...0x0D).contains(b) { return p }
            p -= 1
        }
        return nil
    }
}

/// Writes an llm.c token file as its tokens come, then splits it: the first `trainCount` tokens
/// stay, the rest move to a second file (val.bin). Byte for byte what `TokenFile.write` writes
/// for the same tokens.
struct TokenFileWriter {
    let url: URL
    let vocabSize: Int
    private let wide: Bool
    private let handle: FileHandle
    private(set) var count = 0

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

    mutating func append(_ tokens: [Int32]) throws {
        if let i = tokens.firstIndex(where: { $0 < 0 || Int($0) >= vocabSize }) {
            throw DataError.tokenFile(path: url.path, problem: .tokenOutOfRange(index: count + i, token: Int64(tokens[i]), vocabSize: vocabSize))
        }
        let data = wide
            ? tokens.map { UInt32(bitPattern: $0).littleEndian }.withUnsafeBytes { Data($0) }
            : tokens.map { UInt16(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { Data($0) }
        try write(data)
        count += tokens.count
    }

    private func write(_ data: Data, to handle: FileHandle? = nil) throws {
        do {
            try (handle ?? self.handle).write(contentsOf: data)
        } catch {
            throw DataError.io(path: url.path, reason: "cannot be written (\(error.localizedDescription))")
        }
    }

    /// Moves tokens trainCount..<count to a new token file `tail`, keeps the first trainCount here,
    /// and writes both headers. Copies the tail in pieces of 8 MB.
    func split(at trainCount: Int, tail: URL) throws {
        let width = wide ? 4 : 2
        let tailCount = count - trainCount
        guard FileManager.default.createFile(atPath: tail.path, contents: Self.header(count: tailCount, wide: wide)),
              let out = FileHandle(forWritingAtPath: tail.path), let input = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.io(path: tail.path, reason: "cannot be written")
        }
        defer { try? out.close(); try? input.close() }
        try out.seekToEnd()
        try input.seek(toOffset: UInt64(TokenFile.headerBytes + trainCount * width))
        var left = tailCount * width
        while left > 0 {
            let piece = try input.read(upToCount: min(left, 8 << 20)) ?? Data()
            guard !piece.isEmpty else { throw DataError.io(path: url.path, reason: "ended early while being split") }
            try write(piece, to: out)
            left -= piece.count
        }
        try handle.truncate(atOffset: UInt64(TokenFile.headerBytes + trainCount * width))
        try handle.seek(toOffset: 0)
        try write(Self.header(count: trainCount, wide: wide))
        try handle.close()
    }

    static func header(count: Int, wide: Bool) -> Data {
        var header = [Int32](repeating: 0, count: 256)
        (header[0], header[1], header[2]) = (TokenFile.magic, wide ? 2 : 1, Int32(count))
        return header.map(\.littleEndian).withUnsafeBytes { Data($0) }
    }
}

/// `dptrain prepare`'s work in bounded memory: the tokenizer from one pass (char: its scalars;
/// word: its word counts) or from a sample (bpe: the whole input up to `bpeSampleBytes`, else
/// evenly spaced chunks adding up to it), then a second pass that encodes chunk by chunk into
/// train.bin, and the tail of it moved to val.bin. Returns the tokenizer, token counts and
/// characters.
func streamPrepare(input: URL, kind: TokenizerKind, vocabSize: Int?, valFraction: Double, out: URL,
                   chunkBytes: Int = 4 << 20, bpeSampleBytes: Int = 16 << 20) throws -> (any Tokenizer, train: Int, val: Int, characters: Int) {
    let chunks = InputChunks(url: input, chunkBytes: chunkBytes)
    func text(_ bytes: [UInt8]) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw DataError.notUTF8(path: input.path) }
        return s
    }
    let tokenizer: any Tokenizer
    switch kind {
    case .huggingface:
        throw DataError.invalidArgument(Tokenizers.untrainable)
    case .byte:
        tokenizer = ByteTokenizer()
    case .char:
        var seen = Set<UInt32>()
        try chunks.forEach { for s in try text($0).unicodeScalars { seen.insert(s.value) } }
        tokenizer = CharTokenizer(scalars: seen.sorted().map { Unicode.Scalar($0)! })
    case .word:
        var counts: [[UInt8]: Int] = [:]
        try chunks.forEach { bytes in
            _ = try text(bytes)
            WordTokenizer.split(bytes) { counts[Array(bytes[$0]), default: 0] += 1 }
        }
        tokenizer = try WordTokenizer(counts: counts, vocabSize: vocabSize)
    case .bpe:
        let size = (try? FileManager.default.attributesOfItem(atPath: input.path)[.size] as? Int) ?? 0
        var sample: [UInt8] = []
        if size <= bpeSampleBytes {
            try chunks.forEach { sample += $0 }
        } else {
            // Every k-th chunk, so that the sample spans the input.
            let stride = max(1, (size / chunkBytes) / max(1, bpeSampleBytes / chunkBytes))
            var i = 0
            try chunks.forEach { bytes in
                if i % stride == 0 && sample.count < bpeSampleBytes { sample += bytes }
                i += 1
            }
        }
        tokenizer = try BPETokenizer(training: text(sample), vocabSize: vocabSize ?? Tokenizers.defaultBPEVocabSize)
    }
    let train = out.appendingPathComponent("train.bin"), val = out.appendingPathComponent("val.bin")
    let temporary = out.appendingPathComponent(".train.bin.tmp-\(getpid())")
    defer { try? FileManager.default.removeItem(at: temporary) }
    var writer = try TokenFileWriter(url: temporary, vocabSize: tokenizer.vocabSize)
    var characters = 0
    try chunks.forEach { bytes in
        if kind == .byte {
            characters += String(decoding: bytes, as: UTF8.self).unicodeScalars.count
            try writer.append(bytes.map { Int32($0) })
        } else {
            let s = try text(bytes)
            characters += s.unicodeScalars.count
            try writer.append(try tokenizer.encode(s))
        }
    }
    let trainCount = Int((Double(writer.count) * (1 - valFraction)).rounded(.down))
    let valTemporary = out.appendingPathComponent(".val.bin.tmp-\(getpid())")
    defer { try? FileManager.default.removeItem(at: valTemporary) }
    try writer.split(at: trainCount, tail: valTemporary)
    for (from, to) in [(temporary, train), (valTemporary, val)] where rename(from.path, to.path) != 0 {
        throw DataError.io(path: to.path, reason: "cannot be written (\(String(cString: strerror(errno))))")
    }
    let jsonURL = out.appendingPathComponent("tokenizer.json")
    do {
        try tokenizer.jsonData().write(to: jsonURL, options: .atomic)
    } catch {
        throw DataError.io(path: jsonURL.path, reason: "cannot be written (\(error.localizedDescription))")
    }
    return (tokenizer, trainCount, writer.count - trainCount, characters)
}
