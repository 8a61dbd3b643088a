/// Why a checkpoint could not be written, found or trusted.
///
/// `description` names the file or directory and the problem in one sentence, e.g.
/// "/out/checkpoints/step-00000200/model.safetensors is corrupt or truncated: its sha256 is 3f2a…,
/// state.json records 9b1c…". `kind` lets a caller react without parsing the text.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A file or directory that should exist does not.
        case missing
        /// A file's bytes do not match the sha256 recorded in state.json.
        case corrupt
        /// A file exists but its content is unusable: state.json, LATEST or a safetensors file.
        case malformed
        /// A system call failed (disk full, permissions, …); the problem names the call and errno.
        case io
        /// A path given by a user is not a checkpoint, a checkpoints directory or an output directory.
        case notACheckpoint
        /// Checkpoints exist but none of them verifies.
        case noValidCheckpoint
        /// The caller passed something the store cannot write (e.g. `state` is not a JSON object).
        case invalidArgument
    }

    public let kind: Kind
    /// The file or directory concerned.
    public let path: String
    /// What is wrong with it, phrased to follow the path ("is missing", "is corrupt …").
    public let problem: String

    public init(_ kind: Kind, path: String, _ problem: String) {
        self.kind = kind
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path) \(problem)" }
}
