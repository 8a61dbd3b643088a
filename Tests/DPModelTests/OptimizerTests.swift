import Foundation
import Testing
@testable import DPModel

/// A layout of two tensors: "w" (2 floats, decayed) and "b" (1 float, not decayed).
let tinyLayout = ParameterLayout([
    .init(name: "w", shape: [2], initializer: .normal(std: 1), decay: true),
    .init(name: "b", shape: [1], initializer: .zeros, decay: false),
])

/// Runs AdamW steps on copies of the given buffers over `ranges` (one update call per range and step).
func adamWRun(
    _ optimizer: AdamW, p: [Float], grads: [[Float]], lr: Float, ranges: [Range<Int>], gradientScale: Float = 1
) -> (p: [Float], m: [Float], v: [Float]) {
    var p = p, m = [Float](repeating: 0, count: p.count), v = m
    for (index, g) in grads.enumerated() {
        for range in ranges {
            p.withUnsafeMutableBufferPointer { pp in
                g.withUnsafeBufferPointer { gg in
                    m.withUnsafeMutableBufferPointer { mm in
                        v.withUnsafeMutableBufferPointer { vv in
                            optimizer.update(parameters: pp, gradients: gg, m: mm, v: vv, range: range,
                                             layout: tinyLayout, learningRate: lr, step: index + 1,
                                             gradientScale: gradientScale)
                        }
                    }
                }
            }
        }
    }
    return (p, m, v)
}

