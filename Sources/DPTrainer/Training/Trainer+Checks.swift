import DPComm
import DPModel

extension Trainer {
    /// Compares a hash of the weights across ranks; throws, on every rank, naming the ranks whose
    /// replica differs from rank 0's (the reference: every replica starts from rank 0's weights).
    func checkReplicasAgree() throws {
        let mine = Int64(bitPattern: weightHash(UnsafeBufferPointer(model.parameters)))
        var all = [Int64](repeating: 0, count: comm.size)
        try watched("weight-hash check (MPI_Allgather)", step: step) {
            try [mine].withUnsafeBufferPointer { local in
                try all.withUnsafeMutableBufferPointer { try comm.allGather(local, into: $0) }
            }
        }
        let differing = all.indices.filter { all[$0] != all[0] }
        guard !differing.isEmpty else { return }
        throw ReplicaDivergence(step: step, ranks: differing)
    }

    /// In --debug: every rank's own loss must be finite before the all-reduce mixes them; the first
    /// rank where it is not names itself and the first tensor with a non-finite gradient.
    func checkLocalFinite(loss: Double) throws {
        try comm.collectively {
            if !loss.isFinite {
                throw NonFiniteError(step: step + 1, loss: loss, tensor: firstNonFiniteGradient().map { "\($0) on rank \(comm.rank)" })
            }
            if let tensor = firstNonFiniteGradient() {
                throw NonFiniteError(step: step + 1, loss: loss, tensor: "\(tensor) on rank \(comm.rank)")
            }
        }
    }

    /// The name of the first tensor whose gradient holds a NaN or infinity.
    func firstNonFiniteGradient() -> String? {
        firstNonFinite(in: model.gradients)
    }

    /// The name of the first tensor of `buffer` (parameter layout) holding a NaN or infinity.
    func firstNonFinite(in buffer: UnsafeMutableBufferPointer<Float>) -> String? {
        model.layout.tensors.first { spec in
            buffer[spec.range].contains { !$0.isFinite }
        }?.name
    }

    /// --debug at step 0: compares the analytic gradient of the three largest-gradient entries of
    /// every tensor with central differences (h = 1e-3) on this rank's first batch, and reports the
    /// worst relative error |n − a| / (|n| + |a|) over the entries where |n| + |a| ≥ 1e-3 (below, a
    /// Float32 central difference is rounding noise). Float32 forward passes limit the agreement to
    /// about 1e-2, and an entry whose step crosses a ReLU kink can show more; a wrong or missing
    /// gradient term shows as errors near 1.
    func gradientSpotCheck() throws {
        let (B, T) = (config.batch, model.config.context)
        var probe = sampler  // a copy: training still starts with the first batch
        probe.next(tokens: tokens.baseAddress!, targets: targets.baseAddress!)
        mask(step: step + 1, micro: 0)
        let input = UnsafeBufferPointer(tokens), target = UnsafeBufferPointer(targets)
        func loss() -> Double { Double(model.forward(tokens: input, targets: target, batch: B, time: T)) }

        model.zeroGradients()
        _ = loss()
        model.backward()
        var worst = (error: 0.0, name: "")
        var (checked, skipped) = (0, 0)
        for spec in model.layout.tensors {
            // The entries with the largest gradients: far from ReLU kinks and well above Float32 noise.
            let largest = spec.range.sorted { abs(model.gradients[$0]) > abs(model.gradients[$1]) }.prefix(3)
            for index in largest {
                let original = model.parameters[index]
                let h = Float(1e-3)
                model.parameters[index] = original + h
                let plus = loss()
                model.parameters[index] = original - h
                let minus = loss()
                model.parameters[index] = original
                let numeric = (plus - minus) / Double(2 * h)
                let analytic = Double(model.gradients[index])
                // Below ~1e-3 a Float32 central difference is mostly rounding noise (ε·loss/h ≈ 1e-4).
                guard abs(numeric) + abs(analytic) >= 1e-3 else { skipped += 1; continue }
                checked += 1
                let error = abs(numeric - analytic) / (abs(numeric) + abs(analytic))
                if error > worst.error { worst = (error, "\(spec.name)[\(index - spec.offset)]") }
            }
        }
        model.zeroGradients()
        let worstAll = try comm.max(worst.error)
        emit(.debug("gradient spot check: worst relative error \(String(format: "%.2e", worstAll)) over \(checked) entries (the largest gradients of each of \(model.layout.tensors.count) tensors; \(skipped) below 1e-3 not measurable in Float32)"
            + (worst.name.isEmpty ? "" : ", worst on rank \(comm.rank): \(worst.name)")))
    }
}

/// FNV-1a over the weights' bits: equal replicas give equal hashes on every machine.
func weightHash(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for value in values {
        hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01b3
    }
    return hash
}

/// Replicas that no longer hold the same weights; every rank sees the same gathered hashes.
public struct ReplicaDivergence: AgreedError {
    public let step: Int
    public let ranks: [Int]
    public var description: String {
        "the weights of rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")) differ from rank 0's after step \(step); the replicas diverged, stopping."
    }
}
