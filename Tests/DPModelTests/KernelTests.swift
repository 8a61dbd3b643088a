import Testing
@testable import DPModel

/// Attention probabilities stay finite with scores in the thousands (max-subtracted softmax),
/// each row sums to 1 within 1e-6, and everything above the diagonal is exactly 0 (causal mask).
@Test func attentionSoftmaxIsStableAndCausal() {
    let (B, T, C, NH) = (2, 5, 8, 2)
    var r = TestRandom(seed: 4)
    let qkv = (0..<B * T * 3 * C).map { _ in 300 * r.normal() }   // scores ~ 300²·HS/√HS
    var out = [Float](repeating: 0, count: B * T * C)
    var att = [Float](repeating: -1, count: B * NH * T * T)
    attentionForward(&out, att: &att, qkv: qkv, B: B, T: T, C: C, NH: NH)
    #expect(out.allSatisfy { $0.isFinite })
    for row in 0..<(B * NH * T) {
        let t = row % T
        let p = att[(row * T)..<((row + 1) * T)]
        #expect(p.allSatisfy { $0.isFinite && $0 >= 0 })
        #expect(abs(p.reduce(0, +) - 1) <= 1e-6)
        #expect(p.dropFirst(t + 1).allSatisfy { $0 == 0 }, "row \(row) attends to the future")
    }
    // The first position can only attend to itself.
    #expect(att[0] == 1)
}

/// Cross-entropy with logits of ±1e4: finite loss equal to logsumexp − logit (to 1e-3 relative),
/// and probabilities that sum to 1.
@Test func crossEntropyIsStableForLargeLogits() {
    let V = 5
    let logits: [Float] = [1e4, -1e4, 0, 9_990, 5]
    var probs = [Float](repeating: 0, count: V)
    let loss = crossEntropyForward(probs: &probs, logits: logits, targets: [3], N: 1, V: V)
    // −log softmax at 9990 = log(1 + e⁻¹⁰ + …) + 10 ≈ 10.0000454
    #expect(abs(loss - 10.0000454) <= 1e-3)
    #expect(abs(probs.reduce(0, +) - 1) <= 1e-6)
    var dlogits = [Float](repeating: 0, count: V)
    crossEntropyBackward(dlogits: &dlogits, probs: probs, targets: [3], N: 1, V: V)
    #expect(abs(dlogits.reduce(0, +)) <= 1e-6)          // Σ(P − onehot) = 0
    #expect(abs(dlogits[3] - (probs[3] - 1)) <= 1e-7)
}

/// LayerNorm output has mean = bias (1e-4) and std = weight (1e-3, eps 1e-5 against a variance
/// ~1) per row, also for rows offset by 100 and 200, where E[x²] − E[x]² in Float would lose
/// the variance (the kernel subtracts the mean first).
@Test func layerNormNormalizes() {
    let (N, C) = (3, 16)
    var r = TestRandom(seed: 8)
    let x = (0..<N * C).map { i in Float(i / C) * 100 + r.normal() }
    let weight = [Float](repeating: 2, count: C), bias = [Float](repeating: 0.5, count: C)
    var out = [Float](repeating: 0, count: N * C), mean = [Float](repeating: 0, count: N), rstd = mean
    layerNormForward(&out, mean: &mean, rstd: &rstd, x, weight: weight, bias: bias, N: N, C: C)
    for n in 0..<N {
        let row = out[(n * C)..<((n + 1) * C)].map(Double.init)
        let m = row.reduce(0, +) / Double(C)
        let s = (row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(C)).squareRoot()
        #expect(abs(m - 0.5) <= 1e-4, "row \(n) mean \(m)")
        #expect(abs(s - 2) <= 1e-3, "row \(n) std \(s)")
    }
}
