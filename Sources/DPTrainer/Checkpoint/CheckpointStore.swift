import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The checkpoints of one training run: OUT/checkpoints/step-%08d/ directories and the LATEST file
/// naming the newest complete one (DESIGN.md §3).
///
///     checkpoints/step-00000200/model.safetensors
///                              /optimizer.safetensors
///                              /state.json            caller's state + "sha256": {file: hex}
///     checkpoints/LATEST                              "step-00000200\n"
///
/// Writes are crash-safe: a checkpoint is built in `.tmp-step-…`, every file and the directory
/// fsync'd, renamed into place, the parent fsync'd, and only then LATEST replaced (write a temp
/// file, fsync, rename, fsync). A crash at any moment leaves LATEST naming a complete checkpoint;
/// what a crash leaves behind (`.tmp-*`) is removed by the next save.
///
/// The store does what it is told: only rank 0 should call `save` (the caller ensures this).
/// It never prints; problems are thrown as `CheckpointError`, fallbacks returned as notes.
public struct CheckpointStore: Sendable {
    /// OUT/checkpoints; created on the first save.
    public let directory: URL

    public static let latestFileName = "LATEST"
    public static let stateFileName = "state.json"
    /// Names starting with this are work in progress or leftovers of a crash; `save` removes them.
    static let temporaryPrefix = ".tmp-"

    public init(directory: URL) {
        self.directory = URL(fileURLWithPath: directory.standardizedFileURL.path, isDirectory: true)
    }

    /// "step-%08d": the directory name of the checkpoint after `step` updates.
    public static func directoryName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The step of a directory named "step-" followed by at least 8 digits, else nil.
    static func step(fromDirectoryName name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        let digits = name.dropFirst(5)
        guard digits.count >= 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// Writes `files` (e.g. "model.safetensors", "optimizer.safetensors") and state.json into
    /// step-%08d atomically, points LATEST at it, then prunes.
    ///
    /// `state` must be a JSON object; the store adds (or overwrites) its key "sha256":
    /// {"model.safetensors": hex, …} before writing it as state.json (keys sorted, pretty-printed).
    /// If step-%08d already exists (training resumed from an older checkpoint), it is replaced
    /// atomically where the system allows (Linux renameat2 exchange).
    ///
    /// Pruning keeps the newest `keep` checkpoints up to `step` and deletes the rest, and also
    /// deletes checkpoints *after* `step`: those belong to a run that was resumed from an earlier
    /// point, and LATEST no longer leads to them. Those go before LATEST moves (so a checkpoint
    /// newer than the one LATEST names is always one whose save ended early), the old ones after.
    /// Deletion renames a directory to `.tmp-…` first, so a crash or a reader never meets a
    /// half-deleted `step-*`.
    ///
    /// - Returns: the new checkpoint directory.
    /// - Throws: `CheckpointError` (.invalidArgument if `state` is not a JSON object, .io if a
    ///   system call fails). File names must be plain names other than state.json and LATEST.
    @discardableResult
    public func save(step: Int, files: [String: Data], state: Data, keep: Int) throws -> URL {
        precondition(step >= 0, "checkpoint step must be non-negative, got \(step)")
        precondition(keep >= 1, "keep must be at least 1 (the checkpoint just written), got \(keep)")
        for name in files.keys {
            precondition(Self.isPlainFileName(name) && name != Self.stateFileName && name != Self.latestFileName,
                         "checkpoint file name \"\(name)\" must be a plain name other than state.json and LATEST")
        }
        let stateJSON = try Self.stateWithChecksums(state, files: files)

        if !FileManager.default.fileExists(atPath: directory.path) {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw CheckpointError(.io, path: directory.path, "could not be created: \(error.localizedDescription)")
            }
            try FileSystem.syncDirectory(directory.deletingLastPathComponent())
        }
        try removeTemporaries()

        let name = Self.directoryName(step: step)
        let temporary = directory.appendingPathComponent(Self.temporaryPrefix + name, isDirectory: true)
        let final = directory.appendingPathComponent(name, isDirectory: true)
        guard mkdir(temporary.path, 0o755) == 0 else { throw FileSystem.failure("mkdir", temporary.path) }
        let toWrite = files.sorted { $0.key < $1.key } + [(key: Self.stateFileName, value: stateJSON)]
        for (index, (fileName, data)) in toWrite.enumerated() {
            try FileSystem.writeDurably(data, to: temporary.appendingPathComponent(fileName))
            if index == 0 { TestFault.crashInCheckpoint.crashIfArmed() }
        }
        try FileSystem.syncDirectory(temporary)

        if FileManager.default.fileExists(atPath: final.path) {
            try replace(final, with: temporary)
        } else {
            try FileSystem.rename(temporary, to: final)
        }
        try FileSystem.syncDirectory(directory)

        // Later checkpoints of an abandoned run go before LATEST moves, so that a checkpoint newer
        // than the one LATEST names is always one whose save ended early (`loadLatest` takes it).
        try prune(checkpoints(after: step))
        try writeLatest(name)
        try prune(stepDirectories().filter { $0.step <= step }.dropLast(keep).map { $0 })
        return final
    }

