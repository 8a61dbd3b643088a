import Foundation
import Testing
@testable import DPData

@Suite struct PrepareStreamTests {
    /// Lines with words, punctuation, leading and trailing spaces, tabs, CRLF, blank lines and
    /// multi-byte scalars: every kind of point where a chunk could end.
    static let text: String = (0..<60).map { i in
        ["The cat sat on the mat, didn't it?", "  indented line\twith a tab", "", "naïve café — 東京 🚀 ok",
         "trailing spaces   ", "'s quoted \"words\" (and brackets).\r", "123 4567 numbers, 8.9!"][i % 7] + " \(i)"
    }.joined(separator: "\n") + "\n"

    /// Streaming in chunks of a few dozen bytes writes exactly the files of tokenizing the whole
    /// text at once (what `dptrain prepare` wrote before it streamed, and the cache still does).
    @Test(arguments: [(TokenizerKind.char, Int?.none), (.byte, nil), (.word, nil), (.word, 20), (.bpe, 300)])
    func streamingWritesTheFilesOfTheWholeText(kind: TokenizerKind, vocabSize: Int?) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("input.txt")
        try Data(Self.text.utf8).write(to: input)
        let whole = dir.file("whole"), streamed = dir.file("streamed")
        for d in [whole, streamed] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try PreparedText(bytes: Data(Self.text.utf8), path: input.path, kind: kind, vocabSize: vocabSize, valFraction: 0.15).write(to: whole)
        let (_, train, val, characters) = try streamPrepare(input: input, kind: kind, vocabSize: vocabSize, valFraction: 0.15,
                                                            out: streamed, chunkBytes: 40)
        for name in ["train.bin", "val.bin", "tokenizer.json"] {
            #expect(try Data(contentsOf: whole.appendingPathComponent(name)) == Data(contentsOf: streamed.appendingPathComponent(name)), "\(name) differs")
        }
        #expect(try TokenFile.read(streamed.appendingPathComponent("train.bin"), vocabSize: nil).count == train && val > 0)
        #expect(characters == Self.text.unicodeScalars.count)
    }

    @Test func chunksEndOnlyBeforeANewLineStartingWithAVisibleCharacter() {
        #expect(InputChunks.lastBoundary(Array("ab\ncd\n ef".utf8)) == 3)
        #expect(InputChunks.lastBoundary(Array("ab\n\ncd".utf8)) == 4)
        #expect(InputChunks.lastBoundary(Array("ab\n é".utf8)) == nil)
        #expect(InputChunks.lastBoundary(Array("abc".utf8)) == nil)
    }
}
