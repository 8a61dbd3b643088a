import DPTestSupport
import Foundation
import Testing

/// Issue 7: every bad input ends the whole job fast with one line a user can act on.
///
/// Each case runs `mpirun -n 2 dptrain …` and expects: a non-zero exit; exactly one line on
/// standard error from dptrain (lines starting "dptrain:", the prefix of every dptrain report,
/// swift-argument-parser's included; mpirun's banners, blank lines and usage lines are not counted), holding the phrase given; every rank gone within 10 s (mpirun returns only when
/// all ranks have ended); and nothing in OUT but logs and the token cache — no checkpoint.
///
/// A case marked `knownIssue` shows a bug not fixed yet: its checks run inside `withKnownIssue`,
/// which fails once the bug is fixed, so that the mark is removed then.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        /// dptrain's arguments (the subcommand first), given the case's scratch files.
        let arguments: @Sendable (Files) throws -> [String]
        /// A phrase dptrain's one line must hold; nil when mpirun itself must fail before dptrain starts.
        let says: String?
        /// mpirun options before the executable, besides -n 2.
        var launcher: @Sendable (Files) throws -> [String] = { _ in [] }
        /// Why the case fails today, when it does.
        var knownIssue: String? = nil
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // Data
        Case(name: "missing data file", arguments: { ["train", "--data", $0.path("missing.txt")] }, says: "missing.txt: no such file"),
        Case(name: "empty data file", arguments: { ["train", "--data", try $0.write("empty.txt", Data())] }, says: "empty.txt: is empty"),
        Case(name: "binary data file", arguments: { ["train", "--data", try $0.write("bytes.bin", Data([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28] + Array(repeating: 0x9f, count: 500)))] }, says: "is not UTF-8 text"),
        Case(name: "FIFO as data", arguments: { ["train", "--data", try $0.fifo("pipe")] }, says: "pipe: is a FIFO (a named pipe), not a regular file"),
        Case(name: "/dev/zero as data", arguments: { _ in ["train", "--data", "/dev/zero"] }, says: "/dev/zero: is a device, not a regular file"),
        Case(name: "prepare with --shard-tokens 0", arguments: { ["prepare", try $0.write("small.txt", Data("hello world\n".utf8)), "--tokenizer", "char", "--out", $0.path("prepared-zero"), "--shard-tokens", "0"] }, says: "--shard-tokens must be between 1 and"),
        Case(name: "data directory without token files", arguments: { ["train", "--data", try $0.directory("nothing")] }, says: "holds neither train.bin nor llm.c shards (*_train_*.bin)"),
        Case(name: "data too short for one batch per rank", arguments: { ["train", "--data", try $0.write("short.txt", Data("hello world, hello\n".utf8))] }, says: "fewer than the 8 rows (2 × 4)"),
        Case(name: "token file with bad magic", arguments: { ["train", "--data", try $0.prepared { train, _ in train.overwrite(at: 0, int32: 1234) }] }, says: "has magic number 1234"),
        Case(name: "token file with bad version", arguments: { ["train", "--data", try $0.prepared { train, _ in train.overwrite(at: 4, int32: 7) }] }, says: "has version 7"),
        Case(name: "truncated token file", arguments: { ["train", "--data", try $0.prepared { train, _ in train.removeLast(3) }] }, says: "truncated or corrupt"),
        Case(name: "token id beyond the vocabulary", arguments: { ["train", "--data", try $0.prepared { _, val in val.overwrite(at: 1024 + 10, uint16: 60000) }] }, says: "is 60000, not below the vocabulary size"),
        Case(name: "prepared directory with another --tokenizer", arguments: { ["train", "--data", try $0.prepared { _, _ in }, "--tokenizer", "byte"] }, says: "was prepared with the char tokenizer"),
        Case(name: "seed preset with --data", arguments: { ["train", "--preset", "seed", "--data", try $0.write("text.txt", Data("hello world".utf8))] }, says: "takes no --data"),
        // Model and training sizes and rates
        Case(name: "heads not dividing dim", arguments: { _ in ["train", "--dim", "16", "--heads", "3"] }, says: "--heads (3) must divide --dim (16)"),
        Case(name: "absurd dim", arguments: { _ in ["train", "--dim", "100000000"] }, says: "--dim must be between 1 and 65536"),
        Case(name: "model too large for memory", arguments: { _ in ["train", "--dim", "8192", "--heads", "8", "--layers", "64"] }, says: "but the host has"),
        Case(name: "zero batch", arguments: { _ in ["train", "--batch", "0"] }, says: "--batch must be between 1 and 65536"),
        Case(name: "negative steps", arguments: { _ in ["train", "--steps=-5"] }, says: "--steps must be at least 1, not -5"),
        Case(name: "negative steps as a separate word", arguments: { _ in ["train", "--steps", "-5"] }, says: "--steps must be at least 1, not -5"),
        Case(name: "negative learning rate", arguments: { _ in ["train", "--lr", "-0.1"] }, says: "--lr must be a positive number"),
        Case(name: "NaN learning rate", arguments: { _ in ["train", "--lr", "nan"] }, says: "--lr must be a positive number"),
        Case(name: "absurd learning rate", arguments: { _ in ["train", "--lr", "1e9"] }, says: "--lr must be a positive number no larger than 1000"),
        Case(name: "infinite clip", arguments: { _ in ["train", "--clip", "inf"] }, says: "--clip must be 0 (off) or a positive norm"),
        Case(name: "vocabulary of one token", arguments: { _ in ["train", "--tokenizer", "bpe", "--vocab-size", "1"] }, says: "--vocab-size must be between 2"),
        Case(name: "zero threads", arguments: { _ in ["train", "--threads", "0"] }, says: "--threads must be between 1 and 1024"),
        // Encoder (issue 12)
        Case(name: "encoder with --loss last", arguments: { _ in ["train", "--architecture", "encoder", "--loss", "last"] }, says: "--architecture encoder predicts masked tokens, not the last one, so it cannot take --loss last; use --loss all."),
        Case(name: "encoder with the seed preset", arguments: { _ in ["train", "--preset", "seed", "--architecture", "encoder"] }, says: "--architecture encoder contradicts the seed preset's decoder"),
        Case(name: "unknown architecture", arguments: { _ in ["train", "--architecture", "bert"] }, says: "'bert' is invalid for '--architecture"),
        Case(name: "fill-mask without [MASK]", arguments: { ["fill-mask", "--checkpoint", try $0.checkpoint(), "--prompt", "to be or not"] }, says: "--prompt holds no [MASK]"),
        Case(name: "fill-mask of a decoder checkpoint", arguments: { ["fill-mask", "--checkpoint", try $0.checkpoint(), "--prompt", "the [MASK]at"] }, says: "holds a decoder, which predicts the next token rather than masked ones"),
        // Output
        Case(name: "--out under a regular file", arguments: { ["train", "--out", try $0.write("file.txt", Data("x".utf8)) + "/out"] }, says: "cannot be created: mkdir"),
        Case(name: "--out naming a regular file", arguments: { ["train", "--out", try $0.write("plain.txt", Data("x".utf8))] }, says: "is a file, not a directory"),
        Case(name: "OUT/checkpoints a file", arguments: { ["train", "--out", try $0.out(file: "checkpoints")] }, says: "checkpoints is a file, but dptrain writes its checkpoints there as a directory"),
        Case(name: "OUT/metrics.jsonl a directory", arguments: { ["train", "--out", try $0.out(directory: "metrics.jsonl")] }, says: "metrics.jsonl is a directory, but dptrain writes its metrics there as a file"),
        Case(name: "OUT/cache a file", arguments: { ["train", "--out", try $0.out(file: "cache")] }, says: "cache is a file, but dptrain writes its token cache there as a directory"),
        Case(name: "a token cache that does not decode", arguments: { ["train", "--out", try $0.outWithBrokenCache()] }, says: "is a token cache that cannot be read"),
        // Names
        Case(name: "unknown preset", arguments: { _ in ["train", "--preset", "llama"] }, says: "'llama' is invalid for '--preset"),
        Case(name: "unknown tokenizer", arguments: { _ in ["train", "--tokenizer", "sentencepiece"] }, says: "'sentencepiece' is invalid for '--tokenizer"),
        Case(name: "unknown sampler", arguments: { _ in ["train", "--sampler", "random"] }, says: "'random' is invalid for '--sampler"),
        Case(name: "unknown optimizer", arguments: { _ in ["train", "--optimizer", "lion"] }, says: "'lion' is invalid for '--optimizer"),
        Case(name: "unknown flag", arguments: { _ in ["train", "--learning-rate", "0.1"] }, says: "Unknown option '--learning-rate'"),
        // Resume
        Case(name: "--resume of a path that does not exist", arguments: { ["train", "--resume", $0.path("nowhere")] }, says: "nowhere does not exist"),
        Case(name: "--resume with no checkpoint in OUT", arguments: { _ in ["train", "--resume"] }, says: "--resume found no checkpoint in"),
        Case(name: "--resume of another model with a contradicting flag", arguments: { ["train", "--resume", try $0.checkpoint(), "--dim", "64"] }, says: "--dim 64 contradicts the checkpoint's 16"),
        Case(name: "--resume with a tokenizer that does not match the checkpoint", arguments: { ["train", "--resume", try $0.checkpoint(), "--tokenizer", "byte"] }, says: "differs from the checkpoint's"),
        Case(name: "--resume with --steps below the checkpoint's step", arguments: { ["train", "--resume", try $0.checkpoint(), "--steps", "1"] }, says: "--steps 1 is below the checkpoint's step 2"),
        Case(name: "--resume of a checkpoint with a transposed tensor", arguments: { ["train", "--resume", try $0.transposedCheckpoint()] }, says: Files.transposedPhrase),
        Case(name: "--resume of a state.json with a value of the wrong type", arguments: { ["train", "--resume", try $0.mistypedCheckpoint()] }, says: "state.json is not a valid dptrain state file: it has \"tokens_seen\" of the wrong type: it must be an integer"),
        Case(name: "--resume of a damaged checkpoint", arguments: { ["train", "--resume", try $0.damagedCheckpoint()] }, says: "is corrupt or truncated"),
        // eval and inspect
        Case(name: "eval of a checkpoint that does not exist", arguments: { ["eval", "--checkpoint", $0.path("nowhere")] }, says: "nowhere does not exist"),
        Case(name: "eval of more batches than the val split holds", arguments: { ["eval", "--checkpoint", try $0.checkpoint(), "--batches", "1000000"] }, says: "asks for more than the val split holds"),
        Case(name: "eval on data with another tokenizer", arguments: { ["eval", "--checkpoint", try $0.checkpoint(), "--data", try $0.write("digits.txt", Data(String(repeating: "0123456789\n", count: 500).utf8))] }, says: "differs from the checkpoint's"),
        Case(name: "eval of a checkpoint with a transposed tensor", arguments: { ["eval", "--checkpoint", try $0.transposedCheckpoint()] }, says: Files.transposedPhrase),
        Case(name: "inspect of a checkpoint with a transposed tensor", arguments: { ["inspect", try $0.transposedCheckpoint()] }, says: Files.transposedPhrase),
        Case(name: "inspect of a state.json with a value of the wrong type", arguments: { ["inspect", try $0.mistypedCheckpoint()] }, says: "has \"tokens_seen\" of the wrong type"),
        Case(name: "sample of a checkpoint with a transposed tensor", arguments: { ["sample", "--checkpoint", try $0.transposedCheckpoint()] }, says: Files.transposedPhrase),
        Case(name: "sample with a negative temperature", arguments: { ["sample", "--checkpoint", try $0.checkpoint(), "--temperature", "-1"] }, says: "--temperature must be a number from 0 (greedy) to 1000000, not -1.0"),
        Case(name: "plot of a folder that does not exist", arguments: { ["plot", $0.path("nowhere")] }, says: "nowhere does not exist"),
        Case(name: "inspect of a damaged checkpoint", arguments: { ["inspect", try $0.damagedCheckpoint()] }, says: "model.safetensors is corrupt or truncated"),
        // The launcher
        Case(name: "hostfile naming a host that does not exist", arguments: { _ in ["train"] }, says: nil,
             launcher: { ["--hostfile", try $0.write("hosts", Data("no-such-host.invalid slots=2\n".utf8))] }),
    ]

    @Test(arguments: cases)
    func failsFastWithOneLineAndNoCheckpoint(_ testCase: Case) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let files = try Files()
        defer { files.remove() }
        let out = files.dir.appendingPathComponent("out")
        var arguments = try testCase.arguments(files)
        if arguments.first == "train" && !arguments.contains("--out") { arguments += ["--out", out.path] }
        let launcher = try testCase.launcher(files)

        let check = {
            let result = try mpirun(launcher, arguments)
            let command = "mpirun -n 2 \(launcher.joined(separator: " ")) dptrain \(arguments.joined(separator: " "))"
            #expect(!result.timedOut, "\(command): still running after 10 s")
            #expect(result.status != 0, "\(command) exited 0: \(result.stdout)")
            let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain:") || $0.hasPrefix("Error:") }
            #expect(!lines.contains { $0.hasPrefix("Error:") }, "one prefix, dptrain's: \(result.stderr)")
            if let says = testCase.says {
                #expect(lines.count == 1 && lines[0].contains(says),
                        "\(command): expected one line saying \"\(says)\", stderr was:\n\(result.stderr)")
            } else {
                #expect(lines.isEmpty && !result.stderr.isEmpty, "\(command): expected the launcher's error alone:\n\(result.stderr)")
            }
            let left = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
            let checkpoints = (try? FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("checkpoints").path)) ?? []
            #expect(Set(left).isSubset(of: ["metrics.jsonl", "cache", "tensorboard", "checkpoints", ".lock"]) && checkpoints.isEmpty,
                    "\(command) left \(left) and checkpoints \(checkpoints) in OUT")
        }
        if let issue = testCase.knownIssue {
            withKnownIssue(Comment(rawValue: issue)) { try check() }
        } else {
            try check()
        }
    }

    /// `mpirun -n 2 [launcher…] dptrain arguments…`, ended after 10 s.
    func mpirun(_ launcher: [String], _ arguments: [String]) throws -> RunResult {
        var environment: [String: String] = [:]
        if getuid() == 0 {
            environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        let mpirun = Run.which("mpirun") ?? "/usr/bin/mpirun"
        return try Run.process(
            mpirun, ["-n", "2", "--oversubscribe", "--bind-to", "none"] + launcher + [Run.product("dptrain")] + arguments,
            environment: environment, timeout: 10)
    }
}

