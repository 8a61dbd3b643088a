import Testing
@testable import DPData

/// Rows of one micro-batch as (inputs, targets), read from a sampler.
func draw(_ sampler: inout BatchSampler) -> [(inputs: [Int32], targets: [Int32])] {
    let (B, T) = (sampler.batch, sampler.context)
    var inputs = [Int32](repeating: -1, count: B * T), targets = [Int32](repeating: -1, count: B * T)
    sampler.next(tokens: &inputs, targets: &targets)
    return (0..<B).map { b in (Array(inputs[b * T..<(b + 1) * T]), Array(targets[b * T..<(b + 1) * T])) }
}

/// Tokens 0, 1, 2, ...: a row's first input is the offset of its window.
func identityTokens(_ n: Int) -> TokenSequence { TokenSequence((0..<n).map { Int32($0) }) }

@Suite struct SamplerTests {
    static let grid: [(SamplerKind, Int)] = SamplerKind.allCases.flatMap { kind in (1...4).map { (kind, $0) } }

    /// For W in 1...4: each rank's rows are whole windows (targets = inputs shifted by one), the
    /// ranks' windows are disjoint, and together, in rank order, they are exactly the single
    /// process's micro-batch of W·B rows — for many micro-batches, across epochs.
    @Test(arguments: grid)
    func ranksSplitTheSingleProcessBatch(kind: SamplerKind, worldSize W: Int) throws {
        let (B, T) = (3, 4)
        let tokens = identityTokens(150)  // 37 windows: epochs end with a remainder for every W
        var single = try BatchSampler(kind: kind, tokens: tokens, batch: W * B, context: T, rank: 0, worldSize: 1, seed: 7)
        var ranks = try (0..<W).map { try BatchSampler(kind: kind, tokens: tokens, batch: B, context: T, rank: $0, worldSize: W, seed: 7) }
        for _ in 0..<40 {
            let whole = draw(&single)
            var union: [(inputs: [Int32], targets: [Int32])] = []
            var starts = Set<Int32>()
            for r in 0..<W {
                for row in draw(&ranks[r]) {
                    #expect(row.inputs == (0..<T).map { row.inputs[0] + Int32($0) })
                    #expect(row.targets == row.inputs.map { $0 + 1 })
                    #expect(Int(row.inputs[0]) % T == 0)
                    #expect(starts.insert(row.inputs[0]).inserted, "window \(row.inputs[0]) read twice in one micro-batch")
                    union.append(row)
                }
            }
            #expect(union.map(\.inputs) == whole.map(\.inputs))
            #expect(union.map(\.targets) == whole.map(\.targets))
            for r in 0..<W { #expect(ranks[r].state == single.state) }
        }
    }

    @Test func sequentialFollowsTheCursorContract() throws {
        let (B, T, W) = (2, 3, 2)
        let tokens = identityTokens(30)  // W·B·T = 12: micro-batches at 0, 12, then 24 + 13 > 30 wraps
        var r1 = try BatchSampler(kind: .sequential, tokens: tokens, batch: B, context: T, rank: 1, worldSize: W, seed: 0)
        #expect(draw(&r1).map { $0.inputs[0] } == [6, 9])
        #expect(r1.state == SamplerState(epoch: 0, position: 12))
        #expect(draw(&r1).map { $0.inputs[0] } == [18, 21])
        #expect(r1.state == SamplerState(epoch: 1, position: 0))  // 24 + 13 > 30: the next one wraps
        #expect(draw(&r1).map { $0.inputs[0] } == [6, 9])
        #expect(r1.state == SamplerState(epoch: 1, position: 12))
        // 13 tokens hold exactly one micro-batch, which comes back every time.
        var tight = try BatchSampler(kind: .sequential, tokens: identityTokens(13), batch: B, context: T, rank: 1, worldSize: W, seed: 0)
        #expect(draw(&tight).last?.targets == [10, 11, 12])
        #expect(draw(&tight).last?.targets == [10, 11, 12])
    }

    /// With W·B dividing the window count, an epoch visits every window exactly once; otherwise
    /// each window at most once and the remainder waits for the next epoch.
    @Test(arguments: [(1, 5), (2, 5), (3, 4), (4, 5), (3, 7)])
    func shuffleEpochVisitsEveryWindowOnce(worldSize W: Int, batch B: Int) throws {
        let T = 5
        let windows = 60
        let tokens = identityTokens(windows * T + 1)
        var samplers = try (0..<W).map { try BatchSampler(kind: .shuffle, tokens: tokens, batch: B, context: T, rank: $0, worldSize: W, seed: 42) }
        #expect(samplers[0].windowCount == windows)
        let perEpoch = windows / (W * B)
        for epoch in 0..<3 {
            var seen: [Int32] = []
            for _ in 0..<perEpoch {
                #expect(samplers[0].state.epoch == epoch)
                for r in 0..<W { seen += draw(&samplers[r]).map { $0.inputs[0] / Int32(T) } }
            }
            #expect(Set(seen).count == seen.count, "a window came twice in epoch \(epoch)")
            #expect(seen.count == perEpoch * W * B)
            if windows % (W * B) == 0 { #expect(seen.sorted() == (0..<Int32(windows)).map { $0 }) }
            #expect(samplers.allSatisfy { $0.state == SamplerState(epoch: epoch + 1, position: 0) })
        }
    }

    @Test func shufflePermutationsDependOnSeedAndEpoch() {
        let p = BatchSampler.permutation(100, seed: 1, epoch: 0)
        #expect(p.sorted() == (0..<100).map { Int32($0) })
        #expect(p == BatchSampler.permutation(100, seed: 1, epoch: 0))
        #expect(p != BatchSampler.permutation(100, seed: 1, epoch: 1))
        #expect(p != BatchSampler.permutation(100, seed: 2, epoch: 0))
        #expect(p != (0..<100).map { Int32($0) })
    }

    /// A sampler rebuilt from a saved state continues with exactly the batches the original would
    /// have drawn, across epoch boundaries, also when the world size changes but W·B does not.
    @Test(arguments: SamplerKind.allCases)
    func restoredSamplerContinuesIdentically(kind: SamplerKind) throws {
        let tokens = identityTokens(97)
        let (T, seed): (Int, UInt64) = (4, 1234)
        var original = try BatchSampler(kind: kind, tokens: tokens, batch: 3, context: T, rank: 1, worldSize: 2, seed: seed)
        for steps in [0, 1, 3, 4, 5, 9] {
            var a = original
            for _ in 0..<steps { _ = draw(&a) }
            let saved = a.state
            var resumed = try BatchSampler(kind: kind, tokens: tokens, batch: 3, context: T, rank: 1, worldSize: 2, seed: seed)
            resumed.state = saved
            for _ in 0..<12 { #expect(draw(&resumed).map(\.inputs) == draw(&a).map(\.inputs)) }
        }
        // Resume a W = 2, B = 3 run as W = 3, B = 2: the union of the ranks' rows is unchanged.
        for _ in 0..<5 { _ = draw(&original) }
        var single = try BatchSampler(kind: kind, tokens: tokens, batch: 6, context: T, rank: 0, worldSize: 1, seed: seed)
        single.state = original.state
        var three = try (0..<3).map { try BatchSampler(kind: kind, tokens: tokens, batch: 2, context: T, rank: $0, worldSize: 3, seed: seed) }
        for r in 0..<3 { three[r].state = original.state }
        for _ in 0..<8 {
            let union = (0..<3).flatMap { draw(&three[$0]).map(\.inputs) }
            #expect(union == draw(&single).map(\.inputs))
        }
    }

    @Test(arguments: SamplerKind.allCases)
    func tooFewTokensForOneMicroBatchThrows(kind: SamplerKind) {
        // W·B = 4 rows of T = 4 need 17 tokens (sequential) or 4 windows, i.e. 17 tokens (shuffle).
        #expect(throws: DataError.self) {
            try BatchSampler(kind: kind, tokens: identityTokens(16), batch: 2, context: 4, rank: 0, worldSize: 2, seed: 0)
        }
        #expect(throws: Never.self) {
            try BatchSampler(kind: kind, tokens: identityTokens(17), batch: 2, context: 4, rank: 0, worldSize: 2, seed: 0)
        }
        #expect(throws: DataError.self) {
            try BatchSampler(kind: kind, tokens: identityTokens(100), batch: 2, context: 4, rank: 2, worldSize: 2, seed: 0)
        }
    }

