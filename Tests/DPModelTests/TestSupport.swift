import DPBase
@testable import DPModel

/// A deterministic generator for test data (SplitMix64, as the model's initializer).
struct TestRandom {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    mutating func normal() -> Float { Float(rng.nextNormal()) }
    mutating func uniform() -> Float { Float(rng.nextUnit()) }
    mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    mutating func sign() -> Float { rng.next() & 1 == 0 ? 1 : -1 }
}

/// Parameters with O(1) activations everywhere, so every gradient term is large enough to see:
/// matrices normal with std 1/√fan-in, embeddings std 1, LayerNorm weights 1 ± 0.2, biases ±0.2.
func fillTestParameters(_ model: Model, seed: UInt64) {
    var r = TestRandom(seed: seed)
    for spec in model.layout.tensors {
        let p = model.parameters.baseAddress! + spec.offset
        let std: Float
        var mean: Float = 0
        switch spec.initializer {
        case .normal: std = spec.name.contains("embedding") ? 1 : 1 / Float(spec.shape[0]).squareRoot()
        case .ones: std = 0.2; mean = 1
        case .zeros: std = 0.2
        }
        for i in 0..<spec.count { p[i] = mean + std * r.normal() }
    }
}

/// Random tokens and targets, (B,T) each.
func randomBatch(B: Int, T: Int, V: Int, seed: UInt64) -> (tokens: [Int32], targets: [Int32]) {
    var r = TestRandom(seed: seed)
    let tokens = (0..<B * T).map { _ in Int32(r.int(V)) }
    let targets = (0..<B * T).map { _ in Int32(r.int(V)) }
    return (tokens, targets)
}

extension Model {
    /// The mean loss of a batch held in arrays.
    func loss(_ tokens: [Int32], _ targets: [Int32], B: Int, T: Int) -> Float {
        tokens.withUnsafeBufferPointer { t in
            targets.withUnsafeBufferPointer { y in forward(tokens: t, targets: y, batch: B, time: T) }
        }
    }

    /// Zeroes the gradients, runs forward and backward, returns the loss.
    @discardableResult
    func lossAndGradients(_ tokens: [Int32], _ targets: [Int32], B: Int, T: Int) -> Float {
        zeroGradients()
        let l = loss(tokens, targets, B: B, T: T)
        backward()
        return l
    }
}
