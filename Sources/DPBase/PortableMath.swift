/// Elementary functions from IEEE-exact operations only (+, −, ×, ÷, √), so that every rank on
/// every machine computes the same bits whatever its libm or CPU dispatch: the initializer, the
/// learning rate and AdamW's bias correction must agree across replicas.

/// ln(x) for x > 0 from exact arithmetic only: x = m·2ᵉ with m in [√½, √2), then
/// ln m = 2·atanh(s), s = (m−1)/(m+1), |s| < 0.172, summed until the terms vanish.
/// Accurate to a few ulp of Double, far below the Float rounding of the samples that use it.
public func portableLog(_ x: Double) -> Double {
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

/// cos(x) for 0 ≤ x ≤ π by its Taylor series, summed until the terms vanish. Error ~1e-15.
public func portableCos(_ x: Double) -> Double {
    precondition(x >= 0 && x <= 3.1415926535897936, "portableCos covers [0, π]")
    let x2 = x * x
    var term = 1.0
    var sum = 1.0
    var k = 0.0
    while true {
        term *= -x2 / ((k + 1) * (k + 2))
        k += 2
        let next = sum + term
        if next == sum { break }
        sum = next
    }
    return sum
}

/// baseⁿ for n ≥ 0 by repeated squaring: ⌈log₂ n⌉ products, error a few ulp.
public func portablePower(_ base: Double, _ n: Int) -> Double {
    precondition(n >= 0, "portablePower needs n ≥ 0")
    var result = 1.0
    var b = base
    var e = n
    while e > 0 {
        if e & 1 == 1 { result *= b }
        b *= b
        e >>= 1
    }
    return result
}
