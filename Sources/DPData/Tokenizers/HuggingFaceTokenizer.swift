import Foundation

/// Hugging Face's byte-level BPE — GPT-2's tokenizer as the `tokenizers` library runs it — read
/// from a tokenizer.json or from the older vocab.json + merges.txt pair
/// (`HuggingFaceTokenizer+Files.swift`). `encode` gives exactly the ids of the library's
/// `Tokenizer.encode(text, add_special_tokens=False).ids`, `decode` its
/// `decode(ids, skip_special_tokens=False)`:
///
/// 1. Added tokens (`<|endoftext|>` and the like) are found first, leftmost-longest, those with
///    `normalized: false` before those with `normalized: true`, honouring `lstrip`, `rstrip` and
///    `single_word`; each is one id wherever it appears in the text.
/// 2. Each stretch of text between them goes through the ByteLevel pre-tokenizer: a space in
///    front when `add_prefix_space` and it does not start with one, then GPT-2's pre-split
///    (`GPT2PreSplit`) when `use_regex`, else the stretch as one piece.
/// 3. Each piece's bytes start as the vocabulary ids of their `ByteLevel` characters (a byte
///    whose character is not in the vocabulary becomes `unk_token`, fused when `fuse_unk`, or is
///    dropped when there is none, as the library does), then the merges apply as the library
///    applies them: repeatedly the present pair of lowest rank, leftmost on ties, one occurrence
///    at a time (`mergeAll`). With `ignore_merges`, a piece that is itself in the vocabulary is
///    that one id.
///
/// Ids are the vocabulary's, not 256 + i as in dptrain's own `BPETokenizer`. The vocabulary size
/// is one more than the largest id of the vocabulary and the added tokens. Ids outside it, or
/// holes in it, decode to U+FFFD (the library drops them). dptrain stores this tokenizer as the
/// Hugging Face tokenizer.json itself (`jsonData`), so a checkpoint carries it whole.
public struct HuggingFaceTokenizer: Tokenizer {
    /// A token of tokenizer.json's "added_tokens": matched in the raw text before anything else.
    public struct AddedToken: Sendable, Equatable {
        public let id: Int32
        public let content: String
        /// Special tokens (`<|endoftext|>`) are those `skip_special_tokens` would drop.
        public let special: Bool
        public let singleWord: Bool
        public let lstrip: Bool
        public let rstrip: Bool
        public let normalized: Bool

        public init(id: Int32, content: String, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
                    rstrip: Bool = false, normalized: Bool = false) {
            self.id = id
            self.content = content
            self.special = special
            self.singleWord = singleWord
            self.lstrip = lstrip
            self.rstrip = rstrip
            self.normalized = normalized
        }
    }

    /// What a merge makes, and its priority (lower first).
    struct Merge { let rank: Int32; let id: Int32 }

    public var kind: TokenizerKind { .huggingface }
    public let vocabSize: Int
    /// The added tokens, in id order.
    public let addedTokens: [AddedToken]
    /// The ByteLevel pre-tokenizer's `add_prefix_space`.
    public let addPrefixSpace: Bool
    /// The ByteLevel pre-tokenizer's `use_regex`: GPT-2's pre-split before the merges.
    public let useRegex: Bool
    /// The number of merges.
    public let mergeCount: Int

    let ignoreMerges: Bool
    let unknown: Int32?
    let fuseUnknown: Bool
    /// The id of each byte's ByteLevel character, -1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// (left << 32 | right) -> what the merge makes.
    let merges: [UInt64: Merge]
    /// Token id -> its string as the vocabulary spells it (nil: a hole).
    let tokens: [String?]
    /// Token id -> the bytes it decodes to (ByteLevel's decoder: the table's bytes when every
    /// character is in it, else the string's own UTF-8).
    let pieces: [[UInt8]?]
    /// Bytes -> id of the vocabulary's byte-level tokens, for `ignore_merges`.
    let wholePieces: [ArraySlice<UInt8>: Int32]
    /// The added tokens matched in the first pass (normalized: false) and the second.
    let firstPass: AddedTokenMatcher
    let secondPass: AddedTokenMatcher
    /// tokenizer.json's bytes: what `jsonData` returns.
    let json: Data

    /// Something wrong with the files, and in which one (the pair of files has two).
    struct Problem: Error {
        enum Part { case vocab, merges, any }
        let part: Part
        let reason: String
        init(_ part: Part, _ reason: String) { self.part = part; self.reason = reason }
        init(_ reason: String) { self.init(.any, reason) }
    }

