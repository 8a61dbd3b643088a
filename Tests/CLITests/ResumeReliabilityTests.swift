import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// Issue 15, items 3, 4 and 9: `--resume` alone passes over every checkpoint it cannot use (not
/// only one whose checksum fails) and says so; LATEST is not trusted over a newer complete
/// checkpoint; resuming from an older checkpoint warns before newer ones are deleted; a data path
/// is recorded absolute; the byte tokenizer takes any bytes.
@Suite(.serialized) struct ResumeReliabilityTests {
    /// 300 steps of a small model with 2 ranks, checkpoints at 100, 200 and 300.
    static let arguments = ["train", "--layers", "1", "--dim", "32", "--heads", "2", "--context", "16", "--batch", "4",
                            "--steps", "300", "--log-every", "100", "--eval-every", "0", "--checkpoint-every", "100"]

    /// The OUT of that run, made once; tests work on copies.
    static let base = Result { () throws -> URL in
        let out = try scratch().appendingPathComponent("out")
        let result = try Run.mpirun(2, Run.product("dptrain"), arguments + ["--out", out.path], timeout: 120)
        guard result.status == 0 else { throw ConfigError("the base run failed: \(result.stderr)") }
        return out
    }

    /// Damage that a checksum does not catch (state.json is not covered by one; the other files'
    /// digests are updated to match).
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case mistypedState, missingField, undecodableHeader, transposedTensor
        var testDescription: String { rawValue }

        /// The file at fault and what the warning says about it.
        var file: String { self == .mistypedState || self == .missingField ? "state.json" : "model.safetensors" }
        var phrase: String {
            switch self {
            case .mistypedState: "has \"step\" of the wrong type: it must be an integer"
            case .missingField: "has no \"training\""
            case .undecodableHeader: "is not a valid safetensors file: header is not valid JSON"
            case .transposedTensor: "has tensor \"blocks.0.ffn.w1\" of shape [128, 32]; the model needs [32, 128]"
            }
        }

