import DPComm
import DPData
import DPModel
import Foundation

/// A checkpoint read, verified and decoded — every file's sha256, state.json as a dptrain state,
/// its tokenizer, and the tensors' names and shapes against the model it describes — ready to
/// continue training from (`Trainer`), to evaluate (`makeModel`) or to sample from.
///
/// This is the one place that reads a checkpoint's weights: `read` on one process, `load` on every
/// rank (rank 0 reads, then broadcasts the bytes, so only rank 0 needs the file system).
public struct Restore: Sendable {
    /// The checkpoint directory it came from.
    public let directory: String
    /// Warnings from finding it, one sentence each: checkpoints passed over as unusable (resume
    /// without a path), LATEST naming another checkpoint than the one taken.
    public internal(set) var skipped: [String]
    /// Newer checkpoint directories beside this one (e.g. step-00000300 when this is
    /// step-00000200): a run resumed from here deletes them at its first checkpoint.
    public internal(set) var newer: [String]
    public let state: CheckpointState
    /// The tokenizer's JSON as the checkpoint stores it.
    public let tokenizerJSON: Data
    let model: SafetensorsFile
    let optimizer: SafetensorsFile
    /// state.json's bytes, for the broadcast.
    let stateJSON: Data

    static let modelFile = "model.safetensors"
    static let optimizerFile = "optimizer.safetensors"

    /// Decodes and checks a verified checkpoint: state.json is a dptrain state with a tokenizer
    /// that rebuilds with the model's vocabulary size; model.safetensors holds exactly the model's
    /// tensors in their shapes; optimizer.safetensors holds, per prefix ("m", "v", "momentum"),
    /// every tensor of the model in its shape and nothing else.
    ///
    /// - Throws: `CheckpointError` (.malformed) naming the file at fault, in one sentence.
    public init(_ checkpoint: LoadedCheckpoint, skipped: [String] = [], newer: [String] = []) throws {
        let stateFile = checkpoint.directory.appendingPathComponent(CheckpointStore.stateFileName).path
        let (state, tokenizerJSON) = try CheckpointState.decode(checkpoint.state, file: stateFile)
        let tokenizer: any Tokenizer
        do {
            tokenizer = try Tokenizers.load(json: tokenizerJSON)
        } catch {
            throw CheckpointError(.malformed, path: stateFile, "holds a tokenizer that cannot be rebuilt: \(error)")
        }
        guard tokenizer.vocabSize == state.model.vocabSize else {
            throw CheckpointError(.malformed, path: stateFile,
                                  "holds a tokenizer of \(tokenizer.vocabSize) tokens for a model of vocab_size \(state.model.vocabSize)")
        }
        let layout = ParameterLayout(config: state.model)
        let model = try checkpoint.safetensors(Self.modelFile)
        do {
            try model.check(layout, exact: true)
        } catch {
            throw CheckpointError(.malformed, path: checkpoint.directory.appendingPathComponent(Self.modelFile).path,
                                  "does not fit the model its state.json describes: it \(error)")
        }
        let optimizer = try checkpoint.safetensors(Self.optimizerFile)
        do {
            try Self.checkOptimizer(optimizer, layout: layout)
        } catch {
            throw CheckpointError(.malformed, path: checkpoint.directory.appendingPathComponent(Self.optimizerFile).path,
                                  "does not fit the model its state.json describes: it \(error)")
        }
        self.directory = checkpoint.directory.path
        self.skipped = skipped
        self.newer = newer
        self.state = state
        self.tokenizerJSON = tokenizerJSON
        self.model = model
        self.optimizer = optimizer
        self.stateJSON = checkpoint.state
    }

