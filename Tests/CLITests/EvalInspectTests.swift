import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// `dptrain eval` and `dptrain inspect` end to end, on small runs trained once for the whole suite,
/// and the PyTorch cross-check when PyTorch is installed.
@Suite(.serialized) struct EvalInspectTests {
    /// The run most tests read: 20 steps of a 2-layer model; val loss at steps 10 and 20 over 4
    /// global batches of 4 rows; checkpoints at steps 10 and 20.
    static let gptArguments = ["--layers", "2", "--dim", "32", "--heads", "4", "--context", "16", "--batch", "4",
                               "--steps", "20", "--eval-every", "10", "--eval-batches", "4", "--checkpoint-every", "10",
                               "--log-every", "1", "--warmup", "2", "--lr", "3e-3"]

    @Test func evalReproducesTheValidationLossTheTrainerLogged() throws {
        let run = try TrainedRun.gpt.get()
        for step in [10, 20] {
            // The same windows as the trainer's evaluation: 4 batches of 4 rows, one rank.
            let path = step == 20 ? run.out.path : run.out.appendingPathComponent("checkpoints/step-000000\(step)").path
            let result = try eval(["--checkpoint", path, "--batch", "4", "--batches", "4", "--json"])
            let logged = try #require(run.valLoss(atStep: step))
            #expect(result["step"] as? Int == step)
            #expect(result["windows"] as? Int == 16 && result["context"] as? Int == 16)
            let loss = try #require(result["loss"] as? Double)
            #expect(abs(loss - logged) <= 1e-6 * logged, "eval \(loss) vs the trainer's val_loss \(logged) at step \(step)")
            #expect(abs((result["perplexity"] as? Double ?? 0) - exp(loss)) <= 1e-9 * exp(loss))
        }
    }

    @Test func evalPrintsOneLineOfLossPerplexityAndWindowsCoveringTheWholeValSplit() throws {
        let run = try TrainedRun.gpt.get()
        let result = try Run.process(Run.product("dptrain"), ["eval", "--checkpoint", run.out.path], timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        let line = try #require(result.lines.first { $0.hasPrefix("val loss ") }, "\(result.stdout)")
        let fields = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(fields.count == 4, "\(line)")
        let loss = try #require(Double(fields[0].dropFirst("val loss ".count)), "\(line)")
        let perplexity = try #require(Double(fields[1].dropFirst("perplexity ".count)), "\(line)")
        #expect(abs(perplexity - exp(loss)) <= 0.01 * perplexity, "\(line)")
        // Default: every whole batch of 4 windows of the val split (the cap of 10,000 windows is far).
        let valTokens = try #require(run.valTokens)
        let windows = (valTokens - 1) / 16 / 4 * 4
        #expect(fields[2] == "\(grouped(windows)) windows of 16 tokens", "\(line), \(valTokens) val tokens")
        #expect(fields[3] == "\(windows / 4) batches of 1 × 4", "\(line)")
        #expect(result.stdout.contains("(step 20), 1 rank"))
        #expect(result.stderr.isEmpty, "no warning for the run's own data: \(result.stderr)")
    }

    @Test func evalUnderMPIRunReadsTheSameWindowsAsOneProcessAndOnlyRankZeroPrints() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let run = try TrainedRun.gpt.get()
        let one = try eval(["--checkpoint", run.out.path, "--batch", "4", "--batches", "6", "--json"])
        let result = try Run.mpirun(2, Run.product("dptrain"),
                                    ["eval", "--checkpoint", run.out.path, "--batch", "2", "--batches", "6", "--json"], timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.lines.count == 1, "rank 0 alone prints: \(result.stdout)")
        let two = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(two["ranks"] as? Int == 2 && two["windows"] as? Int == 24 && one["windows"] as? Int == 24)
        let a = try #require(one["loss"] as? Double), b = try #require(two["loss"] as? Double)
        #expect(abs(a - b) <= 1e-5 * a, "2 ranks × 2 rows: \(b), 1 rank × 4 rows: \(a)")
    }

    @Test func evalOfTheSeedPresetUsesTheSeedSentencesAndTheLastTokenLoss() throws {
        let run = try TrainedRun.seed.get()
        // The trainer's evaluation at step 50: one batch of 4 windows.
        let result = try eval(["--checkpoint", run.out.path, "--batches", "1", "--json"])
        let logged = try #require(run.valLoss(atStep: 50))
        let loss = try #require(result["loss"] as? Double)
        #expect(abs(loss - logged) <= 1e-6 * logged, "\(loss) vs \(logged)")
        #expect(result["loss_mode"] as? String == "last")
        let text = try Run.process(Run.product("dptrain"), ["eval", "--checkpoint", run.out.path], timeout: 60)
        // 48 val tokens at window stride 1: 46 windows of 2 (+1) tokens, 11 whole batches of 4.
        #expect(text.stdout.contains("| 44 windows of 2 tokens (loss on the last token of each) | 11 batches of 1 × 4"), "\(text.stdout)")
        #expect(text.stdout.contains("seed example, word tokenizer, 4 tokens"))
    }

