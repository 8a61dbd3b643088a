import Foundation

extension CheckpointStore {
    /// Complete checkpoints (step-* directories holding state.json), oldest first. Not verified.
    public func list() -> [URL] {
        stepDirectories()
            .filter { FileManager.default.fileExists(atPath: $0.url.appendingPathComponent(Self.stateFileName).path) }
            .map(\.url)
    }

    /// Loads and verifies one checkpoint directory (any, not only one of this store's): state.json is a JSON object with a "sha256"
    /// object, and every file it names exists and has that digest.
    ///
    /// - Throws: `CheckpointError` naming the first file at fault: .missing (directory, state.json
    ///   or a listed file), .malformed (state.json unreadable, no "sha256", a step that contradicts
    ///   the directory name), .corrupt (digest mismatch: a flipped byte or a truncated file).
    public func load(_ checkpoint: URL) throws -> LoadedCheckpoint {
        let checkpoint = URL(fileURLWithPath: checkpoint.standardizedFileURL.path, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: checkpoint.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(.missing, path: checkpoint.path, "does not exist or is not a directory")
        }
        let stateURL = checkpoint.appendingPathComponent(Self.stateFileName)
        let state = try Self.read(stateURL, what: "the checkpoint is incomplete")
        guard let object = (try? JSONSerialization.jsonObject(with: state)) as? [String: Any] else {
            throw CheckpointError(.malformed, path: stateURL.path, "is not a valid JSON object")
        }
        guard let digests = object["sha256"] as? [String: String], !digests.isEmpty else {
            throw CheckpointError(.malformed, path: stateURL.path, "has no \"sha256\" object mapping file names to digests")
        }

        let directoryStep = Self.step(fromDirectoryName: checkpoint.lastPathComponent)
        let stateStep = (object["step"] as? NSNumber).flatMap { Int(exactly: $0.doubleValue) }
        if let directoryStep, let stateStep, directoryStep != stateStep {
            throw CheckpointError(.malformed, path: stateURL.path, "says step \(stateStep) but its directory is \(checkpoint.lastPathComponent)")
        }
        guard let step = stateStep ?? directoryStep else {
            throw CheckpointError(.malformed, path: stateURL.path, "has no \"step\" and its directory is not named step-NNNNNNNN")
        }

        var files: [String: Data] = [:]
        for (name, expected) in digests.sorted(by: { $0.key < $1.key }) {
            guard Self.isPlainFileName(name) else {
                throw CheckpointError(.malformed, path: stateURL.path, "lists \"\(name)\", which is not a plain file name")
            }
            let url = checkpoint.appendingPathComponent(name)
            let data = try Self.read(url, what: "state.json lists it")
            let actual = Self.sha256Hex(data)
            guard actual == expected.lowercased() else {
                throw CheckpointError(.corrupt, path: url.path,
                                      "is corrupt or truncated: its sha256 is \(actual) (\(data.count) bytes), state.json records \(expected)")
            }
            files[name] = data
        }
        return LoadedCheckpoint(directory: checkpoint, step: step, files: files, state: state)
    }

    /// The newest usable checkpoint: the newest step-* directory that verifies (`load`) and that
    /// `use` accepts (e.g. decodes: `Restore.init`), with one note per checkpoint passed over and
    /// per LATEST problem, e.g. "skipped step-00000400 (named by LATEST): …/model.safetensors is
    /// corrupt or truncated: …". LATEST is not trusted blindly: a checkpoint newer than the one it
    /// names is complete once it is in place under its step-* name (a save renames it there before
    /// it updates LATEST, and deletes any later checkpoints of an abandoned run before that), so it
    /// is taken, with a note saying so.
    ///
    /// - Returns: nil if there is no checkpoint at all (no LATEST, no step-* directory).
    /// - Throws: `CheckpointError` (.noValidCheckpoint) if some exist but none is usable; its
    ///   problem lists every reason.
    public func loadLatest<T>(using use: (LoadedCheckpoint) throws -> T) throws -> (checkpoint: T, skipped: [String])? {
        let latestURL = directory.appendingPathComponent(Self.latestFileName)
        let hasLatest = FileManager.default.fileExists(atPath: latestURL.path)
        let candidates = stepDirectories().reversed()      // newest first
        if !hasLatest && candidates.isEmpty { return nil }

        var skipped: [String] = []
        var named: String? = nil
        if hasLatest {
            do {
                named = try Self.readLatest(in: directory)
            } catch {
                skipped.append("ignored LATEST: \(error)")
            }
        } else {
            skipped.append("ignored LATEST: \(latestURL.path) is missing")
        }
        if let named, !candidates.contains(where: { $0.url.lastPathComponent == named }) {
            skipped.append("skipped \(named) (named by LATEST): \(directory.appendingPathComponent(named).path) does not exist or is not a directory")
        }
        for candidate in candidates {
            let name = candidate.url.lastPathComponent
            do {
                let value = try use(try load(candidate.url))
                if let named, named != name, let namedStep = Self.step(fromDirectoryName: named), namedStep < candidate.step {
                    skipped.append("LATEST names \(named), but \(name) is newer and verifies (its save ended before LATEST was updated); taking \(name)")
                }
                return (value, skipped)
            } catch {
                skipped.append("skipped \(name)\(name == named ? " (named by LATEST)" : ""): \(error)")
            }
        }
        throw CheckpointError(.noValidCheckpoint, path: directory.path,
                              "holds no checkpoint that verifies: \(skipped.joined(separator: "; "))")
    }

