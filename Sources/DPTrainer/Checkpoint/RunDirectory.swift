import DPComm
import Foundation

/// A training run's OUT as rank 0 writes it: checkpoints/, metrics.jsonl, tensorboard/ and
/// config.json (DESIGN.md §3, §5). Only rank 0 holds one; `prepare` returns nil on the others.
public final class RunDirectory {
    public let url: URL
    public let store: CheckpointStore
    /// OUT/.lock, held while this run lives: one writer per OUT.
    public let lock: OutputLock
    /// metrics.jsonl and the TensorBoard events, opened by `openLogs` once the run knows it can go on.
    private(set) var metrics: MetricsLog?
    private(set) var tensorBoard: TensorBoardWriter?

    private init(url: URL, lock: OutputLock) {
        self.url = url
        self.lock = lock
        store = CheckpointStore(directory: url.appendingPathComponent("checkpoints"))
    }

    /// Makes OUT on rank 0 and checks that the run may write there, before any data is cached in
    /// it: it is (or can be made) a writable directory; no other run holds it (`OutputLock`, taken
    /// here and held as long as the returned directory lives); checkpoints/ and tensorboard/ are
    /// directories if they exist, metrics.jsonl and config.json files; and a new run
    /// (`resumingStep` nil) refuses an OUT that holds an earlier run's checkpoints, which its own
    /// saves would prune. Writes nothing but OUT/.lock. Collective: a failure on rank 0 is thrown
    /// on every rank.
    public static func prepare(comm: any Communicator, out: URL, resumingStep: Int?) throws -> RunDirectory? {
        try comm.collectively { () throws -> RunDirectory? in
            guard comm.rank == 0 else { return nil }
            try makeDirectory(out)
            let directory = RunDirectory(url: out, lock: try OutputLock(out: out, hostname: comm.hostname))
            try checkEntries(of: out)
            if resumingStep == nil, !directory.store.list().isEmpty {
                throw ConfigError(
                    "\(out.path) already holds checkpoints of an earlier run; pass --resume to continue it, or choose another --out.")
            }
            return directory
        }
    }

    /// Opens metrics.jsonl — a resumed run keeps its lines up to the checkpoint's step
    /// (`keepingStepsUpTo`), a new run starts it empty — and the TensorBoard event file.
    public func openLogs(keepingStepsUpTo step: Int?, hostname: String) throws {
        metrics = try MetricsLog(url: url.appendingPathComponent("metrics.jsonl"), keepingStepsUpTo: step)
        tensorBoard = try TensorBoardWriter(directory: url.appendingPathComponent("tensorboard"), hostname: hostname)
    }

    /// Writes config.json: the settings the run uses, as `--config` reads them back.
    public func writeConfig(_ config: RunConfig) throws {
        try config.encodedJSON().write(to: url.appendingPathComponent("config.json"), options: .atomic)
    }

    /// What OUT's entries must be, when they exist: one sentence for the first that is not.
    private static func checkEntries(of out: URL) throws {
        let expected: [(name: String, directory: Bool, holds: String)] = [
            ("checkpoints", true, "its checkpoints"), ("tensorboard", true, "its TensorBoard events"),
            ("cache", true, "its token cache"), ("metrics.jsonl", false, "its metrics"), ("config.json", false, "its settings"),
        ]
        for entry in expected {
            let path = out.appendingPathComponent(entry.name).path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue != entry.directory else { continue }
            throw ConfigError("\(path) is a \(entry.directory ? "file" : "directory"), but dptrain writes \(entry.holds) there as a \(entry.directory ? "directory" : "file"); move it away, or choose another --out.")
        }
    }

    /// mkdir -p with a reason a user can act on (Foundation's error for this names none).
    private static func makeDirectory(_ out: URL) throws {
        var path = out.path.hasPrefix("/") ? "" : "."
        for component in out.path.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw ConfigError("--out \(out.path) cannot be created: mkdir \(path): \(String(cString: strerror(errno))).")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError("--out \(out.path) is a file, not a directory.")
        }
        guard FileManager.default.isWritableFile(atPath: out.path) else {
            throw ConfigError("--out \(out.path) is not writable.")
        }
    }
}
