import Foundation

/// Byte-level BPE as GPT-2 has it: text is pre-split into word-like chunks (`GPT2PreSplit`), each
/// chunk's UTF-8 bytes start as tokens 0...255, and the learned merges join pairs within a chunk.
/// Merge i makes token 256 + i. Any string encodes, and decode(encode(s)) == s.
public struct BPETokenizer: Tokenizer {
    /// The merges in the order learned: merge i joins `merges[i].0` and `.1` into 256 + i.
    public let merges: [(Int32, Int32)]
    /// Pair (a << 32 | b) -> merge index; lower merges apply first.
    private let ranks: [UInt64: Int32]
    /// The bytes of every token.
    private let pieces: [[UInt8]]

    public var kind: TokenizerKind { .bpe }
    public var vocabSize: Int { 256 + merges.count }

    /// The tokenizer with these merges (each may only use tokens made before it).
    public init(merges: [(Int32, Int32)]) throws {
        var pieces = (0..<256).map { [UInt8($0)] }
        var ranks: [UInt64: Int32] = [:]
        for (i, (a, b)) in merges.enumerated() {
            let made = Int32(256 + i)
            guard a >= 0, b >= 0, a < made, b < made else {
                throw DataError.invalidTokenizerJSON("bpe merge \(i) joins \(a) and \(b), which do not exist before token \(made)")
            }
            guard ranks[Self.key(a, b)] == nil else {
                throw DataError.invalidTokenizerJSON("bpe merge \(i) joins \(a) and \(b), which an earlier merge already joined")
            }
            ranks[Self.key(a, b)] = Int32(i)
            pieces.append(pieces[Int(a)] + pieces[Int(b)])
        }
        self.merges = merges
        self.ranks = ranks
        self.pieces = pieces
    }

    /// Learns `vocabSize - 256` merges from `text`: each time, the pair of adjacent tokens that
    /// occurs most often inside chunks (ties: the smaller pair (a, b)); stops early when no pair
    /// occurs twice. Counts are kept per unique chunk and updated only for chunks a merge
    /// touches, so 1 MB to 512 tokens takes well under a second.
    public init(training text: String, vocabSize: Int) throws {
        guard vocabSize >= 256 else {
            throw DataError.invalidVocabularySize(.bpe, vocabSize, reason: "byte-level BPE starts from 256 byte tokens")
        }
        guard vocabSize <= Int(Int32.max) else {
            throw DataError.invalidVocabularySize(.bpe, vocabSize, reason: "token ids are 32-bit")
        }
        var trainer = BPETrainer(text: text)
        try self.init(merges: trainer.learn(count: vocabSize - 256))
    }

    public func encode(_ text: String) throws -> [Int32] {
        let bytes = Array(text.utf8)
        var tokens: [Int32] = []
        tokens.reserveCapacity(bytes.count / 2)
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        for range in GPT2PreSplit.chunks(bytes) {
            let chunk = bytes[range]
            if let known = cache[chunk] {
                tokens.append(contentsOf: known)
            } else {
                let encoded = encodeChunk(chunk)
                cache[chunk] = encoded
                tokens.append(contentsOf: encoded)
            }
        }
        return tokens
    }

    /// Applies the merges to one chunk: repeatedly the lowest-ranked pair present, everywhere
    /// it occurs (GPT-2's `bpe`). O(len² · merges used) for a chunk of len bytes.
    private func encodeChunk(_ chunk: ArraySlice<UInt8>) -> [Int32] {
        var parts = chunk.map { Int32($0) }
        while parts.count > 1 {
            var best = Int32.max
            for i in 0..<(parts.count - 1) {
                if let r = ranks[Self.key(parts[i], parts[i + 1])], r < best { best = r }
            }
            if best == Int32.max { break }
            let (a, b) = merges[Int(best)]
            parts = Self.merge(parts, a, b, into: 256 + best)
        }
        return parts
    }

    /// `tokens` with every (a, b), scanned left to right, replaced by `made` (so a a a -> made a).
    static func merge(_ tokens: [Int32], _ a: Int32, _ b: Int32, into made: Int32) -> [Int32] {
        var merged: [Int32] = []
        merged.reserveCapacity(tokens.count)
        var i = 0
        while i < tokens.count {
            if i + 1 < tokens.count && tokens[i] == a && tokens[i + 1] == b {
                merged.append(made); i += 2
            } else {
                merged.append(tokens[i]); i += 1
            }
        }
        return merged
    }

    public func decode(_ tokens: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count * 2)
        for t in tokens {
            if t >= 0 && Int(t) < pieces.count {
                bytes.append(contentsOf: pieces[Int(t)])
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes that token `t` stands for.
    public func bytes(of t: Int32) -> [UInt8] { pieces[Int(t)] }

    private struct JSON: Codable {
        var kind: String
        var vocab_size: Int
        /// [a, b] per merge, in order; merge i makes token 256 + i.
        var merges: [[Int32]]
    }

    public func jsonData() throws -> Data {
        try encodeJSON(JSON(kind: kind.rawValue, vocab_size: vocabSize, merges: merges.map { [$0.0, $0.1] }))
    }

    init(json: Data) throws {
        let decoded = try JSONDecoder().decode(JSON.self, from: json)
        var merges: [(Int32, Int32)] = []
        for (i, m) in decoded.merges.enumerated() {
            guard m.count == 2 else { throw DataError.invalidTokenizerJSON("bpe merge \(i) is not a pair") }
            merges.append((m[0], m[1]))
        }
        try self.init(merges: merges)
        guard vocabSize == decoded.vocab_size else {
            throw DataError.invalidTokenizerJSON("bpe vocab_size \(decoded.vocab_size) does not match its \(merges.count) merges")
        }
    }

    @inline(__always)
    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
}