extension BadInputTests {
    /// The scratch folder of one case, and the shared inputs cases derive theirs from.
    struct Files: Sendable {
        let dir: URL

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-bad-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }

        func remove() {
            try? FileManager.default.removeItem(at: dir)
        }

        /// A path in the scratch folder; nothing is created.
        func path(_ name: String) -> String {
            dir.appendingPathComponent(name).path
        }

        /// Writes `data` to `name` and returns its path.
        func write(_ name: String, _ data: Data) throws -> String {
            try data.write(to: dir.appendingPathComponent(name))
            return path(name)
        }

        func directory(_ name: String) throws -> String {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
            return path(name)
        }

        /// A copy of a `dptrain prepare` directory (char tokenizer) with train.bin and val.bin changed by `change`.
        func prepared(_ change: (inout Data, inout Data) -> Void) throws -> String {
            let copy = dir.appendingPathComponent("prepared")
            try FileManager.default.copyItem(at: try Shared.prepared.get(), to: copy)
            var train = try Data(contentsOf: copy.appendingPathComponent("train.bin"))
            var val = try Data(contentsOf: copy.appendingPathComponent("val.bin"))
            change(&train, &val)
            try train.write(to: copy.appendingPathComponent("train.bin"))
            try val.write(to: copy.appendingPathComponent("val.bin"))
            return copy.path
        }

