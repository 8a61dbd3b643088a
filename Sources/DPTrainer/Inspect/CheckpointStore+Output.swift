import Foundation

extension CheckpointStore {
    /// The output directory (OUT) that holds `checkpoint` as OUT/checkpoints/step-NNNNNNNN, or nil
    /// when the checkpoint lives anywhere else. Looks at the path only.
    public static func outputDirectory(of checkpoint: URL) -> URL? {
        let parent = checkpoint.standardizedFileURL.deletingLastPathComponent()
        guard parent.lastPathComponent == "checkpoints" else { return nil }
        return parent.deletingLastPathComponent()
    }
}
