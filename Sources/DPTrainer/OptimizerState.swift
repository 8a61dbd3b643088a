import DPModel

/// The optimizer and its per-parameter state, in flat buffers with the parameter layout:
/// AdamW's moments m and v, or SGD's momentum buffer (only when momentum ≠ 0).
final class OptimizerState {
    let kind: OptimizerKind
    private let adamW: AdamW
    private let sgd: SGD
    /// AdamW: [m, v]; SGD with momentum: [velocity]; plain SGD: [].
    let buffers: [UnsafeMutableBufferPointer<Float>]

    /// Checkpoint name prefixes of `buffers`, in the same order ("m.<tensor>", "v.<tensor>",
    /// "momentum.<tensor>").
    var prefixes: [String] {
        switch kind {
        case .adamw: ["m", "v"]
        case .sgd: buffers.isEmpty ? [] : ["momentum"]
        }
    }

    init(config: TrainingConfig, count: Int) {
        kind = config.optimizer
        adamW = AdamW(beta1: config.beta1, beta2: config.beta2, weightDecay: config.weightDecay)
        sgd = SGD(momentum: config.momentum)
        let needed = kind == .adamw ? 2 : (config.momentum != 0 ? 1 : 0)
        buffers = (0..<needed).map { _ in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            buffer.initialize(repeating: 0)
            return buffer
        }
    }

    func deallocate() {
        for buffer in buffers { buffer.deallocate() }
    }

    /// Updates every parameter of `model` from its (reduced, clipped) gradients; `step` is 1-based.
    func update(model: Model, learningRate: Float, step: Int) {
        let all = 0..<model.layout.count
        switch kind {
        case .adamw:
            adamW.update(
                parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients),
                m: buffers[0], v: buffers[1], range: all, layout: model.layout, learningRate: learningRate, step: step)
        case .sgd:
            sgd.update(
                parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients),
                velocity: buffers.first, range: all, learningRate: learningRate)
        }
    }
}
