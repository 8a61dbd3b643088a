import DPBase
import Foundation
import Testing

/// SplitMix64 against the reference implementation's published output (splitmix64.c by
/// Sebastiano Vigna, seed 1234567): the streams behind initialization, shuffles and the corpus
/// are part of the determinism and resume contracts, so they must not change by a bit.
@Test func splitMix64MatchesTheReferenceStream() {
    var rng = SplitMix64(seed: 1234567)
    let first = (0..<5).map { _ in rng.next() }
    #expect(first == [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821])
}

/// below(n) stays in 0..<n and hits every value; nextUnit in [0, 1); nextNormal has mean ≈ 0
/// and variance ≈ 1 (100 000 draws: standard errors 0.003 and 0.0045, bounds at ~5σ).
@Test func splitMix64Distributions() {
    var rng = SplitMix64(seed: 42)
    var seen = Set<Int>()
    for _ in 0..<10_000 {
        let k = rng.below(7)
        #expect((0..<7).contains(k))
        seen.insert(k)
        let u = rng.nextUnit()
        #expect(u >= 0 && u < 1)
    }
    #expect(seen.count == 7)
    let normals = (0..<100_000).map { _ in rng.nextNormal() }
    let mean = normals.reduce(0, +) / Double(normals.count)
    let variance = normals.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(normals.count)
    #expect(abs(mean) < 0.015, "mean \(mean)")
    #expect(abs(variance - 1) < 0.025, "variance \(variance)")
}

/// The initializer's logarithm, built from exact operations only, against libm: a few ulp.
@Test func portableLogMatchesLibm() {
    var rng = SplitMix64(seed: 1)
    for _ in 0..<10_000 {
        let x = rng.nextUnit() * 4 + 1e-300
        #expect(abs(portableLog(x) - Foundation.log(x)) <= 4e-16 * max(1, abs(Foundation.log(x))))
    }
    #expect(portableLog(1) == 0)
}

/// The schedule's cosine and AdamW's βᵗ, from exact operations only, against libm. βᵗ by
/// repeated squaring has a relative error ~t·ε, so what is checked is what AdamW uses, 1 − βᵗ,
/// to 1e-12 relative (Float needs 6e-8).
@Test func portableCosAndPowerMatchLibm() {
    var x = 0.0
    while x <= Double.pi {
        #expect(abs(portableCos(x) - Foundation.cos(x)) <= 2e-15, "cos(\(x))")
        x += 0.001
    }
    #expect(abs(portableCos(Double.pi) + 1) <= 1e-15)
    #expect(portablePower(0.9, 0) == 1)
    for n in [1, 2, 3, 10, 1000, 123_457] {
        for base in [0.9, 0.95, 0.99, 0.999] {
            let exact = Foundation.pow(base, Double(n))
            #expect(abs(portablePower(base, n) - exact) <= 1e-12 * max(1 - exact, 1e-300), "\(base)^\(n)")
        }
    }
}
