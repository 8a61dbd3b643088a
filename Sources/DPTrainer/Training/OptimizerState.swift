import DPComm
import DPModel

/// The optimizer and its per-parameter state in flat buffers: AdamW's moments m and v, or SGD's
/// momentum buffer (only when momentum ≠ 0).
///
/// Without sharding the buffers cover every parameter. With ZeRO-1 (`shard` a part of the layout)
/// they hold only `shard.count` floats, element i belonging to parameter `shard.lowerBound + i`,
/// so the optimizer's memory is divided by the ranks; `full(comm:)` gathers them for checkpoints.
final class OptimizerState {
    let kind: OptimizerKind
    private let adamW: AdamW
    private let sgd: SGD
    /// The parameters this rank updates (and whose state it holds).
    let shard: Range<Int>
    /// The partition of the layout over ranks (`shard` is this rank's part); [count] unsharded.
    let counts: [Int]
    /// AdamW: [m, v]; SGD with momentum: [velocity]; plain SGD: []. Each holds `shard.count` floats.
    let buffers: [UnsafeMutableBufferPointer<Float>]

    /// Checkpoint name prefixes of `buffers`, in the same order ("m.<tensor>", "v.<tensor>",
    /// "momentum.<tensor>").
    var prefixes: [String] {
        switch kind {
        case .adamw: ["m", "v"]
        case .sgd: buffers.isEmpty ? [] : ["momentum"]
        }
    }

    var isSharded: Bool { counts.count > 1 }

    /// - Parameters:
    ///   - count: the parameters of the model.
    ///   - shardOf: (rank, W) to hold and update only rank's 1/W of them (ZeRO-1); nil for all.
    init(config: TrainingConfig, count: Int, shardOf: (rank: Int, size: Int)? = nil) {
        kind = config.optimizer
        adamW = AdamW(beta1: config.beta1, beta2: config.beta2, weightDecay: config.weightDecay)
        sgd = SGD(momentum: config.momentum)
        if let shardOf {
            counts = Self.partition(count, parts: shardOf.size)
            let start = counts[..<shardOf.rank].reduce(0, +)
            shard = start..<(start + counts[shardOf.rank])
        } else {
            counts = [count]
            shard = 0..<count
        }
        let needed = kind == .adamw ? 2 : (config.momentum != 0 ? 1 : 0)
        buffers = (0..<needed).map { [shard] _ in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: shard.count)
            buffer.initialize(repeating: 0)
            return buffer
        }
    }

    /// `count` split into `parts` contiguous sizes that differ by at most one, larger ones first.
    static func partition(_ count: Int, parts: Int) -> [Int] {
        (0..<parts).map { count / parts + ($0 < count % parts ? 1 : 0) }
    }

    func deallocate() {
        for buffer in buffers { buffer.deallocate() }
    }

    /// `buffer` (shard.count floats) seen through parameter indices: valid only inside `shard`
    /// (AdamW and SGD read and write only the range they are given).
    func byParameterIndex(_ buffer: UnsafeMutableBufferPointer<Float>) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: buffer.baseAddress! - shard.lowerBound, count: shard.upperBound)
    }

    /// Updates the parameters of `shard` from gradientScale·gradients, where `gradients` is
    /// indexed by parameter and read only inside `shard`; `step` is 1-based.
    func update(model: Model, gradients: UnsafeBufferPointer<Float>, learningRate: Float, step: Int, gradientScale: Float) {
        switch kind {
        case .adamw:
            adamW.update(
                parameters: model.parameters, gradients: gradients,
                m: byParameterIndex(buffers[0]), v: byParameterIndex(buffers[1]), range: shard, layout: model.layout,
                learningRate: learningRate, step: step, gradientScale: gradientScale)
        case .sgd:
            sgd.update(
                parameters: model.parameters, gradients: gradients,
                velocity: buffers.first.map(byParameterIndex), range: shard, learningRate: learningRate,
                gradientScale: gradientScale)
        }
    }

    /// Every buffer over all parameters, gathered from the shards of every rank (collective when
    /// sharded). The caller deallocates the result.
    func full(comm: any Communicator) throws -> [UnsafeMutableBufferPointer<Float>] {
        let total = counts.reduce(0, +)
        return try buffers.map { buffer in
            let whole = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
            whole.initialize(repeating: 0)
            _ = UnsafeMutableBufferPointer(rebasing: whole[shard]).initialize(fromContentsOf: buffer)
            if isSharded { try comm.allGather(inPlace: whole, counts: counts) }
            return whole
        }
    }

    /// Fills this rank's part of the buffer at `index` from `whole`, which holds all parameters.
    func load(_ index: Int, from whole: UnsafeBufferPointer<Float>) {
        _ = buffers[index].initialize(fromContentsOf: UnsafeBufferPointer(rebasing: whole[shard]))
    }
}
