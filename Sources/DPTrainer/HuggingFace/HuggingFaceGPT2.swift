import DPData
import DPModel
import Foundation

/// Hugging Face GPT-2 directories in and out: `dptrain import-hf` and `dptrain export-hf`.
///
/// A directory holds config.json (`GPT2Config`), model.safetensors (`GPT2Weights`; F32, F16 or
/// BF16 in, F32 out) and the tokenizer files (tokenizer.json, or vocab.json + merges.txt), which
/// the caller reads and writes with DPData's Hugging Face tokenizer.
public enum HuggingFaceGPT2 {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"

    /// A GPT-2 read from a directory: the dptrain model (the gpt2 preset's wiring) and its
    /// parameters laid out as `ParameterLayout(config: config)`.
    public struct Weights: Sendable {
        public let config: ModelConfig
        public let parameters: [Float]
    }

    /// Reads config.json and model.safetensors of `directory`.
    ///
    /// - Throws: `HuggingFaceError`, one sentence naming the file and, for the weights, the tensor:
    ///   no config.json, a model_type other than gpt2, settings dptrain does not compute, no or an
    ///   invalid model.safetensors, a tensor missing, of the wrong shape, or not GPT-2's.
    public static func readWeights(directory: URL) throws -> Weights {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HuggingFaceError(path: directory.path, "does not exist or is not a directory")
        }
        let configURL = directory.appendingPathComponent(configFile)
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw HuggingFaceError(path: directory.path, "has no config.json, so it is not a Hugging Face model directory")
        }
        let config = try GPT2Config.model(json: try read(configURL), path: configURL.path)

        let weightsURL = directory.appendingPathComponent(weightsFile)
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw HuggingFaceError(path: directory.path, "has no model.safetensors (dptrain reads the safetensors weights only, not pytorch_model.bin or sharded files)")
        }
        let file: SafetensorsFile
        do {
            file = try Safetensors.decode(try read(weightsURL))
        } catch let error as SafetensorsError {
            throw HuggingFaceError(path: weightsURL.path, "is not a valid safetensors file: \(error)")
        }
        let path = weightsURL.path
        // save_pretrained writes "transformer.wte.weight", the hub's GPT-2 files "wte.weight".
        let prefix = file.shape("transformer.wte.weight") != nil ? "transformer." : ""
        let table = GPT2Weights(config: config)
        let expected = Set(table.tensors.map { GPT2Weights.fileName($0.name, prefix: prefix) })
        for name in file.names where !expected.contains(name) {
            let bare = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
            if GPT2Weights.isBuffer(bare) || (config.tiedEmbeddings && name == "lm_head.weight") { continue }
            throw HuggingFaceError(path: path, "holds tensor \"\(name)\", which is not part of a GPT-2 of config.json's sizes (\(config.layers) layers)")
        }
        var parameters = [Float](repeating: 0, count: ParameterLayout(config: config).count)
        try parameters.withUnsafeMutableBufferPointer { buffer in
            try table.importInto(buffer, layout: ParameterLayout(config: config)) { tensor in
                let name = GPT2Weights.fileName(tensor.name, prefix: prefix)
                guard let shape = file.shape(name) else {
                    throw HuggingFaceError(path: path, "has no tensor \"\(name)\", which a GPT-2 needs")
                }
                guard shape == tensor.shape else {
                    throw HuggingFaceError(path: path, "has tensor \"\(name)\" of shape \(shape), but config.json's sizes need \(tensor.shape)")
                }
                return try file.values(name)
            }
        }
        return Weights(config: config, parameters: parameters)
    }

    /// Writes `weights` and `tokenizer` as a dptrain checkpoint directory at `out` (step 0, the
    /// gpt2 preset's training settings, an empty optimizer state), which `sample --checkpoint`,
    /// `eval`, `train --init-from` and `--resume` read like any other.
    ///
    /// - Parameter source: the Hugging Face directory, recorded as the checkpoint's data summary.
    /// - Throws: `HuggingFaceError` when the tokenizer's vocabulary is not the embedding's rows;
    ///   `CheckpointError` when `out` exists or cannot be written.
    public static func writeCheckpoint(_ weights: Weights, tokenizer: any Tokenizer, tokenizerPath: String, source: URL, out: URL) throws {
        let config = weights.config
        guard tokenizer.vocabSize == config.vocabSize else {
            throw HuggingFaceError(path: tokenizerPath, "has \(tokenizer.vocabSize) tokens, but config.json's vocab_size (the rows of wte.weight) is \(config.vocabSize)")
        }
        let training = TrainingConfig.gpt2Defaults
        let state = CheckpointState(
            step: 0, tokensSeen: 0, sampler: SamplerState(), rng: .init(seed: training.seed), model: config, training: training,
            worldSize: 1, data: "imported from Hugging Face \(source.standardizedFileURL.path)", dataPath: nil, dataConfig: nil,
            parallel: nil, elapsedSeconds: 0)
        let model = weights.parameters.withUnsafeBufferPointer {
            Safetensors.encodeModel(config, layout: ParameterLayout(config: config), parameters: $0)
        }
        // No optimizer state: a run resumed from here starts from zero moments, as a new one does.
        let optimizer = Safetensors.encode([], metadata: ["optimizer": training.optimizer.rawValue, "step": "0"])
        try CheckpointStore.writeCheckpoint(
            at: out, files: [Restore.modelFile: model, Restore.optimizerFile: optimizer],
            state: try state.encoded(tokenizer: tokenizer.jsonData()))
    }

    /// Writes config.json and model.safetensors (F32, save_pretrained's "transformer." names) of
    /// the checkpoint's model into `directory`, created if needed; the caller adds the tokenizer.
    ///
    /// - Parameter endOfText: the tokenizer's `<|endoftext|>` id, if it has one (bos/eos in config.json).
    /// - Throws: `HuggingFaceError` when the model is not GPT-2-shaped (`GPT2Config.exportProblem`)
    ///   or a file cannot be written.
    public static func export(_ restore: Restore, to directory: URL, endOfText: Int?) throws {
        let config = restore.state.model
        if let problem = GPT2Config.exportProblem(config) {
            throw HuggingFaceError(path: restore.directory, "holds a model that \(problem)")
        }
        let layout = ParameterLayout(config: config)
        var parameters = [Float](repeating: 0, count: layout.count)
        do {
            try parameters.withUnsafeMutableBufferPointer { try restore.model.copy(layout, into: $0) }
        } catch {
            throw HuggingFaceError(path: restore.directory + "/" + Restore.modelFile, "does not fit its state.json: \(error)")
        }
        let tensors = parameters.withUnsafeBufferPointer { GPT2Weights(config: config).export($0, layout: layout) }
        let flat = tensors.flatMap { $0.1 }
        let data = flat.withUnsafeBufferPointer { all in
            var offset = 0
            return Safetensors.encode(tensors.map { tensor, values in
                defer { offset += values.count }
                return TensorView(name: GPT2Weights.fileName(tensor.name, prefix: "transformer."), shape: tensor.shape,
                                  values: UnsafeBufferPointer(rebasing: all[offset..<offset + values.count]))
            }, metadata: ["format": "pt"])
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try GPT2Config.json(config, endOfText: endOfText).write(to: directory.appendingPathComponent(configFile), options: .atomic)
            try data.write(to: directory.appendingPathComponent(weightsFile), options: .atomic)
        } catch {
            throw HuggingFaceError(path: directory.path, "could not be written: \(error.localizedDescription)")
        }
    }

    private static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw HuggingFaceError(path: url.path, "cannot be read: \(error.localizedDescription)")
        }
    }
}