/// AdamW against the update worked out by hand (in Double) for two steps on three floats.
/// Tolerance 1e-6: Float rounding of numbers of size ~1; a missing bias correction or a decay on
/// the bias changes the result by ≥ 1e-3.
@Test func adamWMatchesHandComputedUpdate() {
    let adam = AdamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1)
    let p0: [Float] = [1, -2, 0.5]
    let g1: [Float] = [0.1, -0.2, 0.3], g2: [Float] = [-0.05, 0.4, 0.3]
    let lr: Float = 0.01
    // Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g², so the step is lr·(sign(g) + λ·W).
    //   w: 1 − 0.01·(1 + 0.1·1) = 0.989;  −2 − 0.01·(−1 + 0.1·(−2)) = −1.988;  b: 0.5 − 0.01 = 0.49
    let one = adamWRun(adam, p: p0, grads: [g1], lr: lr, ranges: [0..<3])
    let expected1: [Double] = [0.989, -1.988, 0.49]
    for i in 0..<3 { #expect(abs(Double(one.p[i]) - expected1[i]) <= 1e-6, "step 1, p[\(i)]") }
    // Step 2 by hand.
    var expected2 = [Double](repeating: 0, count: 3)
    for i in 0..<3 {
        let m = 0.9 * (0.1 * Double(g1[i])) + 0.1 * Double(g2[i])
        let v = 0.999 * (0.001 * Double(g1[i]) * Double(g1[i])) + 0.001 * Double(g2[i]) * Double(g2[i])
        let mHat = m / (1 - 0.9 * 0.9), vHat = v / (1 - 0.999 * 0.999)
        let decay = i < 2 ? 0.1 : 0
        expected2[i] = expected1[i] - 0.01 * (mHat / (vHat.squareRoot() + 1e-8) + decay * expected1[i])
    }
    let two = adamWRun(adam, p: p0, grads: [g1, g2], lr: lr, ranges: [0..<3])
    for i in 0..<3 { #expect(abs(Double(two.p[i]) - expected2[i]) <= 1e-6, "step 2, p[\(i)]") }
}

/// The trainer folds 1/ranks and the clip factor into the update as `gradientScale`: updating
/// from 4·g with scale 1/4 must equal updating from g, bit for bit (powers of two are exact).
/// A large ε makes Adam depend on the gradient's scale, so an ignored scale shows (≥ 1e-3).
@Test func adamWGradientScaleActsOnTheGradient() {
    let adam = AdamW(beta1: 0.9, beta2: 0.999, epsilon: 0.1, weightDecay: 0.1)
    let p0: [Float] = [1, -2, 0.5]
    let grads: [[Float]] = [[0.1, -0.2, 0.3], [-0.05, 0.4, 0.3]]
    let quadrupled = grads.map { $0.map { 4 * $0 } }
    let plain = adamWRun(adam, p: p0, grads: grads, lr: 0.01, ranges: [0..<3])
    let scaled = adamWRun(adam, p: p0, grads: quadrupled, lr: 0.01, ranges: [0..<3], gradientScale: 0.25)
    let unscaled = adamWRun(adam, p: p0, grads: quadrupled, lr: 0.01, ranges: [0..<3])
    #expect(scaled.p == plain.p && scaled.m == plain.m && scaled.v == plain.v)
    #expect(zip(unscaled.p, plain.p).map { abs($0 - $1) }.max()! > 1e-3)
}

/// SGD's `gradientScale`, with and without momentum: 2·g at scale 1/2 is g, exactly.
@Test func sgdGradientScaleActsOnTheGradient() {
    for momentum: Float in [0, 0.9] {
        func run(_ g: [Float], scale: Float) -> [Float] {
            var p: [Float] = [1, -2], u: [Float] = [0.5, 0.25]
            p.withUnsafeMutableBufferPointer { pp in
                g.withUnsafeBufferPointer { gg in
                    u.withUnsafeMutableBufferPointer { uu in
                        SGD(momentum: momentum).update(parameters: pp, gradients: gg, velocity: uu, range: 0..<2,
                                                       learningRate: 0.1, gradientScale: scale)
                    }
                }
            }
            return p
        }
        #expect(run([0.6, -0.2], scale: 1) == run([1.2, -0.4], scale: 0.5), "momentum \(momentum)")
        #expect(run([0.6, -0.2], scale: 1) != run([1.2, -0.4], scale: 1), "momentum \(momentum)")
    }
}

/// ZeRO-1 needs the update of a sub-range to touch only that range, and a split update to equal
/// the whole one exactly.
@Test func adamWOnSubRangesEqualsWholeUpdate() {
    let adam = AdamW(beta1: 0.9, beta2: 0.95, weightDecay: 0.1)
    let p0: [Float] = [1, -2, 0.5]
    let grads: [[Float]] = [[0.1, -0.2, 0.3], [0.2, 0.1, -0.3], [-0.1, 0.3, 0.2]]
    let whole = adamWRun(adam, p: p0, grads: grads, lr: 0.01, ranges: [0..<3])
    let split = adamWRun(adam, p: p0, grads: grads, lr: 0.01, ranges: [0..<1, 1..<3])
    #expect(whole.p == split.p && whole.m == split.m && whole.v == split.v)
    let partial = adamWRun(adam, p: p0, grads: grads, lr: 0.01, ranges: [1..<3])
    #expect(partial.p[0] == p0[0] && partial.m[0] == 0 && partial.v[0] == 0)
    #expect(partial.p[1...] == whole.p[1...])
}

@Test func sgdWithMomentum() {
    var p: [Float] = [1, 2], u: [Float] = [0, 0]
    let g: [Float] = [0.5, -1]
    for _ in 0..<2 {
        p.withUnsafeMutableBufferPointer { pp in
            g.withUnsafeBufferPointer { gg in
                u.withUnsafeMutableBufferPointer { uu in
                    SGD(momentum: 0.9).update(parameters: pp, gradients: gg, velocity: uu, range: 0..<2, learningRate: 0.1)
                }
            }
        }
    }
    // u₁ = g, u₂ = 1.9·g; W = W − 0.1·(g + 1.9·g) = W − 0.29·g
    #expect(abs(p[0] - (1 - 0.29 * 0.5)) <= 1e-6 && abs(p[1] - (2 + 0.29)) <= 1e-6)
    #expect(abs(u[0] - 0.95) <= 1e-6 && abs(u[1] + 1.9) <= 1e-6)
}

/// The schedule at the start of warmup, at the peak, halfway through the decay, at the end and
/// after it, against nanoGPT's formula.
@Test func learningRateScheduleMatchesFormula() {
    let s = LearningRateSchedule(kind: .cosine, maxLR: 1e-3, minLR: 1e-4, warmupSteps: 100, totalSteps: 2000)
    #expect(abs(s.rate(atStep: 1) - 1e-5) <= 1e-10)
    #expect(abs(s.rate(atStep: 50) - 5e-4) <= 1e-10)
    #expect(s.rate(atStep: 100) == 1e-3)
    #expect(abs(s.rate(atStep: 1050) - 5.5e-4) <= 1e-9)        // cos(π/2) = 0: halfway
    let at500 = 1e-4 + 0.5 * (1 + cos(Double.pi * 400 / 1900)) * 9e-4
    #expect(abs(Double(s.rate(atStep: 500)) - at500) <= 1e-9)
    #expect(abs(s.rate(atStep: 2000) - 1e-4) <= 1e-10)
    #expect(s.rate(atStep: 5000) == 1e-4)
    // Monotone decay after the peak.
    let rates = (100...2000).map { s.rate(atStep: $0) }
    #expect(zip(rates, rates.dropFirst()).allSatisfy { $0 >= $1 })
    let constant = LearningRateSchedule.constant(0.1)
    #expect(constant.rate(atStep: 1) == 0.1 && constant.rate(atStep: 1_000_000) == 0.1)
    let json = try! JSONEncoder().encode(s)
    #expect(String(data: json, encoding: .utf8)!.contains("\"warmup_steps\":100"))
    #expect(try! JSONDecoder().decode(LearningRateSchedule.self, from: json) == s)
}

@Test func gradientNormAndClipping() {
    var g: [Float] = [3, 4, 0, 0, 0, 12]   // norm 13
    let norm = g.withUnsafeBufferPointer { gradientNorm($0) }
    #expect(norm == 13)
    let before = g.withUnsafeMutableBufferPointer { clipGradients($0, maxNorm: 6.5) }
    #expect(before == 13)
    #expect(g.enumerated().allSatisfy { abs($1 - [1.5, 2, 0, 0, 0, 6][$0]) <= 1e-6 })
    // Below the threshold nothing changes.
    let kept = g
    g.withUnsafeMutableBufferPointer { _ = clipGradients($0, maxNorm: 100) }
    #expect(g == kept)
    // Many small values: Double accumulation keeps the tail a Float sum would lose.
    let many = [Float](repeating: 1e-3, count: 1_000_000)
    let manyNorm = many.withUnsafeBufferPointer { gradientNorm($0) }
    #expect(abs(manyNorm - 1) <= 1e-6)
}
