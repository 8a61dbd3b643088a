extension Model {
    /// Seconds per training step (forward + backward + AdamW over the whole buffer), one entry per
    /// timed step, on random tokens, after `warmup` untimed steps. Prints nothing and leaves BLAS
    /// threading to the caller (e.g. openblas_set_num_threads(1) for one core).
    ///
    /// nanoGPT's CPU configuration, the reference point of the project:
    /// `Model.benchmark(config: .gpt(vocabSize: 65, context: 64, dim: 128, heads: 4, layers: 4), batch: 12)`.
    public static func benchmark(config: ModelConfig, batch B: Int, steps: Int = 50, warmup: Int = 5, seed: UInt64 = 1) throws -> [Double] {
        let model = try Model(config: config, maxBatch: B)
        model.initializeParameters(seed: seed)
        let T = config.context
        var rng = SplitMix64(seed: seed &+ 1)
        let tokens = (0..<B * T).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let targets = (0..<B * T).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let adam = AdamW(beta1: 0.9, beta2: 0.99, weightDecay: 0.1)
        let n = model.layout.count
        let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let v = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        m.initialize(repeating: 0)
        v.initialize(repeating: 0)
        defer { m.deallocate(); v.deallocate() }
        let clock = ContinuousClock()
        var times: [Double] = []
        times.reserveCapacity(steps)
        tokens.withUnsafeBufferPointer { tokens in
            targets.withUnsafeBufferPointer { targets in
                for step in 1...(warmup + steps) {
                    let start = clock.now
                    model.zeroGradients()
                    _ = model.forward(tokens: tokens, targets: targets, batch: B, time: T)
                    model.backward()
                    adam.update(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), m: m, v: v,
                                range: 0..<n, layout: model.layout, learningRate: 1e-4, step: step)
                    let elapsed = clock.now - start
                    if step > warmup {
                        times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
                    }
                }
            }
        }
        return times
    }
}
