import Testing
@testable import DPModel

/// A 3-layer `smallGPT` with LayerNorm and residuals switched.
func gptVariant(tied: Bool, layerNorm: Bool, residual: Bool, loss: LossMode = .all) -> ModelConfig {
    var c = smallGPT(activation: .gelu, tied: tied, loss: loss)
    c.layers = 3
    c.layerNorm = layerNorm
    c.residual = residual
    return c
}

let readinessCases: [GradientCase] = [
    GradientCase(name: "gpt tied", config: gptVariant(tied: true, layerNorm: true, residual: true), B: 2, T: 8),
    GradientCase(name: "gpt untied", config: gptVariant(tied: false, layerNorm: true, residual: true), B: 2, T: 8),
    GradientCase(name: "gpt tied, no LayerNorm", config: gptVariant(tied: true, layerNorm: false, residual: true), B: 2, T: 6),
    GradientCase(name: "gpt untied, no residuals", config: gptVariant(tied: false, layerNorm: true, residual: false), B: 2, T: 6),
    GradientCase(name: "gpt tied, neither, last", config: gptVariant(tied: true, layerNorm: false, residual: false, loss: .last), B: 3, T: 5),
    GradientCase(name: "seed", config: .seed, B: 3, T: 2),
    GradientCase(name: "gpt2 (attention biases)", config: smallGPT2(tied: true, loss: .all), B: 2, T: 8),
]

/// `backward(gradientsReady:)`: every range it reports final is final, bit for bit (a snapshot of
/// gradients[k...] at each report equals the final gradients), the offsets decrease to 0, and the
/// callback changes nothing.
@Test(arguments: readinessCases)
func gradientsReadyReportsOnlyFinalGradients(_ c: GradientCase) throws {
    let model = try Model(config: c.config, maxBatch: c.B)
    fillTestParameters(model, seed: c.parameterSeed)
    let (tokens, targets) = randomBatch(B: c.B, T: c.T, V: c.config.vocabSize, seed: 6)

    model.lossAndGradients(tokens, targets, B: c.B, T: c.T)
    let plain = Array(model.gradients)

    model.zeroGradients()
    _ = model.loss(tokens, targets, B: c.B, T: c.T)
    var snapshots: [(offset: Int, values: [Float])] = []
    model.backward { k in snapshots.append((k, Array(model.gradients[k...]))) }
    let final = Array(model.gradients)

    #expect(final.map(\.bitPattern) == plain.map(\.bitPattern), "\(c.name): the callback changed the gradients")
    let offsets = snapshots.map(\.offset)
    #expect(offsets.last == 0, "\(c.name): last offset \(String(describing: offsets.last)), not 0")
    #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 > $1 }, "\(c.name): offsets \(offsets) not decreasing")
    #expect(offsets.allSatisfy { (0..<model.layout.count).contains($0) }, "\(c.name): offsets \(offsets)")
    // Per block one report after each weight's backward: w2, w1, ln2, wo, wq/wk/wv, ln1 (4 without
    // LayerNorm); one at 0, plus the head's unless nothing follows the blocks. The model announces
    // the same offsets beforehand (the trainer cuts its buckets there).
    let headHasTensors = c.config.layerNorm || !c.config.tiedEmbeddings
    let perBlock = c.config.layerNorm ? 6 : 4
    #expect(offsets.count == c.config.layers * perBlock + 1 + (headHasTensors ? 1 : 0), "\(c.name): offsets \(offsets)")
    #expect(offsets == model.gradientFrontiers, "\(c.name): reported \(offsets), announced \(model.gradientFrontiers)")
    for (k, values) in snapshots {
        // Bit for bit: the first float that differs, if any.
        let changed = zip(values, final[k...]).enumerated().first { $0.element.0.bitPattern != $0.element.1.bitPattern }
        #expect(changed == nil, "\(c.name): gradients[\(k + (changed?.offset ?? 0))] changed after offset \(k) was reported final")
    }
}
