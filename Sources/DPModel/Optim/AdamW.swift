import DPBase

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

    /// dptrain's defaults, the ones `TrainingConfig` starts from: β₁ 0.9, β₂ 0.99 (nanoGPT's
    /// choice for small models; GPT-2 scale runs use 0.95), ε 1e-8, weight decay 0.1.
    public static let defaults = AdamW(beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1)

    public init(beta1: Float, beta2: Float, epsilon: Float = 1e-8, weightDecay: Float) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Updates parameters[range] in place from gradients, m and v over the same range.
    ///
    /// All four buffers have the parameter layout (index = offset in `layout`), and only `range` is
    /// read or written, so ranks can each update their own shard (ZeRO-1). `step` is the 1-based
    /// number of this update (bias correction). m and v start at zero. The gradient used is
    /// `gradientScale`·gradients (the trainer's 1/ranks and clipping factor, applied here so that
    /// the gradients are not rewritten by separate passes before the update).
    public func update(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
        m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
        range: Range<Int>, layout: ParameterLayout, learningRate: Float, step: Int, gradientScale: Float = 1
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
                count: hi - lo, gradientScale: gradientScale, beta1: beta1, beta2: beta2, epsilon: epsilon,
                inverseCorrection1: inverseCorrection1, inverseCorrection2: inverseCorrection2,
                learningRate: learningRate, weightDecay: spec.decay ? weightDecay : 0)
        }
    }
}

/// The AdamW update of `count` contiguous floats with one weight decay, eight lanes at a time.
///
/// The compiler leaves the plain loop scalar (a square root and a division per element, about
/// 2.6 ns each); SIMD8 makes it bound by memory traffic (four streams in, three out), which is
/// also why the gradient scale is folded in rather than applied by a pass of its own. The tail
/// goes through the same lanes, zero-padded, so every element gets exactly the same operations
/// wherever a range starts (ZeRO-1's shards must equal the unsharded update bit for bit).
private func adamWKernel(
    _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
    _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
    count: Int, gradientScale: Float, beta1: Float, beta2: Float, epsilon: Float,
    inverseCorrection1: Float, inverseCorrection2: Float, learningRate: Float, weightDecay: Float
) {
    typealias Lanes = SIMD8<Float>
    @inline(__always) func step(_ g: Lanes, _ m: inout Lanes, _ v: inout Lanes, _ p: inout Lanes) {
        let gi = gradientScale * g
        m = beta1 * m + (1 - beta1) * gi
        v = beta2 * v + (1 - beta2) * gi * gi
        let mHat = m * inverseCorrection1
        let vHat = v * inverseCorrection2
        p -= learningRate * (mHat / (vHat.squareRoot() + epsilon) + weightDecay * p)
    }
    @inline(__always) func store(_ value: Lanes, _ x: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(x + i).storeBytes(of: value, as: Lanes.self)
    }
    var i = 0
    while i + Lanes.scalarCount <= count {
        var (mi, vi, pi) = (load8(m, i), load8(v, i), load8(p, i))
        step(load8(g, i), &mi, &vi, &pi)
        store(mi, m, i)
        store(vi, v, i)
        store(pi, p, i)
        i += Lanes.scalarCount
    }
    guard i < count else { return }
    var (gi, mi, vi, pi) = (Lanes.zero, Lanes.zero, Lanes.zero, Lanes.zero)
    for lane in 0..<(count - i) { (gi[lane], mi[lane], vi[lane], pi[lane]) = (g[i + lane], m[i + lane], v[i + lane], p[i + lane]) }
    step(gi, &mi, &vi, &pi)
    for lane in 0..<(count - i) { (m[i + lane], v[i + lane], p[i + lane]) = (mi[lane], vi[lane], pi[lane]) }
}
