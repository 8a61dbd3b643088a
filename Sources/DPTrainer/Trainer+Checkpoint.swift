import DPComm
import DPData
import DPModel
import Foundation

/// A checkpoint that rank 0 read and verified and then broadcast, so every rank holds it and only
/// rank 0 needs the file system.
public struct Restore: Sendable {
    /// The checkpoint directory it came from.
    public let directory: String
    /// Damaged checkpoints that were passed over on the way to this one (resume without a path).
    public let skipped: [String]
    public let state: CheckpointState
    /// The tokenizer's JSON as the checkpoint stores it.
    public let tokenizerJSON: Data
    let model: SafetensorsFile
    let optimizer: SafetensorsFile

    static let modelFile = "model.safetensors"
    static let optimizerFile = "optimizer.safetensors"

    /// Reads a checkpoint on rank 0 and broadcasts it to every rank. Collective.
    ///
    /// - Parameter path: a checkpoint directory, an OUT directory or OUT/checkpoints (then its
    ///   LATEST); nil means the newest valid checkpoint of `out`, falling back past damaged ones.
    public static func load(comm: any Communicator, path: URL?, out: URL) throws -> Restore {
        let root = try comm.collectively { () throws -> (LoadedCheckpoint, [String])? in
            guard comm.rank == 0 else { return nil }
            if let path {
                let directory = try CheckpointStore.resolve(path)
                return (try CheckpointStore(directory: directory.deletingLastPathComponent()).load(directory), [])
            }
            let store = CheckpointStore(directory: out.appendingPathComponent("checkpoints"))
            guard let latest = try store.loadLatest() else {
                throw ConfigError("--resume found no checkpoint in \(store.directory.path); train without --resume first, or pass --resume PATH.")
            }
            return latest
        }
        // Everything crosses as bytes from rank 0.
        let directory = try comm.broadcast(string: root?.0.directory.path ?? "", root: 0)
        let skipped = try comm.broadcast(string: root?.1.joined(separator: "\n") ?? "", root: 0)
        let modelBytes = try comm.broadcast(bytes: root.map { [UInt8]($0.0.files[modelFile] ?? Data()) } ?? [], root: 0)
        let optimizerBytes = try comm.broadcast(bytes: root.map { [UInt8]($0.0.files[optimizerFile] ?? Data()) } ?? [], root: 0)
        let stateBytes = try comm.broadcast(bytes: root.map { [UInt8]($0.0.state) } ?? [], root: 0)

        return try comm.collectively {
            let stateFile = directory + "/state.json"
            let (state, tokenizer) = try CheckpointState.decode(Data(stateBytes), file: stateFile)
            func decode(_ bytes: [UInt8], _ name: String) throws -> SafetensorsFile {
                do { return try Safetensors.decode(Data(bytes)) } catch {
                    throw ConfigError("\(directory)/\(name) is not a valid safetensors file: \(error)")
                }
            }
            return Restore(
                directory: directory, skipped: skipped.isEmpty ? [] : skipped.components(separatedBy: "\n"),
                state: state, tokenizerJSON: tokenizer,
                model: try decode(modelBytes, modelFile), optimizer: try decode(optimizerBytes, optimizerFile))
        }
    }
}

extension Trainer {
    /// Takes weights, optimizer state, step, tokens seen and the sampler position from `restore`.
    func apply(_ restore: Restore) throws {
        for spec in model.layout.tensors {
            do {
                try restore.model.copy(spec.name, into: UnsafeMutableBufferPointer(rebasing: model.parameters[spec.range]))
            } catch {
                throw ConfigError("\(restore.directory)/\(Restore.modelFile) does not fit this model: \(error).")
            }
        }
        // The checkpoint holds every parameter's state; a ZeRO-1 rank keeps its shard of it.
        var missing = false
        let whole = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.layout.count)
        defer { whole.deallocate() }
        for (index, prefix) in optimizer.prefixes.enumerated() {
            whole.initialize(repeating: 0)
            for spec in model.layout.tensors {
                let name = "\(prefix).\(spec.name)"
                guard restore.optimizer.shape(name) != nil else { missing = true; continue }
                try restore.optimizer.copy(name, into: UnsafeMutableBufferPointer(rebasing: whole[spec.range]))
            }
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
    }

    /// Rank 0 writes a checkpoint of the current step into OUT; collective, so that a failed write
    /// stops every rank with rank 0's message and the previous checkpoint stays LATEST.
    func saveCheckpoint(elapsed: Double) throws {
        // With ZeRO-1 every rank holds a shard of the optimizer state: gather it whole first.
        let optimizerBuffers = try optimizer.full(comm: comm)
        defer { for buffer in optimizerBuffers { buffer.deallocate() } }
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
        let views = model.layout.tensors.map { spec in
            TensorView(name: spec.name, shape: spec.shape, values: UnsafeBufferPointer(rebasing: model.parameters[spec.range]))
        }
        return Safetensors.encode(views, metadata: ["config": modelConfigJSON(), "format": "dptrain"])
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

    func modelConfigJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(model.config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
