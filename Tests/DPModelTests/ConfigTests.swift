import Foundation
import Testing
@testable import DPModel

@Test func presetsAreValidAndAsSpecified() throws {
    let gpt = ModelConfig.gpt(vocabSize: 65, context: 64, dim: 128, heads: 4, layers: 4)
    try gpt.validate()
    #expect(gpt.ffnDim == 512 && gpt.activation == .gelu && gpt.tiedEmbeddings && gpt.layerNorm
        && gpt.residual && gpt.positions == .learned && gpt.loss == .all)
    let seed = ModelConfig.seed
    try seed.validate()
    #expect(seed == ModelConfig(vocabSize: 4, context: 2, dim: 4, heads: 2, layers: 1, ffnDim: 8, activation: .relu,
        tiedEmbeddings: false, layerNorm: false, residual: false, positions: .none, loss: .last, initialization: .glorot))
}

@Test func validationExplainsWhatToChange() {
    var c = ModelConfig.gpt(vocabSize: 65, context: 64, dim: 130, heads: 4, layers: 4)
    #expect(throws: ModelConfigError.headsDoNotDivideDim(dim: 130, heads: 4)) { try c.validate() }
    #expect(ModelConfigError.headsDoNotDivideDim(dim: 130, heads: 4).description
        == "Model dim (130) must be a multiple of heads (4); choose heads that divide dim, e.g. 5.")
    c = .gpt(vocabSize: 0, context: 64, dim: 128, heads: 4, layers: 4)
    #expect(throws: ModelConfigError.notPositive(name: "vocab_size", value: 0)) { try c.validate() }
    c = .seed
    c.layers = -1
    #expect(throws: ModelConfigError.notPositive(name: "layers", value: -1)) { try c.validate() }
    #expect(throws: ModelConfigError.self) { try Model(config: c, maxBatch: 1) }
}

@Test func configJSONUsesSnakeCaseAndValidates() throws {
    let c = ModelConfig.gpt(vocabSize: 65, context: 64, dim: 128, heads: 4, layers: 4)
    let json = String(data: try JSONEncoder().encode(c), encoding: .utf8)!
    for key in ["vocab_size", "ffn_dim", "tied_embeddings", "layer_norm", "\"positions\":\"learned\"", "\"loss\":\"all\""] {
        #expect(json.contains(key), "\(key) in \(json)")
    }
    #expect(try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)) == c)
    let bad = json.replacingOccurrences(of: "\"heads\":4", with: "\"heads\":3")
    #expect(throws: ModelConfigError.self) { try JSONDecoder().decode(ModelConfig.self, from: Data(bad.utf8)) }
}

@Test(arguments: [(true, Positions.learned), (false, Positions.none)])
func configsWrittenBeforePositionsDecodeAsBefore(_ learned: Bool, _ positions: Positions) throws {
    let old = """
        {"vocab_size":4,"context":2,"dim":4,"heads":2,"layers":1,"ffn_dim":8,"activation":"relu","tied_embeddings":false,
         "layer_norm":false,"residual":false,"learned_positions":\(learned),"loss":"last"}
        """
    let config = try JSONDecoder().decode(ModelConfig.self, from: Data(old.utf8))
    var expected = ModelConfig.seed.with(positions: positions)
    expected.initialization = .gpt2   // written before `init`, with GPT-2's initialization
    #expect(config == expected)
}

@Test func sinusoidalPositionsAreTheFixedTableAndNoParameter() throws {
    var config = ModelConfig.gpt(vocabSize: 5, context: 6, dim: 8, heads: 2, layers: 1)
    config.positions = .sinusoidal
    #expect(ParameterLayout(config: config)["pos_embedding"] == nil)
    #expect(ParameterLayout(config: config).count == ParameterLayout(config: config.with(positions: .none)).count)
    let model = try Model(config: config, maxBatch: 1)
    let table = try #require(model.positionTable)
    for t in 0..<6 {
        for j in 0..<8 {
            let angle = Double(t) / pow(10000, Double(2 * (j / 2)) / 8)
            let expected = j % 2 == 0 ? sin(angle) : cos(angle)
            #expect(abs(Double(table[t * 8 + j]) - expected) <= 1e-7, "PE[\(t),\(j)]")
        }
    }
}

