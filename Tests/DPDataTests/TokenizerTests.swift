import Foundation
import Testing
@testable import DPData

/// Text that exercises every tokenizer: ASCII, punctuation, newlines, multi-byte UTF-8 (2, 3 and
/// 4 bytes), combining marks and odd white space.
let mixedText = "Hello, world! Welcome to the good world.\nIt's 3 o'clock  — café naïve 日本語 😀👍🏽 e\u{301}\t\r\nend  "

@Suite struct TokenizerTests {
    @Test(arguments: [TokenizerKind.char, .byte, .bpe])
    func losslessRoundTrip(kind: TokenizerKind) throws {
        let tokenizer = try Tokenizers.train(kind, on: mixedText, vocabSize: 300)
        let tokens = try tokenizer.encode(mixedText)
        #expect(tokenizer.decode(tokens) == mixedText)
        #expect(Array(tokenizer.decode(tokens).utf8) == Array(mixedText.utf8))
        #expect(tokens.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabSize })
    }

    @Test(arguments: TokenizerKind.trainable)
    func jsonRoundTripEncodesTheSame(kind: TokenizerKind) throws {
        let tokenizer = try Tokenizers.train(kind, on: mixedText, vocabSize: kind == .word ? 12 : 300)
        let loaded = try Tokenizers.load(json: tokenizer.jsonData())
        #expect(loaded.kind == kind)
        #expect(loaded.vocabSize == tokenizer.vocabSize)
        #expect(try loaded.encode(mixedText) == tokenizer.encode(mixedText))
        let json = try JSONSerialization.jsonObject(with: tokenizer.jsonData()) as? [String: Any]
        #expect(json?["kind"] as? String == kind.rawValue)
    }

    @Test func charVocabularyIsTheSortedScalars() throws {
        let tokenizer = try #require(Tokenizers.train(.char, on: "hello world\n", vocabSize: nil) as? CharTokenizer)
        #expect(tokenizer.scalars == ["\n", " ", "d", "e", "h", "l", "o", "r", "w"])
        #expect(try tokenizer.encode("hold") == [4, 6, 5, 2])
        // "\r\n" is one Swift Character but two scalars, as in Python.
        #expect(CharTokenizer(training: "a\r\nb").vocabSize == 4)
    }

    @Test func charUnknownCharacterIsNamed() throws {
        let tokenizer = CharTokenizer(training: "abc")
        #expect(throws: DataError.unknownCharacter("é", offset: 2)) { try tokenizer.encode("abé") }
        let message = DataError.unknownCharacter("\n", offset: 0).description
        #expect(message.contains("\"\\n\""))
    }

    @Test func byteTokenizerHasTheUTF8Bytes() throws {
        let tokenizer = ByteTokenizer()
        #expect(tokenizer.vocabSize == 256)
        #expect(try tokenizer.encode("é😀") == [0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80])
    }

    @Test func seedTokenizerHasTheSeedIds() throws {
        let seed = Tokenizers.seed
        #expect(seed.kind == .word && seed.vocabSize == 4)
        #expect(try seed.encode("hello world good welcome") == [0, 1, 2, 3])
        #expect(seed.decode([0, 1, 3]) == "hello world welcome")
        #expect(throws: DataError.unknownWord("goodbye")) { try seed.encode("hello goodbye") }
        let reloaded = try Tokenizers.load(json: seed.jsonData())
        #expect(try reloaded.encode("welcome good") == [3, 2])
    }

