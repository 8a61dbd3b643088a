/// √(Σ g²), accumulated in Double so a million small squares do not lose their tail.
public func gradientNorm(_ g: UnsafeBufferPointer<Float>) -> Float {
    Float(sumOfSquares(g).squareRoot())
}

/// Σ g² (the square of `gradientNorm`); ZeRO-1 adds these over the ranks' shards.
///
/// Eight Float lanes sum blocks of 256 values (32 per lane, a relative error near 1e-6 at
/// worst), and the blocks add up in Double, so a million small squares do not lose their tail.
/// A Double sum element by element stays scalar and costs a fifth of the optimizer step.
public func sumOfSquares(_ g: UnsafeBufferPointer<Float>) -> Double {
    typealias Lanes = SIMD8<Float>
    guard let p = g.baseAddress else { return 0 }
    let n = g.count, block = 256
    var total = SIMD8<Double>.zero
    var i = 0
    while i + block <= n {
        var acc = Lanes.zero
        for j in stride(from: i, to: i + block, by: Lanes.scalarCount) {
            let x = load8(p, j)
            acc += x * x
        }
        total += SIMD8<Double>(acc)
        i += block
    }
    var tail = 0.0
    while i < n {
        tail += Double(p[i]) * Double(p[i])
        i += 1
    }
    return total.sum() + tail
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