        /// The OUT of a 2-step run of a 1-layer, dim-16 model on the built-in corpus, trained with 2 ranks.
        func checkpoint() throws -> String {
            try Shared.checkpoint.get().path
        }

        /// A copy of that run's last checkpoint directory with one byte of model.safetensors flipped.
        func damagedCheckpoint() throws -> String {
            let copy = dir.appendingPathComponent("step-00000002")
            try FileManager.default.copyItem(at: try Shared.checkpoint.get().appendingPathComponent("checkpoints/step-00000002"), to: copy)
            let file = copy.appendingPathComponent("model.safetensors")
            var bytes = try Data(contentsOf: file)
            bytes[bytes.count - 1] ^= 0x01
            try bytes.write(to: file)
            return copy.path
        }

        /// The case's OUT ("out") holding a file named `name`.
        func out(file name: String) throws -> String {
            let out = dir.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: out.appendingPathComponent(name))
            return out.path
        }

        /// The case's OUT ("out") holding a directory named `name`.
        func out(directory name: String) throws -> String {
            let out = dir.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: out.appendingPathComponent(name), withIntermediateDirectories: true)
            return out.path
        }

        /// The case's OUT ("out") whose token cache of the built-in corpus has a truncated train.bin:
        /// the cache of a 1-step run, made first with one process.
        func outWithBrokenCache() throws -> String {
            let out = dir.appendingPathComponent("out")
            let made = try Run.process(Run.product("dptrain"), ["train", "--layers", "1", "--dim", "16", "--heads", "2", "--context", "8",
                                                                "--steps", "1", "--eval-every", "0", "--out", out.path], timeout: 60)
            guard made.status == 0 else { throw FixtureError("the cache run failed: \(made.stderr)") }
            for name in ["checkpoints", "config.json"] { try FileManager.default.removeItem(at: out.appendingPathComponent(name)) }
            let cache = out.appendingPathComponent("cache")
            guard let folder = try FileManager.default.contentsOfDirectory(atPath: cache.path).first else { throw FixtureError("no cache folder") }
            let train = cache.appendingPathComponent(folder).appendingPathComponent("train.bin")
            try Data(try Data(contentsOf: train).prefix(2000)).write(to: train)
            return out.path
        }

        /// A named pipe (FIFO) in the scratch folder.
        func fifo(_ name: String) throws -> String {
            guard mkfifo(path(name), 0o644) == 0 else { throw FixtureError("mkfifo \(path(name)) failed: errno \(errno)") }
            return path(name)
        }

        /// What the one line says about `transposedCheckpoint()`.
        static let transposedPhrase = "has tensor \"blocks.0.ffn.w1\" of shape [64, 16]; the model needs [16, 64]"

        /// A copy of the last checkpoint whose model.safetensors declares blocks.0.ffn.w1 [64, 16]
        /// instead of [16, 64] (as many values, and state.json's sha256 updated to match).
        func transposedCheckpoint() throws -> String {
            try tamperedCheckpoint(file: "model.safetensors") { bytes in
                let old = #""blocks.0.ffn.w1":{"dtype":"F32","shape":[16,64]"#
                try CheckpointTampering.replaceInHeader(&bytes, old, with: old.replacingOccurrences(of: "[16,64]", with: "[64,16]"))
            }
        }

        /// A copy of the last checkpoint whose state.json holds "tokens_seen": "many".
        func mistypedCheckpoint() throws -> String {
            try tamperedCheckpoint(file: "state.json") { bytes in
                guard var object = try JSONSerialization.jsonObject(with: bytes) as? [String: Any] else { throw FixtureError("state.json is not an object") }
                object["tokens_seen"] = "many"
                bytes = try JSONSerialization.data(withJSONObject: object)
            }
        }

        /// A copy of the last checkpoint with `file` changed by `change` and, unless it is
        /// state.json, state.json's sha256 for it updated: damage that checksums cannot see.
        func tamperedCheckpoint(file: String, _ change: (inout Data) throws -> Void) throws -> String {
            let copy = dir.appendingPathComponent("step-00000002")
            try FileManager.default.copyItem(at: try Shared.checkpoint.get().appendingPathComponent("checkpoints/step-00000002"), to: copy)
            let url = copy.appendingPathComponent(file)
            var bytes = try Data(contentsOf: url)
            try change(&bytes)
            try bytes.write(to: url)
            if file != "state.json" { try CheckpointTampering.updateChecksum(of: file, in: copy) }
            return copy.path
        }

        /// Made once for all cases.
        enum Shared {
            static let prepared = Result { () throws -> URL in
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-bad-prepared-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let text = dir.appendingPathComponent("text.txt")
                try String(repeating: "the cat sat on the mat, and the dog ran to see it.\n", count: 200).write(to: text, atomically: true, encoding: .utf8)
                let out = dir.appendingPathComponent("prepared")
                let result = try Run.process(Run.product("dptrain"), ["prepare", text.path, "--tokenizer", "char", "--out", out.path], timeout: 60)
                guard result.status == 0 else { throw FixtureError("dptrain prepare failed: \(result.stderr)") }
                return out
            }

            static let checkpoint = Result { () throws -> URL in
                let out = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-bad-run-\(UUID().uuidString)")
                let arguments = ["train", "--layers", "1", "--dim", "16", "--heads", "2", "--context", "8", "--batch", "2", "--steps", "2",
                                 "--eval-every", "0", "--log-every", "1", "--out", out.path]
                let result = try Run.mpirun(2, Run.product("dptrain"), arguments, timeout: 60)
                guard result.status == 0 else { throw FixtureError("training the checkpoint failed: \(result.stderr)") }
                return out
            }
        }
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

fileprivate extension Data {
    /// Overwrites 4 bytes at `offset` with `value`, little-endian.
    mutating func overwrite(at offset: Int, int32 value: Int32) {
        Swift.withUnsafeBytes(of: value.littleEndian) { replaceSubrange(offset..<offset + 4, with: $0) }
    }

    /// Overwrites 2 bytes at `offset` with `value`, little-endian.
    mutating func overwrite(at offset: Int, uint16 value: UInt16) {
        Swift.withUnsafeBytes(of: value.littleEndian) { replaceSubrange(offset..<offset + 2, with: $0) }
    }
}
