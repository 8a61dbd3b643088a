import Foundation
import Testing
@testable import DPTrainer

/// A fresh directory under the system temp dir, removed when `body` returns.
private func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-ckpt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// The files of a small checkpoint whose values depend on `step`, so checkpoints differ.
private func checkpointFiles(step: Int) -> [String: Data] {
    let w = (0..<6).map { Float($0 + step) * 0.5 }
    return [
        "model.safetensors": encodeSafetensors([("w", [2, 3], w)], metadata: ["config": #"{"C":3}"#]),
        "optimizer.safetensors": encodeSafetensors([("m.w", [2, 3], w.map { -$0 }), ("v.w", [2, 3], w.map { $0 * $0 })]),
    ]
}

private func state(step: Int) -> Data {
    Data(#"{"step": \#(step), "tokens": \#(step * 64), "rng": 18446744073709551615, "lr": 0.0003, "note": "a/b"}"#.utf8)
}

private func latest(_ store: CheckpointStore) throws -> String {
    try String(contentsOf: store.directory.appendingPathComponent("LATEST"), encoding: .utf8)
}

private func entries(_ url: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
}

@Suite struct CheckpointStoreTests {
    @Test func sha256IsTheStandardDigest() {
        // FIPS 180-2 test vector for "abc".
        #expect(CheckpointStore.sha256Hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func directoryNames() {
        #expect(CheckpointStore.directoryName(step: 200) == "step-00000200")
        #expect(CheckpointStore.directoryName(step: 123_456_789) == "step-123456789")
        #expect(CheckpointStore.step(fromDirectoryName: "step-00000200") == 200)
        #expect(CheckpointStore.step(fromDirectoryName: "step-123456789") == 123_456_789)
        #expect(CheckpointStore.step(fromDirectoryName: "step-200") == nil)
        #expect(CheckpointStore.step(fromDirectoryName: ".tmp-step-00000200") == nil)
    }

    @Test func saveThenLoadRoundTrips() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root.appendingPathComponent("out/checkpoints"))
            let files = checkpointFiles(step: 10)
            let url = try store.save(step: 10, files: files, state: state(step: 10), keep: 3)

            #expect(url.lastPathComponent == "step-00000010")
            #expect(entries(url) == ["model.safetensors", "optimizer.safetensors", "state.json"])
            #expect(try latest(store) == "step-00000010\n")
            #expect(entries(store.directory) == ["LATEST", "step-00000010"], "no temporaries left behind")

            let loaded = try store.load(url)
            #expect(loaded.step == 10)
            #expect(loaded.files == files)
            let json = try #require(try JSONSerialization.jsonObject(with: loaded.state) as? [String: Any])
            #expect(json["tokens"] as? Int == 640)
            #expect((json["rng"] as? NSNumber)?.uint64Value == UInt64.max, "caller's integers survive unchanged")
            #expect(json["lr"] as? Double == 0.0003)
            #expect(json["note"] as? String == "a/b")
            #expect(json["sha256"] as? [String: String] == files.mapValues { CheckpointStore.sha256Hex($0) })
            #expect(try loaded.safetensors("model.safetensors").values("w") == (0..<6).map { Float($0 + 10) * 0.5 })
        }
    }

    @Test func keepPrunesOldCheckpointsAndLatestFollows() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            for step in 1...5 {
                try store.save(step: step * 100, files: checkpointFiles(step: step), state: state(step: step * 100), keep: 2)
                #expect(try latest(store) == CheckpointStore.directoryName(step: step * 100) + "\n")
            }
            #expect(store.list().map(\.lastPathComponent) == ["step-00000400", "step-00000500"])
            #expect(entries(root) == ["LATEST", "step-00000400", "step-00000500"])
            let newest = try #require(try store.loadLatest())
            #expect(newest.checkpoint.step == 500)
            #expect(newest.skipped.isEmpty)
        }
    }

    @Test func savingAnEarlierStepSupersedesLaterCheckpoints() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            for step in [10, 20, 30] {
                try store.save(step: step, files: checkpointFiles(step: step), state: state(step: step), keep: 5)
            }
            // Resumed from step 10, the run writes step 20 again, with other values.
            let replacement = checkpointFiles(step: 99)
            try store.save(step: 20, files: replacement, state: state(step: 20), keep: 5)
            #expect(store.list().map(\.lastPathComponent) == ["step-00000010", "step-00000020"])
            #expect(try latest(store) == "step-00000020\n")
            #expect(try store.load(root.appendingPathComponent("step-00000020")).files == replacement)
            #expect(entries(root) == ["LATEST", "step-00000010", "step-00000020"])
        }
    }

    @Test func staleTemporariesAreRemovedOnSave() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            try store.save(step: 1, files: checkpointFiles(step: 1), state: state(step: 1), keep: 2)
            // What a crashed save leaves: a partial temporary checkpoint and a temporary LATEST.
            let stale = root.appendingPathComponent(".tmp-step-00000002")
            try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: false)
            try Data("partial".utf8).write(to: stale.appendingPathComponent("model.safetensors"))
            try Data("step-00000002\n".utf8).write(to: root.appendingPathComponent(".tmp-LATEST"))
            #expect(try store.loadLatest()?.checkpoint.step == 1, "temporaries are invisible to readers")

            try store.save(step: 3, files: checkpointFiles(step: 3), state: state(step: 3), keep: 2)
            #expect(entries(root) == ["LATEST", "step-00000001", "step-00000003"])
        }
    }

    @Test func stateMustBeAJSONObject() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            for bad in ["[1, 2]", "not json", ""] {
                #expect {
                    try store.save(step: 1, files: checkpointFiles(step: 1), state: Data(bad.utf8), keep: 1)
                } throws: { ($0 as? CheckpointError)?.kind == .invalidArgument }
            }
            #expect(store.list().isEmpty)
        }
    }

    @Test func emptyOrAbsentStoreHasNoLatest() throws {
        try withTemporaryDirectory { (root: URL) throws in
            #expect(try CheckpointStore(directory: root.appendingPathComponent("nope")).loadLatest() == nil)
            #expect(try CheckpointStore(directory: root).loadLatest() == nil)
            #expect(CheckpointStore(directory: root).list().isEmpty)
        }
    }

    /// Ways a checkpoint gets damaged, the file an error must name and the kind of error.
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case flippedByte, truncatedFile, missingFile, brokenStateJSON, missingStateJSON, stateWithoutChecksums, stepMismatch

        var testDescription: String { rawValue }

        var file: String {
            switch self {
            case .flippedByte, .missingFile: "model.safetensors"
            case .truncatedFile: "optimizer.safetensors"
            case .brokenStateJSON, .missingStateJSON, .stateWithoutChecksums, .stepMismatch: "state.json"
            }
        }

        var kind: CheckpointError.Kind {
            switch self {
            case .flippedByte, .truncatedFile: .corrupt
            case .missingFile, .missingStateJSON: .missing
            case .brokenStateJSON, .stateWithoutChecksums, .stepMismatch: .malformed
            }
        }

        var phrase: String {
            switch self {
            case .flippedByte, .truncatedFile: "is corrupt or truncated"
            case .missingFile, .missingStateJSON: "is missing"
            case .brokenStateJSON: "is not a valid JSON object"
            case .stateWithoutChecksums: "has no \"sha256\""
            case .stepMismatch: "says step 7 but its directory is step-00000002"
            }
        }

        func apply(to checkpoint: URL) throws {
            let url = checkpoint.appendingPathComponent(file)
            switch self {
            case .flippedByte:
                var data = try Data(contentsOf: url)
                data[data.count - 3] ^= 0x10
                try data.write(to: url)
            case .truncatedFile:
                let data = try Data(contentsOf: url)
                try data.prefix(data.count - 4).write(to: url)
            case .missingFile, .missingStateJSON:
                try FileManager.default.removeItem(at: url)
            case .brokenStateJSON:
                let data = try Data(contentsOf: url)
                try data.prefix(data.count / 2).write(to: url)
            case .stateWithoutChecksums:
                try Data(#"{"step": 2}"#.utf8).write(to: url)
            case .stepMismatch:
                var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
                json["step"] = 7
                try JSONSerialization.data(withJSONObject: json).write(to: url)
            }
        }
    }

    @Test(arguments: Damage.allCases)
    func damagedCheckpointFailsExplicitlyAndIsSkippedByLoadLatest(_ damage: Damage) throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            try store.save(step: 1, files: checkpointFiles(step: 1), state: state(step: 1), keep: 3)
            let second = try store.save(step: 2, files: checkpointFiles(step: 2), state: state(step: 2), keep: 3)
            try damage.apply(to: second)

            // Explicit path: a clear error naming the file.
            do {
                _ = try store.load(second)
                Issue.record("loading a checkpoint with \(damage) succeeded")
            } catch let error as CheckpointError {
                #expect(error.kind == damage.kind)
                #expect(error.path == second.appendingPathComponent(damage.file).path)
                #expect(error.description.contains("step-00000002/\(damage.file) \(damage.phrase)"), "got: \(error)")
            }

            // Latest: falls back to step 1 and says why step 2 was skipped.
            let result = try #require(try store.loadLatest())
            #expect(result.checkpoint.step == 1)
            #expect(result.checkpoint.files == checkpointFiles(step: 1))
            #expect(result.skipped.count == 1)
            #expect(result.skipped.first?.hasPrefix("skipped step-00000002 (named by LATEST): ") == true)
            #expect(result.skipped.first?.contains(damage.file) == true, "\(result.skipped)")
        }
    }

    @Test func noValidCheckpointThrowsWithEveryReason() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            let only = try store.save(step: 5, files: checkpointFiles(step: 5), state: state(step: 5), keep: 1)
            try Damage.flippedByte.apply(to: only)
            do {
                _ = try store.loadLatest()
                Issue.record("loadLatest accepted a corrupt checkpoint")
            } catch let error as CheckpointError {
                #expect(error.kind == .noValidCheckpoint)
                #expect(error.description.contains("step-00000005/model.safetensors is corrupt"), "got: \(error)")
            }
        }
    }

    @Test(arguments: [nil, "garbage\n", "step-00000009\n", "../step-00000001"])
    func brokenLatestFallsBackToNewestValidCheckpoint(_ content: String?) throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            try store.save(step: 1, files: checkpointFiles(step: 1), state: state(step: 1), keep: 3)
            try store.save(step: 2, files: checkpointFiles(step: 2), state: state(step: 2), keep: 3)
            let latestURL = root.appendingPathComponent("LATEST")
            if let content { try Data(content.utf8).write(to: latestURL) } else { try FileManager.default.removeItem(at: latestURL) }

            let result = try #require(try store.loadLatest())
            #expect(result.checkpoint.step == 2)
            #expect(result.skipped.count == 1)
            #expect(result.skipped.first?.contains("LATEST") == true, "\(result.skipped)")
        }
    }

    @Test func resolveAcceptsCheckpointCheckpointsAndOutputDirectories() throws {
        try withTemporaryDirectory { root in
            let out = root.appendingPathComponent("out")
            let store = CheckpointStore(directory: out.appendingPathComponent("checkpoints"))
            let first = try store.save(step: 1, files: checkpointFiles(step: 1), state: state(step: 1), keep: 3)
            let second = try store.save(step: 2, files: checkpointFiles(step: 2), state: state(step: 2), keep: 3)

            #expect(try CheckpointStore.resolve(first) == first)
            #expect(try CheckpointStore.resolve(store.directory) == second)
            #expect(try CheckpointStore.resolve(out) == second)

            #expect { try CheckpointStore.resolve(root) } throws: { ($0 as? CheckpointError)?.kind == .notACheckpoint }
            #expect { try CheckpointStore.resolve(root.appendingPathComponent("absent")) } throws: { ($0 as? CheckpointError)?.kind == .missing }
            try Data("junk".utf8).write(to: store.directory.appendingPathComponent("LATEST"))
            #expect { try CheckpointStore.resolve(out) } throws: { error in
                let error = error as? CheckpointError
                return error?.kind == .malformed && error?.path.hasSuffix("checkpoints/LATEST") == true
            }
        }
    }

    @Test(arguments: [
        ("crash-in-checkpoint", true), ("Crash-In-Checkpoint", false), (" crash-in-checkpoint", false),
        ("crash-in-checkpoint\n", false), ("crash", false), ("1", false), ("", false),
    ])
    func faultIsArmedOnlyByItsExactName(_ value: String, _ armed: Bool) {
        #expect(TestFault.crashInCheckpoint.isArmed(in: ["DPTRAIN_FAULT": value]) == armed)
        #expect(!TestFault.crashInCheckpoint.isArmed(in: ["OTHER": "crash-in-checkpoint"]))
    }
    /// The environment variable that turns `crashingSaveChild` on, naming the checkpoints directory.
    static let crashDirectoryVariable = "DPTRAIN_CKPT_CRASH_DIR"

    /// Runs only in the child process of `crashDuringSaveLeavesLatestIntact`: saves step 2 with
    /// DPTRAIN_FAULT=crash-in-checkpoint set, which must end the process inside `save`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[crashDirectoryVariable] != nil,
                   "helper of crashDuringSaveLeavesLatestIntact; runs only in the child process it spawns"))
    func crashingSaveChild() throws {
        let directory = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment[Self.crashDirectoryVariable]))
        try CheckpointStore(directory: directory).save(step: 2, files: checkpointFiles(step: 2), state: state(step: 2), keep: 3)
        Issue.record("save returned although the crash-in-checkpoint fault was armed")
    }

    #if os(Linux)
    /// Replacing an existing step directory relies on renameat2(RENAME_EXCHANGE), looked up at run time.
    @Test func exchangeSwapsTwoDirectoriesAtomically() throws {
        try withTemporaryDirectory { root in
            let a = root.appendingPathComponent("a"), b = root.appendingPathComponent("b")
            for (dir, content) in [(a, "A"), (b, "B")] {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
                try Data(content.utf8).write(to: dir.appendingPathComponent("f"))
            }
            #expect(try FileSystem.exchange(a, b))
            #expect(try String(contentsOf: a.appendingPathComponent("f"), encoding: .utf8) == "B")
            #expect(try String(contentsOf: b.appendingPathComponent("f"), encoding: .utf8) == "A")
            #expect { _ = try FileSystem.exchange(a, root.appendingPathComponent("absent")) } throws: {
                ($0 as? CheckpointError)?.kind == .io
            }
        }
    }
    #endif

    #if os(Linux)
    /// Spawns this test binary to run `crashingSaveChild`, which dies in the middle of a save;
    /// LATEST must still name the complete step 1, and the next save must clear the debris.
    @Test func crashDuringSaveLeavesLatestIntact() throws {
        try withTemporaryDirectory { root in
            let store = CheckpointStore(directory: root)
            try store.save(step: 1, files: checkpointFiles(step: 1), state: state(step: 1), keep: 3)

            let child = Process()
            child.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            child.arguments = ["--testing-library", "swift-testing", "--filter", "crashingSaveChild"]
            var environment = ProcessInfo.processInfo.environment
            environment[TestFault.environmentVariable] = TestFault.crashInCheckpoint.rawValue
            environment[Self.crashDirectoryVariable] = root.path
            child.environment = environment
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            child.waitUntilExit()
            #expect(child.terminationReason == .exit)
            #expect(child.terminationStatus == TestFault.exitStatus, "the child must die in save, not finish")

            // Some but not all files were written, LATEST and the checkpoint list are untouched.
            #expect(entries(root.appendingPathComponent(".tmp-step-00000002")) == ["model.safetensors"])
            #expect(try latest(store) == "step-00000001\n")
            #expect(store.list().map(\.lastPathComponent) == ["step-00000001"])
            let result = try #require(try store.loadLatest())
            #expect(result.checkpoint.step == 1)
            #expect(result.skipped.isEmpty)

            try store.save(step: 2, files: checkpointFiles(step: 2), state: state(step: 2), keep: 3)
            #expect(entries(root) == ["LATEST", "step-00000001", "step-00000002"])
        }
    }
    #endif
}