    /// The eval reader's global batch i is the sequential sampler's micro-batch i, sharded the same.
    /// A window stride S: windows start at offsets k·S, (n − 1 − T)/S + 1 of them; the ranks'
    /// rows still make up the single process's micro-batch; a shuffle epoch visits every window
    /// once; and S = T is the default, bit for bit.
    @Test(arguments: SamplerKind.allCases)
    func aStrideMovesTheWindowStarts(kind: SamplerKind) throws {
        let (B, T, n) = (2, 4, 61)
        let tokens = identityTokens(n)
        for S in [1, 2, 3, 4, 6] {
            let windows = (n - 1 - T) / S + 1
            for W in 1...3 {
                var single = try BatchSampler(kind: kind, tokens: tokens, batch: W * B, context: T, stride: S, rank: 0, worldSize: 1, seed: 3)
                var ranks = try (0..<W).map {
                    try BatchSampler(kind: kind, tokens: tokens, batch: B, context: T, stride: S, rank: $0, worldSize: W, seed: 3)
                }
                if kind == .shuffle { #expect(single.windowCount == windows) }
                var seen: [Int32] = []
                for _ in 0..<(windows / (W * B)) {
                    let whole = draw(&single)
                    var union: [[Int32]] = []
                    for r in 0..<W {
                        for row in draw(&ranks[r]) {
                            #expect(row.inputs == (0..<T).map { row.inputs[0] + Int32($0) })
                            #expect(row.targets == row.inputs.map { $0 + 1 })
                            #expect(Int(row.inputs[0]) % S == 0 && Int(row.inputs[0]) + T < n, "S \(S): row at \(row.inputs[0])")
                            union.append(row.inputs)
                        }
                    }
                    #expect(union == whole.map(\.inputs), "S \(S), W \(W)")
                    seen += union.map { $0[0] }
                }
                switch kind {
                case .shuffle: #expect(Set(seen).count == seen.count, "S \(S), W \(W): a window came twice in an epoch")
                case .sequential: #expect(seen == (0..<Int32(seen.count)).map { $0 * Int32(S) }, "S \(S), W \(W)")
                }
            }
        }
        var byDefault = try BatchSampler(kind: kind, tokens: tokens, batch: 3, context: T, rank: 1, worldSize: 2, seed: 5)
        var explicit = try BatchSampler(kind: kind, tokens: tokens, batch: 3, context: T, stride: T, rank: 1, worldSize: 2, seed: 5)
        for _ in 0..<20 {
            let (a, b) = (draw(&byDefault), draw(&explicit))
            #expect(a.map(\.inputs) == b.map(\.inputs) && a.map(\.targets) == b.map(\.targets))
            #expect(byDefault.state == explicit.state)
        }
        #expect(throws: DataError.self) {
            try BatchSampler(kind: kind, tokens: tokens, batch: 1, context: T, stride: 0, rank: 0, worldSize: 1, seed: 0)
        }
    }

