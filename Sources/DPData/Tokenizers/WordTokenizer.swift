import Foundation

/// Words and punctuation, as the seed's vocabulary (hello, world, good, welcome) is made of words.
///
/// Text splits into words (runs of letters and digits, with apostrophes inside: "don't"), single
/// punctuation marks, and newlines; other white space only separates. The vocabulary is the most
/// frequent tokens of the training text (ties in code-point order), then `<unk>`, which every
/// other word encodes to. Decoding puts one space between words and none before closing
/// punctuation, so text written that way (the built-in corpus is) round-trips exactly.
public struct WordTokenizer: Tokenizer {
    /// The name of the unknown-word token.
    public static let unknownToken = "<unk>"

    /// Token i is `words[i]`; the last is `<unk>` when there is one.
    public let words: [String]
    /// The id of `<unk>`, or nil when unseen words are an error (the seed tokenizer).
    public let unknown: Int32?
    /// UTF-8 of a word -> its id (slices, so that lookups need no copy).
    private let ids: [ArraySlice<UInt8>: Int32]

    public var kind: TokenizerKind { .word }
    public var vocabSize: Int { words.count }

    /// The tokenizer with `words` as tokens 0, 1, ... and, when `hasUnknown`, `<unk>` after them.
    public init(words: [String], hasUnknown: Bool) {
        var all = words
        if hasUnknown { all.append(Self.unknownToken) }
        self.init(vocabulary: all, unknown: hasUnknown ? Int32(words.count) : nil)
    }

    private init(vocabulary: [String], unknown: Int32?) {
        var ids: [ArraySlice<UInt8>: Int32] = [:]
        for (i, w) in vocabulary.enumerated() where ids[Array(w.utf8)[...]] == nil { ids[Array(w.utf8)[...]] = Int32(i) }
        self.words = vocabulary
        self.unknown = unknown
        self.ids = ids
    }

    /// The `vocabSize - 1` most frequent words of `text` plus `<unk>` (nil: every word plus `<unk>`).
    public init(training text: String, vocabSize: Int?) throws {
        if let n = vocabSize, n < 2 {
            throw DataError.invalidVocabularySize(.word, n, reason: "it needs at least one word and <unk>")
        }
        let bytes = Array(text.utf8)
        var counts: [ArraySlice<UInt8>: Int] = [:]
        Self.split(bytes) { counts[bytes[$0], default: 0] += 1 }
        self.init(ranking: counts, vocabSize: vocabSize)
    }

    /// The tokenizer `init(training:vocabSize:)` makes from a text whose pieces occur `counts`
    /// times: for counts gathered chunk by chunk (`dptrain prepare`).
    public init(counts: [[UInt8]: Int], vocabSize: Int?) throws {
        if let n = vocabSize, n < 2 {
            throw DataError.invalidVocabularySize(.word, n, reason: "it needs at least one word and <unk>")
        }
        self.init(ranking: Dictionary(uniqueKeysWithValues: counts.map { ($0.key[...], $0.value) }), vocabSize: vocabSize)
    }

    private init(ranking counts: [ArraySlice<UInt8>: Int], vocabSize: Int?) {
        // Most frequent first, ties in byte order (= code-point order for UTF-8).
        var ranked = counts.sorted { a, b in
            a.value != b.value ? a.value > b.value : a.key.lexicographicallyPrecedes(b.key)
        }.map { String(decoding: $0.key, as: UTF8.self) }
        if let n = vocabSize, ranked.count > n - 1 { ranked.removeLast(ranked.count - (n - 1)) }
        self.init(words: ranked, hasUnknown: true)
    }

    public func encode(_ text: String) throws -> [Int32] {
        let bytes = Array(text.utf8)
        var tokens: [Int32] = []
        tokens.reserveCapacity(bytes.count / 4)
        var failure: Range<Int>?
        Self.split(bytes) { piece in
            guard failure == nil else { return }
            if let id = ids[bytes[piece]] ?? unknown {
                tokens.append(id)
            } else {
                failure = piece
            }
        }
        if let failure { throw DataError.unknownWord(String(decoding: bytes[failure], as: UTF8.self)) }
        return tokens
    }

    public func decode(_ tokens: [Int32]) -> String {
        var out = ""
        var previous: String?  // the previous token, nil at the start of a line
        var openQuote = false
        for t in tokens {
            let w = t >= 0 && Int(t) < words.count ? words[Int(t)] : "\u{FFFD}"
            if w == "\n" {
                out += "\n"
                previous = nil
                openQuote = false
                continue
            }
            var space = previous != nil
            if let p = previous {
                if Self.closing.contains(w) || p == "(" || p == "[" { space = false }
                if p == "\"" && openQuote { space = false }  // just after an opening quote
            }
            if w == "\"" {
                if openQuote { space = false }  // a closing quote hugs the word before it
                openQuote.toggle()
            }
            if space { out += " " }
            out += w
            previous = w
        }
        return out
    }

    /// Punctuation written without a space before it.
    private static let closing: Set<String> = [".", ",", "!", "?", ";", ":", ")", "]", "'"]

    /// The words, punctuation marks and newlines of `text`, in order.
    static func pieces(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var out: [String] = []
        split(bytes) { out.append(String(decoding: bytes[$0], as: UTF8.self)) }
        return out
    }

    /// Calls `body` with the byte range of each word, punctuation mark and newline of `bytes`
    /// (valid UTF-8), in order. O(n).
    static func split(_ bytes: [UInt8], _ body: (Range<Int>) -> Void) {
        func scalar(at p: Int) -> (Unicode.Scalar, Int) {
            let (value, length) = GPT2PreSplit.decodeScalar(bytes, at: p)
            return (Unicode.Scalar(value)!, length)
        }
        var i = 0
        while i < bytes.count {
            let (s, length) = scalar(at: i)
            if isWordScalar(s) {
                var j = i + length
                while j < bytes.count {
                    let (next, n) = scalar(at: j)
                    if isWordScalar(next) {
                        j += n
                    } else if next == "'", j + 1 < bytes.count, isWordScalar(scalar(at: j + 1).0) {
                        j += 1  // an apostrophe inside a word: don't, Tom's
                    } else {
                        break
                    }
                }
                body(i..<j)
                i = j
            } else {
                if s == "\n" || !s.properties.isWhitespace { body(i..<(i + length)) }
                i += length
            }
        }
    }

    @inline(__always)
    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122)
        }
        return s.properties.isAlphabetic || s.properties.numericType != nil
    }

    private struct JSON: Codable {
        var kind: String
        var words: [String]
        /// The id of `<unk>`, absent when there is none.
        var unknown: Int32?
    }

    public func jsonData() throws -> Data {
        try encodeJSON(JSON(kind: kind.rawValue, words: words, unknown: unknown))
    }

    init(json: Data) throws {
        let decoded = try JSONDecoder().decode(JSON.self, from: json)
        if let u = decoded.unknown, !(0..<Int32(decoded.words.count)).contains(u) {
            throw DataError.invalidTokenizerJSON("word tokenizer's unknown id \(u) is outside its \(decoded.words.count) words")
        }
        self.init(vocabulary: decoded.words, unknown: decoded.unknown)
    }
}
