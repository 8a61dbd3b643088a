import Foundation

/// A checkpoint read back and verified by `CheckpointStore.load`: every file listed in
/// state.json's "sha256" object exists and matches its digest.
public struct LoadedCheckpoint: Sendable {
    /// The checkpoint directory (…/checkpoints/step-%08d).
    public let directory: URL
    /// Optimizer updates done when it was written: state.json's "step", else the directory's number.
    public let step: Int
    /// The verified files by name, e.g. "model.safetensors" → bytes. state.json is not among them.
    public let files: [String: Data]
    /// The bytes of state.json, including the store's "sha256" object.
    public let state: Data

    /// Decodes `files[name]` as safetensors; errors name the file.
    public func safetensors(_ name: String) throws -> SafetensorsFile {
        let path = directory.appendingPathComponent(name).path
        guard let data = files[name] else {
            throw CheckpointError(.missing, path: path, "is not part of this checkpoint (state.json does not list it)")
        }
        do {
            return try Safetensors.decode(data)
        } catch let error as SafetensorsError {
            throw CheckpointError(.malformed, path: path, "is not a valid safetensors file: \(error)")
        }
    }
}
