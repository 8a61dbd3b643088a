import DPBase
import Foundation

/// One token per Unicode scalar, the vocabulary being the sorted set of scalars of the training
/// text (as nanoGPT's shakespeare_char: tinyshakespeare gives 65).
///
/// Scalars rather than Swift `Character`s, so that "\r\n" is two tokens and counts agree with
/// Python's `len(text)`. Encoding an unseen scalar throws `DataError.unknownCharacter`.
public struct CharTokenizer: Tokenizer {
    /// The vocabulary: token i is `scalars[i]`, sorted by code point.
    public let scalars: [Unicode.Scalar]
    /// Code point -> token for ASCII (-1: not in the vocabulary), the fast path.
    private let ascii: [Int32]
    /// Code point -> token for the rest.
    private let others: [UInt32: Int32]

    public var kind: TokenizerKind { .char }
    public var vocabSize: Int { scalars.count }

    /// The tokenizer whose vocabulary is every scalar of `text`.
    public init(training text: String) {
        var seen = Set<UInt32>()
        for s in text.unicodeScalars { seen.insert(s.value) }
        self.init(scalars: seen.sorted().map { Unicode.Scalar($0)! })
    }

    /// The tokenizer with exactly these scalars as tokens 0, 1, ... (they must be distinct).
    public init(scalars: [Unicode.Scalar]) {
        var ascii = [Int32](repeating: -1, count: 128)
        var others: [UInt32: Int32] = [:]
        for (i, s) in scalars.enumerated() {
            if s.value < 128 { ascii[Int(s.value)] = Int32(i) } else { others[s.value] = Int32(i) }
        }
        self.scalars = scalars
        self.ascii = ascii
        self.others = others
    }

    public func encode(_ text: String) throws -> [Int32] {
        var tokens: [Int32] = []
        tokens.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            let t = s.value < 128 ? ascii[Int(s.value)] : (others[s.value] ?? -1)
            guard t >= 0 else {
                throw DataError.unknownCharacter(String(s), offset: tokens.count)
            }
            tokens.append(t)
        }
        return tokens
    }

    public func decode(_ tokens: [Int32]) -> String {
        var out = String.UnicodeScalarView()
        for t in tokens {
            out.append(t >= 0 && Int(t) < scalars.count ? scalars[Int(t)] : "\u{FFFD}")
        }
        return String(out)
    }

    private struct JSON: Codable {
        var kind: String
        /// One string of one scalar per token, in token order.
        var chars: [String]
    }

    public func jsonData() throws -> Data {
        try encodeJSON(JSON(kind: kind.rawValue, chars: scalars.map { String($0) }))
    }

    init(json: Data) throws {
        let decoded = try JSONDecoder().decode(JSON.self, from: json)
        var scalars: [Unicode.Scalar] = []
        for c in decoded.chars {
            let view = c.unicodeScalars
            guard view.count == 1, let s = view.first else {
                throw DataError.invalidTokenizerJSON("char tokenizer entry \(quoted(c)) is not one character")
            }
            scalars.append(s)
        }
        guard Set(scalars.map(\.value)).count == scalars.count else {
            throw DataError.invalidTokenizerJSON("char tokenizer lists a character twice")
        }
        self.init(scalars: scalars)
    }
}
