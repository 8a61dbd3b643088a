/// GPT-2's `bytes_to_unicode`: the printable character that stands for each byte in a byte-level
/// BPE vocabulary (Hugging Face's ByteLevel pre-tokenizer and decoder use the same table).
///
/// The 188 bytes that are printable Latin-1 (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the
/// other 68, in byte order, become U+0100, U+0101, … — so a space (0x20) is `Ġ` (U+0120) and a
/// newline (0x0A) is `Ċ` (U+010A).
enum ByteLevel {
    /// The scalar value standing for byte b.
    static let scalarOfByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte a scalar stands for; nil for scalars outside the table.
    static let byteOfScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarOfByte.enumerated() { map[s] = UInt8(b) }
        return map
    }()

    /// `bytes` shown as the table's characters: what a byte-level vocabulary spells them as.
    static func string(of bytes: some Sequence<UInt8>) -> String {
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(Unicode.Scalar(scalarOfByte[Int(b)])!) }
        return String(out)
    }

    /// The bytes `token` stands for when every one of its scalars is in the table, else nil.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = byteOfScalar[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
