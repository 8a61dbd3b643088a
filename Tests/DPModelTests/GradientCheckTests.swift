import Foundation
import Testing
@testable import DPModel

/// Gradients against finite differences, per tensor, for every combination the model has:
/// gpt and seed wiring, GELU and ReLU, tied and untied output, loss over all positions and over
/// the last one, and the encoder: bidirectional attention with the loss over masked positions only
/// (targets −1 elsewhere).
///
/// Method: directional derivatives. For a tensor W and a random ±1 direction d over its entries,
/// the central difference (L(W + h·d) − L(W − h·d)) / 2h, in Double from two Float forwards,
/// must equal ⟨∇W L, d⟩ within 1% of ‖∇W L‖₂, for each of 4 directions (h = 3e-3).
///
/// Why this catches a wrong term: if backward returns ∇W L + e, the check sees ⟨e, d⟩, whose
/// size for random signs is about ‖e‖₂; a term worth ≥ 2% of the tensor's gradient then fails
/// at least one of the four directions with near certainty. Why 1% is safe: with parameters that
/// keep every activation O(1), the measured error of this check on correct code is below 0.1% of
/// ‖∇W L‖ (Float rounding of the loss, ~1e-6, divided by 2h, plus O(h²) truncation).
/// ReLU is not differentiable at 0: a direction along which any ReLU input changes sign between
/// the two evaluations is discarded and redrawn, since the difference quotient is then not a
/// derivative.
///
/// The key bias bk (gpt2 preset) has no gradient at all: q·(k_j + bk) = q·k_j + q·bk adds the
/// same score to every key j of a query, which softmax ignores. For it the check is that the
/// analytic gradient is below 1e-5 and every difference quotient below 1e-3 in absolute value
/// (the Float rounding of the loss, ~1e-6, divided by 2h is ~2e-4).
struct GradientCase: CustomStringConvertible, Sendable {
    let name: String
    let config: ModelConfig
    let B: Int
    let T: Int
    var parameterSeed: UInt64 = 7
    /// An encoder's targets: only every third position (1, 4, 7, …) is predicted, the rest −1.
    var masked = false
    var description: String { name }
}

func smallGPT(activation: Activation, tied: Bool, loss: LossMode) -> ModelConfig {
    var c = ModelConfig.gpt(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)
    c.activation = activation
    c.tiedEmbeddings = tied
    c.loss = loss
    return c
}

/// The gpt2 preset's wiring (attention biases) at the sizes of `smallGPT`.
func smallGPT2(tied: Bool, loss: LossMode) -> ModelConfig {
    var c = ModelConfig.gpt2(vocabSize: 11, context: 8, dim: 16, heads: 4, layers: 2)
    c.tiedEmbeddings = tied
    c.loss = loss
    return c
}

func seedVariant(activation: Activation, tied: Bool, loss: LossMode) -> ModelConfig {
    var c = ModelConfig.seed
    c.context = 5
    c.activation = activation
    c.tiedEmbeddings = tied
    c.loss = loss
    return c
}

let gradientCases: [GradientCase] = [
    GradientCase(name: "gpt gelu tied all", config: smallGPT(activation: .gelu, tied: true, loss: .all), B: 3, T: 8),
    GradientCase(name: "gpt gelu untied last", config: smallGPT(activation: .gelu, tied: false, loss: .last), B: 3, T: 8),
    GradientCase(name: "gpt gelu untied all (T < context)", config: smallGPT(activation: .gelu, tied: false, loss: .all), B: 3, T: 6),
    GradientCase(name: "gpt relu tied last", config: smallGPT(activation: .relu, tied: true, loss: .last), B: 2, T: 4),
    GradientCase(name: "gpt relu untied all", config: smallGPT(activation: .relu, tied: false, loss: .all), B: 1, T: 4),
    GradientCase(name: "seed", config: .seed, B: 3, T: 2),
    GradientCase(name: "gpt2 (attention biases) tied all", config: smallGPT2(tied: true, loss: .all), B: 3, T: 8),
    GradientCase(name: "gpt2 (attention biases) untied last, T < context", config: smallGPT2(tied: false, loss: .last), B: 2, T: 6),
    GradientCase(name: "gpt gelu tied all, sinusoidal positions", config: smallGPT(activation: .gelu, tied: true, loss: .all).with(positions: .sinusoidal), B: 2, T: 8),
    GradientCase(name: "gpt gelu untied last, no positions", config: smallGPT(activation: .gelu, tied: false, loss: .last).with(positions: .none), B: 2, T: 6),
    GradientCase(name: "seed wiring, sinusoidal positions", config: seedVariant(activation: .relu, tied: false, loss: .last).with(positions: .sinusoidal), B: 2, T: 5),
    GradientCase(name: "seed wiring, gelu tied all", config: seedVariant(activation: .gelu, tied: true, loss: .all), B: 2, T: 5),
    GradientCase(name: "seed wiring, relu untied all", config: seedVariant(activation: .relu, tied: false, loss: .all), B: 2, T: 5,
                 parameterSeed: 8),
    GradientCase(name: "gpt encoder gelu tied, masked loss", config: smallGPT(activation: .gelu, tied: true, loss: .all).with(architecture: .encoder),
                 B: 3, T: 8, masked: true),
    GradientCase(name: "gpt encoder gelu untied, sinusoidal, masked loss (T < context)",
                 config: smallGPT(activation: .gelu, tied: false, loss: .all).with(positions: .sinusoidal).with(architecture: .encoder),
                 B: 2, T: 6, masked: true),
    GradientCase(name: "seed wiring encoder, relu untied, masked loss",
                 config: seedVariant(activation: .relu, tied: false, loss: .all).with(positions: .learned).with(architecture: .encoder),
                 B: 2, T: 5, masked: true),
]

