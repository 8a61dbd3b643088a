import Foundation

/// One token per byte of the text's UTF-8: 256 tokens, any input, decode(encode(s)) == s. A data file
/// is tokenized from its bytes as they are, so any file, UTF-8 or not, trains a byte model.
public struct ByteTokenizer: Tokenizer {
    public var kind: TokenizerKind { .byte }
    public var vocabSize: Int { 256 }

    public init() {}

    public func encode(_ text: String) throws -> [Int32] {
        text.utf8.map { Int32($0) }
    }

    public func decode(_ tokens: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count)
        for t in tokens {
            if (0..<256).contains(t) {
                bytes.append(UInt8(t))
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func jsonData() throws -> Data {
        try encodeJSON(["kind": TokenizerKind.byte.rawValue])
    }
}
