import Foundation

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
        let correction1 = Float(1 - pow(Double(beta1), Double(step)))
        let correction2 = Float(1 - pow(Double(beta2), Double(step)))
        let (b1, b2, eps, lr) = (beta1, beta2, epsilon, learningRate)
        let p = parameters.baseAddress!, g = gradients.baseAddress!
        let mp = m.baseAddress!, vp = v.baseAddress!
        for spec in layout.tensors {
            let lo = max(spec.offset, range.lowerBound)
            let hi = min(spec.offset + spec.count, range.upperBound)
            guard lo < hi else { continue }
            let wd = spec.decay ? weightDecay : 0
            for i in lo..<hi {
                let gi = g[i]
                let mi = b1 * mp[i] + (1 - b1) * gi
                let vi = b2 * vp[i] + (1 - b2) * gi * gi
                mp[i] = mi
                vp[i] = vi
                let mHat = mi / correction1
                let vHat = vi / correction2
                p[i] -= lr * (mHat / (vHat.squareRoot() + eps) + wd * p[i])
            }
        }
    }
}
