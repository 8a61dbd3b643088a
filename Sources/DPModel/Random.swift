/// A small deterministic random generator (SplitMix64) with a normal sampler built only from
/// IEEE-exact operations (+, −, ×, ÷, √), so the same seed gives the same bits on every machine,
/// whatever libm or CPU dispatch it has.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal sample by Marsaglia's polar method.
    mutating func nextNormal() -> Double {
        while true {
            let u = 2 * nextUnit() - 1
            let v = 2 * nextUnit() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * portableLog(s) / s).squareRoot()
            }
        }
    }
}

/// ln(x) for x > 0 from exact arithmetic only: x = m·2ᵉ with m in [√½, √2), then
/// ln m = 2·atanh(s), s = (m−1)/(m+1), |s| < 0.172, summed until the terms vanish.
/// Accurate to a few ulp of Double, far below the Float rounding of the samples that use it.
func portableLog(_ x: Double) -> Double {
    precondition(x > 0, "portableLog needs a positive argument")
    var m = x.significand          // in [1, 2)
    var e = Double(x.exponent)
    if m > 1.4142135623730951 { m /= 2; e += 1 }
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    var term = s
    var sum = 0.0
    var k = 1.0
    while true {
        let next = sum + term / k
        if next == sum { break }
        sum = next
        term *= s2
        k += 2
    }
    return 2 * sum + e * 0.6931471805599453
}
