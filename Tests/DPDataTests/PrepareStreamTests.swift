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
        let (_, train, val, characters, _) = try streamPrepare(input: input, kind: kind, vocabSize: vocabSize, valFraction: 0.15,
                                                            out: streamed, chunkBytes: 40)
        for name in ["train.bin", "val.bin", "tokenizer.json"] {
            #expect(try Data(contentsOf: whole.appendingPathComponent(name)) == Data(contentsOf: streamed.appendingPathComponent(name)), "\(name) differs")
        }
        #expect(try TokenFile.read(streamed.appendingPathComponent("train.bin"), vocabSize: nil).count == train && val > 0)
        #expect(characters == Self.text.unicodeScalars.count)
    }

    /// Lines that end in white space, blank lines and CRLF before a visible character, where a
    /// cut right after the "\n" would change GPT-2's pre-split (" \n" + "X" is " ", "\n" whole but
    /// " \n" at the end of a piece).
    static let spaced: String = (0..<80).map { i in
        ["ends in spaces  ", "", "", "tab\t", "crlf\r", "plain", "  lead", "x'", "a b c"][i % 9]
    }.joined(separator: "\n") + "\n"

    @Test(arguments: [TokenizerKind.char, .byte, .word, .bpe])
    func streamingWritesTheFilesOfTheWholeTextWhereLinesEndInSpaces(kind: TokenizerKind) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("input.txt")
        try Data(Self.spaced.utf8).write(to: input)
        let whole = dir.file("whole"), streamed = dir.file("streamed")
        for d in [whole, streamed] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let vocab: Int? = kind == .bpe ? 290 : nil
        try PreparedText(bytes: Data(Self.spaced.utf8), path: input.path, kind: kind, vocabSize: vocab, valFraction: 0.2).write(to: whole)
        _ = try streamPrepare(input: input, kind: kind, vocabSize: vocab, valFraction: 0.2, out: streamed, chunkBytes: 9)
        for name in ["train.bin", "val.bin", "tokenizer.json"] {
            #expect(try Data(contentsOf: whole.appendingPathComponent(name)) == Data(contentsOf: streamed.appendingPathComponent(name)), "\(name) differs")
        }
    }

    @Test func cutsAreWhereTheRulesSay() {
        func last(_ s: String, _ kind: TokenizerKind = .bpe) -> Int? { TextCut.last(Array(s.utf8), kind: kind) }
        #expect(last("ab\ncd\n ef") == 3)
        #expect(last("ab\n\ncd") == nil)  // "\n\n" + "c": the run's last "\n" is a chunk of its own only when "c" follows
        #expect(last("ab \ncd") == nil)
        #expect(last("ab\n é") == nil)
        #expect(last("abc") == nil)
        #expect(last("ab cd") == 2)  // rule 2: letter, space, letter
        #expect(last("ab  cd") == nil && last("a1 cd") == nil)
        #expect(last("aé", .char) == 1 && last("é", .char) == nil && last("é", .byte) == 1)
    }

    /// Why a cut needs a visible byte before the "\n": with the merge " " + "\n", "a \nB" whole is
    /// 4 tokens (pre-split "a", " ", "\n", "B") but 3 when cut after the "\n" (" \n" ends a piece).
    @Test func aCutAfterWhiteSpaceAndANewLineWouldChangeTheTokens() throws {
        let bpe = try BPETokenizer(merges: [(32, 10)])
        #expect(try bpe.encode("a \nB") == [97, 32, 10, 66])
        #expect(try bpe.encode("a \n") + bpe.encode("B") == [97, 256, 66])
        #expect(TextCut.last(Array("a \nB".utf8), kind: .bpe) == nil)
    }

    /// Every cut `TextCut` allows in random texts of letters, digits, spaces, tabs, newlines,
    /// apostrophes, punctuation and multi-byte scalars splits the tokens exactly, for every
    /// tokenizer trained on the whole text.
    @Test(arguments: [TokenizerKind.char, .word, .bpe])
    func everyAllowedCutSplitsTheTokensExactly(kind: TokenizerKind) throws {
        let alphabet: [String] = ["a", "b", "s", "t", "A", " ", " ", "\n", "\n", "\t", "\r", "'", ".", "1", "é", "東", "\u{2028}", "\u{00A0}"]
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        var checked = 0
        for _ in 0..<6 {
            let text = (0..<600).map { _ -> String in
                x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return alphabet[Int(x >> 33) % alphabet.count]
            }.joined()
            let tokenizer = try Tokenizers.train(kind, on: text, vocabSize: kind == .bpe ? 320 : nil)
            let bytes = Array(text.utf8)
            let whole = try tokenizer.encode(text)
            let cuts = bytes.withUnsafeBufferPointer { buffer in (1..<bytes.count).filter { TextCut.isSafe(buffer, at: $0, kind: kind) } }
            for p in cuts {
                let left = String(decoding: bytes[..<p], as: UTF8.self), right = String(decoding: bytes[p...], as: UTF8.self)
                #expect(try tokenizer.encode(left) + tokenizer.encode(right) == whole, "cut at \(p)")
                checked += 1
            }
        }
        #expect(checked > 50)
    }

    /// bpe training pre-splits its sample piece by piece, at allowed cuts: the merges are those
    /// of pre-splitting it whole.
    @Test func bpeTrainingInPiecesLearnsTheMergesOfTheWhole() {
        let text = Self.text + Self.spaced + Self.text
        var whole = BPETrainer(text: text, pieceBytes: Int.max / 2), pieces = BPETrainer(text: text, pieceBytes: 23)
        let a = whole.learn(count: 60), b = pieces.learn(count: 60)
        #expect(a.count == 60 && a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1))
    }

    /// The ranges of a parallel prepare cover the input, start at allowed cuts, and their tokens
    /// in order are the whole file's, for 1 to 7 parts (some empty when cuts are rare).
    @Test(arguments: [TokenizerKind.char, .byte, .word, .bpe])
    func rangesSplitTheTokensExactly(kind: TokenizerKind) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("input.txt")
        let text = Self.text + Self.spaced
        try Data(text.utf8).write(to: input)
        let source = try PrepareInput(url: input, kind: kind, chunkBytes: 64, bpeSampleBytes: 1 << 20)
        let tokenizer = try source.tokenizer(vocabSize: kind == .bpe ? 300 : nil)
        let whole = try tokenizer.encode(text)
        for parts in 1...7 {
            let ranges = try source.ranges(parts)
            #expect(ranges.count == parts && ranges.first?.lowerBound == 0 && ranges.last?.upperBound == source.size)
            var tokens: [Int32] = []
            for (k, range) in ranges.enumerated() {
                if k > 0 { #expect(range.lowerBound == ranges[k - 1].upperBound) }
                // Pieces of 7 tokens: the writer's cuts fall inside chunks and between them.
                let (pieces, n, _) = try source.encode(range, with: tokenizer, into: dir.file("part-\(k)"), pieceTokens: 7)
                var read: [Int32] = []
                for piece in pieces {
                    let own = try TokenFile.read(piece.url, vocabSize: nil).toArray()
                    #expect(own.count == piece.tokens && own.count <= 7)
                    read += own
                }
                #expect(pieces.dropLast().allSatisfy { $0.tokens == 7 } && !pieces.isEmpty)
                #expect(read.count == n)
                tokens += read
            }
            #expect(tokens == whole, "\(parts) parts: \(ranges)")
        }
    }

    /// Above its size, bpe's sample is 16 pieces spread over the input that start and end at
    /// allowed cuts, about the sample size in all.
    @Test func bpeSampleIsSpreadOverALargeInput() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("input.txt")
        let lines = (0..<4000).map { "line \($0) of the text" }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: input)
        let source = try PrepareInput(url: input, kind: .bpe, chunkBytes: 64, bpeSampleBytes: 16 * 200)
        let sample = try source.bpeSample()
        #expect(sample.utf8.count >= 16 * 200 && sample.utf8.count < 16 * 260, "\(sample.utf8.count) bytes")
        #expect(sample.hasPrefix("line 0 of") && sample.contains("line 37") && !sample.contains("line 2100 of"))
    }

    /// Parts of a parallel prepare are cut where the whole's train tokens end and into shards of
    /// at most `shardTokens`, numbered on from the parts before them; an empty part writes nothing.
    /// The parts come as pieces of `shardTokens` (`TokenPieceWriter`); 11 ends part 2's train
    /// tokens at a piece's end (its val shards are pieces renamed), 1 makes every token a shard.
    @Test(arguments: [100, 4, 11, 3, 1])
    func partsArePlacedByWhereTheTrainTokensEnd(shardTokens: Int) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let tokens: [[Int32]] = [Array(0..<10), [], Array(10..<25), Array(25..<31)]
        let total = 31, trainCount = trainTokenCount(total: total, valFraction: 0.3)  // 21
        let numbering = try PreparedShards.numbering(counts: tokens.map(\.count), trainCount: trainCount, shardTokens: shardTokens)
        var offset = 0, train: [Int32] = [], val: [Int32] = []
        for (k, part) in tokens.enumerated() {
            var writer = try TokenPieceWriter(base: dir.file(".part-\(k)"), vocabSize: 300, pieceTokens: shardTokens)
            try writer.append(part)
            let pieces = try writer.finish()
            let placed = try PreparedShards.place(pieces, offset: offset, trainCount: trainCount, vocabSize: 300,
                                                  shardTokens: shardTokens, first: numbering.first[k], out: dir.url)
            let (inTrain, inVal) = PreparedShards.split(tokens: part.count, offset: offset, trainCount: trainCount)
            #expect(placed == ((inTrain + shardTokens - 1) / shardTokens, (inVal + shardTokens - 1) / shardTokens))
            for piece in pieces { #expect(!FileManager.default.fileExists(atPath: piece.url.path)) }
            offset += part.count
        }
        let files = try #require(try DataFiles.find(dir.url.path))
        var sizes: [Int] = []
        for url in files.train + files.val {
            let read = try TokenFile.read(url, vocabSize: nil).toArray()
            sizes.append(read.count)
            if files.train.contains(url) { train += read } else { val += read }
        }
        #expect(train == Array(0..<21) && val == Array(21..<31))
        #expect(sizes.allSatisfy { $0 >= 1 && $0 <= shardTokens }, "\(sizes)")
        if shardTokens == 100 {
            #expect(files.train.map(\.lastPathComponent) == ["data_train_000000.bin", "data_train_000001.bin"])
            #expect(files.val.map(\.lastPathComponent) == ["data_val_000000.bin", "data_val_000001.bin"])
        } else if shardTokens == 11 {
            // train: part 0's 10, part 2's 11 (one piece, renamed); val: part 2's 4 (its second
            // piece, renamed), part 3's 6.
            #expect(sizes == [10, 11, 4, 6])
        } else if shardTokens == 4 {
            // train: part 0's 10 as 4 4 2, part 2's 11 as 4 4 3; val: part 2's 4, part 3's 6 as 4 2.
            #expect(sizes == [4, 4, 2, 4, 4, 3, 4, 4, 2])
            #expect(files.train.map(\.lastPathComponent) == (0..<6).map { "data_train_00000\($0).bin" })
            #expect(files.val.map(\.lastPathComponent) == (0..<3).map { "data_val_00000\($0).bin" })
            #expect(numbering.first.map(\.train) == [0, 3, 3, 6] && numbering.first.map(\.val) == [0, 0, 0, 1])
            #expect(numbering.total == (6, 3))
        }
    }

    /// One process with a split above `shardTokens` writes shards, each within it, whose tokens
    /// in name order are train.bin then val.bin of the default; fitting, it writes those two.
    @Test(arguments: [TokenizerKind.byte, .bpe])
    func aSplitAboveTheShardSizeIsWrittenAsShards(kind: TokenizerKind) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("input.txt")
        try Data(Self.text.utf8).write(to: input)
        let vocab: Int? = kind == .bpe ? 300 : nil
        let plain = dir.file("plain"), sharded = dir.file("sharded")
        let one = try prepareDataset(input: input, tokenizer: kind, vocabSize: vocab, valFraction: 0.15, out: plain)
        #expect(one.shards == nil)
        let trainBin = try TokenFile.read(plain.appendingPathComponent("train.bin"), vocabSize: nil).toArray()
        let valBin = try TokenFile.read(plain.appendingPathComponent("val.bin"), vocabSize: nil).toArray()
        // Exactly fitting: still train.bin and val.bin.
        let fits = try prepareDataset(input: input, tokenizer: kind, vocabSize: vocab, valFraction: 0.15, out: dir.file("fits"),
                                      shardTokens: max(trainBin.count, valBin.count))
        #expect(fits.shards == nil && FileManager.default.fileExists(atPath: dir.file("fits/train.bin").path))
        // Encoded as two pieces of that size, joined again: the same tokens, nothing left behind.
        #expect(try TokenFile.read(dir.file("fits/train.bin"), vocabSize: nil).toArray() == trainBin)
        #expect(try TokenFile.read(dir.file("fits/val.bin"), vocabSize: nil).toArray() == valBin)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("fits").path).filter { $0.hasPrefix(".") }.isEmpty)

        let n = 97
        _ = try prepareDataset(input: input, tokenizer: kind, vocabSize: vocab, valFraction: 0.15, out: sharded)  // train.bin to replace
        let summary = try prepareDataset(input: input, tokenizer: kind, vocabSize: vocab, valFraction: 0.15, out: sharded, shardTokens: n)
        let expected = ((trainBin.count + n - 1) / n, (valBin.count + n - 1) / n)
        #expect(summary.shards.map { $0 == expected } == true, "\(String(describing: summary.shards))")
        #expect(!FileManager.default.fileExists(atPath: sharded.appendingPathComponent("train.bin").path))
        let files = try #require(try DataFiles.find(sharded.path))
        #expect(files.train.count == expected.0 && files.val.count == expected.1)
        var train: [Int32] = [], val: [Int32] = []
        for url in files.train { let t = try TokenFile.read(url, vocabSize: nil).toArray(); #expect(t.count >= 1 && t.count <= n); train += t }
        for url in files.val { let t = try TokenFile.read(url, vocabSize: nil).toArray(); #expect(t.count >= 1 && t.count <= n); val += t }
        #expect(train == trainBin && val == valBin)
        #expect(try Data(contentsOf: sharded.appendingPathComponent("tokenizer.json")) == Data(contentsOf: plain.appendingPathComponent("tokenizer.json")))
        let hidden = try FileManager.default.contentsOfDirectory(atPath: sharded.path).filter { $0.hasPrefix(".") }
        #expect(hidden.isEmpty, "left behind: \(hidden)")

        // Back to one file per split: the shards go.
        _ = try prepareDataset(input: input, tokenizer: kind, vocabSize: vocab, valFraction: 0.15, out: sharded)
        #expect(try DataFiles.find(sharded.path)?.train.map(\.lastPathComponent) == ["train.bin"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: sharded.path).filter { $0.hasPrefix("data_") }.isEmpty)
        #expect(throws: DataError.self) { try prepareDataset(input: input, tokenizer: kind, vocabSize: vocab, valFraction: 0.15, out: sharded, shardTokens: 0) }
    }
}
