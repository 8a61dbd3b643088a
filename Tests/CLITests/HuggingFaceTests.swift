import DPData
import DPModel
import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// `dptrain import-hf`, `sample`, `train --init-from` and `export-hf` end to end on the committed
/// Hugging Face GPT-2 fixtures (Tests/Fixtures/hf-gpt2, scripts/make_hf_fixtures.py): without
/// Python, then with transformers where it is installed.
@Suite(.serialized) struct HuggingFaceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf-gpt2")
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts")

    struct Prompt: Decodable {
        let text: String
        let ids: [Int32]
        let logits_last: [Float]
        let greedy_no_stop: [Int32]
    }
    struct Expected: Decodable {
        struct ModelPart: Decodable { let prompts: [Prompt]; let max_new_tokens: Int }
        let model: ModelPart
    }

    static func prompts() throws -> Expected.ModelPart {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("expected.json"))).model
    }

    static func scratch(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-\(name)-\(UUID().uuidString)")
    }

    static func dptrain(_ arguments: [String], timeout: Double = 120) throws -> RunResult {
        try Run.process(Run.product("dptrain"), arguments, timeout: timeout)
    }

    /// The fixture imported into a fresh checkpoint directory.
    static func imported() throws -> URL {
        let checkpoint = scratch("ckpt")
        let run = try dptrain(["import-hf", fixtures.path, "--out", checkpoint.path])
        #expect(run.status == 0, "\(run.stderr)")
        return checkpoint
    }

    /// A repetitive text the fixture's tokenizer encodes: lines of tinyshakespeare's opening.
    static func text() throws -> URL {
        let url = scratch("text").appendingPathExtension("txt")
        let lines = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        try String(repeating: lines, count: 200).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static func losses(_ out: URL) throws -> [Double] {
        try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").compactMap { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    /// import-hf writes a checkpoint that verifies, and greedy sampling from it gives
    /// transformers' generate(do_sample=False) tokens for every fixture prompt.
    @Test func importThenGreedySampleEqualsTransformers() throws {
        let checkpoint = try Self.imported()
        defer { try? FileManager.default.removeItem(at: checkpoint) }
        let restore = try Restore.read(path: checkpoint, out: checkpoint)
        #expect(restore.state.step == 0 && restore.state.model == .gpt2(vocabSize: 400, context: 64, dim: 32, heads: 2, layers: 2))
        let tokenizer = try Tokenizers.load(json: restore.tokenizerJSON)
        let expected = try Self.prompts()
        for prompt in expected.prompts {
            #expect(try tokenizer.encode(prompt.text) == prompt.ids, "\(prompt.text)")
            let run = try Self.dptrain(["sample", "--checkpoint", checkpoint.path, "--prompt", prompt.text,
                                        "--tokens", String(expected.max_new_tokens), "--temperature", "0"])
            #expect(run.status == 0, "\(run.stderr)")
            let generated = Array(prompt.greedy_no_stop.dropFirst(prompt.ids.count))
            #expect(run.stdout == prompt.text + tokenizer.decode(generated) + "\n", "\(prompt.text): \(run.stdout)")
        }
        // The checkpoint is written once: a second import into it is refused.
        let again = try Self.dptrain(["import-hf", Self.fixtures.path, "--out", checkpoint.path])
        #expect(again.status == 1 && again.stderr.contains("already exists"), "\(again.stderr)")
    }

    /// Bad directories: one sentence naming the file or tensor, exit status 1.
    @Test func badImportsAreOneSentence() throws {
        let directory = Self.scratch("bad")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func check(_ says: String) throws {
            let out = Self.scratch("never")
            let run = try Self.dptrain(["import-hf", directory.path, "--out", out.path])
            #expect(run.status == 1, "\(run.stderr)")
            #expect(run.stderr.hasPrefix("dptrain: error: ") && run.stderr.contains(says), "\(run.stderr) should say \(says)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        try check("has no config.json")
        for name in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("config.json"))) as! [String: Any]
        func write(_ config: [String: Any]) throws {
            try JSONSerialization.data(withJSONObject: config).write(to: directory.appendingPathComponent("config.json"))
        }
        config["model_type"] = "llama"
        try write(config)
        try check("config.json has model_type \"llama\"; dptrain imports only GPT-2")
        config["model_type"] = "gpt2"
        config["n_embd"] = 48
        try write(config)
        try check("model.safetensors has tensor \"transformer.wte.weight\" of shape [400, 32], but config.json's sizes need [400, 48]")

        // A tokenizer whose vocabulary is not the embedding's rows: the fixture's weights with a
        // 401st row of wte, and config.json saying 401.
        config["n_embd"] = 32
        config["vocab_size"] = 401
        let file = try Safetensors.decode(Data(contentsOf: Self.fixtures.appendingPathComponent("model.safetensors")))
        var values: [[Float]] = [], shapes: [[Int]] = []
        for name in file.names {
            var v = try file.values(name), shape = file.shape(name)!
            if name == "transformer.wte.weight" { v += [Float](repeating: 0, count: 32); shape[0] += 1 }
            values.append(v)
            shapes.append(shape)
        }
        let flat = values.flatMap { $0 }
        let data = flat.withUnsafeBufferPointer { all in
            var offset = 0
            return Safetensors.encode(zip(file.names, zip(shapes, values)).map { name, pair in
                defer { offset += pair.1.count }
                return TensorView(name: name, shape: pair.0, values: UnsafeBufferPointer(rebasing: all[offset..<offset + pair.1.count]))
            }, metadata: [:])
        }
        try data.write(to: directory.appendingPathComponent("model.safetensors"))
        try write(config)
        try check("tokenizer.json has 400 tokens, but config.json's vocab_size (the rows of wte.weight) is 401")
    }

    /// train --init-from under mpirun with ZeRO-1: the run starts from the imported weights (its
    /// first loss is the imported model's, far from a fresh model's), takes the
    /// model and tokenizer from the checkpoint, and the loss falls; a contradicting --dim is one
    /// sentence and exit status 64.
    @Test func initFromTrainsTheImportedModelUnderMPI() throws {
        guard Run.hasMPIRun else { return }
        let checkpoint = try Self.imported()
        let text = try Self.text()
        let out = Self.scratch("run")
        defer { for url in [checkpoint, text, out] { try? FileManager.default.removeItem(at: url) } }
        let common = ["--data", text.path, "--steps", "30", "--batch", "2", "--lr", "1e-3", "--warmup", "5", "--eval-every", "0",
                      "--checkpoint-every", "0", "--log-every", "1", "--zero", "1"]
        let run = try Run.mpirun(2, Run.product("dptrain"), ["train", "--init-from", checkpoint.path, "--out", out.path] + common, timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        let losses = try Self.losses(out)
        #expect(losses.count == 30)
        #expect(losses.last! < losses.first! - 1, "the loss must fall: \(losses.first!) → \(losses.last!)")
        let restore = try Restore.read(path: out, out: out)
        #expect(restore.state.step == 30 && restore.state.model == .gpt2(vocabSize: 400, context: 64, dim: 32, heads: 2, layers: 2))
        #expect(try Tokenizers.load(json: restore.tokenizerJSON).jsonData() == Tokenizers.load(json: Restore.read(path: checkpoint, out: checkpoint).tokenizerJSON).jsonData())
        // The run started from the imported weights: its first loss is the imported model's on
        // the text (8 windows, in-process), which is far from a fresh model's ln V.
        let model = try Restore.read(path: checkpoint, out: checkpoint).makeModel(maxBatch: 8)
        let tokens = try Tokenizers.load(json: restore.tokenizerJSON).encode(String(contentsOf: text, encoding: .utf8))
        let T = 64
        let windows = (0..<8).map { b in Array(tokens[(b * 37)..<(b * 37 + T + 1)]) }
        let x = windows.flatMap { $0.dropLast() }, y = windows.flatMap { $0.dropFirst() }
        let imported = Double(x.withUnsafeBufferPointer { xs in y.withUnsafeBufferPointer { ys in model.forward(tokens: xs, targets: ys, batch: 8, time: T) } })
        #expect(abs(imported - log(400)) > 0.5, "the check needs an imported loss \(imported) unlike a fresh model's")
        #expect(abs(losses.first! - imported) < min(0.5, abs(losses.first! - log(400))),
                "first loss \(losses.first!) against the imported model's \(imported) and a fresh model's ln 400")

        // The run resumes (its tokenizer is the imported one, which dptrain cannot train), and
        // eval reads the imported checkpoint on the text.
        let resumed = try Run.mpirun(2, Run.product("dptrain"), ["train", "--resume", "--steps", "32", "--out", out.path], timeout: 300)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Restore.read(path: out, out: out).state.step == 32)
        let eval = try Self.dptrain(["eval", "--checkpoint", checkpoint.path, "--data", text.path, "--batches", "2"])
        #expect(eval.status == 0 && eval.stdout.contains("loss"), "\(eval.stdout)\(eval.stderr)")

        let bad = try Run.mpirun(2, Run.product("dptrain"), ["train", "--init-from", checkpoint.path, "--dim", "64", "--out", Self.scratch("bad").path] + common)
        #expect(bad.status == 64, "\(bad.stderr)")
        #expect(bad.stderr.contains("--dim 64 contradicts the --init-from checkpoint's 32"), "\(bad.stderr)")
        #expect(bad.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain:") }.count == 1, "\(bad.stderr)")
    }

    /// Export, then import the export: the weights are the same bits, and a model GPT-2 cannot
    /// express is refused in one sentence.
    @Test func exportThenImportIsBitIdentical() throws {
        let checkpoint = try Self.imported()
        let exported = Self.scratch("export"), again = Self.scratch("again")
        defer { for url in [checkpoint, exported, again] { try? FileManager.default.removeItem(at: url) } }
        let run = try Self.dptrain(["export-hf", checkpoint.path, "--out", exported.path])
        #expect(run.status == 0, "\(run.stderr)")
        let reimport = try Self.dptrain(["import-hf", exported.path, "--out", again.path])
        #expect(reimport.status == 0, "\(reimport.stderr)")
        let a = try Restore.read(path: checkpoint, out: checkpoint), b = try Restore.read(path: again, out: again)
        #expect(a.state.model == b.state.model)
        let ma = try a.makeModel(maxBatch: 1), mb = try b.makeModel(maxBatch: 1)
        #expect(Array(ma.parameters).map(\.bitPattern) == Array(mb.parameters).map(\.bitPattern))
        #expect(try Tokenizers.load(json: a.tokenizerJSON).jsonData() == Tokenizers.load(json: b.tokenizerJSON).jsonData())

        let seedOut = Self.scratch("seed")
        defer { try? FileManager.default.removeItem(at: seedOut) }
        #expect(try Self.dptrain(["train", "--preset", "seed", "--steps", "2", "--out", seedOut.path]).status == 0)
        let seed = try Self.dptrain(["export-hf", seedOut.path, "--out", Self.scratch("seedexport").path])
        #expect(seed.status == 1 && seed.stderr.contains("is not GPT-2-shaped"), "\(seed.stderr)")
        #expect(seed.stderr.split(separator: "\n").count == 1, "\(seed.stderr)")
    }

    /// Where torch and transformers are installed: import → mpirun -n 2 fine-tune → export, and
    /// transformers' GPT2LMHeadModel and AutoTokenizer load the export and give dptrain's logits
    /// (1e-4) and token ids.
    @Test func transformersLoadsTheExportWithTheSameLogits() throws {
        let python = try Run.process("/usr/bin/env", ["python3", "-c", "import torch, transformers"], timeout: 120)
        guard python.status == 0 else {
            print("skipped: python3 cannot import torch and transformers (\(python.stderr.split(separator: "\n").last ?? ""))")
            return
        }
        guard Run.hasMPIRun else { return }
        let checkpoint = try Self.imported()
        let text = try Self.text()
        let out = Self.scratch("tuned"), exported = Self.scratch("tunedexport")
        defer { for url in [checkpoint, text, out, exported] { try? FileManager.default.removeItem(at: url) } }
        let train = try Run.mpirun(2, Run.product("dptrain"), ["train", "--init-from", checkpoint.path, "--data", text.path, "--steps", "10",
            "--batch", "2", "--eval-every", "0", "--checkpoint-every", "0", "--out", out.path], timeout: 300)
        #expect(train.status == 0, "\(train.stderr)")
        let export = try Self.dptrain(["export-hf", out.path, "--out", exported.path])
        #expect(export.status == 0, "\(export.stderr)")

        let restore = try Restore.read(path: out, out: out)
        let model = try restore.makeModel(maxBatch: 1)
        let tokenizer = try Tokenizers.load(json: restore.tokenizerJSON)
        let sentence = "ROMEO:\nO, she doth teach the torches to burn bright!"
        let ids = try tokenizer.encode(sentence)
        let ours = Array(ids.withUnsafeBufferPointer { model.forwardLogits(tokens: $0, batch: 1, time: ids.count) })
        let run = try Run.process("/usr/bin/env", ["python3", Self.scripts.appendingPathComponent("hf_logits.py").path, exported.path,
                                                   "--ids"] + ids.map(String.init) + ["--text", sentence], timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        let theirs = (result["logits"] as! [Double]).map(Float.init)
        let error = zip(ours, theirs).map { abs($0 - $1) }.max()!
        #expect(theirs.count == ours.count && error <= 1e-4, "max |Δlogit| \(error)")
        #expect((result["text_ids"] as! [Int]).map(Int32.init) == ids)
    }
}
