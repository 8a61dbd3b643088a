import Foundation
import Testing
@testable import DPModel

/// The KV-cache inference path and generation: the cached logits must be `forwardLogits`' on the
/// same tokens, and generation must be deterministic for a seed.
struct GenerateTests {
    /// Small models of every wiring the cache must handle: gpt tied/untied × gelu/relu, gpt2's
    /// attention biases, and the seed.
    static let configs: [ModelConfig] = {
        func gpt(tied: Bool, _ activation: Activation) -> ModelConfig {
            var c = ModelConfig.gpt(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)
            c.tiedEmbeddings = tied
            c.activation = activation
            return c
        }
        var seedSinusoidal = ModelConfig.seed.with(positions: .sinusoidal)
        seedSinusoidal.context = 5
        return [gpt(tied: true, .gelu), gpt(tied: false, .gelu), gpt(tied: true, .relu), gpt(tied: false, .relu), .seed,
                gpt(tied: true, .gelu).with(positions: .sinusoidal), gpt(tied: false, .relu).with(positions: .none), seedSinusoidal,
                .gpt2(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)]
    }()

    static func model(_ config: ModelConfig, seed: UInt64 = 7) throws -> Model {
        let model = try Model(config: config, maxBatch: 1)
        fillTestParameters(model, seed: seed)
        return model
    }

    /// max |a − b| over max |b|: the logits agree to this relative error as vectors.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, 1e-6)
    }

    func reference(_ model: Model, _ tokens: [Int32]) -> [Float] {
        Array(tokens.withUnsafeBufferPointer { model.forwardLogits(tokens: $0, batch: 1, time: tokens.count) })
    }

    func cached(_ model: Model, _ tokens: [Int32], _ cache: KVCache) -> [Float] {
        Array(tokens.withUnsafeBufferPointer { model.forwardCached(tokens: $0, cache: cache) })
    }

    @Test(arguments: configs)
    func cachedLogitsEqualForwardLogitsAtEveryPosition(config: ModelConfig) throws {
        let model = try Self.model(config)
        let tokens = randomBatch(B: 1, T: config.context, V: config.vocabSize, seed: 3).tokens
        let cache = try KVCache(config: config)
        // One token at a time: position t's logits against a full run over tokens 0...t.
        for t in 0..<config.context {
            let got = cached(model, [tokens[t]], cache)
            let want = reference(model, Array(tokens[0...t]))
            #expect(cache.count == t + 1)
            #expect(Self.relativeError(got, want) <= 1e-4, "position \(t): \(got) vs \(want)")
        }
        // A batched prefill, then single tokens, agrees too.
        cache.reset()
        let split = config.context / 2 + 1
        let prefilled = cached(model, Array(tokens[0..<split]), cache)
        #expect(Self.relativeError(prefilled, reference(model, Array(tokens[0..<split]))) <= 1e-4)
        for t in split..<config.context {
            let got = cached(model, [tokens[t]], cache)
            #expect(Self.relativeError(got, reference(model, Array(tokens[0...t]))) <= 1e-4, "after prefill, position \(t)")
        }
    }

    /// Beyond the context the window slides; the cache (reset and re-encoded) and the re-run of
    /// `forwardLogits` must still draw the same tokens, greedy and sampled.
    @Test(arguments: configs, [Float(0), 1])
    func cachedAndUncachedGenerationAgreeBeyondTheContext(config: ModelConfig, temperature: Float) throws {
        let model = try Self.model(config)
        let prompt: [Int32] = [1, 2, 3]
        func run(_ cache: KVCache?) -> [Int32] {
            var sampler = TokenSampler(temperature: temperature, topK: nil, seed: 42)
            var out: [Int32] = []
            model.generate(prompt: prompt, count: 4 * config.context, sampler: &sampler, cache: cache) { out.append($0) }
            return out
        }
        let withCache = run(try KVCache(config: config))
        let without = run(nil)
        #expect(withCache.count == 4 * config.context)
        #expect(withCache == without)
    }

    @Test func generationIsDeterministicForASeed() throws {
        let model = try Self.model(Self.configs[0])
        func run(seed: UInt64, topK: Int? = nil) throws -> [Int32] {
            var sampler = TokenSampler(temperature: 1, topK: topK, seed: seed)
            var out: [Int32] = []
            model.generate(prompt: [0], count: 40, sampler: &sampler, cache: try KVCache(config: model.config)) { out.append($0) }
            return out
        }
        #expect(try run(seed: 5) == run(seed: 5))
        #expect(try run(seed: 5, topK: 3) == run(seed: 5, topK: 3))
        #expect(try run(seed: 5) != run(seed: 6), "another seed draws another sequence")
    }

    @Test func greedyPicksTheArgmax() throws {
        var sampler = TokenSampler(temperature: 0, seed: 1)
        let logits: [Float] = [0.5, -1, 3, 2.9, 3, -7]
        // The first of the two largest wins the tie.
        #expect(logits.withUnsafeBufferPointer { sampler.sample($0) } == 2)
        // With a model: the first generated token is the argmax of forwardLogits on the prompt.
        for config in Self.configs {
            let model = try Self.model(config, seed: 11)
            let prompt: [Int32] = [3, 1]
            let want = reference(model, prompt)
            var first: Int32 = -1
            var greedy = TokenSampler(temperature: 0, seed: 1)
            model.generate(prompt: prompt, count: 1, sampler: &greedy, cache: try KVCache(config: config)) { first = $0 }
            #expect(first == Int32(want.indices.max { want[$0] < want[$1] }!), "\(config)")
        }
    }

    @Test func temperatureSamplingFollowsTheSoftmaxAndTopKCutsTheTail() {
        // softmax([0, ln 3, −∞-ish, …]) = [1/4, 3/4, ~0]: 4000 draws land within 0.03 of it.
        let logits: [Float] = [0, Float(log(3.0)), -30, -30]
        var sampler = TokenSampler(temperature: 1, seed: 99)
        var counts = [0, 0, 0, 0]
        for _ in 0..<4000 { counts[Int(logits.withUnsafeBufferPointer { sampler.sample($0) })] += 1 }
        #expect(abs(Double(counts[1]) / 4000 - 0.75) < 0.03, "\(counts)")
        // Top-2 of a flat distribution over 5 tokens draws only the two largest, both of them.
        let flat: [Float] = [1, 1.2, 0.9, 1.1, 1.0]
        var topTwo = TokenSampler(temperature: 2, topK: 2, seed: 3)
        var seen = Set<Int32>()
        for _ in 0..<500 { seen.insert(flat.withUnsafeBufferPointer { topTwo.sample($0) }) }
        #expect(seen == [1, 3])
        // Top-1 is greedy whatever the temperature.
        var topOne = TokenSampler(temperature: 5, topK: 1, seed: 3)
        #expect((0..<50).allSatisfy { _ in flat.withUnsafeBufferPointer { topOne.sample($0) } == 1 })
    }

    /// A prompt longer than the context: generation sees its last `context` tokens only.
    @Test func aLongPromptIsCutToTheContext() throws {
        let config = Self.configs[1]
        let model = try Self.model(config)
        let long = randomBatch(B: 1, T: 3 * config.context, V: config.vocabSize, seed: 8).tokens
        func firstToken(_ prompt: [Int32]) throws -> Int32 {
            var sampler = TokenSampler(temperature: 0, seed: 1)
            var first: Int32 = -1
            model.generate(prompt: prompt, count: 1, sampler: &sampler, cache: try KVCache(config: config)) { first = $0 }
            return first
        }
        #expect(try firstToken(long) == firstToken(Array(long.suffix(config.context))))
    }
}