    /// The tokenizer with this vocabulary (token -> id), merges in rank order, added tokens and
    /// settings; `json` is the tokenizer.json that describes it.
    init(vocab: [String: Int32], merges mergeList: [(String, String)], addedTokens: [AddedToken],
         addPrefixSpace: Bool, useRegex: Bool, ignoreMerges: Bool, unknownToken: String?, fuseUnknown: Bool,
         json: Data) throws {
        var size = 0
        for (token, id) in vocab {
            guard id >= 0 else { throw Problem(.vocab, "the vocabulary gives \(quotedToken(token)) the negative id \(id)") }
            size = max(size, Int(id) + 1)
        }
        for t in addedTokens {
            guard t.id >= 0 else { throw Problem("the added token \(quotedToken(t.content)) has the negative id \(t.id)") }
            guard !t.content.isEmpty else { throw Problem("added token \(t.id) is empty") }
            size = max(size, Int(t.id) + 1)
        }
        guard size <= 1 << 24 else { throw Problem(.vocab, "its largest id, \(size - 1), is beyond the 2^24 tokens dptrain accepts") }
        var tokens = [String?](repeating: nil, count: size)
        for (token, id) in vocab {
            if let other = tokens[Int(id)] {
                let (a, b) = other < token ? (other, token) : (token, other)
                throw Problem(.vocab, "the vocabulary gives \(quotedToken(a)) and \(quotedToken(b)) the same id \(id)")
            }
            tokens[Int(id)] = token
        }
        for t in addedTokens {
            if let other = tokens[Int(t.id)], other != t.content {
                throw Problem("the added token \(quotedToken(t.content)) has id \(t.id), which the vocabulary gives \(quotedToken(other))")
            }
            tokens[Int(t.id)] = t.content
        }

        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (a, b)) in mergeList.enumerated() {
            guard let left = vocab[a], let right = vocab[b] else {
                let missing = vocab[a] == nil ? a : b
                throw Problem(.merges, "merge \(rank + 1) (\(quotedToken(a + " " + b))) names \(quotedToken(missing)), which is not in the vocabulary")
            }
            guard let made = vocab[a + b] else {
                throw Problem(.merges, "merge \(rank + 1) (\(quotedToken(a + " " + b))) makes \(quotedToken(a + b)), which is not in the vocabulary")
            }
            // As the library builds its map: a later duplicate replaces an earlier one.
            merges[Self.key(left, right)] = Merge(rank: Int32(rank), id: made)
        }

        var unknown: Int32?
        if let unknownToken {
            guard let id = vocab[unknownToken] else {
                throw Problem(.vocab, "its unk_token \(quotedToken(unknownToken)) is not in the vocabulary")
            }
            unknown = id
        }

        var pieces = [[UInt8]?](repeating: nil, count: size)
        var wholePieces: [ArraySlice<UInt8>: Int32] = [:]
        for (id, token) in tokens.enumerated() {
            guard let token else { continue }
            if let bytes = ByteLevel.bytes(of: token) {
                pieces[id] = bytes
                if ignoreMerges, vocab[token] == Int32(id) { wholePieces[bytes[...]] = Int32(id) }
            } else {
                pieces[id] = Array(token.utf8)
            }
        }

