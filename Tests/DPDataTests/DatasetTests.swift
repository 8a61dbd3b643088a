import Foundation
import Testing
@testable import DPData

@Suite struct DatasetTests {
    /// The seed sentences' four contexts: "w1 w2" -> w3.
    static let seedContexts = [["hello", "world", "welcome"], ["world", "welcome", "good"],
                               ["welcome", "good", "hello"], ["good", "hello", "world"]]

    @Test func seedExampleWindowsAreTheSeedSentences() throws {
        let data = Dataset.seedExample()
        #expect(data.tokenizer.vocabSize == 4)
        #expect(data.train.count == 400 && data.val.count == 48)
        #expect(data.windowStride == 1)
        let words = ["hello", "world", "good", "welcome"]
        for split in [data.train, data.val] {
            for k in 0..<(split.count - 2) {
                let window = (0...2).map { words[Int(split[k + $0])] }
                #expect(window == Self.seedContexts[k % 4], "window at \(k)")
            }
        }
        #expect(data.tokenizer.decode(data.train.slice(0..<8).toArray()) == "hello world welcome good hello world welcome good")
        #expect(data.summary == "seed example, word tokenizer, 4 tokens, 400 train / 48 val")
    }

    /// With the seed example's stride of 1, one shuffle epoch of the train split trains every
    /// one of the four contexts (about 100 times each), and the val split's first global batch of
    /// 4 rows — the seed preset's evaluation — is the four contexts, on 1, 2 or 4 ranks. With
    /// the stride T = 2 only two of them would ever appear.
    @Test func seedExampleSamplersSeeAllFourContexts() throws {
        let data = Dataset.seedExample()
        let words = ["hello", "world", "good", "welcome"]
        func context(_ inputs: ArraySlice<Int32>, _ target: Int32) -> [String] { inputs.map { words[Int($0)] } + [words[Int(target)]] }
        var sampler = try BatchSampler(kind: .shuffle, tokens: data.train, batch: 4, context: 2, stride: data.windowStride,
                                       rank: 0, worldSize: 1, seed: 1)
        #expect(sampler.windowCount == 398)
        var counts: [[String]: Int] = [:]
        for _ in 0..<(398 / 4) {
            var inputs = [Int32](repeating: -1, count: 8), targets = inputs
            sampler.next(tokens: &inputs, targets: &targets)
            for b in 0..<4 { counts[context(inputs[2 * b..<2 * b + 2], targets[2 * b + 1]), default: 0] += 1 }
        }
        #expect(Set(counts.keys) == Set(Self.seedContexts))
        #expect(counts.values.allSatisfy { $0 >= 90 }, "\(counts)")
        var strideT = try BatchSampler(kind: .shuffle, tokens: data.train, batch: 4, context: 2, rank: 0, worldSize: 1, seed: 1)
        var seenWithStrideT = Set<[String]>()
        for _ in 0..<(199 / 4) {
            var inputs = [Int32](repeating: -1, count: 8), targets = inputs
            strideT.next(tokens: &inputs, targets: &targets)
            for b in 0..<4 { seenWithStrideT.insert(context(inputs[2 * b..<2 * b + 2], targets[2 * b + 1])) }
        }
        #expect(seenWithStrideT == [Self.seedContexts[0], Self.seedContexts[2]])

        for W in [1, 2, 4] {
            var rows: [[String]] = []
            for r in 0..<W {
                let reader = EvalReader(tokens: data.val, batch: 4 / W, context: 2, stride: data.windowStride, rank: r, worldSize: W)
                #expect(reader.batchCount == 46 / 4)
                var inputs = [Int32](repeating: -1, count: 2 * (4 / W)), targets = inputs
                reader.batch(0, tokens: &inputs, targets: &targets)
                for b in 0..<(4 / W) { rows.append(context(inputs[2 * b..<2 * b + 2], targets[2 * b + 1])) }
            }
            #expect(rows == Self.seedContexts, "W = \(W)")
        }
    }

