/// Stochastic gradient descent, the seed's rule W = W − lr·grad, with optional momentum in
/// PyTorch's form: u = μ·u + grad, W = W − lr·u.
public struct SGD: Sendable, Equatable {
    public var momentum: Float

    public init(momentum: Float = 0) {
        self.momentum = momentum
    }

    /// Updates parameters[range] in place. `velocity` (the momentum buffer u, parameter layout,
    /// starting at zero) is needed only when momentum ≠ 0; only its `range` is touched. The
    /// gradient used is `gradientScale`·gradients.
    public func update(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
        velocity: UnsafeMutableBufferPointer<Float>? = nil, range: Range<Int>, learningRate: Float,
        gradientScale: Float = 1
    ) {
        precondition(range.lowerBound >= 0 && parameters.count >= range.upperBound && gradients.count >= range.upperBound,
            "SGD range outside the buffers")
        let p = parameters.baseAddress!, g = gradients.baseAddress!
        let lr = learningRate, s = gradientScale
        if momentum == 0 {
            for i in range { p[i] -= lr * (s * g[i]) }
            return
        }
        guard let velocity, velocity.count >= range.upperBound else {
            fatalError("SGD with momentum \(momentum) needs a velocity buffer covering \(range)")
        }
        let u = velocity.baseAddress!
        let mu = momentum
        for i in range {
            u[i] = mu * u[i] + s * g[i]
            p[i] -= lr * u[i]
        }
    }
}
