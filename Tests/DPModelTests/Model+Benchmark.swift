import DPBase
import Foundation
@testable import DPModel

/// The time one training step took: wall clock, and CPU time of the calling thread (which is all
/// of the work when BLAS runs on one thread, and is not inflated by other processes on the machine).
struct StepTiming: Sendable {
    var wallSeconds: Double
    var threadCPUSeconds: Double
}

extension Model {
    /// Times training steps (forward + backward + AdamW over the whole buffer) on random tokens,
    /// one entry per timed step, after `warmup` untimed steps. Prints nothing and leaves BLAS
    /// threading to the caller (e.g. openblas_set_num_threads(1) for one core).
    ///
    /// nanoGPT's CPU configuration, the reference point of the project:
    /// `Model.benchmark(config: .gpt(vocabSize: 65, context: 64, dim: 128, heads: 4, layers: 4), batch: 12)`.
    static func benchmark(config: ModelConfig, batch B: Int, steps: Int = 50, warmup: Int = 5, seed: UInt64 = 1) throws -> [StepTiming] {
        let model = try Model(config: config, maxBatch: B)
        model.initializeParameters(seed: seed)
        let T = config.context
        var rng = SplitMix64(seed: seed &+ 1)
        let tokens = (0..<B * T).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let targets = (0..<B * T).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let adam = AdamW.defaults
        let n = model.layout.count
        let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let v = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        m.initialize(repeating: 0)
        v.initialize(repeating: 0)
        defer { m.deallocate(); v.deallocate() }
        let clock = ContinuousClock()
        var times: [StepTiming] = []
        times.reserveCapacity(steps)
        tokens.withUnsafeBufferPointer { tokens in
            targets.withUnsafeBufferPointer { targets in
                for step in 1...(warmup + steps) {
                    let start = clock.now
                    let cpuStart = threadCPUTime()
                    model.zeroGradients()
                    _ = model.forward(tokens: tokens, targets: targets, batch: B, time: T)
                    model.backward()
                    adam.update(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), m: m, v: v,
                                range: 0..<n, layout: model.layout, learningRate: 1e-4, step: step)
                    let elapsed = clock.now - start
                    let cpu = threadCPUTime() - cpuStart
                    if step > warmup {
                        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                        times.append(StepTiming(wallSeconds: wall, threadCPUSeconds: cpu))
                    }
                }
            }
        }
        return times
    }
}

/// CPU seconds consumed by the calling thread so far.
private func threadCPUTime() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
