import DPData
import DPModel
import Foundation
import Testing
@testable import DPTrainer

/// Issue 14: one RunConfig, resolved in one order (preset or checkpoint → config file → flags)
/// and validated once, and config files that read what config.json writes.
@Suite struct RunConfigTests {
    /// A flag layer from (key, value) pairs, as the CLI builds it.
    func flags(_ pairs: [(String, ConfigValue)]) -> ConfigLayer {
        var layer = ConfigLayer()
        for (key, value) in pairs { layer.set(key, value, source: RunConfig.setting(key)!.flag) }
        return layer
    }

    /// A config file with `text`, read as `--config` reads it.
    func file(_ name: String, _ text: String) throws -> ConfigLayer {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-config-\(UUID().uuidString)-\(name)")
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try ConfigFile.layer(at: url.path)
    }

    /// The message of the ConfigError that `body` throws, or nil.
    func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch let error as ConfigError { return error.description } catch { return "\(error)" }
        return nil
    }

    /// A checkpoint's state after `step` steps of a run with `training`.
    func checkpoint(step: Int, training: TrainingConfig, model: ModelConfig = .gpt(vocabSize: 65, context: 16, dim: 32, heads: 2, layers: 1)) -> CheckpointState {
        CheckpointState(
            step: step, tokensSeen: 0, sampler: SamplerState(), rng: .init(seed: training.seed), model: model,
            training: training, worldSize: 1, data: "x", dataPath: "/data/input.txt", dataConfig: nil,
            parallel: ParallelConfig(zeroStage: 1), elapsedSeconds: 0)
    }

    @Test func aResumedRunValidatesChangedFlagsAgainstTheCheckpointsValues() throws {
        // The bug: --min-lr 0.02 was checked against the preset's --lr 0.001, not the checkpoint's 0.1.
        let state = checkpoint(step: 5, training: TrainingConfig(steps: 5, learningRate: 0.1, minLearningRate: 0.01))
        let resumed = try RunConfig.resolve(
            base: .resuming(state), layers: [flags([("training.steps", .number("10")), ("training.min_lr", .number("0.02"))])],
            checkpoint: state)
        #expect(resumed.training.learningRate == 0.1 && resumed.training.minLearningRate == 0.02 && resumed.training.steps == 10)
        #expect(resumed.data.path == "/data/input.txt" && resumed.parallel.zeroStage == 1, "the checkpoint's data and ZeRO stage carry over")

        let tooHigh = message {
            _ = try RunConfig.resolve(base: .resuming(state), layers: [flags([("training.min_lr", .number("0.2"))])], checkpoint: state)
        }
        #expect(tooHigh == "--min-lr must be between 0 and --lr (0.1), not 0.2.")
        let below = message {
            _ = try RunConfig.resolve(base: .resuming(state), layers: [flags([("training.steps", .number("3"))])], checkpoint: state)
        }
        #expect(below?.contains("--steps 3 is below the checkpoint's step 5") == true)
        let contradicting = message {
            _ = try RunConfig.resolve(base: .resuming(state), layers: [flags([("model.dim", .number("64"))])], checkpoint: state)
        }
        #expect(contradicting?.hasPrefix("--dim 64 contradicts the checkpoint's 32") == true)
        // A model setting that agrees with the checkpoint is fine (config.json of the same run).
        _ = try RunConfig.resolve(base: .resuming(state), layers: [flags([("model.dim", .number("32"))])], checkpoint: state)
    }

    @Test func layersApplyInOrderAndDerivedDefaultsFollow() throws {
        let fromFile = try file("run.toml", "steps = 9\nlr = 2e-3\n[model]\ndim = 64\n")
        let config = try RunConfig.resolve(base: .defaults(.gpt), layers: [fromFile, flags([("training.steps", .number("3"))])])
        #expect(config.training.steps == 3, "a flag wins over the file")
        #expect(config.training.learningRate == 2e-3 && config.model.dim == 64)
        #expect(config.model.ffnDim == 256, "FFN = 4·dim unless given")
        #expect(config.training.minLearningRate == 1e-4)
        let low = try RunConfig.resolve(base: .defaults(.gpt), layers: [flags([("training.lr", .number("5e-5"))])])
        #expect(low.training.minLearningRate == 5e-5, "a given --lr below the default --min-lr pulls it down")
        let ffn = try RunConfig.resolve(base: .defaults(.gpt), layers: [flags([("model.dim", .number("64")), ("model.ffn_dim", .number("100"))])])
        #expect(ffn.model.ffnDim == 100)
    }

    @Test func tomlWithTablesLiteralStringsAndUnderscoresAndTheFlatForm() throws {
        let layer = try file("run.toml", """
            # a run
            out = '/tmp/a "quoted" path'
            data = "in\\"put.txt"
            grad_accum = 2
            [training]
            steps = 1_000
            lr = 3e-4
            [model]
            tied_embeddings = false
            [parallel]
            zero = 1
            """)
        let config = try RunConfig.resolve(base: .defaults(.gpt), layers: [layer])
        #expect(config.out == "/tmp/a \"quoted\" path")
        #expect(config.data.path?.hasSuffix("/in\"put.txt") == true && config.data.path?.hasPrefix("/") == true, "--data is made absolute")
        #expect(config.training.steps == 1000 && config.training.gradAccum == 2 && config.training.learningRate == 3e-4)
        #expect(!config.model.tiedEmbeddings && config.parallel.zeroStage == 1)

        let flat = try file("old.toml", "layers = 1\ndim = 16\nheads = 2\ntie-embeddings = false\nlog-every = 1\nseed = 9223372036854775807\n")
        let old = try RunConfig.resolve(base: .defaults(.gpt), layers: [flat])
        #expect(old.model.layers == 1 && old.model.dim == 16 && !old.model.tiedEmbeddings && old.training.logEvery == 1)
        #expect(old.training.seed == UInt64(Int64.max), "integers stay exact")
        // TOML's integers are 64-bit signed; JSON takes any UInt64 seed.
        let json = try file("seed.json", #"{"training": {"seed": 18446744073709551615}}"#)
        #expect(try RunConfig.resolve(base: .defaults(.gpt), layers: [json]).training.seed == UInt64.max)
    }

    @Test func configJSONReadsBackAsTheSameConfiguration() throws {
        var config = try RunConfig.resolve(base: .defaults(.gpt), layers: [flags([
            ("model.dim", .number("48")), ("model.heads", .number("3")), ("training.lr", .number("0.003")),
            ("training.seed", .number("7")), ("data.path", .text("/data/x.txt")), ("data.tokenizer", .text("bpe")),
            ("data.vocab_size", .number("300")), ("parallel.zero", .number("1")), ("out", .text("/tmp/run")),
        ])])
        try config.adoptVocabulary(300, source: nil)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-config-\(UUID().uuidString).json")
        try config.encodedJSON().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let again = try RunConfig.resolve(base: .defaults(.gpt), layers: [try ConfigFile.layer(at: url.path)])
        #expect(again == config)
        #expect(message { var wrong = again; try wrong.adoptVocabulary(65, source: "config.json's model.vocab_size") }
                == "config.json's model.vocab_size is 300, but the data's tokenizer has 65 tokens.")
    }

    /// --preset gpt2: GPT-2 small's shape with attention biases and batch 1 unless the flags say
    /// otherwise; a gpt2 checkpoint resumes as the gpt2 preset.
    @Test func theGPT2PresetIsGPT2SmallWithAttentionBiases() throws {
        let small = try RunConfig.resolve(base: .defaults(.gpt2), layers: [flags([("preset", .text("gpt2"))])])
        #expect(small.preset == .gpt2 && small.model == .gpt2(vocabSize: 0, context: 1024, dim: 768, heads: 12, layers: 12))
        #expect(small.training.batch == 1 && small.training.learningRate == 6e-4 && small.training.beta2 == 0.95)
        let tiny = try RunConfig.resolve(base: .defaults(.gpt2), layers: [flags([
            ("model.dim", .number("32")), ("model.heads", .number("2")), ("model.layers", .number("2")), ("model.context", .number("16")),
        ])])
        #expect(tiny.model == .gpt2(vocabSize: 0, context: 16, dim: 32, heads: 2, layers: 2))
        #expect(Preset(of: tiny.model) == .gpt2 && Preset(of: RunConfig.defaults(.gpt).model) == .gpt && Preset(of: .seed) == .seed)
    }

    @Test func theSeedPresetsModelIsFixed() throws {
        let seed = try RunConfig.resolve(base: .defaults(.seed), layers: [flags([("training.steps", .number("50"))])])
        #expect(seed.model == .seed && seed.training.optimizer == .sgd && seed.training.steps == 50)
        for (key, flag) in [("model.dim", "--dim"), ("model.layers", "--layers"), ("model.context", "--context")] {
            let error = message { _ = try RunConfig.resolve(base: .defaults(.seed), layers: [flags([(key, .number("64"))])]) }
            #expect(error?.hasPrefix("\(flag) 64 contradicts the seed preset's") == true, "\(error ?? "no error")")
        }
        _ = try RunConfig.resolve(base: .defaults(.seed), layers: [flags([("model.dim", .number("4"))])])
        let data = message { _ = try RunConfig.resolve(base: .defaults(.seed), layers: [flags([("data.path", .text("/x.txt"))])]) }
        #expect(data == "--preset seed trains on the seed example's own sentences; it takes no --data.")
    }

    @Test(arguments: [
        ("bad.toml", "steps = 5\nout = \"x\" junk\n", "line 2"),
        ("bad.toml", "bogus_key = 1\n", "bogus_key is not an option"),
        ("bad.toml", "[model]\nwidth = 3\n", "model.width is not a setting"),
        ("bad.toml", "[model]\ndim = \"big\"\n", "bad.toml's model.dim must be an integer, not \"big\""),
        ("bad.toml", "layers = [1]\n", "layers is an array"),
        ("bad.json", "[1, 2]", "is not a JSON object"),
        ("bad.json", #"{"training": {"optimizer": "lion"}}"#, "training.optimizer must be one of sgd, adamw, not \"lion\""),
    ])
    func aBadFileIsOneSentenceNamingTheLineOrKey(name: String, text: String, says: String) throws {
        let error = message { _ = try RunConfig.resolve(base: .defaults(.gpt), layers: [try file(name, text)]) }
        #expect(error?.contains(says) == true, "\(error ?? "no error")")
        #expect(error?.contains("\n") == false)
    }
}
