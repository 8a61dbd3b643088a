import DPTrainer
import Foundation

/// A finished `dptrain train`, read back: its OUT, output, logged losses and last checkpoint.
public struct TrainedRun {
    public let out: URL
    /// OUT/checkpoints/ the checkpoint LATEST names.
    public let latest: URL
    public let stdout: String
    public let stderr: String
    /// metrics.jsonl's train losses and val losses, in order.
    public let losses: [Double]
    public let valLosses: [Double]
    public let weights: SafetensorsFile
    /// The latest checkpoint's model.safetensors as written.
    public let modelBytes: Data
}

/// `dptrain` ended with a non-zero status.
public struct TrainFailed: Error, CustomStringConvertible {
    public let description: String
}

/// Runs `dptrain train ARGUMENTS --out OUT` with `ranks` ranks (1: without mpirun) into `out`
/// (a new scratch directory when nil) and reads its results; throws when it fails.
public func trainRun(ranks: Int, _ arguments: [String], out: URL? = nil) throws -> TrainedRun {
    let out = try out ?? scratch()
    let args = ["train"] + arguments + ["--out", out.path]
    let result = ranks == 1
        ? try Run.process(Run.product("dptrain"), args, timeout: 120)
        : try Run.mpirun(ranks, Run.product("dptrain"), args, timeout: 120)
    guard result.status == 0 else { throw TrainFailed(description: "dptrain failed (\(result.status)): \(result.stderr)") }
    let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    let objects = metrics.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    let name = try String(contentsOf: out.appendingPathComponent("checkpoints/LATEST"), encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    let latest = out.appendingPathComponent("checkpoints/\(name)")
    let bytes = try Data(contentsOf: latest.appendingPathComponent("model.safetensors"))
    return TrainedRun(out: out, latest: latest, stdout: result.stdout, stderr: result.stderr,
                      losses: objects.compactMap { $0["loss"] as? Double }, valLosses: objects.compactMap { $0["val_loss"] as? Double },
                      weights: try Safetensors.decode(bytes), modelBytes: bytes)
}
