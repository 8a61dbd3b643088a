/// Finds a Hugging Face tokenizer's added tokens in text, as the `tokenizers` library's
/// `AddedVocabulary::find_matches` does: leftmost-longest, non-overlapping; a `single_word`
/// token only where no word character (Unicode `\w`) touches it; `lstrip` / `rstrip` take the
/// white space on that side into the token (so it is dropped from the text).
struct AddedTokenMatcher: Sendable {
    /// A stretch of the text, or one added token's id.
    enum Part: Equatable { case text(Range<Int>), added(Int32) }

    private let tokens: [HuggingFaceTokenizer.AddedToken]
    private let contents: [[UInt8]]
    /// First byte -> indices of the tokens starting with it, longest first.
    private let byFirstByte: [[Int]]

    init(_ tokens: [HuggingFaceTokenizer.AddedToken]) {
        self.tokens = tokens
        let contents = tokens.map { Array($0.content.utf8) }
        var first = [[Int]](repeating: [], count: 256)
        for (i, c) in contents.enumerated() where !c.isEmpty { first[Int(c[0])].append(i) }
        self.contents = contents
        byFirstByte = first.map { list in list.sorted { contents[$0].count > contents[$1].count } }
    }

    /// `bytes[range]` cut into text and added tokens, in order; the text parts may be empty only
    /// when the whole range is.
    func split(_ bytes: [UInt8], _ range: Range<Int>) -> [Part] {
        guard !tokens.isEmpty, !range.isEmpty else { return [.text(range)] }
        var parts: [Part] = []
        var startOffset = range.lowerBound
        var p = range.lowerBound
        while p < range.upperBound {
            guard let t = longestMatch(bytes, at: p, end: range.upperBound) else { p += 1; continue }
            let token = tokens[t]
            var start = p, stop = p + contents[t].count
            p = stop
            if token.singleWord {
                let spaceBefore = start == range.lowerBound || !Self.isWordScalar(scalar(before: start, in: bytes))
                let spaceAfter = stop == range.upperBound || !Self.isWordScalar(scalar(at: stop, in: bytes))
                if !spaceBefore || !spaceAfter { continue }
            }
            if token.lstrip {
                var q = start
                while q > range.lowerBound {
                    let (s, length) = scalarEnding(at: q, in: bytes)
                    guard s.properties.isWhitespace else { break }
                    q -= length
                }
                start = max(q, startOffset)
            }
            if token.rstrip {
                while stop < range.upperBound {
                    let (value, length) = GPT2PreSplit.decodeScalar(bytes, at: stop)
                    guard Unicode.Scalar(value)!.properties.isWhitespace else { break }
                    stop += length
                }
                p = stop
            }
            if startOffset < start { parts.append(.text(startOffset..<start)) }
            parts.append(.added(token.id))
            startOffset = stop
        }
        if startOffset < range.upperBound { parts.append(.text(startOffset..<range.upperBound)) }
        return parts
    }

    private func longestMatch(_ bytes: [UInt8], at p: Int, end: Int) -> Int? {
        for t in byFirstByte[Int(bytes[p])] {
            let c = contents[t]
            if p + c.count <= end && bytes[p..<(p + c.count)].elementsEqual(c) { return t }
        }
        return nil
    }

    private func scalar(at p: Int, in bytes: [UInt8]) -> Unicode.Scalar {
        Unicode.Scalar(GPT2PreSplit.decodeScalar(bytes, at: p).0)!
    }

    private func scalar(before p: Int, in bytes: [UInt8]) -> Unicode.Scalar { scalarEnding(at: p, in: bytes).0 }

    /// The scalar whose UTF-8 ends just before `p`, and its length.
    private func scalarEnding(at p: Int, in bytes: [UInt8]) -> (Unicode.Scalar, Int) {
        var q = p - 1
        while q > 0 && bytes[q] & 0xC0 == 0x80 { q -= 1 }
        return (Unicode.Scalar(GPT2PreSplit.decodeScalar(bytes, at: q).0)!, p - q)
    }

    /// Rust regex's Unicode `\w`: Alphabetic, marks, decimal digits, connector punctuation, Join_Control.
    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