    @Test(arguments: 1...4)
    func evalReaderShardsSequentialWindows(worldSize W: Int) throws {
        let (B, T) = (2, 3)
        let tokens = identityTokens(100)  // 33 windows
        let readers = (0..<W).map { EvalReader(tokens: tokens, batch: B, context: T, rank: $0, worldSize: W) }
        #expect(readers[0].batchCount == 33 / (W * B))
        var samplers = try (0..<W).map { try BatchSampler(kind: .sequential, tokens: tokens, batch: B, context: T, rank: $0, worldSize: W, seed: 0) }
        var all: [Int32] = []
        for i in 0..<readers[0].batchCount {
            for r in 0..<W {
                var inputs = [Int32](repeating: -1, count: B * T), targets = inputs
                readers[r].batch(i, tokens: &inputs, targets: &targets)
                #expect(targets == inputs.map { $0 + 1 })
                let expected = draw(&samplers[r])
                #expect(inputs == expected.flatMap(\.inputs))
                all += inputs
            }
        }
        #expect(Set(all).count == all.count)
        #expect(EvalReader(tokens: identityTokens(5), batch: 2, context: 3, rank: 0, worldSize: 1).batchCount == 0)
        // With a stride S the readers read the sequential sampler's rows of stride S, in order.
        for S in [1, 2] {
            let strided = (0..<W).map { EvalReader(tokens: tokens, batch: B, context: T, stride: S, rank: $0, worldSize: W) }
            #expect(strided[0].batchCount == ((100 - 1 - T) / S + 1) / (W * B))
            var starts: [Int32] = []
            for i in 0..<strided[0].batchCount {
                for r in 0..<W {
                    var inputs = [Int32](repeating: -1, count: B * T), targets = inputs
                    strided[r].batch(i, tokens: &inputs, targets: &targets)
                    #expect(targets == inputs.map { $0 + 1 })
                    starts += (0..<B).map { inputs[$0 * T] }
                }
            }
            #expect(starts == (0..<Int32(starts.count)).map { $0 * Int32(S) }, "S \(S)")
        }
    }
}