    /// Every tensor is "<prefix>.<model tensor>" in the model tensor's shape, and a prefix present
    /// at all is present for every tensor of the model.
    static func checkOptimizer(_ file: SafetensorsFile, layout: ParameterLayout) throws {
        let shapes = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.name, $0.shape) })
        var prefixes: [String] = []
        for name in file.names {
            guard let dot = name.firstIndex(of: "."), shapes[String(name[name.index(after: dot)...])] != nil else {
                throw SafetensorsError("has tensor \"\(name)\", which is not the optimizer state of a tensor of the model")
            }
            let prefix = String(name[...dot])
            if !prefixes.contains(prefix) { prefixes.append(prefix) }
        }
        for prefix in prefixes { try file.check(layout, prefix: prefix, exact: false) }
    }

    /// Reads a checkpoint on this process alone (`dptrain sample`; rank 0's part of `load`).
    ///
    /// - Parameter path: a checkpoint directory, an OUT directory or OUT/checkpoints (then its
    ///   LATEST; an explicit path never falls back); nil means the newest usable checkpoint of
    ///   `out`, passing over (with a warning in `skipped` each) every one that does not verify or
    ///   decode.
    /// - Throws: `CheckpointError` or `ConfigError`, one sentence naming the file at fault.
    public static func read(path: URL?, out: URL) throws -> Restore {
        if let path {
            let directory = try CheckpointStore.resolve(path)
            let store = CheckpointStore(directory: directory.deletingLastPathComponent())
            let loaded = try store.loadRetryingPrune(directory, resolvedFrom: path)
            return try Restore(loaded, newer: store.names(after: loaded.step))
        }
        let store = CheckpointStore(directory: out.appendingPathComponent("checkpoints"))
        guard let latest = try store.loadLatest(using: { try Restore($0) }) else {
            throw ConfigError("--resume found no checkpoint in \(store.directory.path); train without --resume first, or pass --resume PATH.")
        }
        var taken = latest.checkpoint
        taken.skipped = latest.skipped
        taken.newer = store.names(after: taken.state.step)
        return taken
    }

    /// Reads a checkpoint on rank 0 (as `read`) and broadcasts it to every rank. Collective.
    public static func load(comm: any Communicator, path: URL?, out: URL) throws -> Restore {
        let root = try comm.collectively { () throws -> Restore? in
            guard comm.rank == 0 else { return nil }
            return try read(path: path, out: out)
        }
        if comm.size == 1, let root { return root }
        // Everything crosses as bytes from rank 0; the other ranks decode the same bytes.
        let directory = try comm.broadcast(string: root?.directory ?? "", root: 0)
        let skipped = try comm.broadcast(string: root?.skipped.joined(separator: "\n") ?? "", root: 0)
        let newer = try comm.broadcast(string: root?.newer.joined(separator: "\n") ?? "", root: 0)
        let modelBytes = try comm.broadcast(bytes: root.map { [UInt8]($0.model.data) } ?? [], root: 0)
        let optimizerBytes = try comm.broadcast(bytes: root.map { [UInt8]($0.optimizer.data) } ?? [], root: 0)
        let stateBytes = try comm.broadcast(bytes: root.map { [UInt8]($0.stateJSON) } ?? [], root: 0)
        func lines(_ text: String) -> [String] { text.isEmpty ? [] : text.components(separatedBy: "\n") }
        return try comm.collectively {
            if let root { return root }
            let directoryURL = URL(fileURLWithPath: directory, isDirectory: true)
            let loaded = LoadedCheckpoint(
                directory: directoryURL, step: 0,
                files: [modelFile: Data(modelBytes), optimizerFile: Data(optimizerBytes)], state: Data(stateBytes))
            return try Restore(loaded, skipped: lines(skipped), newer: lines(newer))
        }
    }

    /// Copies the weights into `model`, whose layout must be the checkpoint's in every tensor's
    /// name and shape (it is when the model was built from `state.model`).
    ///
    /// - Throws: `ConfigError` naming model.safetensors and the first tensor that differs.
    public func loadWeights(into model: Model) throws {
        do {
            try self.model.check(model.layout, exact: true)
            try self.model.copy(model.layout, into: model.parameters)
        } catch {
            throw ConfigError("\(directory)/\(Restore.modelFile) does not fit this model: it \(error).")
        }
    }

    /// Copies the optimizer state under `prefix` ("m", "v", "momentum") into `buffer`, laid out as
    /// `layout`; false (buffer untouched) when the checkpoint holds no state of that prefix.
    func loadOptimizerState(prefix: String, layout: ParameterLayout, into buffer: UnsafeMutableBufferPointer<Float>) throws -> Bool {
        guard optimizer.holdsAny(of: layout, prefix: prefix + ".") else { return false }
        do {
            try optimizer.copy(layout, prefix: prefix + ".", into: buffer)
        } catch {
            throw ConfigError("\(directory)/\(Restore.optimizerFile) does not fit this model: it \(error).")
        }
        return true
    }
}
