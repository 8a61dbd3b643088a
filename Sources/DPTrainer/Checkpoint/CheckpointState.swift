import DPData
import DPModel
import Foundation

/// The state.json of a checkpoint (DESIGN.md §3), apart from the tokenizer (stored as its own JSON
/// object under "tokenizer") and the checksums (added by `CheckpointStore` under "sha256").
public struct CheckpointState: Codable, Sendable {
    /// Optimizer updates done ("step N" = after N updates).
    public var step: Int
    public var tokensSeen: Int
    public var sampler: SamplerState
    /// Training has no running random state (no dropout); the seed fixes initialization and the
    /// shuffle order, so it is all that a resumed run needs.
    public var rng: RandomState
    public var model: ModelConfig
    public var training: TrainingConfig
    public var worldSize: Int
    /// The data the run trained on, as the banner showed it.
    public var data: String
    /// `--data` of the run (nil: the built-in corpus or the seed's sentences), so that `--resume`
    /// alone finds the same data; absolute in the file (resolved against the directory the run
    /// started in).
    public var dataPath: String?
    /// The run's data settings (`--data`, `--tokenizer`, `--vocab-size`); nil in checkpoints
    /// written before they were recorded.
    public var dataConfig: DataConfig?
    /// The run's ZeRO stage (threads are not recorded: they belong to the machine); nil in
    /// checkpoints written before it was recorded.
    public var parallel: ParallelConfig?
    /// Wall-clock seconds of training before this checkpoint (for `elapsed_s`).
    public var elapsedSeconds: Double

    public struct RandomState: Codable, Sendable, Equatable {
        public var seed: UInt64
    }

    enum CodingKeys: String, CodingKey {
        case step, sampler, rng, model, training, data
        case tokensSeen = "tokens_seen"
        case dataPath = "data_path"
        case dataConfig = "data_config"
        case parallel
        case worldSize = "world_size"
        case elapsedSeconds = "elapsed_s"
    }

    /// state.json's bytes: this state plus the tokenizer's own JSON object.
    public func encoded(tokenizer: Data) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // The data path is recorded absolute, so that --resume finds it from any directory.
        var state = self
        state.dataPath = dataPath.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(state)) as? [String: Any] else {
            throw ConfigError("the checkpoint state did not encode as a JSON object.")
        }
        object["tokenizer"] = try JSONSerialization.jsonObject(with: tokenizer)
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// Decodes state.json's bytes into the state and the tokenizer's JSON.
    ///
    /// - Throws: `CheckpointError` (.malformed) naming `file` and what is wrong in JSON terms
    ///   (a missing key, a value of the wrong type, an invalid model), never Swift's own
    ///   description of a `DecodingError`.
    public static func decode(_ data: Data, file: String) throws -> (state: CheckpointState, tokenizer: Data) {
        let state: CheckpointState
        do {
            state = try JSONDecoder().decode(CheckpointState.self, from: data)
        } catch let error as DecodingError {
            throw CheckpointError(.malformed, path: file, "is not a valid dptrain state file: it \(jsonProblem(error))")
        } catch {
            throw CheckpointError(.malformed, path: file, "holds an invalid model: \(error)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let tokenizer = object["tokenizer"] as? [String: Any] else {
            throw CheckpointError(.malformed, path: file, "has no \"tokenizer\" object")
        }
        return (state, try JSONSerialization.data(withJSONObject: tokenizer, options: [.sortedKeys]))
    }
}
