import DPData
import DPTestSupport
import Foundation
import Testing

/// A run whose data carries a Hugging Face tokenizer.json (as llm.c's GPT-2 shards can, with
/// GPT-2's file beside them): trained under mpirun, its checkpoint holds that tokenizer.json,
/// sample decodes with it, and --resume takes it back.
@Suite(.serialized) struct HuggingFaceTokenizerRunTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf-gpt2")

    static let arguments = ["train", "--layers", "1", "--dim", "16", "--heads", "2", "--context", "16", "--batch", "4",
                            "--log-every", "10", "--eval-every", "0", "--checkpoint-every", "10"]

    @Test func checkpointHoldsTheTokenizerAndSampleAndResumeUseIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hfrun-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data"), out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let tokenizerFile = Self.fixtures.appendingPathComponent("tokenizer.json")
        try FileManager.default.copyItem(at: tokenizerFile, to: data.appendingPathComponent("tokenizer.json"))
        let tokenizer = try Tokenizers.loadHuggingFace(directory: Self.fixtures)
        let text = String(repeating: "ROMEO:\nO, she doth teach the torches to burn bright!<|endoftext|>", count: 200)
        let ids = try tokenizer.encode(text)
        let split = ids.count * 9 / 10
        try TokenFile.write(Array(ids[..<split]), vocabSize: tokenizer.vocabSize, to: data.appendingPathComponent("train.bin"))
        try TokenFile.write(Array(ids[split...]), vocabSize: tokenizer.vocabSize, to: data.appendingPathComponent("val.bin"))

        let first = try Run.mpirun(2, Run.product("dptrain"), Self.arguments + ["--steps", "20", "--data", data.path, "--out", out.path], timeout: 120)
        try #require(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("hf-bpe"), "\(first.stdout)")

        // state.json's "tokenizer" is the Hugging Face file itself.
        let state = try Data(contentsOf: out.appendingPathComponent("checkpoints/step-00000020/state.json"))
        let object = try #require(JSONSerialization.jsonObject(with: state) as? [String: Any])
        let stored = try JSONSerialization.data(withJSONObject: try #require(object["tokenizer"]), options: [.sortedKeys])
        let original = try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(contentsOf: tokenizerFile)), options: [.sortedKeys])
        #expect(stored == original)

        // sample encodes the prompt (the special token as one id) and decodes with it.
        let sample = try Run.process(Run.product("dptrain"), ["sample", "--checkpoint", out.path, "--prompt", "ROMEO:<|endoftext|>",
                                                              "--tokens", "6", "--temperature", "0"], timeout: 60)
        #expect(sample.status == 0, "\(sample.stderr)")
        #expect(sample.stdout.hasPrefix("ROMEO:<|endoftext|>"), "\(sample.stdout)")

        let resumed = try Run.mpirun(2, Run.product("dptrain"), Self.arguments + ["--steps", "30", "--out", out.path, "--resume"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoints/step-00000030/state.json").path))
    }
}
