import Foundation
import Testing
@testable import DPData

/// Tokens 0, 1, 2, … cut into shards of `sizes` tokens: a row's first input is its global offset.
func identityShards(_ sizes: [Int]) -> TokenSequence {
    var start = 0
    return TokenSequence(shards: sizes.map { n in
        defer { start += n }
        return TokenSequence((start..<start + n).map { Int32($0) })
    })
}

@Suite struct ShardTests {
    @Test func shardedSequenceReadsLikeItsConcatenation() {
        let sizes = [5, 0, 7, 1, 9]
        let tokens = identityShards(sizes)
        let all = (0..<22).map { Int32($0) }
        #expect(tokens.count == 22 && tokens.shards.map(\.count) == sizes)
        #expect(tokens.toArray() == all)
        #expect((0..<22).map { tokens[$0] } == all)
        for (lo, hi) in [(0, 22), (3, 14), (5, 12), (12, 13), (4, 5), (7, 7)] {
            #expect(tokens.slice(lo..<hi).toArray() == Array(all[lo..<hi]))
        }
        var buffer = [Int32](repeating: -1, count: 10)
        tokens.copy(from: 3, count: 10, to: &buffer)  // crosses three shards
        #expect(buffer == Array(all[3..<13]))
        #expect(TokenSequence(shards: []).count == 0)
        #expect(TokenSequence(shards: [identityShards([3])]).shards.count == 1)
    }

