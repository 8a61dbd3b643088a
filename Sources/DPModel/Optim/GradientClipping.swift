/// √(Σ g²), accumulated in Double so a million small squares do not lose their tail.
public func gradientNorm(_ g: UnsafeBufferPointer<Float>) -> Float {
    Float(sumOfSquares(g).squareRoot())
}

/// Σ g² in Double (the square of `gradientNorm`); ZeRO-1 adds these over the ranks' shards.
public func sumOfSquares(_ g: UnsafeBufferPointer<Float>) -> Double {
    // Four Double partial sums: lets the loop vectorize without changing the result much.
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    let n = g.count
    guard let p = g.baseAddress else { return 0 }
    var i = 0
    while i + 4 <= n {
        let a = Double(p[i]), b = Double(p[i + 1]), c = Double(p[i + 2]), d = Double(p[i + 3])
        s0 += a * a
        s1 += b * b
        s2 += c * c
        s3 += d * d
        i += 4
    }
    while i < n {
        let a = Double(p[i])
        s0 += a * a
        i += 1
    }
    return (s0 + s1) + (s2 + s3)
}

/// g *= factor, in place.
public func scaleGradients(_ g: UnsafeMutableBufferPointer<Float>, by factor: Float) {
    guard let p = g.baseAddress else { return }
    for i in 0..<g.count { p[i] *= factor }
}

/// Global-norm clipping: when ‖g‖ > maxNorm, scales g to norm maxNorm. Returns ‖g‖ before
/// clipping (what to log as the gradient norm).
@discardableResult
public func clipGradients(_ g: UnsafeMutableBufferPointer<Float>, maxNorm: Float) -> Float {
    let norm = gradientNorm(UnsafeBufferPointer(g))
    if norm > maxNorm && norm.isFinite {
        scaleGradients(g, by: maxNorm / norm)
    }
    return norm
}