        self.vocabSize = size
        self.addedTokens = addedTokens.sorted { $0.id < $1.id }
        self.addPrefixSpace = addPrefixSpace
        self.useRegex = useRegex
        self.mergeCount = mergeList.count
        self.ignoreMerges = ignoreMerges
        self.unknown = unknown
        self.fuseUnknown = fuseUnknown
        self.byteIDs = (0..<256).map { vocab[String(Unicode.Scalar(ByteLevel.scalarOfByte[$0])!)] ?? -1 }
        self.merges = merges
        self.tokens = tokens
        self.pieces = pieces
        self.wholePieces = wholePieces
        self.firstPass = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        self.secondPass = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        self.json = json
    }

    /// The id of a token as the vocabulary or the added tokens spell it (`Ġthe`, `<|endoftext|>`).
    public func id(of token: String) -> Int32? {
        if let t = addedTokens.first(where: { $0.content == token }) { return t.id }
        // The vocabulary is not kept as a map; ids are few enough to search when asked.
        return tokens.firstIndex(of: token).map { Int32($0) }
    }

    /// The token with this id as the vocabulary spells it, nil outside the vocabulary.
    public func token(of id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
    }

    public func jsonData() throws -> Data { json }

    // MARK: - Encoding

    public func encode(_ text: String) throws -> [Int32] {
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3)
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        for part in firstPass.split(bytes, 0..<bytes.count) {
            switch part {
            case .added(let id):
                out.append(id)
            case .text(let range):
                for inner in secondPass.split(bytes, range) {
                    switch inner {
                    case .added(let id): out.append(id)
                    case .text(let r): encodeStretch(bytes[r], into: &out, cache: &cache)
                    }
                }
            }
        }
        return out
    }

    /// The ByteLevel pre-tokenizer and the model on one stretch of text between added tokens.
    private func encodeStretch(_ stretch: ArraySlice<UInt8>, into out: inout [Int32],
                               cache: inout [ArraySlice<UInt8>: [Int32]]) {
        guard !stretch.isEmpty else { return }
        var text = Array(stretch)
        if addPrefixSpace && text[0] != UInt8(ascii: " ") { text.insert(UInt8(ascii: " "), at: 0) }
        let chunks = useRegex ? GPT2PreSplit.chunks(text) : [0..<text.count]
        for range in chunks {
            let chunk = text[range]
            if let known = cache[chunk] {
                out.append(contentsOf: known)
            } else {
                let ids = encodeChunk(chunk)
                cache[chunk] = ids
                out.append(contentsOf: ids)
            }
        }
    }

    /// The BPE model on one pre-tokenized piece (the library's `BPE::tokenize`).
    func encodeChunk(_ chunk: ArraySlice<UInt8>) -> [Int32] {
        if ignoreMerges, let id = wholePieces[chunk] { return [id] }
        var symbols: [Int32] = []
        symbols.reserveCapacity(chunk.count)
        var pendingUnknown = false
        for b in chunk {
            let id = byteIDs[Int(b)]
            if id >= 0 {
                if pendingUnknown, let unknown { symbols.append(unknown); pendingUnknown = false }
                symbols.append(id)
            } else if let unknown {
                if pendingUnknown && !fuseUnknown { symbols.append(unknown) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unknown { symbols.append(unknown) }
        return mergeAll(symbols)
    }

    /// The library's `Word::merge_all`: a min-heap of (rank, position) over the adjacent pairs
    /// that a merge joins; pop the lowest, skip it when stale (its left symbol gone or its pair
    /// no longer the one that makes its id), merge, push the pairs the new symbol forms with its
    /// neighbours. O(n log n) for n symbols.
    func mergeAll(_ start: [Int32]) -> [Int32] {
        let n = start.count
        guard n > 1 else { return start }
        var c = start
        var prev = [Int](repeating: -1, count: n), next = [Int](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1 }
        var heap = BinaryHeap<PendingMerge>()
        for i in 0..<(n - 1) {
            if let m = merges[Self.key(c[i], c[i + 1])] { heap.push(.init(rank: m.rank, pos: i, id: m.id)) }
        }
        while let top = heap.pop() {
            let pos = top.pos
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = next[pos]
            guard let m = merges[Self.key(c[pos], c[right])], m.id == top.id else { continue }
            c[pos] = top.id
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[next[right]] = pos }
            if prev[pos] >= 0, let m = merges[Self.key(c[prev[pos]], c[pos])] {
                heap.push(.init(rank: m.rank, pos: prev[pos], id: m.id))
            }
            if next[pos] >= 0, let m = merges[Self.key(c[pos], c[next[pos]])] {
                heap.push(.init(rank: m.rank, pos: pos, id: m.id))
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        for i in 0..<n where alive[i] { out.append(c[i]) }
        return out
    }

    @inline(__always)
    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    // MARK: - Decoding

    /// ByteLevel's decoder: every token's bytes, joined, read as UTF-8 with U+FFFD for invalid
    /// sequences (as Rust's `from_utf8_lossy`).
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 3)
        for t in ids {
            if t >= 0, Int(t) < pieces.count, let piece = pieces[Int(t)] {
                bytes.append(contentsOf: piece)
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A token for a message: quoted, with its ByteLevel characters (`Ġthe`) as they are.
func quotedToken(_ token: String) -> String { "\"\(token.unicodeScalars.map { $0.escaped(asASCII: false) }.joined())\"" }

/// A pending merge; the heap gives the lowest (rank, position) first, as the library's.
struct PendingMerge: HeapOrdered {
    let rank: Int32, pos: Int, id: Int32

    @inline(__always)
    static func before(_ a: Self, _ b: Self) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos }
}