    /// Replaces the existing checkpoint directory `final` by `temporary`: an atomic exchange
    /// where available, else move aside + rename (a crash in between leaves LATEST dangling until
    /// `loadLatest` falls back). The old directory ends under a `.tmp-` name and is deleted.
    private func replace(_ final: URL, with temporary: URL) throws {
        if try FileSystem.exchange(temporary, final) {
            try FileSystem.syncDirectory(directory)
            try remove(temporary)
            return
        }
        let aside = directory.appendingPathComponent(Self.temporaryPrefix + "replaced-" + final.lastPathComponent)
        try FileSystem.rename(final, to: aside)
        try FileSystem.rename(temporary, to: final)
        try remove(aside)
    }

    /// Writes LATEST = `name` via a temporary file, fsync and rename, then fsyncs the directory.
    private func writeLatest(_ name: String) throws {
        let temporary = directory.appendingPathComponent(Self.temporaryPrefix + Self.latestFileName)
        try FileSystem.writeDurably(Data((name + "\n").utf8), to: temporary)
        try FileSystem.rename(temporary, to: directory.appendingPathComponent(Self.latestFileName))
        try FileSystem.syncDirectory(directory)
    }

    /// The step-* directories after `step`.
    private func checkpoints(after step: Int) -> [(step: Int, url: URL)] {
        stepDirectories().filter { $0.step > step }
    }

    /// Deletes `doomed`: each is renamed to `.tmp-deleted-…` first (so a reader or a crash never
    /// meets a half-deleted step-*), the directory fsync'd, then the renamed ones removed.
    private func prune(_ doomed: [(step: Int, url: URL)]) throws {
        guard !doomed.isEmpty else { return }
        for checkpoint in doomed {
            let aside = directory.appendingPathComponent(Self.temporaryPrefix + "deleted-" + checkpoint.url.lastPathComponent)
            try FileSystem.rename(checkpoint.url, to: aside)
        }
        try FileSystem.syncDirectory(directory)
        try removeTemporaries()
    }

    /// Removes every `.tmp-*` entry: leftovers of a crashed save or of an interrupted deletion.
    private func removeTemporaries() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name.hasPrefix(Self.temporaryPrefix) {
            try remove(directory.appendingPathComponent(name))
        }
    }

    private func remove(_ url: URL) throws {
        do {
            try FileManager.default.removeItem(at: url)
        } catch {
            throw CheckpointError(.io, path: url.path, "could not be removed: \(error.localizedDescription)")
        }
    }

    /// All step-* directories, complete or not, oldest first.
    func stepDirectories() -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name in
            guard let step = Self.step(fromDirectoryName: name) else { return nil }
            var isDirectory: ObjCBool = false
            let url = directory.appendingPathComponent(name, isDirectory: true)
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
            return (step, url)
        }.sorted { $0.step < $1.step }
    }

    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.hasPrefix(temporaryPrefix)
    }

    /// `state` with "sha256": {file name: lowercase hex SHA-256 of its bytes} added.
    static func stateWithChecksums(_ state: Data, files: [String: Data]) throws -> Data {
        guard var object = (try? JSONSerialization.jsonObject(with: state)) as? [String: Any] else {
            throw CheckpointError(.invalidArgument, path: stateFileName, "to be written must be a JSON object, but the state passed to save is not")
        }
        object["sha256"] = files.mapValues { sha256Hex($0) }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }

    /// Lowercase hex SHA-256 (swift-crypto).
    static func sha256Hex(_ data: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: data) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 15)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
