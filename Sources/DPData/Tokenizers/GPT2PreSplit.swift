/// GPT-2's pre-split of text into word-like chunks, written out by hand. BPE merges never cross
/// a chunk boundary, so " the" and "the," share their pieces.
///
/// It matches the regex of GPT-2's encoder.py, tried in this order at each position:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// The one subtle case is a run of white space before a non-space: all but its last scalar form
/// a chunk, and the last (when it is " ") joins the word after it. Complexity O(n) in the text.
enum GPT2PreSplit {
    /// The class of a Unicode scalar, as the regex sees it.
    enum ScalarClass: UInt8 { case letter, number, other, space, whitespace }

    /// The chunks of `bytes` (valid UTF-8), as byte ranges that cover it in order.
    static func chunks(_ bytes: [UInt8]) -> [Range<Int>] {
        // Decode once: byte offset and class of every scalar; offsets[n] is bytes.count.
        var offsets: [Int] = []
        var classes: [ScalarClass] = []
        var ascii: [UInt8] = []  // the scalar if ASCII, else 0 (for the contractions)
        offsets.reserveCapacity(bytes.count + 1)
        classes.reserveCapacity(bytes.count)
        ascii.reserveCapacity(bytes.count)
        var p = 0
        while p < bytes.count {
            let (scalar, length) = decodeScalar(bytes, at: p)
            offsets.append(p)
            classes.append(classify(scalar))
            ascii.append(scalar < 128 ? UInt8(scalar) : 0)
            p += length
        }
        offsets.append(bytes.count)

        let n = classes.count
        var result: [Range<Int>] = []
        result.reserveCapacity(n / 3)
        var i = 0
        func emit(_ end: Int) {
            result.append(offsets[i]..<offsets[end])
            i = end
        }
        func isSpace(_ k: Int) -> Bool { classes[k] == .space || classes[k] == .whitespace }
        while i < n {
            // 's 't 're 've 'm 'll 'd
            if ascii[i] == UInt8(ascii: "'"), i + 1 < n {
                let c1 = ascii[i + 1], c2: UInt8 = i + 2 < n ? ascii[i + 2] : 0
                if c1 == UInt8(ascii: "s") || c1 == UInt8(ascii: "t") || c1 == UInt8(ascii: "m") || c1 == UInt8(ascii: "d") {
                    emit(i + 2); continue
                }
                if (c1 == UInt8(ascii: "r") && c2 == UInt8(ascii: "e")) || (c1 == UInt8(ascii: "v") && c2 == UInt8(ascii: "e"))
                    || (c1 == UInt8(ascii: "l") && c2 == UInt8(ascii: "l")) {
                    emit(i + 3); continue
                }
            }
            // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
            var start = i
            if classes[i] == .space, i + 1 < n, !isSpace(i + 1) { start = i + 1 }
            if !isSpace(start) {
                let c = classes[start]
                var k = start + 1
                while k < n && classes[k] == c { k += 1 }
                emit(k); continue
            }
            // '\s+(?!\S)' then '\s+'
            var k = i
            while k < n && isSpace(k) { k += 1 }
            if k == n || k - i == 1 { emit(k) } else { emit(k - 1) }
        }
        return result
    }

    /// The scalar starting at `p` and its length in bytes; `bytes` must be valid UTF-8.
    @inline(__always)
    static func decodeScalar(_ bytes: [UInt8], at p: Int) -> (UInt32, Int) {
        let b0 = UInt32(bytes[p])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(bytes[p + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(bytes[p + 1] & 0x3F) << 6 | UInt32(bytes[p + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(bytes[p + 1] & 0x3F) << 12 | UInt32(bytes[p + 2] & 0x3F) << 6
                | UInt32(bytes[p + 3] & 0x3F), 4)
    }

    /// \p{L} letter, \p{N} number, " ", other \s, or anything else.
    static func classify(_ value: UInt32) -> ScalarClass {
        if value < 128 {
            switch UInt8(value) {
            case UInt8(ascii: " "): return .space
            case 9...13: return .whitespace  // \t \n \v \f \r
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
            default: return .other
            }
        }
        let scalar = Unicode.Scalar(value)!
        if scalar.properties.isWhitespace { return .whitespace }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
