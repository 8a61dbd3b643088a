import DPTrainer
import Foundation

/// A new empty directory under the temporary folder, for one test's files.
public func scratch() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The largest |a − b| / max(|a|, 1e-3) over every tensor of two weight files, and the tensor
/// where it is; infinity when they do not hold the same tensor names.
public func maxRelativeDifference(_ a: SafetensorsFile, _ b: SafetensorsFile) throws -> (Double, String) {
    guard a.names == b.names else { return (.infinity, "the tensor names differ: \(a.names) against \(b.names)") }
    var worst = (0.0, "")
    for name in a.names {
        for (x, y) in zip(try a.values(name), try b.values(name)) {
            let difference = Double(abs(x - y)) / max(Double(abs(x)), 1e-3)
            if difference > worst.0 { worst = (difference, name) }
        }
    }
    return worst
}

/// The same for two safetensors files as written (a checkpoint's model or optimizer bytes).
public func maxRelativeDifference(_ a: Data, _ b: Data) throws -> (Double, String) {
    try maxRelativeDifference(Safetensors.decode(a), Safetensors.decode(b))
}