    /// `loadLatest(using:)` accepting every checkpoint that verifies.
    public func loadLatest() throws -> (checkpoint: LoadedCheckpoint, skipped: [String])? {
        try loadLatest { $0 }
    }

    /// The names of the step-* directories after `step`, oldest first.
    public func names(after step: Int) -> [String] {
        stepDirectories().filter { $0.step > step }.map(\.url.lastPathComponent)
    }

    /// `load(directory)`, where `directory` is what `resolve(path)` returned. When `path` led there
    /// through LATEST and a run writing into the same OUT pruned or replaced the checkpoint in
    /// between (it saved newer ones and deleted this one), LATEST is read again and the checkpoint
    /// it names now is loaded instead, up to five times: a reader beside a live run never mistakes
    /// a pruned checkpoint for damage. A file that stays missing is reported as missing.
    public func loadRetryingPrune(_ directory: URL, resolvedFrom path: URL) throws -> LoadedCheckpoint {
        var directory = directory
        for _ in 0..<5 {
            do {
                return try load(directory)
            } catch let error as CheckpointError where error.kind == .missing {
                // The same name again is a checkpoint replaced in place (resumed from an earlier step).
                guard let again = try? Self.resolve(path) else { throw error }
                directory = again
            }
        }
        return try load(directory)
    }

    /// Resolves a checkpoint path given by a user (e.g. `--resume PATH`) to a checkpoint directory:
    ///
    /// 1. a checkpoint directory (holding state.json, or named step-NNNNNNNN): itself;
    /// 2. a checkpoints directory (holding LATEST): the directory LATEST names;
    /// 3. an output directory (holding checkpoints/): the directory checkpoints/LATEST names.
    ///
    /// The result is not verified: pass it to `load(_:)`, which fails with a message naming the
    /// file at fault. An explicit path never falls back to an older checkpoint.
    /// - Throws: `CheckpointError`: .missing if `path` does not exist, .malformed if LATEST is
    ///   unreadable, .notACheckpoint if `path` is none of the above.
    public static func resolve(_ path: URL) throws -> URL {
        let path = URL(fileURLWithPath: path.standardizedFileURL.path, isDirectory: true)
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw CheckpointError(.missing, path: path.path, "does not exist")
        }
        guard isDirectory.boolValue else {
            throw CheckpointError(.notACheckpoint, path: path.path, "is a file, not a checkpoint directory")
        }
        if step(fromDirectoryName: path.lastPathComponent) != nil
            || manager.fileExists(atPath: path.appendingPathComponent(stateFileName).path) {
            return path
        }
        if manager.fileExists(atPath: path.appendingPathComponent(latestFileName).path) {
            return path.appendingPathComponent(try readLatest(in: path), isDirectory: true)
        }
        let checkpoints = path.appendingPathComponent("checkpoints", isDirectory: true)
        if manager.fileExists(atPath: checkpoints.appendingPathComponent(latestFileName).path) {
            return checkpoints.appendingPathComponent(try readLatest(in: checkpoints), isDirectory: true)
        }
        throw CheckpointError(.notACheckpoint, path: path.path,
                              "is not a checkpoint (no state.json), nor a directory with LATEST or checkpoints/LATEST")
    }

    /// The checkpoint directory name in `directory`/LATEST (surrounding whitespace ignored).
    static func readLatest(in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(latestFileName)
        let data = try read(url, what: "no checkpoint was completed")
        let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard step(fromDirectoryName: name) != nil else {
            throw CheckpointError(.malformed, path: url.path, "holds \"\(name.prefix(40))\", not a checkpoint directory name like step-00000200")
        }
        return name
    }

    /// The bytes of `url`; .missing (with `what` as the consequence) if absent, .io otherwise.
    static func read(_ url: URL, what: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CheckpointError(.missing, path: url.path, "is missing (\(what))")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw CheckpointError(.io, path: url.path, "could not be read: \(error.localizedDescription)")
        }
    }
}
