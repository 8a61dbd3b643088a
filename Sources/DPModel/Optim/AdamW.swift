/// AdamW (Loshchilov & Hutter): Adam with bias correction and decoupled weight decay, as in
/// PyTorch's and llm.c's AdamW:
///
///     m = β₁m + (1−β₁)g,   v = β₂v + (1−β₂)g²
///     m̂ = m/(1−β₁ᵗ),      v̂ = v/(1−β₂ᵗ)
///     W = W − lr·(m̂/(√v̂ + ε) + λ·W)        λ = weightDecay on tensors with `decay`, else 0
public struct AdamW: Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float

    public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Updates parameters[range] in place from gradients, m and v over the same range.
    ///
    /// All four buffers have the parameter layout (index = offset in `layout`), and only `range` is
    /// read or written, so ranks can each update their own shard (ZeRO-1). `step` is the 1-based
    /// number of this update (bias correction). m and v start at zero.
    public func update(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
        m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
        range: Range<Int>, layout: ParameterLayout, learningRate: Float, step: Int
    ) {
        precondition(step >= 1, "AdamW step is 1-based")
        precondition(range.lowerBound >= 0 && range.upperBound <= layout.count, "AdamW range outside the layout")
        precondition(parameters.count >= range.upperBound && gradients.count >= range.upperBound
            && m.count >= range.upperBound && v.count >= range.upperBound, "AdamW buffers shorter than the range")
        let inverseCorrection1 = Float(1 / (1 - portablePower(Double(beta1), step)))
        let inverseCorrection2 = Float(1 / (1 - portablePower(Double(beta2), step)))
        for spec in layout.tensors {
            let lo = max(spec.offset, range.lowerBound)
            let hi = min(spec.offset + spec.count, range.upperBound)
            guard lo < hi else { continue }
            adamWKernel(
                parameters.baseAddress! + lo, gradients.baseAddress! + lo, m.baseAddress! + lo, v.baseAddress! + lo,
                count: hi - lo, beta1: beta1, beta2: beta2, epsilon: epsilon,
                inverseCorrection1: inverseCorrection1, inverseCorrection2: inverseCorrection2,
                learningRate: learningRate, weightDecay: spec.decay ? weightDecay : 0)
        }
    }
}

/// The AdamW update of `count` contiguous floats with one weight decay: one plain loop, so that
/// it vectorizes.
private func adamWKernel(
    _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
    _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
    count: Int, beta1: Float, beta2: Float, epsilon: Float,
    inverseCorrection1: Float, inverseCorrection2: Float, learningRate: Float, weightDecay: Float
) {
    for i in 0..<count {
        let gi = g[i]
        let mi = beta1 * m[i] + (1 - beta1) * gi
        let vi = beta2 * v[i] + (1 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        let mHat = mi * inverseCorrection1
        let vHat = vi * inverseCorrection2
        p[i] -= learningRate * (mHat / (vHat.squareRoot() + epsilon) + weightDecay * p[i])
    }
}
