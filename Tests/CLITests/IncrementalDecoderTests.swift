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

    /// 6000 random tokens (for the byte tokenizer: random bytes, broken UTF-8 included) and
    /// 6000 tokens of real text: what the decoder streams, plus `finish`, equals `decode` of all
    /// tokens, byte for byte; and no `append` passes more than 2·lookback + 2 tokens to `decode`
    /// (19 for char, byte and bpe, while the stream grows to 6000).
    @Test func streamsTheWholeTextWithBoundedWorkPerToken() throws {
        for tokenizer in try Self.tokenizers() {
            var r = UInt64(7)
            func random(_ n: Int) -> Int32 {
                r = r &* 6364136223846793005 &+ 1442695040888963407
                return Int32((r >> 33) % UInt64(n))
            }
            let real = try tokenizer.encode(Self.text)
            let prompt = Array(real.prefix(5))
            let streams = [(0..<6000).map { _ in random(tokenizer.vocabSize) }, Array(real.prefix(6000))]
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
                #expect(Array(out) == whole, "\(tokenizer.kind): streamed text differs from decode")
                #expect(worst <= 2 * decoder.lookback + 2, "\(tokenizer.kind): \(worst) tokens decoded for one token")
                if tokenizer.kind != .word { #expect(worst <= 19, "\(tokenizer.kind): \(worst)") }
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