        func apply(to checkpoint: URL) throws {
            let url = checkpoint.appendingPathComponent(file)
            var bytes = try Data(contentsOf: url)
            switch self {
            case .mistypedState, .missingField:
                var object = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
                if self == .mistypedState { object["step"] = "three hundred" } else { object["training"] = nil }
                bytes = try JSONSerialization.data(withJSONObject: object)
            case .undecodableHeader:
                bytes[9] = UInt8(ascii: "#")
            case .transposedTensor:
                // [128, 32] where [32, 128] is expected: as many values, another shape.
                let old = #""blocks.0.ffn.w1":{"dtype":"F32","shape":[32,128]"#
                try CheckpointTampering.replaceInHeader(&bytes, old, with: old.replacingOccurrences(of: "[32,128]", with: "[128,32]"))
            }
            try bytes.write(to: url)
            if file != "state.json" { try CheckpointTampering.updateChecksum(of: file, in: checkpoint) }
        }
    }

    @Test(arguments: Damage.allCases)
    func resumeAloneSkipsACheckpointItCannotUseAndNamesTheFile(_ damage: Damage) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.copyOfBase()
        let damaged = out.appendingPathComponent("checkpoints/step-00000300")
        try damage.apply(to: damaged)

        let result = try Run.mpirun(2, Run.product("dptrain"), Self.arguments.map { $0 == "300" ? "400" : $0 } + ["--out", out.path, "--resume"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain: warning: skipped step-00000300") }
        #expect(warnings.count == 1, "\(result.stderr)")
        #expect(warnings.first?.contains("(named by LATEST): \(damaged.appendingPathComponent(damage.file).path)") == true, "\(result.stderr)")
        #expect(warnings.first?.contains(damage.phrase) == true, "\(result.stderr)")
        for raw in ["DecodingError", "CodingKeys", "typeMismatch", "keyNotFound", "debugDescription"] {
            #expect(!result.stderr.contains(raw), "no raw DecodingError text: \(result.stderr)")
        }
        #expect(result.stdout.contains("at step 200"), "\(result.stdout)")
        #expect(try FaultTests.latestStep(out) == 400)
    }

    @Test func aCheckpointNewerThanLatestIsTakenAndNamed() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.copyOfBase()
        // What a crash between a save's rename and its LATEST update leaves.
        try Data("step-00000200\n".utf8).write(to: out.appendingPathComponent("checkpoints/LATEST"))
        let result = try Run.mpirun(2, Run.product("dptrain"), Self.arguments.map { $0 == "300" ? "400" : $0 } + ["--out", out.path, "--resume"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("LATEST names step-00000200, but step-00000300 is newer and verifies"), "\(result.stderr)")
        #expect(result.stdout.contains("at step 300"), "\(result.stdout)")
    }

    @Test func resumingFromAnOlderCheckpointWarnsOfTheNewerOnesAndReplaysThemBitIdentically() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.copyOfBase()
        let original = try Data(contentsOf: out.appendingPathComponent("checkpoints/step-00000300/model.safetensors"))
        let result = try Run.mpirun(2, Run.product("dptrain"), Self.arguments + ["--out", out.path, "--resume", out.appendingPathComponent("checkpoints/step-00000100").path], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let warning = result.stderr.split(separator: "\n").filter { $0.contains("holds checkpoints newer than step-00000100 (step-00000200, step-00000300)") }
        #expect(warning.count == 1, "one warning before they are deleted: \(result.stderr)")
        #expect(try FaultTests.latestStep(out) == 300)
        #expect(try FaultTests.latestModel(out) == original, "the replayed steps 101-300 must give the same weights")
    }

    @Test func theDataPathIsRecordedAbsoluteSoResumeWorksFromAnotherDirectory() throws {
        let dir = try Self.scratch()
        try String(repeating: "a small text to train on, repeated.\n", count: 100).write(to: dir.appendingPathComponent("text.txt"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out")
        let train = Self.arguments.map { $0 == "300" ? "2" : $0 } + ["--data", "text.txt", "--out", out.path]
        let first = try Run.process("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", dir.path, Run.product("dptrain")] + train, timeout: 60)
        #expect(first.status == 0, "\(first.stderr)")
        let state = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("checkpoints/step-00000002/state.json"))) as? [String: Any])
        #expect(state["data_path"] as? String == dir.appendingPathComponent("text.txt").path)

        let resumed = try Run.process("/bin/sh", ["-c", "cd / && exec \"$@\"", "sh", Run.product("dptrain"), "train", "--resume", "--steps", "4", "--out", out.path], timeout: 60)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try FaultTests.latestStep(out) == 4)
    }

    @Test func theByteTokenizerTrainsOnBytesThatAreNotUTF8() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let dir = try Self.scratch()
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<20_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        #expect(String(data: bytes, encoding: .utf8) == nil, "the fixture must not be UTF-8")
        let file = dir.appendingPathComponent("random.bin")
        try bytes.write(to: file)

        let train = try Run.mpirun(2, Run.product("dptrain"), Self.arguments.map { $0 == "300" ? "3" : $0 }
            + ["--data", file.path, "--tokenizer", "byte", "--out", dir.appendingPathComponent("out").path], timeout: 60)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("byte tokenizer, 256 tokens, 18,000 train / 2,000 val"), "\(train.stdout)")

        let prepared = try Run.process(Run.product("dptrain"), ["prepare", file.path, "--tokenizer", "byte", "--out", dir.appendingPathComponent("prepared").path], timeout: 60)
        #expect(prepared.status == 0, "\(prepared.stderr)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("prepared/train.bin")).count == 1024 + 2 * 18_000)
    }

    // MARK: - Helpers

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func copyOfBase() throws -> URL {
        let copy = try scratch().appendingPathComponent("out")
        try FileManager.default.copyItem(at: try base.get(), to: copy)
        return copy
    }
}
