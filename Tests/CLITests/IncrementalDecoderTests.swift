import DPData
import Foundation
import Testing
@testable import dptrain

/// `dptrain sample`'s streaming decoder: the text it streams is the text of all tokens, and the
/// decoding work per token is bounded whatever came before (issue 15 item 8: it used to decode
/// every token so far for each new one, so 40k tokens took 50× as long as 5k).
@Suite struct IncrementalDecoderTests {
    static let text = String(repeating: "über café ☃ \"naïve\" (ok), words: \"quoted\" here.\nand a line!\n", count: 30)

    static func tokenizers() throws -> [any Tokenizer] {
        [CharTokenizer(training: text), ByteTokenizer(), try BPETokenizer(training: text, vocabSize: 300),
         try WordTokenizer(training: text, vocabSize: nil)]
    }

    /// 6000 random tokens (for the byte tokenizer: random bytes, broken UTF-8 included), 6000
    /// tokens of real text, and the same text as one line: what the decoder streams, plus `finish`, equals `decode` of all
    /// tokens, byte for byte; and no `append` passes more than 2·lookback + 4 = 20 tokens to
    /// `decode`, while the stream grows to 6000. The text is full of quotes, so the word
    /// tokenizer's quote pairing across the cut is exercised.
    @Test func streamsTheWholeTextWithBoundedWorkPerToken() throws {
        for tokenizer in try Self.tokenizers() {
            var r = UInt64(7)
            func random(_ n: Int) -> Int32 {
                r = r &* 6364136223846793005 &+ 1442695040888963407
                return Int32((r >> 33) % UInt64(n))
            }
            let real = try tokenizer.encode(Self.text)
            let prompt = Array(real.prefix(5))
            // Random tokens, the text, and the text as one long line (its newline tokens left out).
            let oneLine = real.filter { tokenizer.decode([$0]) != "\n" }
            let streams = [(0..<6000).map { _ in random(tokenizer.vocabSize) }, Array(real.prefix(6000)), Array(oneLine.prefix(6000))]
            for tokens in streams {
                var decoder = IncrementalDecoder(tokenizer: tokenizer, prompt: prompt)
                var out = Data(tokenizer.decode(prompt).utf8)
                var worst = 0
                for t in tokens {
                    let before = decoder.decodedTokens
                    out += decoder.append(t)
                    worst = max(worst, decoder.decodedTokens - before)
                }
                out += decoder.finish()
                let whole = Array(tokenizer.decode(prompt + tokens).utf8)
                let firstDifference = zip(out, whole).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                #expect(out.count == whole.count && firstDifference == nil,
                        "\(tokenizer.kind): streamed \(out.count) bytes, decode \(whole.count); first difference at byte \(firstDifference ?? -1)")
                #expect(worst <= 20, "\(tokenizer.kind): \(worst) tokens decoded for one token")
            }
        }
    }

    /// A character a byte tokenizer spreads over three tokens comes out whole, once its last byte
    /// is there, never as U+FFFD.
    @Test func holdsBackAPartialCharacter() {
        let tokenizer = ByteTokenizer()
        var decoder = IncrementalDecoder(tokenizer: tokenizer, prompt: [0x61])
        let snowman = Array("☃".utf8).map(Int32.init)
        #expect(decoder.append(snowman[0]).isEmpty)
        #expect(decoder.append(snowman[1]).isEmpty)
        #expect(Array(decoder.append(snowman[2])) == Array("☃".utf8))
        #expect(decoder.append(0xE2).isEmpty)
        #expect(Array(decoder.finish()) == [0xEF, 0xBF, 0xBD])
    }
}
