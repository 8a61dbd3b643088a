import DPModel
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CheckpointStore {
    /// Writes a checkpoint directory of its own at `directory` (not inside a run's
    /// checkpoints/), as `save` writes one: `files` and state.json with their sha256, built in a
    /// `.tmp-` sibling, every file and the directory fsync'd, then renamed into place, so the
    /// directory exists only complete. `dptrain import-hf` writes one; `load`, `Restore.read`
    /// and `sample --checkpoint` read it like any other.
    ///
    /// - Throws: `CheckpointError`: .invalidArgument when `directory` already exists (nothing is
    ///   overwritten), .io when a system call fails.
    public static func writeCheckpoint(at directory: URL, files: [String: Data], state: Data) throws {
        let final = URL(fileURLWithPath: directory.standardizedFileURL.path, isDirectory: true)
        if FileManager.default.fileExists(atPath: final.path) {
            throw CheckpointError(.invalidArgument, path: final.path, "already exists; choose another --out or remove it first")
        }
        let parent = final.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(.io, path: parent.path, "could not be created: \(error.localizedDescription)")
        }
        let stateJSON = try stateWithChecksums(state, files: files)
        let temporary = parent.appendingPathComponent(temporaryPrefix + final.lastPathComponent + "-\(getpid())", isDirectory: true)
        try? FileManager.default.removeItem(at: temporary)
        guard mkdir(temporary.path, 0o755) == 0 else { throw FileSystem.failure("mkdir", temporary.path) }
        do {
            for (name, data) in files.sorted(by: { $0.key < $1.key }) + [(key: stateFileName, value: stateJSON)] {
                try FileSystem.writeDurably(data, to: temporary.appendingPathComponent(name))
            }
            try FileSystem.syncDirectory(temporary)
            try FileSystem.rename(temporary, to: final)
            try FileSystem.syncDirectory(parent)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}

extension Safetensors {
    /// model.safetensors of a checkpoint: every tensor of `layout` by its DESIGN.md §3 name, and
    /// the model config as metadata ("config"), enough to rebuild the model.
    public static func encodeModel(_ config: ModelConfig, layout: ParameterLayout, parameters: UnsafeBufferPointer<Float>) -> Data {
        let views = layout.tensors.map { spec in
            TensorView(name: spec.name, shape: spec.shape, values: UnsafeBufferPointer(rebasing: parameters[spec.range]))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return encode(views, metadata: ["config": json, "format": "dptrain"])
    }
}
