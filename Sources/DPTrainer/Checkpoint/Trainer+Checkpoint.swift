import DPComm
import DPData
import DPModel
import Foundation

extension Trainer {
    /// Takes weights, optimizer state, step, tokens seen and the sampler position from `restore`.
    func apply(_ restore: Restore) throws {
        try restore.loadWeights(into: model)
        // The checkpoint holds every parameter's state; a ZeRO-1 rank keeps its shard of it.
        var missing = false
        let whole = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.layout.count)
        defer { whole.deallocate() }
        for (index, prefix) in optimizer.prefixes.enumerated() {
            whole.initialize(repeating: 0)
            if try !restore.loadOptimizerState(prefix: prefix, layout: model.layout, into: whole) { missing = true }
            optimizer.load(index, from: UnsafeBufferPointer(whole))
        }
        if missing {
            emit(.warning("the checkpoint holds no \(config.optimizer.rawValue) state; the optimizer starts from zero moments."))
        }
        step = restore.state.step
        tokensSeen = restore.state.tokensSeen
        sampler.state = restore.state.sampler
        elapsedBefore = restore.state.elapsedSeconds
        let before = restore.state.worldSize * restore.state.training.batch * restore.state.training.gradAccum
        let nowRows = comm.size * config.batch * config.gradAccum
        if before != nowRows {
            emit(.warning("the global batch changes from \(before) rows (W·B·A at the checkpoint) to \(nowRows); training continues with the new one."))
        }
        emit(.resumed(directory: restore.directory, step: step, skipped: restore.skipped))
        let directory = URL(fileURLWithPath: restore.directory)
        if !restore.newer.isEmpty, let store = self.directory?.store,
           directory.deletingLastPathComponent().standardizedFileURL == store.directory.standardizedFileURL {
            emit(.warning("\(store.directory.path) holds checkpoints newer than \(directory.lastPathComponent) (\(restore.newer.joined(separator: ", "))); this run's first checkpoint deletes them, as they lie after the step it resumes from. Copy them elsewhere first to keep them."))
        }
    }

    /// Rank 0 writes a checkpoint of the current step into OUT; collective, so that a failed write
    /// stops every rank with rank 0's message and the previous checkpoint stays LATEST.
    ///
    /// The watchdog guards the whole save: the other ranks wait in its collectives while rank 0
    /// writes, and a link that dies then must not leave them waiting forever. A write cut short
    /// leaves only a temporary directory: LATEST still names the last complete checkpoint.
    func saveCheckpoint(elapsed: Double) throws {
        // With ZeRO-1 every rank holds a shard of the optimizer state: gather it whole first.
        let optimizerBuffers = try watched("checkpoint's optimizer-state gather", step: step) { try optimizer.full(comm: comm) }
        defer { for buffer in optimizerBuffers { buffer.deallocate() } }
        try watched("checkpoint (rank 0 writes, the others wait in MPI_Allreduce)", step: step) { try writeCheckpoint(elapsed: elapsed, optimizerBuffers) }
    }

    /// Rank 0 writes the checkpoint; collective (every rank learns whether it failed).
    private func writeCheckpoint(elapsed: Double, _ optimizerBuffers: [UnsafeMutableBufferPointer<Float>]) throws {
        try comm.collectively {
            guard comm.rank == 0, let store = directory?.store else { return }
            if let bad = firstNonFinite(in: model.parameters) {
                throw NonFiniteError(step: step, loss: .nan, tensor: "the weights (\(bad))")
            }
            if faults.failCheckpointWrite {
                throw CheckpointError(.io, path: store.directory.path, "could not be written: injected fault fail-checkpoint-write")
            }
            let state = CheckpointState(
                step: step, tokensSeen: tokensSeen, sampler: sampler.state, rng: .init(seed: config.seed),
                model: model.config, training: config, worldSize: comm.size, data: dataset.summary, dataPath: runConfig.data.path,
                dataConfig: runConfig.data, parallel: runConfig.parallel.recorded, elapsedSeconds: elapsed)
            let files = [
                Restore.modelFile: encodeModel(),
                Restore.optimizerFile: encodeOptimizer(optimizerBuffers),
            ]
            let directory = try store.save(
                step: step, files: files, state: try state.encoded(tokenizer: dataset.tokenizer.jsonData()), keep: config.keep)
            emit(.checkpointed(step: step, directory: directory.path))
        }
    }

    /// model.safetensors: every tensor by its DESIGN.md §3 name, and the model config as metadata.
    func encodeModel() -> Data {
        Safetensors.encodeModel(model.config, layout: model.layout, parameters: UnsafeBufferPointer(model.parameters))
    }

    /// optimizer.safetensors: "m.<name>" and "v.<name>" for AdamW ("momentum.<name>" for SGD).
    /// `buffers`: the optimizer's buffers over all parameters (`OptimizerState.full`).
    func encodeOptimizer(_ buffers: [UnsafeMutableBufferPointer<Float>]) -> Data {
        var views: [TensorView] = []
        for (prefix, buffer) in zip(optimizer.prefixes, buffers) {
            for spec in model.layout.tensors {
                views.append(TensorView(
                    name: "\(prefix).\(spec.name)", shape: spec.shape,
                    values: UnsafeBufferPointer(rebasing: buffer[spec.range])))
            }
        }
        return Safetensors.encode(views, metadata: ["optimizer": config.optimizer.rawValue, "step": String(step)])
    }
}
