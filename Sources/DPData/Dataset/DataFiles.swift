import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The token files of a run and the tokenizer.json that made them: what `--data` names when it is
/// not a text file.
///
/// - a directory holding train.bin: its train.bin, val.bin and tokenizer.json (`dptrain prepare`);
/// - a directory of llm.c shards: its `*_train_*.bin` and `*_val_*.bin` (FineWeb's
///   `fineweb_train_000001.bin`, …), each split in name order, and its tokenizer.json;
/// - a glob pattern (`*`, `?` or `[`, quoted so that the shell leaves it alone): the matching
///   `.bin` files, `_train_` ones for training and `_val_` ones for validation — when it matches
///   no `_val_` file, the `*_val_*.bin` beside the matches — and the tokenizer.json beside them.
public struct DataFiles: Codable, Sendable, Equatable {
    public let train: [URL]
    /// May be empty (shards without a validation split): then nothing is evaluated.
    public let val: [URL]
    public let tokenizer: URL
    /// For the log: the directory's name, or the pattern's last component (a cache: the text's name).
    public let name: String
    /// Whether these files are dptrain's token cache of a text file (OUT/cache/…), which dptrain
    /// can rebuild, rather than the user's own.
    public let isCache: Bool

    public init(train: [URL], val: [URL], tokenizer: URL, name: String, isCache: Bool = false) {
        self.train = train
        self.val = val
        self.tokenizer = tokenizer
        self.name = name
        self.isCache = isCache
    }

    /// Whether these are shards (several files per split, or llm.c names) rather than one
    /// prepared train.bin.
    public var isSharded: Bool { train.map(\.lastPathComponent) != ["train.bin"] }

    /// Every file, tokenizer.json first, then train, then val.
    public var all: [URL] { [tokenizer] + train + val }

    /// The files `path` names; nil when `path` is a regular file or something else that is not a
    /// directory or a pattern (a text file to tokenize, or an error for `checkInput` to name).
    public static func find(_ path: String) throws -> DataFiles? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { return nil }
            return try inDirectory(URL(fileURLWithPath: path))
        }
        guard path.contains(where: { "*?[".contains($0) }) else { return nil }
        return try matching(path)
    }

    private static func inDirectory(_ dir: URL) throws -> DataFiles {
        let prepared = dir.appendingPathComponent("train.bin")
        if FileManager.default.fileExists(atPath: prepared.path) {
            return DataFiles(train: [prepared], val: [dir.appendingPathComponent("val.bin")],
                             tokenizer: dir.appendingPathComponent("tokenizer.json"), name: dir.lastPathComponent)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let train = shards(names, "_train_").map { dir.appendingPathComponent($0) }
        guard !train.isEmpty else {
            throw DataError.io(path: dir.path, reason: "holds neither train.bin nor llm.c shards (*_train_*.bin); --data takes a directory made by `dptrain prepare`, a directory of shards, or a text file")
        }
        return DataFiles(train: train, val: shards(names, "_val_").map { dir.appendingPathComponent($0) },
                         tokenizer: dir.appendingPathComponent("tokenizer.json"), name: dir.lastPathComponent)
    }

    private static func matching(_ pattern: String) throws -> DataFiles {
        var result = glob_t()
        defer { globfree(&result) }
        let status = glob(pattern, 0, nil, &result)
        var paths: [String] = []
        if status == 0 {
            for i in 0..<Int(result.gl_pathc) {
                if let p = result.gl_pathv[i] { paths.append(String(cString: p)) }
            }
        }
        guard !paths.isEmpty else {
            throw DataError.io(path: pattern, reason: "matches no files; --data takes a directory made by `dptrain prepare`, a directory or pattern of llm.c shards (*_train_*.bin), or a text file")
        }
        let names = paths.map { URL(fileURLWithPath: $0).lastPathComponent }
        let byName = Dictionary(zip(names, paths), uniquingKeysWith: { a, _ in a })
        let train = shards(names, "_train_").map { URL(fileURLWithPath: byName[$0]!) }
        guard let first = train.first else {
            throw DataError.io(path: pattern, reason: "matches no llm.c training shards (files named *_train_*.bin)")
        }
        let dir = first.deletingLastPathComponent()
        var val = shards(names, "_val_").map { URL(fileURLWithPath: byName[$0]!) }
        if val.isEmpty {
            let beside = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            val = shards(beside, "_val_").map { dir.appendingPathComponent($0) }
        }
        return DataFiles(train: train, val: val, tokenizer: dir.appendingPathComponent("tokenizer.json"),
                         name: URL(fileURLWithPath: pattern).lastPathComponent)
    }

    /// The `.bin` names holding `marker` (`_train_` or `_val_`), sorted.
    private static func shards(_ names: [String], _ marker: String) -> [String] {
        names.filter { $0.hasSuffix(".bin") && $0.contains(marker) && !$0.hasPrefix(".") }.sorted()
    }
}