    @Test func wordTokenizerSplitsWordsAndPunctuation() throws {
        let text = "\"Hello, world!\" said Tom. Tom's cat said hello.\nThe end."
        let tokenizer = try #require(Tokenizers.train(.word, on: text, vocabSize: nil) as? WordTokenizer)
        #expect(WordTokenizer.pieces(text) == ["\"", "Hello", ",", "world", "!", "\"", "said", "Tom", ".", "Tom's", "cat", "said", "hello",
                           ".", "\n", "The", "end", "."])
        // Most frequent first, ties in code-point order, <unk> last.
        #expect(tokenizer.words == [".", "\"", "said", "\n", "!", ",", "Hello", "The", "Tom", "Tom's", "cat", "end",
                                    "hello", "world", "<unk>"])
        // Written with the spacing decode uses, such text comes back exactly.
        #expect(try tokenizer.decode(tokenizer.encode(text)) == text)
    }

    @Test func wordTokenizerCapsByFrequencyWithUnknown() throws {
        let text = "a a a a b b b c c d"
        let tokenizer = try #require(Tokenizers.train(.word, on: text, vocabSize: 3) as? WordTokenizer)
        #expect(tokenizer.words == ["a", "b", "<unk>"])
        #expect(try tokenizer.encode("a c b zebra") == [0, 2, 1, 2])
        #expect(throws: DataError.self) { try Tokenizers.train(.word, on: text, vocabSize: 1) }
    }

    /// The example of Wikipedia's "Byte pair encoding" article, one chunk: aa is merged first
    /// (4 times), then ab and aa·a tie at 2 and the smaller pair (a, b) wins, then aa·ab (2 times);
    /// after that every pair occurs once and training stops short of the asked 300 tokens.
    @Test func bpeMergesOnAHandCheckedText() throws {
        let a: Int32 = 97, b: Int32 = 98, c: Int32 = 99, d: Int32 = 100
        let tokenizer = try BPETokenizer(training: "aaabdaaabac", vocabSize: 300)
        #expect(tokenizer.merges.map { [$0.0, $0.1] } == [[a, a], [a, b], [256, 257]])
        #expect(tokenizer.vocabSize == 259)
        #expect(try tokenizer.encode("aaabdaaabac") == [258, d, 258, a, c])
        #expect(tokenizer.bytes(of: 258) == Array("aaab".utf8))
        // Merges never cross chunks: " aa" is a chunk of its own and so is "aa".
        let spaced = try BPETokenizer(training: "aa aa aa", vocabSize: 258)
        #expect(spaced.merges.map { [$0.0, $0.1] } == [[a, a], [32, 256]])
        #expect(try spaced.encode("aa aa aa") == [256, 257, 257])
    }

    @Test func bpeTrainingIsDeterministicAndCompresses() throws {
        let text = String(BuiltinCorpus.text().prefix(100_000))
        let first = try BPETokenizer(training: text, vocabSize: 400)
        let second = try BPETokenizer(training: text, vocabSize: 400)
        #expect(first.merges.map { [$0.0, $0.1] } == second.merges.map { [$0.0, $0.1] })
        #expect(first.vocabSize == 400)
        let tokens = try first.encode(text)
        #expect(first.decode(tokens) == text)
        // More merges, fewer tokens; 256 tokens are plain bytes.
        let smaller = try BPETokenizer(training: text, vocabSize: 300).encode(text)
        #expect(tokens.count < smaller.count && smaller.count < text.utf8.count)
        #expect(try BPETokenizer(training: text, vocabSize: 256).encode(text).count == text.utf8.count)
        #expect(throws: DataError.self) { try BPETokenizer(training: text, vocabSize: 255) }
    }

    /// Expected chunks from GPT-2's own regex (Python `regex`):
    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    @Test(arguments: [
        ("Hello world's  end\n\n  x 123 !!", ["Hello", " world", "'s", " ", " end", "\n\n ", " x", " 123", " !!"]),
        ("I'm  don't   'll 'LL\tok?\r\n", ["I", "'m", " ", " don", "'t", "  ", " '", "ll", " '", "LL", "\t", "ok", "?", "\r\n"]),
        ("héllo wörld 日本語 ½ 😀😀 x", ["héllo", " wörld", " 日本語", " ½", " 😀😀", " x"]),
        ("  leading and trailing  ", [" ", " leading", " and", " trailing", "  "]),
        ("a\u{A0}b \u{2003}c", ["a", "\u{A0}", "b", " ", "\u{2003}", "c"]),
    ])
    func gpt2PreSplitMatchesTheRegex(text: String, expected: [String]) {
        let bytes = Array(text.utf8)
        let chunks = GPT2PreSplit.chunks(bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
        #expect(chunks == expected)
    }

    @Test func loadRejectsBadJSON() {
        #expect(throws: DataError.self) { try Tokenizers.load(json: Data("{}".utf8)) }
        #expect(throws: DataError.self) { try Tokenizers.load(json: Data(#"{"kind":"sentencepiece"}"#.utf8)) }
        #expect(throws: DataError.self) { try Tokenizers.load(json: Data(#"{"kind":"bpe","vocab_size":257,"merges":[[256,1]]}"#.utf8)) }
        #expect(throws: DataError.self) { try Tokenizers.load(json: Data(#"{"kind":"char","chars":["ab"]}"#.utf8)) }
    }
}
