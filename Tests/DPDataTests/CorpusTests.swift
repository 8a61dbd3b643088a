import Testing
@testable import DPData

@Suite struct CorpusTests {
    static let text = BuiltinCorpus.text()

    @Test func isDeterministicAndAtLeastOneMegabyte() {
        #expect(Self.text.utf8.count >= 1_048_576)
        #expect(BuiltinCorpus.text() == Self.text)
    }

    @Test func hasAFewHundredWordsIncludingTheSeeds() throws {
        let words = Set(WordTokenizer.pieces(Self.text).filter { $0.first!.isLetter }.map { $0.lowercased() })
        #expect(words.isSuperset(of: ["hello", "world", "good", "welcome"]))
        #expect((200...1000).contains(words.count), "\(words.count) distinct words")
    }

    @Test func hasAFewDozenCharacters() {
        let vocab = CharTokenizer(training: Self.text).vocabSize
        #expect((30...90).contains(vocab), "\(vocab) characters")
    }

    @Test func wordTokenizerRoundTripsTheCorpus() throws {
        let head = Self.text.prefix(20_000)
        let sample = String(head[...head.lastIndex(of: "\n")!])  // whole lines: decode drops a trailing space
        let tokenizer = try Tokenizers.train(.word, on: sample, vocabSize: nil)
        #expect(try tokenizer.decode(tokenizer.encode(sample)) == sample)
    }
}