@Test func layoutFollowsTheDesignTable() {
    let c = ModelConfig.gpt(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)
    let layout = ParameterLayout(config: c)
    let blockNames = ["ln1.weight", "ln1.bias", "attn.wq", "attn.wk", "attn.wv", "attn.wo",
                      "ln2.weight", "ln2.bias", "ffn.w1", "ffn.b1", "ffn.w2", "ffn.b2"]
    let names = ["tok_embedding", "pos_embedding"] + (0..<2).flatMap { i in blockNames.map { "blocks.\(i).\($0)" } }
        + ["ln_f.weight", "ln_f.bias"]
    #expect(layout.tensors.map(\.name) == names)
    // Packed without gaps, in order.
    var offset = 0
    for t in layout.tensors {
        #expect(t.offset == offset)
        offset += t.count
    }
    #expect(layout.count == offset)
    let (V, T, C, F, L) = (11, 8, 16, 64, 2)
    #expect(c.parameterCount == V * C + T * C + L * (4 * C + 4 * C * C + 2 * C * F + F + C) + 2 * C)
    #expect(c.flopsPerToken == 6 * Double(c.parameterCount) + 12 * Double(L * C * T))
    #expect(layout["blocks.1.ffn.w2"]!.shape == [F, C] && layout["blocks.0.ffn.w1"]!.shape == [C, F])
    // Decay on matrices and embeddings only.
    for t in layout.tensors { #expect(t.decay == (t.shape.count == 2), "\(t.name)") }
    // Untied adds lm_head [C,V]; the seed has no positions and no LayerNorm.
    var untied = c
    untied.tiedEmbeddings = false
    #expect(ParameterLayout(config: untied).tensors.last!.name == "lm_head")
    #expect(ParameterLayout(config: untied)["lm_head"]!.shape == [C, V])
    let seed = ParameterLayout(config: .seed)
    #expect(seed.tensors.map(\.name) == ["tok_embedding", "blocks.0.attn.wq", "blocks.0.attn.wk", "blocks.0.attn.wv",
        "blocks.0.attn.wo", "blocks.0.ffn.w1", "blocks.0.ffn.b1", "blocks.0.ffn.w2", "blocks.0.ffn.b2", "lm_head"])
    #expect(seed.count == 16 + 4 * 16 + 32 + 8 + 32 + 4 + 16)
}

/// The gpt2 preset is the gpt wiring plus four attention biases per block, [C] each, zero at
/// initialization and without weight decay, after the block's wo; configs without the key decode
/// as false.
@Test func gpt2AddsAttentionBiasesAfterTheProjections() throws {
    let (V, T, C, L) = (11, 8, 16, 2)
    let gpt = ModelConfig.gpt(vocabSize: V, context: T, dim: C, heads: 4, layers: L)
    let gpt2 = ModelConfig.gpt2(vocabSize: V, context: T, dim: C, heads: 4, layers: L)
    var expected = gpt
    expected.attentionBias = true
    #expect(gpt2 == expected && !gpt.attentionBias)
    let layout = ParameterLayout(config: gpt2)
    let block = layout.tensors.filter { $0.name.hasPrefix("blocks.1.") }.map(\.name)
    #expect(block == ["ln1.weight", "ln1.bias", "attn.wq", "attn.wk", "attn.wv", "attn.wo", "attn.bq", "attn.bk", "attn.bv",
                      "attn.bo", "ln2.weight", "ln2.bias", "ffn.w1", "ffn.b1", "ffn.w2", "ffn.b2"].map { "blocks.1." + $0 })
    for name in ["bq", "bk", "bv", "bo"] {
        let spec = try #require(layout["blocks.0.attn." + name])
        #expect(spec.shape == [C] && spec.initializer == .zeros && !spec.decay)
    }
    #expect(gpt2.parameterCount == gpt.parameterCount + L * 4 * C)
    let json = String(data: try JSONEncoder().encode(gpt2), encoding: .utf8)!
    #expect(json.contains("\"attention_bias\":true"))
    #expect(try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)) == gpt2)
    // A config written before the key (the key removed) decodes without biases.
    var object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    #expect(object.removeValue(forKey: "attention_bias") as? Bool == true)
    let old = try JSONSerialization.data(withJSONObject: object)
    #expect(try JSONDecoder().decode(ModelConfig.self, from: old) == gpt)
}