    /// Mapped shards read exactly the tokens written, in their own width, one after the other.
    @Test(arguments: [300, 70_000])
    func mappedShardsEqualTheWrittenTokens(vocabSize: Int) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let parts: [[Int32]] = [(0..<1000).map { Int32($0 * 7 % vocabSize) }, [], (0..<333).map { Int32(vocabSize - 1 - $0 % 100) }]
        for (i, part) in parts.enumerated() {
            try TokenFile.write(part, vocabSize: vocabSize, to: dir.file("corpus_train_00000\(i).bin"))
        }
        try TokenFile.write([1, 2, 3], vocabSize: vocabSize, to: dir.file("corpus_val_000000.bin"))
        try Data(#"{"kind":"byte"}"#.utf8).write(to: dir.file("tokenizer.json"))
        let files = try #require(try DataFiles.find(dir.url.path))
        let mapped = try MappedData(files, expecting: nil, vocabSize: nil)
        #expect(mapped.train.map(\.version) == [vocabSize > 65_535 ? 2 : 1, vocabSize > 65_535 ? 2 : 1, vocabSize > 65_535 ? 2 : 1])
        let dataset = mapped.dataset
        #expect(dataset.train.toArray() == parts.flatMap { $0 })
        #expect(dataset.train.shards.map(\.count) == [1000, 0, 333])
        #expect(dataset.val.toArray() == [1, 2, 3])
        // The byte tokenizer has 256 tokens: the check names the first token above it and its file.
        #expect(throws: DataError.tokenFile(path: files.train[0].path, problem: .tokenOutOfRange(index: 37, token: 259, vocabSize: 256))) {
            try mapped.train[0].checkTokens(below: 256)
        }
        #expect(mapped.fingerprints.count == files.all.count)
    }

    @Test func shardsAreFoundInADirectoryOrByAPattern() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        for name in ["fw_train_000002.bin", "fw_train_000001.bin", "fw_val_000000.bin", "other_train_000001.bin"] {
            try TokenFile.write([0, 1], vocabSize: 2, to: dir.file(name))
        }
        try Data("not a shard".utf8).write(to: dir.file("notes.txt"))
        let inDirectory = try #require(try DataFiles.find(dir.url.path))
        #expect(inDirectory.train.map(\.lastPathComponent) == ["fw_train_000001.bin", "fw_train_000002.bin", "other_train_000001.bin"])
        #expect(inDirectory.val.map(\.lastPathComponent) == ["fw_val_000000.bin"])
        #expect(inDirectory.isSharded && inDirectory.tokenizer == dir.file("tokenizer.json"))

        let pattern = try #require(try DataFiles.find(dir.url.path + "/fw_train_*.bin"))
        #expect(pattern.train.map(\.lastPathComponent) == ["fw_train_000001.bin", "fw_train_000002.bin"])
        #expect(pattern.val.map(\.lastPathComponent) == ["fw_val_000000.bin"])  // found beside the matches
        #expect(try DataFiles.find(dir.url.path + "/fw_*.bin")?.train.count == 2)

        #expect(throws: DataError.self) { try DataFiles.find(dir.url.path + "/nothing_*.bin") }
        #expect(throws: DataError.self) { try DataFiles.find(dir.url.path + "/fw_val_*.bin") }
        #expect(try DataFiles.find(dir.file("notes.txt").path) == nil)  // a text file

        // A prepared directory's train.bin wins over shards beside it.
        try TokenFile.write([0], vocabSize: 2, to: dir.file("train.bin"))
        #expect(try DataFiles.find(dir.url.path)?.train == [dir.file("train.bin")])

        let empty = try TestDirectory("empty"); defer { empty.remove() }
        #expect(throws: DataError.self) { try DataFiles.find(empty.url.path) }
    }

    static let shardSizes: [[Int]] = [[150], [41, 0, 60, 13, 49], [7, 90, 5, 60]]
    static let grid: [(SamplerKind, Int, Int)] = SamplerKind.allCases.flatMap { kind in
        (0..<shardSizes.count).flatMap { s in (1...4).map { (kind, $0, s) } }
    }

    /// Over shards as over one file: for W in 1...4 the ranks' rows, in rank order, are the single
    /// process's micro-batch; every row is a whole window inside one shard.
    @Test(arguments: grid)
    func ranksSplitTheSingleProcessBatchOverShards(kind: SamplerKind, worldSize W: Int, shards s: Int) throws {
        let (B, T) = (2, 4)
        let sizes = Self.shardSizes[s]
        let tokens = identityShards(sizes)
        var bounds = [0]
        for n in sizes { bounds.append(bounds.last! + n) }
        var single = try BatchSampler(kind: kind, tokens: tokens, batch: W * B, context: T, rank: 0, worldSize: 1, seed: 3)
        var ranks = try (0..<W).map { try BatchSampler(kind: kind, tokens: tokens, batch: B, context: T, rank: $0, worldSize: W, seed: 3) }
        for _ in 0..<30 {
            let whole = draw(&single)
            var union: [[Int32]] = []
            for r in 0..<W {
                for row in draw(&ranks[r]) {
                    let start = Int(row.inputs[0])
                    #expect(row.targets == row.inputs.map { $0 + 1 } && row.inputs == (0..<T).map { Int32(start + $0) })
                    let shard = bounds.lastIndex { $0 <= start }!
                    #expect(start + T + 1 <= bounds[shard + 1], "row at \(start) spans shards \(bounds)")
                    #expect((start - bounds[shard]) % T == 0)
                    union.append(row.inputs)
                }
            }
            #expect(union == whole.map(\.inputs))
            for r in 0..<W { #expect(ranks[r].state == single.state) }
        }
    }

    /// Sequential walks the shards in order, skipping one too short for a micro-batch and the
    /// remainder at a shard's end, and wraps to the first with the next epoch.
    @Test func sequentialWalksTheShardsInOrder() throws {
        let (B, T, W) = (1, 3, 2)  // a micro-batch needs 7 tokens
        let tokens = identityShards([14, 5, 10])  // shard starts 0, 14, 19
        var r0 = try BatchSampler(kind: .sequential, tokens: tokens, batch: B, context: T, rank: 0, worldSize: W, seed: 0)
        var starts: [Int32] = []
        for _ in 0..<4 { starts.append(draw(&r0)[0].inputs[0]) }
        #expect(starts == [0, 6, 19, 0])  // 12 + 7 > 14; the 5-token shard is skipped; 25 + 7 > 29 wraps
        #expect(r0.state == SamplerState(epoch: 1, position: 6))
        #expect(throws: DataError.self) {
            try BatchSampler(kind: .sequential, tokens: identityShards([6, 6]), batch: B, context: T, rank: 0, worldSize: W, seed: 0)
        }
    }

    /// Resume over shards: a sampler given a saved state continues with the same batches, also at
    /// another world size with the same W·B.
    @Test(arguments: SamplerKind.allCases)
    func restoredSamplerContinuesOverShards(kind: SamplerKind) throws {
        let tokens = identityShards([41, 0, 60, 13, 49])
        var original = try BatchSampler(kind: kind, tokens: tokens, batch: 3, context: 4, rank: 0, worldSize: 2, seed: 9)
        for _ in 0..<7 { _ = draw(&original) }
        var single = try BatchSampler(kind: kind, tokens: tokens, batch: 6, context: 4, rank: 0, worldSize: 1, seed: 9)
        var three = try (0..<3).map { try BatchSampler(kind: kind, tokens: tokens, batch: 2, context: 4, rank: $0, worldSize: 3, seed: 9) }
        single.state = original.state
        for r in 0..<3 { three[r].state = original.state }
        for _ in 0..<10 { #expect((0..<3).flatMap { draw(&three[$0]).map(\.inputs) } == draw(&single).map(\.inputs)) }
    }

    /// Above the materialized limit the order is a seeded bijection: every window once per epoch,
    /// another order for another epoch or seed, and no visible trace of the identity.
    @Test(arguments: [1, 2, 3, 17, 1000, 4097])
    func largeOrdersAreSeededBijections(count n: Int) {
        let order = WindowOrder(count: n, seed: 5, epoch: 2, materializedLimit: 0)
        let places = (0..<n).map { order[$0] }
        #expect(places.sorted() == Array(0..<n))
        #expect(places == (0..<n).map { WindowOrder(count: n, seed: 5, epoch: 2, materializedLimit: 0)[$0] })
        if n >= 17 {
            #expect(places != (0..<n).map { WindowOrder(count: n, seed: 5, epoch: 3, materializedLimit: 0)[$0] })
            #expect(places != (0..<n).map { WindowOrder(count: n, seed: 6, epoch: 2, materializedLimit: 0)[$0] })
            #expect(places != Array(0..<n))
        }
        if n >= 1000 {
            // The first tenth of the epoch draws from the whole range, not from a corner of it:
            // its mean lies within 5 standard errors of a uniform draw's (n/2 ± 5·n/√(12·n/10)).
            let head = places.prefix(n / 10)
            let mean = Double(head.reduce(0, +)) / Double(head.count)
            #expect(abs(mean - Double(n - 1) / 2) < 5 * Double(n) / (12 * Double(head.count)).squareRoot())
        }
        // Up to the limit, the order is today's Fisher–Yates permutation.
        #expect((0..<n).map { WindowOrder(count: n, seed: 5, epoch: 2)[$0] } == BatchSampler.permutation(n, seed: 5, epoch: 2).map { Int($0) })
    }

    /// The eval reader's batches over shards are the sequential sampler's first pass.
    @Test(arguments: 1...3)
    func evalReaderFollowsTheSequentialSamplerOverShards(worldSize W: Int) throws {
        let (B, T) = (1, 3)
        let tokens = identityShards([14, 5, 31])
        let readers = (0..<W).map { EvalReader(tokens: tokens, batch: B, context: T, rank: $0, worldSize: W) }
        var samplers = try (0..<W).map { try BatchSampler(kind: .sequential, tokens: tokens, batch: B, context: T, rank: $0, worldSize: W, seed: 0) }
        #expect(readers[0].batchCount == 4 / W + 1 / W + 10 / W)
        for i in 0..<readers[0].batchCount {
            for r in 0..<W {
                var inputs = [Int32](repeating: -1, count: B * T), targets = inputs
                readers[r].batch(i, tokens: &inputs, targets: &targets)
                #expect(inputs == draw(&samplers[r]).flatMap(\.inputs))
                #expect(targets == inputs.map { $0 + 1 })
            }
        }
    }
}