    @Test func prepareWritesSplitsAndTokenizer() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("input.txt")
        let text = String(repeating: "To be, or not to be: that is the question.\n", count: 50) + "café 😀\n"
        try text.write(to: input, atomically: true, encoding: .utf8)
        let out = dir.file("out")
        let summary = try prepareDataset(input: input, tokenizer: .char, vocabSize: nil, valFraction: 0.1, out: out)
        let n = text.unicodeScalars.count
        #expect(summary.trainTokens == Int(Double(n) * 0.9) && summary.valTokens == n - summary.trainTokens)
        #expect(summary.characters == n && summary.charactersPerToken == 1)
        #expect("\(summary)".contains(formatCount(summary.trainTokens)))

        let data = try Dataset.load(path: out.path, tokenizer: nil, vocabSize: nil, valFraction: 0.1, cacheDirectory: dir.file("cache"))
        #expect(data.tokenizer.kind == .char)
        #expect(data.tokenizer.decode(data.train.toArray() + data.val.toArray()) == text)
        #expect(throws: DataError.self) {
            try Dataset.load(path: out.path, tokenizer: .bpe, vocabSize: nil, valFraction: 0.1, cacheDirectory: dir.file("cache"))
        }

        let bpe = try prepareDataset(input: input, tokenizer: .bpe, vocabSize: 300, valFraction: 0.25, out: dir.file("bpe"))
        #expect(bpe.vocabSize <= 300 && bpe.charactersPerToken > 1)
        let loaded = try Dataset.load(path: dir.file("bpe").path, tokenizer: .bpe, vocabSize: nil, valFraction: 0, cacheDirectory: dir.file("cache"))
        #expect(loaded.val.count == bpe.valTokens)
        #expect(loaded.tokenizer.decode(loaded.train.toArray() + loaded.val.toArray()) == text)
    }

    @Test func textFileIsTokenizedOnceAndCached() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("story.txt")
        try String(BuiltinCorpus.text().prefix(30_000)).write(to: input, atomically: true, encoding: .utf8)
        let cache = dir.file("cache")
        let first = try Dataset.load(path: input.path, tokenizer: .bpe, vocabSize: 300, valFraction: 0.1, cacheDirectory: cache)
        let folders = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        #expect(folders.count == 1)
        #expect(first.summary.hasPrefix("story.txt, bpe tokenizer, 300 tokens, "))

        // The second load maps the cache as it is: replace its val.bin and see that one come back.
        let expectedVal = first.val.toArray()
        try TokenFile.write([1, 2, 3], vocabSize: 300, to: cache.appendingPathComponent(folders[0]).appendingPathComponent("val.bin"))
        let second = try Dataset.load(path: input.path, tokenizer: .bpe, vocabSize: 300, valFraction: 0.1, cacheDirectory: cache)
        #expect(second.train.toArray() == first.train.toArray())
        #expect(second.val.toArray() == [1, 2, 3] && expectedVal.count > 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path) == folders)

        // Other settings or other contents get their own folder.
        _ = try Dataset.load(path: input.path, tokenizer: .char, vocabSize: nil, valFraction: 0.1, cacheDirectory: cache)
        try (String(BuiltinCorpus.text().prefix(30_000)) + "!").write(to: input, atomically: true, encoding: .utf8)
        _ = try Dataset.load(path: input.path, tokenizer: .char, vocabSize: nil, valFraction: 0.1, cacheDirectory: cache)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).count == 3)
    }

    /// A text whose split is larger than a shard is cached as shards, which hold the tokens of
    /// train.bin then val.bin of a cache in one file each.
    @Test func aLargeTextIsCachedAsShards() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("story.txt")
        try String(BuiltinCorpus.text().prefix(20_000)).write(to: input, atomically: true, encoding: .utf8)
        let whole = try Dataset.cached(.file(input), name: "story.txt", stem: "story", kind: .char, vocabSize: nil,
                                       valFraction: 0.1, cacheDirectory: dir.file("one"))
        #expect(whole.train.count == 1 && whole.train[0].lastPathComponent == "train.bin")
        let sharded = try Dataset.cached(.file(input), name: "story.txt", stem: "story", kind: .char, vocabSize: nil,
                                         valFraction: 0.1, cacheDirectory: dir.file("shards"), shardTokens: 3_000)
        #expect(sharded.isCache && sharded.name == "story.txt")
        #expect(sharded.train.map(\.lastPathComponent) == (0..<6).map { "data_train_00000\($0).bin" }, "\(sharded.train)")
        #expect(sharded.val.map(\.lastPathComponent) == ["data_val_000000.bin"])
        func tokens(_ urls: [URL]) throws -> [Int32] { try urls.flatMap { try TokenFile.read($0, vocabSize: nil).toArray() } }
        #expect(try tokens(sharded.train) == tokens(whole.train) && tokens(sharded.val) == tokens(whole.val))
        // Found again as it is, not rebuilt.
        let again = try Dataset.cached(.file(input), name: "story.txt", stem: "story", kind: .char, vocabSize: nil,
                                       valFraction: 0.1, cacheDirectory: dir.file("shards"), shardTokens: 3_000)
        #expect(again.train == sharded.train)
    }

    /// Ranks racing on one host: every loser of the rename uses the winner's identical files.
    @Test func concurrentLoadsAgree() async throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let input = dir.file("race.txt")
        try String(BuiltinCorpus.text().prefix(20_000)).write(to: input, atomically: true, encoding: .utf8)
        let cache = dir.file("cache")
        let results = try await withThrowingTaskGroup(of: [Int32].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let d = try Dataset.load(path: input.path, tokenizer: .word, vocabSize: 100, valFraction: 0.1, cacheDirectory: cache)
                    return d.train.toArray() + d.val.toArray()
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 4 && Set(results.map { $0 }).count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).count == 1)
    }

    @Test func builtinCorpusLoadsWithTheCharTokenizer() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let data = try Dataset.load(path: nil, tokenizer: nil, vocabSize: nil, valFraction: 0.1, cacheDirectory: dir.url)
        #expect(data.tokenizer.kind == .char)
        #expect(data.summary.hasPrefix("built-in corpus, char tokenizer, "))
        #expect(data.train.count + data.val.count == BuiltinCorpus.text().unicodeScalars.count)
    }

    @Test func errorsAreOneSentenceAboutTheInput() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let cache = dir.file("cache")
        #expect(throws: DataError.io(path: dir.file("nope.txt").path, reason: "no such file or directory")) {
            try Dataset.load(path: dir.file("nope.txt").path, tokenizer: nil, vocabSize: nil, valFraction: 0.1, cacheDirectory: cache)
        }
        let binary = dir.file("binary.txt")
        try Data([0x66, 0xFF, 0xFE, 0x00]).write(to: binary)
        #expect(throws: DataError.notUTF8(path: binary.path)) {
            try Dataset.load(path: binary.path, tokenizer: nil, vocabSize: nil, valFraction: 0.1, cacheDirectory: cache)
        }
        #expect(throws: DataError.self) {
            try Dataset.load(path: nil, tokenizer: nil, vocabSize: nil, valFraction: 1, cacheDirectory: cache)
        }
        #expect(throws: DataError.self) {  // an empty directory has no tokenizer.json
            try Dataset.load(path: dir.url.path, tokenizer: nil, vocabSize: nil, valFraction: 0.1, cacheDirectory: cache)
        }
    }

    @Test func countsAreFormattedWithThousands() {
        #expect(formatCount(1_003_854) == "1,003,854")
        #expect(formatCount(65) == "65")
        #expect(formatCount(100_000) == "100,000")
    }
}