/// The initializer: normal(0, 0.02) for matrices and embeddings, 0.02/√(2L) for wo and w2,
/// LayerNorm weights 1 and biases 0. Sample std within 5% (≥ 4096 samples: the std of a sample
/// std is ~1.1%), mean within 4 standard errors.
@Test func initializationFollowsTheTable() throws {
    let c = ModelConfig.gpt(vocabSize: 65, context: 64, dim: 64, heads: 4, layers: 4)
    let model = try Model(config: c, maxBatch: 1)
    model.initializeParameters(seed: 123)
    let projectionStd = 0.02 / (8.0).squareRoot()
    for spec in model.layout.tensors {
        let values = model.parameter(spec.name)!.map(Double.init)
        let isProjection = spec.name.hasSuffix("attn.wo") || spec.name.hasSuffix("ffn.w2")
        if spec.name.hasSuffix("weight") {
            #expect(values.allSatisfy { $0 == 1 }, "\(spec.name)")
        } else if spec.shape.count == 1 {
            #expect(values.allSatisfy { $0 == 0 }, "\(spec.name)")
        } else {
            let std = isProjection ? projectionStd : 0.02
            let mean = values.reduce(0, +) / Double(values.count)
            let sampleStd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
            #expect(abs(sampleStd / std - 1) < 0.05, "\(spec.name): std \(sampleStd)")
            #expect(abs(mean) < 4 * std / Double(values.count).squareRoot(), "\(spec.name): mean \(mean)")
        }
    }
    let first = Array(model.parameters)
    model.initializeParameters(seed: 123)
    #expect(Array(model.parameters) == first)
}

/// fastExp, used by the softmaxes and GELU, against libm: relative error ≤ 3e-7 (a few Float ulp).
@Test func fastExpIsAccurate() {
    var x: Float = -87
    while x < 88 {
        let exact = Foundation.exp(Double(x))
        #expect(abs(Double(fastExp(x)) - exact) <= 3e-7 * exact, "exp(\(x))")
        x += 0.0137
    }
    #expect(fastExp(0) == 1)
    #expect(fastExp(-1000) > 0 && fastExp(-1000) < 1e-37)
}

/// GELU against the tanh form evaluated in Double with libm, and its saved slope against a
/// central difference of that form: 1e-6 absolute over [−10, 10].
@Test func geluMatchesTheTanhForm() {
    let xs = stride(from: Float(-10), through: 10, by: 0.01).map { $0 }
    var out = [Float](repeating: 0, count: xs.count), slope = out
    geluForward(&out, slope: &slope, xs, N: xs.count)
    func reference(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
    for (i, x) in xs.enumerated() {
        let h = 1e-5
        let derivative = (reference(Double(x) + h) - reference(Double(x) - h)) / (2 * h)
        #expect(abs(Double(out[i]) - reference(Double(x))) <= 1e-6 * max(1, abs(Double(x))), "gelu(\(x))")
        #expect(abs(Double(slope[i]) - derivative) <= 1e-6, "gelu′(\(x))")
    }
}