    @Test func evalRefusesDataWhoseTokenizerDiffersFromTheCheckpoints() throws {
        let run = try TrainedRun.gpt.get()
        let dir = try scratch()
        let text = dir.appendingPathComponent("other.txt")
        try String(repeating: "0123456789 only digits here? no: few letters. ", count: 200).write(to: text, atomically: true, encoding: .utf8)
        let result = try Run.process(Run.product("dptrain"), ["eval", "--checkpoint", run.out.path, "--data", text.path], timeout: 60)
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("dptrain: error:") && lines[0].contains("differs from the checkpoint's"),
                "\(result.stderr)")
    }

    @Test func evalOfAMissingCheckpointFailsWithOneLine() throws {
        let result = try Run.process(Run.product("dptrain"), ["eval", "--checkpoint", "/nonexistent/dptrain-out"], timeout: 60)
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("/nonexistent/dptrain-out does not exist"),
                "\(result.stderr)")
    }

    @Test func inspectShowsStateParameterGroupsFilesChecksumsAndTheLastLosses() throws {
        let run = try TrainedRun.gpt.get()
        let result = try Run.process(Run.product("dptrain"), ["inspect", run.out.path], timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        let state = try run.state(step: 20)
        let V = try #require((state["model"] as? [String: Any])?["vocab_size"] as? Int)
        let (C, T, F, L) = (32, 16, 128, 2)
        let groups = [
            ("embeddings", V * C + T * C, 2), ("attention", L * 4 * C * C, 8), ("FFN", L * (C * F + F + F * C + C), 8),
            ("LayerNorm", L * 4 * C + 2 * C, 10),
        ]
        for (name, count, tensors) in groups {
            let row = try #require(result.lines.first { $0.contains(" \(name) ") || $0.hasPrefix("\(name) ") || $0.contains("  \(name)  ") },
                                   "no row for \(name): \(out)")
            #expect(row.contains(" \(grouped(count))  (\(tensors) tensors)"), "\(name): expected \(grouped(count)) in \(row)")
        }
        let total = groups.reduce(0) { $0 + $1.1 }
        #expect(out.contains(" \(grouped(total))  (28 tensors)"), "\(out)")
        #expect(out.contains("(tied to tok_embedding)"))
        #expect(out.contains("step-00000020"))
        #expect(out.contains("20 of 20, \(grouped(20 * 4 * 16)) tokens seen"), "\(out)")
        #expect(out.contains("1 rank; 1 × batch 4 × grad-accum 1 × context 16 = 64 tokens per step"), "\(out)")
        #expect(out.contains("2 layers, 4 heads, dim 32, ffn 128, context 16, vocab \(V)"))
        #expect(result.lines.contains { $0.hasPrefix("checksums ") && $0.hasSuffix(" ok: model.safetensors, optimizer.safetensors match the sha256 in state.json") },
                "\(out)")
        for name in ["model.safetensors", "optimizer.safetensors", "state.json"] {
            let bytes = try FileManager.default.attributesOfItem(
                atPath: run.out.appendingPathComponent("checkpoints/step-00000020/\(name)").path)[.size] as! NSNumber
            #expect(out.contains("\(name)") && out.contains("\(grouped(bytes.intValue)) bytes"), "\(name): \(out)")
        }
        // The last five logged losses, as metrics.jsonl holds them, and the last val loss.
        for step in 16...20 {
            let loss = try #require(run.loss(atStep: step))
            #expect(out.contains("step \(step): loss \(String(format: "%.4f", loss))"), "step \(step): \(out)")
        }
        #expect(!out.contains("step 15: loss"))
        #expect(out.contains("step 20: val loss \(String(format: "%.4f", try #require(run.valLoss(atStep: 20))))"))
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }

    @Test func inspectOfAnEarlierCheckpointShowsTheLossesUpToItsStep() throws {
        let run = try TrainedRun.gpt.get()
        let result = try Run.process(Run.product("dptrain"), ["inspect", run.out.appendingPathComponent("checkpoints/step-00000010").path], timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("step 10: loss") && !result.stdout.contains("step 11: loss"), "\(result.stdout)")
        #expect(result.stdout.contains("10 of 20"))
    }

    @Test(arguments: ["model.safetensors", "optimizer.safetensors"])
    func inspectOfADamagedCheckpointNamesTheFileAndFails(file: String) throws {
        let run = try TrainedRun.gpt.get()
        let copy = try scratch().appendingPathComponent("step-00000020")
        try FileManager.default.copyItem(at: run.out.appendingPathComponent("checkpoints/step-00000020"), to: copy)
        let url = copy.appendingPathComponent(file)
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count - 5] ^= 0x40
        try bytes.write(to: url)
        let result = try Run.process(Run.product("dptrain"), ["inspect", copy.path], timeout: 60)
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("dptrain: error: \(url.path) is corrupt or truncated"), "\(result.stderr)")
        #expect(result.lines.contains { $0.hasPrefix("checksums ") && $0.contains(" DAMAGED: \(url.path) is corrupt") }, "\(result.stdout)")
        #expect(result.stdout.contains("parameters"), "what can be read is still shown: \(result.stdout)")
    }

    @Test func inspectOfAPathWithoutACheckpointFails() throws {
        let empty = try scratch()
        let result = try Run.process(Run.product("dptrain"), ["inspect", empty.path], timeout: 60)
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("is not a checkpoint"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test(arguments: [
        ("tok_embedding", TensorGroup.embeddings), ("pos_embedding", .embeddings), ("blocks.0.attn.wq", .attention),
        ("blocks.11.attn.wo", .attention), ("blocks.3.ffn.b1", .ffn), ("blocks.0.ffn.w2", .ffn), ("blocks.2.ln1.weight", .layerNorm),
        ("blocks.0.ln2.bias", .layerNorm), ("ln_f.weight", .layerNorm), ("lm_head", .head), ("m.tok_embedding", .other),
    ])
    func tensorNamesFallIntoTheirGroups(name: String, group: TensorGroup) {
        #expect(TensorGroup(tensorName: name) == group)
    }

    /// The learned-position gpt and seed runs, a sinusoidal one, and an encoder (whose masking the
    /// script re-does from the seed and compares with dptrain's), each within 1e-5 of PyTorch.
    @Test func theTorchCrossCheckAgreesWithDPTrainEval() throws {
        let probe = try Run.process("/usr/bin/env", ["python3", "-c", "import torch"], timeout: 60)
        guard probe.status == 0 else {
            print("skipped: PyTorch is not installed (pip install torch) — the cross-check of learned, sinusoidal and encoder checkpoints did not run")
            return
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/torch_crosscheck.py")
        let sinusoidal = try TrainedRun(Self.gptArguments + ["--positions", "sinusoidal"])
        let encoder = try TrainedRun(Self.gptArguments + ["--architecture", "encoder"])
        for run in [try TrainedRun.gpt.get(), try TrainedRun.seed.get(), sinusoidal, encoder] {
            let result = try Run.process("/usr/bin/env", ["python3", script.path, run.out.path, "--dptrain", Run.product("dptrain"),
                                                          "--batches", "5", "--tolerance", "1e-5"], timeout: 120)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("difference"), "\(result.stdout)")
            if run.out == encoder.out { #expect(result.stdout.contains("masking re-done here and equal"), "\(result.stdout)") }
        }
    }

    // MARK: - Helpers

    /// Runs `dptrain eval … --json` as one process and returns its JSON object.
    func eval(_ arguments: [String]) throws -> [String: Any] {
        let result = try Run.process(Run.product("dptrain"), ["eval"] + arguments, timeout: 60)
        try #require(result.status == 0, "dptrain eval failed: \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    func grouped(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return out
    }
}

extension EvalInspectTests {
    /// A run trained once (one process, no MPI) for every test that reads it.
    struct TrainedRun: Sendable {
        let out: URL
        let metrics: [[String: Double]]

        static let gpt = Result { try TrainedRun(EvalInspectTests.gptArguments) }
        static let seed = Result { try TrainedRun(["--preset", "seed", "--steps", "50", "--log-every", "10"]) }

        init(_ arguments: [String]) throws {
            out = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-test-run-\(UUID().uuidString)")
            let result = try Run.process(Run.product("dptrain"), ["train"] + arguments + ["--out", out.path], timeout: 120)
            guard result.status == 0 else { throw ConfigError("training the test run failed (\(result.status)): \(result.stderr)") }
            let text = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            metrics = text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?
                    .compactMapValues { ($0 as? NSNumber)?.doubleValue }
            }
        }

        func loss(atStep step: Int) -> Double? {
            metrics.first { $0["step"] == Double(step) && $0["loss"] != nil }?["loss"]
        }

        func valLoss(atStep step: Int) -> Double? {
            metrics.first { $0["step"] == Double(step) && $0["val_loss"] != nil }?["val_loss"]
        }

        /// The checkpoint's state.json as a JSON object.
        func state(step: Int) throws -> [String: Any] {
            let url = out.appendingPathComponent("checkpoints/\(CheckpointStore.directoryName(step: step))/state.json")
            return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        }

        /// The val split's token count, from the data line of the last checkpoint ("…, N train / M val").
        var valTokens: Int? {
            guard let data = try? state(step: 20)["data"] as? String, let part = data.split(separator: "/").last else { return nil }
            return Int(part.replacingOccurrences(of: "val", with: "").replacingOccurrences(of: ",", with: "")
                .trimmingCharacters(in: .whitespaces))
        }
    }
}
