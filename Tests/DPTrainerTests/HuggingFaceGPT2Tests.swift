import DPData
import DPModel
import Foundation
import Testing
@testable import DPTrainer

/// Import of a Hugging Face GPT-2 against the committed fixtures (Tests/Fixtures/hf-gpt2, made by
/// scripts/make_hf_fixtures.py with transformers): a random 2-layer GPT-2 in F32 (save_pretrained
/// names and the hub's unprefixed names) and rounded to F16 and BF16, and transformers' logits
/// and greedy generations for three prompts. Runs without Python.
@Suite struct HuggingFaceGPT2Tests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf-gpt2")

    struct Prompt: Decodable {
        let text: String
        let ids: [Int32]
        let logits: [[Float]]?
        let logits_last: [Float]
        let generated: [Int32]
        let greedy_no_stop: [Int32]
    }

    struct Expected: Decodable {
        struct ModelPart: Decodable {
            let prompts: [Prompt]
            let tolerance: Float
            let max_new_tokens: Int
        }
        let model: ModelPart
    }

    static func expected() throws -> Expected.ModelPart {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("expected.json"))).model
    }

    /// A scratch copy of the fixture directory with model.safetensors replaced by `weights` (a
    /// file of the fixtures) and config.json passed through `editConfig`.
    static func copy(weights: String = "model.safetensors", editConfig: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent(weights), to: directory.appendingPathComponent("model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("config.json"))) as! [String: Any]
        editConfig(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: directory.appendingPathComponent("config.json"))
        return directory
    }

    static func model(_ weights: HuggingFaceGPT2.Weights) throws -> Model {
        let model = try Model(config: weights.config, maxBatch: 1)
        _ = model.parameters.update(fromContentsOf: weights.parameters)
        return model
    }

    @Test func theConfigBecomesTheGPT2Preset() throws {
        let weights = try HuggingFaceGPT2.readWeights(directory: Self.fixtures)
        #expect(weights.config == .gpt2(vocabSize: 400, context: 64, dim: 32, heads: 2, layers: 2))
    }

    /// dptrain's forward on the imported weights gives transformers' logits, at every position of
    /// the first prompt and at the last of each, within the fixture's tolerance (1e-4, absolute).
    @Test func logitsEqualTransformers() throws {
        let expected = try Self.expected()
        let model = try Self.model(try HuggingFaceGPT2.readWeights(directory: Self.fixtures))
        for prompt in expected.prompts {
            let T = prompt.ids.count
            let last = Array(prompt.ids.withUnsafeBufferPointer { model.forwardLogits(tokens: $0, batch: 1, time: T) })
            let error = zip(last, prompt.logits_last).map { abs($0 - $1) }.max()!
            #expect(error <= expected.tolerance, "\(prompt.text): max |Δlogit| \(error)")
            for (t, row) in (prompt.logits ?? []).enumerated() {
                let got = Array(prompt.ids[0...t].withUnsafeBufferPointer { model.forwardLogits(tokens: $0, batch: 1, time: t + 1) })
                let error = zip(got, row).map { abs($0 - $1) }.max()!
                #expect(error <= expected.tolerance, "\(prompt.text) position \(t): max |Δlogit| \(error)")
            }
        }
    }

    /// Greedy generation with the KV cache gives transformers' generate(do_sample=False) tokens.
    @Test func greedyGenerationEqualsTransformers() throws {
        let expected = try Self.expected()
        let model = try Self.model(try HuggingFaceGPT2.readWeights(directory: Self.fixtures))
        for prompt in expected.prompts {
            var sampler = TokenSampler(temperature: 0, topK: nil, seed: 1)
            var tokens = prompt.ids
            model.generate(prompt: prompt.ids, count: expected.max_new_tokens, sampler: &sampler, cache: try KVCache(config: model.config)) {
                tokens.append($0)
            }
            #expect(tokens == prompt.greedy_no_stop, "\(prompt.text)")
            // generate stops at <|endoftext|>; up to there the two agree.
            #expect(Array(tokens.prefix(prompt.generated.count)) == prompt.generated, "\(prompt.text)")
        }
    }

    /// The hub's names (no "transformer." prefix, with the attn.bias mask buffers) give the same
    /// bits; F16 and BF16 files give the F32 weights rounded to their precision.
    @Test(arguments: [("model-noprefix.safetensors", Float(0)), ("model-f16.safetensors", 0x1p-11), ("model-bf16.safetensors", 0x1p-8)])
    func everyNamingAndPrecisionImports(file: String, relative: Float) throws {
        let f32 = try HuggingFaceGPT2.readWeights(directory: Self.fixtures)
        let directory = try Self.copy(weights: file)
        defer { try? FileManager.default.removeItem(at: directory) }
        let other = try HuggingFaceGPT2.readWeights(directory: directory)
        #expect(other.config == f32.config)
        if relative == 0 {
            #expect(other.parameters.map(\.bitPattern) == f32.parameters.map(\.bitPattern))
        } else {
            // Round to nearest: within half a unit in the last place, relative for normal numbers;
            // F16's subnormals (below 2^-14) are spaced 2^-24, so at most 2^-25 off.
            let worst = zip(other.parameters, f32.parameters).map { (abs($0 - $1) - 0x1p-25) / abs($1) }.max()!
            #expect(worst <= relative, "\(file): worst relative rounding \(worst)")
            #expect(other.parameters != f32.parameters, "\(file) must hold rounded weights")
        }
    }

    /// Export writes Hugging Face's names and layouts; reading the export back gives the same bits.
    @Test func exportThenImportIsBitIdentical() throws {
        let weights = try HuggingFaceGPT2.readWeights(directory: Self.fixtures)
        let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-ckpt-\(UUID().uuidString)")
        let exported = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-out-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: checkpoint)
            try? FileManager.default.removeItem(at: exported)
        }
        let tokenizer = CharTokenizerStandIn(vocabSize: weights.config.vocabSize)
        try HuggingFaceGPT2.writeCheckpoint(weights, tokenizer: tokenizer.tokenizer, tokenizerPath: "t", source: Self.fixtures, out: checkpoint)
        let restore = try Restore.read(path: checkpoint, out: checkpoint)
        #expect(restore.state.step == 0 && restore.state.model == weights.config)
        try HuggingFaceGPT2.export(restore, to: exported, endOfText: 0)
        let again = try HuggingFaceGPT2.readWeights(directory: exported)
        #expect(again.config == weights.config)
        #expect(again.parameters.map(\.bitPattern) == weights.parameters.map(\.bitPattern))
        // The exported file has save_pretrained's names and no dptrain names.
        let file = try Safetensors.decode(Data(contentsOf: exported.appendingPathComponent("model.safetensors")))
        #expect(file.shape("transformer.h.1.attn.c_attn.weight") == [32, 96] && file.shape("transformer.wte.weight") == [400, 32])
        #expect(file.shape("tok_embedding") == nil && file.shape("lm_head.weight") == nil)
    }

    /// A gpt-preset model (no attention biases) exports with zero c_attn and c_proj biases, and
    /// imports back as gpt2 with the same logits; a model GPT-2 cannot express is one sentence.
    @Test func aGPTPresetModelExportsWithZeroBiases() throws {
        let config = ModelConfig.gpt(vocabSize: 400, context: 16, dim: 32, heads: 2, layers: 1)
        let layout = ParameterLayout(config: config)
        var rng = 0x1234 as UInt64
        let parameters = (0..<layout.count).map { _ -> Float in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: rng >> 11) % 2001 - 1000) / 5000
        }
        let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-gpt-\(UUID().uuidString)")
        let exported = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-gptout-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: checkpoint)
            try? FileManager.default.removeItem(at: exported)
        }
        try HuggingFaceGPT2.writeCheckpoint(.init(config: config, parameters: parameters), tokenizer: CharTokenizerStandIn(vocabSize: 400).tokenizer,
                                            tokenizerPath: "t", source: checkpoint, out: checkpoint)
        try HuggingFaceGPT2.export(try Restore.read(path: checkpoint, out: checkpoint), to: exported, endOfText: nil)
        let back = try HuggingFaceGPT2.readWeights(directory: exported)
        #expect(back.config == .gpt2(vocabSize: 400, context: 16, dim: 32, heads: 2, layers: 1))
        let file = try Safetensors.decode(Data(contentsOf: exported.appendingPathComponent("model.safetensors")))
        #expect(try file.values("transformer.h.0.attn.c_attn.bias").allSatisfy { $0 == 0 })
        let original = try Model(config: config, maxBatch: 1)
        _ = original.parameters.update(fromContentsOf: parameters)
        let imported = try Self.model(back)
        let tokens: [Int32] = [5, 17, 399, 0, 42]
        let a = Array(tokens.withUnsafeBufferPointer { original.forwardLogits(tokens: $0, batch: 1, time: 5) })
        let b = Array(tokens.withUnsafeBufferPointer { imported.forwardLogits(tokens: $0, batch: 1, time: 5) })
        #expect(a == b)

        #expect(GPT2Config.exportProblem(.seed)?.contains("lacks LayerNorm, residual connections, learned positions (it has none), GELU (it has relu)") == true)
        #expect(GPT2Config.exportProblem(config.with(positions: .sinusoidal))?.contains("learned positions (it has sinusoidal)") == true)
        var encoder = config
        encoder.architecture = .encoder
        #expect(GPT2Config.exportProblem(encoder)?.contains("causal attention (it is an encoder)") == true)
    }

    static func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }

    /// Bad directories: one sentence naming the file and the key or tensor.
    @Test func badInputIsOneSentenceNamingTheFileAndTensor() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(Self.message { _ = try HuggingFaceGPT2.readWeights(directory: empty) }
                == "\(empty.path) has no config.json, so it is not a Hugging Face model directory.")

        let cases: [((inout [String: Any]) -> Void, String)] = [
            ({ $0["model_type"] = "llama" }, "config.json has model_type \"llama\"; dptrain imports only GPT-2 (\"gpt2\")."),
            ({ $0["activation_function"] = "relu" }, "config.json has activation_function \"relu\"; dptrain computes GELU's tanh form only (gelu_new)."),
            ({ $0["layer_norm_epsilon"] = 1e-6 }, "config.json has layer_norm_epsilon 1e-06; dptrain's LayerNorm uses 1e-05."),
            ({ $0["n_head"] = 3 }, "config.json describes a model dptrain cannot build: Model dim (32) must be a multiple of heads (3)"),
            ({ $0["n_layer"] = 3 }, "model.safetensors has no tensor \"transformer.h.2.ln_1.weight\", which a GPT-2 needs."),
            ({ $0["n_layer"] = 1 }, "model.safetensors holds tensor \"transformer.h.1."),
            ({ $0["n_positions"] = 128 }, "model.safetensors has tensor \"transformer.wpe.weight\" of shape [64, 32], but config.json's sizes need [128, 32]."),
            ({ $0.removeValue(forKey: "n_embd") }, "config.json has no \"n_embd\", which a GPT-2 config needs."),
        ]
        for (edit, says) in cases {
            let directory = try Self.copy(editConfig: edit)
            defer { try? FileManager.default.removeItem(at: directory) }
            let error = Self.message { _ = try HuggingFaceGPT2.readWeights(directory: directory) }
            #expect(error?.hasSuffix(says) == true || error?.contains(says) == true, "\(error ?? "no error") should say \(says)")
            #expect(error?.contains("\n") == false)
        }
    }
}

/// A dptrain tokenizer of a given vocabulary size for the tests that need one in a checkpoint.
struct CharTokenizerStandIn {
    let tokenizer: any DPData.Tokenizer
    init(vocabSize: Int) {
        let scalars = (0..<vocabSize).map { String(Character(Unicode.Scalar(UInt32(0x4E00 + $0))!)) }.joined()
        tokenizer = DPData.CharTokenizer(training: scalars)
    }
}
