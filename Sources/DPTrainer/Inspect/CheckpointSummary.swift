import DPData
import DPModel
import Foundation

/// What `dptrain inspect` shows about one checkpoint: its state (step, tokens seen, world size,
/// data, model and training config, tokenizer), the parameters per tensor group, its files and
/// their sizes, whether every file matches the sha256 that state.json records, and, when the
/// checkpoint lies in an OUT directory, that run's metrics.jsonl.
///
/// Reading never stops at a damaged file: whatever can still be read is summarized, and the
/// damage is reported in `damage` (checksums) and `notes` (anything else unreadable).
public struct CheckpointSummary: Sendable {
    /// A file of the checkpoint directory and its size.
    public struct File: Sendable, Equatable {
        public let name: String
        public let bytes: Int
    }

    /// The tensors of model.safetensors in one `TensorGroup`.
    public struct Group: Sendable, Equatable {
        public let group: TensorGroup
        public let tensors: Int
        public let parameters: Int
    }

    /// The checkpoint directory (step-NNNNNNNN).
    public let directory: URL
    /// OUT, when the checkpoint is OUT/checkpoints/step-NNNNNNNN.
    public let outDirectory: URL?
    /// state.json, or nil when it is missing or unreadable (a note says why).
    public let state: CheckpointState?
    /// The tokenizer state.json records, or nil when it cannot be rebuilt.
    public let tokenizerKind: TokenizerKind?
    public let tokenizerVocabSize: Int?
    /// The directory's regular files by name.
    public let files: [File]
    /// Groups holding at least one tensor, in `TensorGroup.allCases` order; empty when
    /// model.safetensors cannot be decoded.
    public let groups: [Group]
    /// The model config in model.safetensors' metadata ("config"), when present and valid.
    public let fileConfig: ModelConfig?
    /// Why the checkpoint does not verify (`CheckpointStore.load`'s error, naming the file at
    /// fault), or nil when every file state.json lists has the recorded sha256.
    public let damage: CheckpointError?
    /// Why a checkpoint whose checksums hold cannot be used all the same (`Restore.init`'s error:
    /// a state.json that does not decode, a tensor of another name or shape than the model's…),
    /// or nil when it can be resumed, evaluated and sampled from.
    public let unusable: CheckpointError?
    /// The files whose sha256 was checked (those state.json lists), when `damage` is nil.
    public let verifiedFiles: [String]
    /// Further problems, one sentence each: unreadable state.json or model.safetensors, a config
    /// that disagrees between them, a parameter count that does not fit the config.
    public let notes: [String]
    /// OUT/metrics.jsonl, when there is one.
    public let history: MetricsHistory?

    /// Every parameter of model.safetensors.
    public var parameterCount: Int { groups.reduce(0) { $0 + $1.parameters } }

    /// Summarizes the checkpoint at `path`: a checkpoint directory, OUT/checkpoints or OUT (then
    /// the checkpoint LATEST names).
    ///
    /// - Throws: `CheckpointError` only when `path` leads to no checkpoint directory (see
    ///   `CheckpointStore.resolve`); a damaged checkpoint is summarized, not thrown.
    public static func read(_ path: URL) throws -> CheckpointSummary {
        let directory = try CheckpointStore.resolve(path)
        var notes: [String] = []

        var damage: CheckpointError? = nil
        var unusable: CheckpointError? = nil
        var verifiedFiles: [String] = []
        do {
            let loaded = try CheckpointStore(directory: directory.deletingLastPathComponent()).loadRetryingPrune(directory, resolvedFrom: path)
            verifiedFiles = loaded.files.keys.sorted()
            do {
                _ = try Restore(loaded)
            } catch let error as CheckpointError {
                unusable = error
            }
        } catch let error as CheckpointError {
            damage = error
        } catch {
            damage = CheckpointError(.io, path: directory.path, "could not be verified: \(error)")
        }

        var state: CheckpointState? = nil
        var tokenizer: (any Tokenizer)? = nil
        let stateURL = directory.appendingPathComponent(CheckpointStore.stateFileName)
        if let data = try? Data(contentsOf: stateURL) {
            do {
                let decoded = try CheckpointState.decode(data, file: stateURL.path)
                state = decoded.state
                do {
                    tokenizer = try Tokenizers.load(json: decoded.tokenizer)
                } catch {
                    notes.append("\(stateURL.path): its tokenizer cannot be rebuilt: \(error)")
                }
            } catch {
                notes.append("\(error)")
            }
        } else {
            notes.append("\(stateURL.path) cannot be read.")
        }

        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted().compactMap { name -> File? in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { return nil }
            return File(name: name, bytes: (attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }

        var groups: [Group] = []
        var fileConfig: ModelConfig? = nil
        let modelURL = directory.appendingPathComponent(Restore.modelFile)
        do {
            let weights = try Safetensors.decode(try Data(contentsOf: modelURL))
            var counts: [TensorGroup: (tensors: Int, parameters: Int)] = [:]
            for name in weights.names {
                let group = TensorGroup(tensorName: name)
                counts[group, default: (0, 0)].tensors += 1
                counts[group, default: (0, 0)].parameters += (weights.shape(name) ?? []).reduce(1, *)
            }
            groups = TensorGroup.allCases.compactMap { group in
                counts[group].map { Group(group: group, tensors: $0.tensors, parameters: $0.parameters) }
            }
            if let json = weights.metadata["config"] {
                do {
                    fileConfig = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
                } catch {
                    notes.append("\(modelURL.path): its metadata \"config\" \(jsonProblem(error))")
                }
            }
        } catch {
            notes.append("\(modelURL.path) cannot be decoded: \(error)")
        }
        if let state {
            if let fileConfig, fileConfig != state.model {
                notes.append("the model config in \(Restore.modelFile) differs from the one in state.json.")
            }
            let expected = state.model.parameterCount
            if !groups.isEmpty && groups.reduce(0, { $0 + $1.parameters }) != expected {
                notes.append("\(Restore.modelFile) holds \(groups.reduce(0) { $0 + $1.parameters }) parameters; the model in state.json has \(expected).")
            }
        }

        let outDirectory = CheckpointStore.outputDirectory(of: directory)
        let history = outDirectory.flatMap { try? MetricsHistory(contentsOf: $0.appendingPathComponent("metrics.jsonl")) }

        return CheckpointSummary(
            directory: directory, outDirectory: outDirectory, state: state, tokenizerKind: tokenizer?.kind,
            tokenizerVocabSize: tokenizer?.vocabSize, files: files, groups: groups, fileConfig: fileConfig,
            damage: damage, unusable: unusable, verifiedFiles: verifiedFiles, notes: notes, history: history)
    }
}
