import Foundation

/// Damage to a checkpoint that its checksums cannot see, for tests of what readers check beyond
/// sha256: a file changed and state.json's digest of it updated to match.
public enum CheckpointTampering {
    /// Sets state.json's "sha256"[file] in `checkpoint` to the file's current digest.
    public static func updateChecksum(of file: String, in checkpoint: URL) throws {
        let digest = try sha256(checkpoint.appendingPathComponent(file))
        let stateURL = checkpoint.appendingPathComponent("state.json")
        guard var object = try JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as? [String: Any],
              var digests = object["sha256"] as? [String: String] else {
            throw TamperingError("\(stateURL.path) has no sha256 object")
        }
        digests[file] = digest
        object["sha256"] = digests
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: stateURL)
    }

    /// Replaces `old` by `new` (of the same length, so that no offset moves) in the JSON header of
    /// the safetensors bytes `file`, leaving the tensor data as it is.
    public static func replaceInHeader(_ file: inout Data, _ old: String, with new: String) throws {
        precondition(old.utf8.count == new.utf8.count, "the header must keep its length")
        let length = Int(file.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let headerRange = file.startIndex + 8..<file.startIndex + 8 + length
        let header = String(decoding: file[headerRange], as: UTF8.self)
        guard let range = header.range(of: old) else { throw TamperingError("the header holds no \(old)") }
        file.replaceSubrange(headerRange, with: Data(header.replacingCharacters(in: range, with: new).utf8))
    }

    /// Lowercase hex SHA-256 of a file, by sha256sum(1).
    public static func sha256(_ url: URL) throws -> String {
        let result = try Run.process(Run.which("sha256sum") ?? "/usr/bin/sha256sum", [url.path], timeout: 60)
        guard result.status == 0, let digest = result.stdout.split(separator: " ").first, digest.count == 64 else {
            throw TamperingError("sha256sum \(url.path) failed: \(result.stderr)")
        }
        return String(digest)
    }

    public struct TamperingError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
