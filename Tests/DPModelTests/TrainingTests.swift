import Testing
@testable import DPModel

/// B rows of T+1 tokens whose prefixes are all distinct (row b starts with token b), so every
/// next token is determined by its prefix and a batch can be memorized exactly.
func memorizableBatch(B: Int, T: Int, V: Int, seed: UInt64) -> (tokens: [Int32], targets: [Int32]) {
    var r = TestRandom(seed: seed)
    var tokens: [Int32] = [], targets: [Int32] = []
    for b in 0..<B {
        let row = [Int32(b)] + (0..<T).map { _ in Int32(r.int(V)) }
        tokens += row[0..<T]
        targets += row[1...T]
    }
    return (tokens, targets)
}

/// Plain training loop: forward, backward, clip, AdamW. Returns the loss of every step.
func train(_ model: Model, tokens: [Int32], targets: [Int32], B: Int, T: Int, steps: Int, lr: Float) -> [Float] {
    let adam = AdamW(beta1: 0.9, beta2: 0.99, weightDecay: 0.0)
    let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.layout.count)
    let v = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.layout.count)
    m.initialize(repeating: 0)
    v.initialize(repeating: 0)
    defer { m.deallocate(); v.deallocate() }
    return (1...steps).map { step in
        let loss = model.lossAndGradients(tokens, targets, B: B, T: T)
        clipGradients(model.gradients, maxNorm: 1)
        adam.update(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), m: m, v: v,
                    range: 0..<model.layout.count, layout: model.layout, learningRate: lr, step: step)
        return loss
    }
}

@Test(arguments: [LossMode.all, .last])
func smallModelMemorizesOneBatch(_ loss: LossMode) throws {
    var config = ModelConfig.gpt(vocabSize: 11, context: 8, dim: 32, heads: 4, layers: 2)
    config.loss = loss
    let model = try Model(config: config, maxBatch: 4)
    model.initializeParameters(seed: 1)
    let (tokens, targets) = memorizableBatch(B: 4, T: 8, V: 11, seed: 5)
    let losses = train(model, tokens: tokens, targets: targets, B: 4, T: 8, steps: 300, lr: 1e-2)
    #expect(abs(losses[0] - Float(11).logNaturalApprox) < 0.2, "initial loss \(losses[0]) should be near ln V")
    #expect(losses.last! < 0.05, "loss after 300 steps: \(losses.last!)")
}

@Test func sameSeedGivesBitIdenticalTraining() throws {
    let config = ModelConfig.gpt(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)
    let (tokens, targets) = memorizableBatch(B: 3, T: 8, V: 11, seed: 2)
    func run() throws -> ([Float], [Float]) {
        let model = try Model(config: config, maxBatch: 3)
        model.initializeParameters(seed: 42)
        let losses = train(model, tokens: tokens, targets: targets, B: 3, T: 8, steps: 5, lr: 1e-3)
        return (losses, Array(model.parameters))
    }
    let (l1, p1) = try run()
    let (l2, p2) = try run()
    #expect(l1 == l2)
    #expect(p1 == p2)
    // A different seed gives a different model.
    let other = try Model(config: config, maxBatch: 3)
    other.initializeParameters(seed: 43)
    #expect(other.loss(tokens, targets, B: 3, T: 8) != l1[0])
}

/// backward adds: two forward/backward pairs without zeroing give twice the gradient (to 1e-6:
/// sgemm with β = 1 rounds its sum once, not after each product).
@Test func backwardAccumulatesIntoGradients() throws {
    let model = try Model(config: .gpt(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 1), maxBatch: 2)
    model.initializeParameters(seed: 3)
    let (tokens, targets) = randomBatch(B: 2, T: 8, V: 11, seed: 4)
    model.lossAndGradients(tokens, targets, B: 2, T: 8)
    let once = Array(model.gradients)
    _ = model.loss(tokens, targets, B: 2, T: 8)
    model.backward()
    for i in 0..<once.count { #expect(abs(model.gradients[i] - 2 * once[i]) <= 1e-6, "gradient \(i)") }
    model.zeroGradients()
    #expect(model.gradients.allSatisfy { $0 == 0 })
}

/// forwardLogits gives the last position's logits: their softmax equals the probabilities the
/// loss computed at that position (within 1e-6), also for T < context and for tied and untied output.
@Test(arguments: [true, false])
func forwardLogitsMatchesTheLossPath(_ tied: Bool) throws {
    var config = ModelConfig.gpt(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)
    config.tiedEmbeddings = tied
    let model = try Model(config: config, maxBatch: 3)
    fillTestParameters(model, seed: 5)
    let (B, T, V) = (3, 6, 11)
    let (tokens, targets) = randomBatch(B: B, T: T, V: V, seed: 6)
    _ = model.loss(tokens, targets, B: B, T: T)
    let probs = (0..<B).map { b in (0..<V).map { model.acts.probs[(b * T + T - 1) * V + $0] } }
    let logits = Array(tokens.withUnsafeBufferPointer { model.forwardLogits(tokens: $0, batch: B, time: T) })
    #expect(logits.count == B * V)
    for b in 0..<B {
        let row = logits[(b * V)..<((b + 1) * V)].map(Double.init)
        let m = row.max()!
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        for j in 0..<V { #expect(abs(e[j] / s - Double(probs[b][j])) <= 1e-6) }
    }
}

import Foundation

extension Float {
    var logNaturalApprox: Float { Float(Foundation.log(Double(self))) }
}