/// The signs of every ReLU input of the last forward (empty for GELU).
func reluPattern(_ model: Model, N: Int) -> [Bool] {
    guard model.config.activation == .relu else { return [] }
    return model.acts.blocks.flatMap { a in (0..<N * model.config.ffnDim).map { a.fc[$0] > 0 } }
}

@Test(arguments: gradientCases)
func gradientsMatchFiniteDifferences(_ c: GradientCase) throws {
    let (h, tolerance, directions): (Float, Double, Int) = (3e-3, 1e-2, 4)
    let model = try Model(config: c.config, maxBatch: c.B)
    fillTestParameters(model, seed: c.parameterSeed)
    var (tokens, targets) = randomBatch(B: c.B, T: c.T, V: c.config.vocabSize, seed: 11)
    if c.masked { targets = targets.enumerated().map { $0.offset % 3 == 1 ? $0.element : -1 } }
    model.lossAndGradients(tokens, targets, B: c.B, T: c.T)
    let grad = Array(model.gradients)
    let N = c.B * c.T
    let basePattern = reluPattern(model, N: N)
    var r = TestRandom(seed: 99)
    for spec in model.layout.tensors {
        let g = grad[spec.range].map(Double.init)
        let gnorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
        // softmax ignores a shift shared by all keys: bk's gradient is zero, checked absolutely.
        let shiftInvariant = spec.name.hasSuffix("attn.bk")
        if shiftInvariant {
            #expect(gnorm < 1e-5, "\(c.name): \(spec.name) has a gradient \(gnorm), but softmax ignores it")
        } else {
            #expect(gnorm > 1e-3, "\(c.name): \(spec.name) has no gradient")
        }
        let saved = Array(model.parameters[spec.range])
        var worst = 0.0
        var accepted = 0
        var attempts = 0
        while accepted < directions && attempts < 200 {
            attempts += 1
            let d = (0..<spec.count).map { _ in r.sign() }
            let analytic = zip(g, d).reduce(0) { $0 + $1.0 * Double($1.1) }
            for i in 0..<spec.count { model.parameters[spec.offset + i] = saved[i] + h * d[i] }
            let plus = model.loss(tokens, targets, B: c.B, T: c.T)
            let plusPattern = reluPattern(model, N: N)
            for i in 0..<spec.count { model.parameters[spec.offset + i] = saved[i] - h * d[i] }
            let minus = model.loss(tokens, targets, B: c.B, T: c.T)
            let minusPattern = reluPattern(model, N: N)
            for i in 0..<spec.count { model.parameters[spec.offset + i] = saved[i] }
            guard plusPattern == basePattern && minusPattern == basePattern else { continue }
            accepted += 1
            let numeric = (Double(plus) - Double(minus)) / (2 * Double(h))
            worst = max(worst, abs(numeric - analytic) / (shiftInvariant ? 1e-1 : gnorm))
        }
        #expect(accepted == directions, "\(c.name): \(spec.name): only \(accepted) directions keep the ReLU pattern")
        #expect(worst < tolerance, "\(c.name): \(spec.name): error \(worst) of ‖g‖ = \(gnorm)")
        if ProcessInfo.processInfo.environment["DPMODEL_VERBOSE"] != nil {
            print("FD \(c.name) | \(spec.name) | \(worst) | \(gnorm)")
        }
    }
}
