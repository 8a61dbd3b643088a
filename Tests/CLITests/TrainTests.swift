import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// `dptrain train` end to end, under a real mpirun with small models.
@Suite(.serialized) struct TrainTests {
    /// A model small enough that a few steps take well under a second per rank.
    static let small = ["--layers", "2", "--dim", "32", "--heads", "4", "--context", "16", "--log-every", "1",
                        "--eval-every", "0", "--checkpoint-every", "0", "--warmup", "2"]

    @Test func worldSizesAndAccumulationTrainTheSameModel() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let common = Self.small + ["--sampler", "sequential", "--steps", "4"]
        let four = try trainRun(ranks: 4, common + ["--batch", "2"])
        let twoAccumulating = try trainRun(ranks: 2, common + ["--batch", "2", "--grad-accum", "2"])
        let one = try trainRun(ranks: 1, common + ["--batch", "8"])
        for other in [twoAccumulating, one] {
            #expect(other.losses.count == 4)
            for (a, b) in zip(four.losses, other.losses) {
                #expect(abs(a - b) <= 1e-5 * abs(a), "losses \(four.losses) vs \(other.losses)")
            }
            let (worst, name) = try maxRelativeDifference(four.weights, other.weights)
            #expect(worst <= 1e-5, "final weights differ by \(worst) relative in \(name)")
        }
    }

    /// --positions sinusoidal and none hold the data-parallel equality (2 ranks ≡ one rank with
    /// twice the batch, 1e-5), the loss falls, sinusoidal adds no tensor, and resume continues.
    @Test(arguments: ["sinusoidal", "none"])
    func positionsTrainTheSameModelOnAnyWorldSize(positions: String) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        // SGD: AdamW's m/√v would magnify the summation-order differences of near-zero gradients.
        let common = Self.small + ["--positions", positions, "--sampler", "sequential", "--steps", "4", "--optimizer", "sgd", "--lr", "0.3"]
        let two = try trainRun(ranks: 2, common + ["--batch", "4"])
        let one = try trainRun(ranks: 1, common + ["--batch", "8"])
        #expect(two.losses.count == 4 && one.losses.count == 4)
        for (a, b) in zip(two.losses, one.losses) { #expect(abs(a - b) <= 1e-5 * abs(a), "losses \(two.losses) vs \(one.losses)") }
        let (worst, name) = try maxRelativeDifference(two.weights, one.weights)
        #expect(worst <= 1e-5, "final weights differ by \(worst) relative in \(name)")
        #expect(two.losses.last! < two.losses.first!, "\(two.losses)")
        #expect(!two.weights.names.contains("pos_embedding"))
        #expect(try configJSON(two.out)["model"].flatMap { ($0 as? [String: Any])?["positions"] as? String } == positions)
        let resumed = try trainRun(ranks: 2, Self.small + ["--steps", "6", "--batch", "4", "--resume"], out: two.out)
        #expect(resumed.losses.count == 6, "\(resumed.stderr)")
        // Sampling reads the positions from the checkpoint, with and without the KV cache.
        let sample = ["sample", "--checkpoint", two.out.path, "--tokens", "40", "--temperature", "0"]
        let cached = try Run.process(Run.product("dptrain"), sample, timeout: 60)
        let uncached = try Run.process(Run.product("dptrain"), sample + ["--no-kv-cache"], timeout: 60)
        #expect(cached.status == 0 && cached.stdout == uncached.stdout, "\(cached.stderr)")
    }

    @Test(arguments: ["sequential", "shuffle"])
    func resumingIsBitIdenticalToNeverStopping(sampler: String) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let common = Self.small + ["--sampler", sampler, "--steps", "10", "--batch", "2"]
        let straight = try trainRun(ranks: 2, common)
        let out = try scratch()
        _ = try trainRun(ranks: 2, common + ["--stop-at", "5"], out: out)
        let resumed = try trainRun(ranks: 2, common + ["--resume"], out: out)
        #expect(resumed.stdout.contains("resumed from"), "\(resumed.stdout)")
        #expect(straight.losses == resumed.losses, "metrics.jsonl after resume must read as one run")
        #expect(straight.modelBytes == resumed.modelBytes, "model.safetensors must be bit-identical")
    }

    @Test func resumingWithAnotherWorldSizeAndTheSameGlobalBatchContinues() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let common = Self.small + ["--sampler", "shuffle", "--steps", "8"]
        let straight = try trainRun(ranks: 2, common + ["--batch", "2"])
        let out = try scratch()
        _ = try trainRun(ranks: 2, common + ["--batch", "2", "--stop-at", "4"], out: out)
        let resumed = try trainRun(ranks: 4, common + ["--batch", "1", "--resume"], out: out)
        #expect(!resumed.stderr.contains("global batch changes"))
        for (a, b) in zip(straight.losses, resumed.losses) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "\(straight.losses) vs \(resumed.losses)")
        }
        let (worst, name) = try maxRelativeDifference(straight.weights, resumed.weights)
        #expect(worst <= 1e-4, "final weights differ by \(worst) relative in \(name)")
    }

    @Test func theLossFallsOnTheBuiltInCorpusAndOnlyRankZeroPrintsAndWrites() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try scratch()
        let run = try trainRun(ranks: 2, Self.small + ["--steps", "40", "--batch", "4", "--lr", "3e-3", "--log-every", "1",
                                                   "--eval-every", "20", "--checkpoint-every", "20"], out: out)
        #expect(run.losses.count == 40)
        // ln(vocabulary) ≈ 4 at the start; unigram statistics alone bring it near 3.
        #expect(run.losses.last! < run.losses.first! - 0.7, "the loss must fall: \(run.losses)")
        let stepLines = run.stdout.split(separator: "\n").filter { $0.hasPrefix("step ") && $0.contains("| loss ") }
        #expect(stepLines.count == 40, "one line per logged step, from rank 0 only: \(run.stdout)")
        #expect(run.stdout.components(separatedBy: "val loss").count - 1 == 2)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("checkpoints").path).sorted()
        #expect(checkpoints == ["LATEST", "step-00000020", "step-00000040"], "\(checkpoints)")
        let latest = try String(contentsOf: out.appendingPathComponent("checkpoints/LATEST"), encoding: .utf8)
        #expect(latest.trimmingCharacters(in: .whitespacesAndNewlines) == "step-00000040")
        let state = try JSONSerialization.jsonObject(
            with: Data(contentsOf: out.appendingPathComponent("checkpoints/step-00000040/state.json"))) as? [String: Any]
        #expect(state?["step"] as? Int == 40 && state?["world_size"] as? Int == 2)
        #expect((state?["sha256"] as? [String: String])?.count == 2)

        // TensorBoard: every logged step and evaluation, with valid checksums (the reader checks them).
        let events = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("tensorboard").path)
        #expect(events.count == 1 && events[0].hasPrefix("events.out.tfevents."))
        let records = try TensorBoardEvents.read(out.appendingPathComponent("tensorboard/\(events[0])"))
        let losses = records.flatMap { record in record.scalars.filter { $0.tag == "train/loss" }.map { _ in record.step } }
        #expect(losses == Array(1...40))
        #expect(records.filter { $0.scalars.contains { $0.tag == "val/loss" } }.map(\.step) == [20, 40])
    }

    @Test func theSeedPresetLearnsTheSeedSentences() throws {
        let run = try trainRun(ranks: 1, ["--preset", "seed", "--steps", "100", "--log-every", "10", "--eval-every", "0"])
        #expect(run.stdout.contains("seed example, word tokenizer, 4 tokens"), "\(run.stdout)")
        #expect(run.losses.last! < run.losses.first! * 0.7, "\(run.losses)")
    }

    /// The seed preset as a new user runs it — its own defaults, SGD lr 0.5, 300 steps — learns
    /// the four sentences: train loss < 0.05 at the end, and greedy sampling gives the next word
    /// after every one of the four two-word contexts (which needs the data's window stride 1:
    /// at stride T = 2 two contexts are never trained).
    @Test(arguments: [1, 2, 3])
    func theSeedPresetPredictsTheNextWordOfAllFourContexts(seed: Int) throws {
        let run = try trainRun(ranks: 1, ["--preset", "seed", "--seed", "\(seed)"])
        #expect(run.losses.count > 0 && run.losses.last! < 0.05, "seed \(seed): \(run.losses.suffix(5))")
        for (context, next) in [("hello world", "welcome"), ("world welcome", "good"), ("welcome good", "hello"), ("good hello", "world")] {
            let sample = try Run.process(Run.product("dptrain"), [
                "sample", "--checkpoint", run.out.path, "--prompt", context, "--tokens", "1", "--temperature", "0",
            ], timeout: 60)
            #expect(sample.status == 0, "\(sample.stderr)")
            #expect(sample.stdout == "\(context) \(next)\n", "seed \(seed): after \"\(context)\"")
        }
    }

    /// The seed preset's data (stride 1, sequential) keeps the contracts: 2 ranks × 2 rows train
    /// the model of 1 rank × 4 rows (1e-5), and a run stopped and resumed is bit-identical.
    @Test func theSeedPresetKeepsTheWorldSizeAndResumeContracts() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        // 20 steps: at lr 0.5 later steps amplify the ranks' float summation order past 1e-5.
        let short = ["--preset", "seed", "--steps", "20", "--log-every", "1"]
        let one = try trainRun(ranks: 1, short + ["--batch", "4"])
        let two = try trainRun(ranks: 2, short + ["--batch", "2"])
        #expect(one.losses.count == 20 && two.losses.count == 20)
        // −log p near p = 1 carries float32's absolute error (1.2e-7), hence the 1e-6 floor.
        for (a, b) in zip(one.losses, two.losses) { #expect(abs(a - b) <= max(1e-5 * abs(a), 1e-6), "\(one.losses) vs \(two.losses)") }
        // The weights are of order 1 (Glorot by fan-in 4–8); a few near 0 make a relative bound
        // meaningless, so the bound is 1e-5 of the largest weight of each tensor.
        #expect(one.weights.names == two.weights.names)
        for name in one.weights.names {
            let (a, b) = (try one.weights.values(name), try two.weights.values(name))
            let scale = a.map { abs(Double($0)) }.max() ?? 0
            let worst = zip(a, b).map { abs(Double($0) - Double($1)) }.max() ?? 0
            #expect(worst <= 1e-5 * max(scale, 1e-3), "\(name): differs by \(worst), largest weight \(scale)")
        }
        let common = ["--preset", "seed", "--steps", "120", "--log-every", "1", "--batch", "4"]
        let straight = try trainRun(ranks: 1, common)
        let out = try scratch()
        _ = try trainRun(ranks: 1, common + ["--stop-at", "50"], out: out)
        let resumed = try trainRun(ranks: 1, common + ["--resume"], out: out)
        #expect(straight.losses == resumed.losses, "metrics.jsonl after resume must read as one run")
        #expect(straight.modelBytes == resumed.modelBytes, "model.safetensors must be bit-identical")
    }

    @Test func debugModeRunsWithoutMPIRunAndReportsItsChecks() throws {
        let run = try trainRun(ranks: 1, Self.small + ["--steps", "3", "--debug"])
        #expect(run.stdout.contains("(single process"), "solo: \(run.stdout)")
        #expect(run.stdout.contains("debug: gradient spot check: worst relative error"))
        #expect(run.stdout.contains("fwd ") && run.stdout.contains(" allreduce "))
        let spot = run.stdout.split(separator: "\n").first { $0.contains("spot check") }!
        let error = Double(spot.split(separator: " ")[7]) ?? 1
        #expect(error < 0.3, "the analytic gradients must agree with finite differences: \(spot)")
    }

    @Test func aFreshRunRefusesToOverwriteAnEarlierRunsCheckpoints() throws {
        let out = try scratch()
        _ = try trainRun(ranks: 1, Self.small + ["--steps", "2"], out: out)
        let again = try Run.process(Run.product("dptrain"), Self.small + ["--steps", "2", "--out", out.path], timeout: 60)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds checkpoints"), "\(again.stderr)")
    }

    @Test func aConfigFileSetsOptionsAndTheCommandLineOverridesIt() throws {
        let directory = try scratch()
        let toml = directory.appendingPathComponent("run.toml")
        try Data("# a small run\nlayers = 1\ndim = 16\nheads = 2\ncontext = 8\nsteps = 9\nlog-every = 1\ntie-embeddings = false\nlr = 2e-3\n".utf8).write(to: toml)
        let run = try trainRun(ranks: 1, ["--config", toml.path, "--steps", "3", "--quiet"])
        #expect(run.losses.count == 3, "--steps 3 on the command line wins over the file's 9")
        #expect(!run.stdout.contains("step 1/3"), "--quiet prints no step lines: \(run.stdout)")
        #expect(run.stdout.contains("done: step 3"))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.out.appendingPathComponent("config.json"))) as? [String: Any]
        let model = config?["model"] as? [String: Any], training = config?["training"] as? [String: Any]
        #expect(model?["dim"] as? Int == 16 && model?["tied_embeddings"] as? Bool == false)
        #expect(training?["steps"] as? Int == 3 && (training?["lr"] as? Double).map { abs($0 - 2e-3) < 1e-9 } == true)

        let json = directory.appendingPathComponent("run.json")
        try Data(#"{"layers": 1, "dim": 16, "heads": 2, "context": 8, "steps": 2, "log_every": 1, "debug": true}"#.utf8).write(to: json)
        let fromJSON = try trainRun(ranks: 1, ["--config", json.path])
        #expect(fromJSON.losses.count == 2 && fromJSON.stdout.contains("debug: gradient spot check"))

        try Data("layers = [1]\n".utf8).write(to: toml)
        let bad = try Run.process(Run.product("dptrain"), ["--config", toml.path], timeout: 30)
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
    }

    @Test func configJSONRepeatsARunAndAResumeMayChangeTrainingFlags() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        // Issue 14's case: --min-lr 0.02 on resume is checked against the checkpoint's --lr 0.1.
        let first = try trainRun(ranks: 2, Self.small + ["--steps", "5", "--lr", "0.1", "--min-lr", "0.01", "--zero", "1"])
        let resumed = try trainRun(ranks: 2, ["--resume", "--steps", "8", "--min-lr", "0.02"], out: first.out)
        #expect(resumed.losses.count == 8, "\(resumed.stdout)")
        let resumedConfig = try configJSON(first.out)
        #expect((resumedConfig["training"] as? [String: Any])?["min_lr"] as? Double == 0.02)
        #expect((resumedConfig["parallel"] as? [String: Any])?["zero"] as? Int == 1, "the checkpoint's ZeRO stage carries over")

        // The recorded settings, given back, are the same run (but for OUT).
        let repeated = try trainRun(ranks: 2, ["--config", first.out.appendingPathComponent("config.json").path])
        var a = resumedConfig, b = try configJSON(repeated.out)
        a["out"] = nil
        b["out"] = nil
        #expect(NSDictionary(dictionary: a).isEqual(to: b), "\(a)\nvs\n\(b)")
        #expect(repeated.losses.count == 8)
    }

    /// OUT/config.json as a JSON object.
    func configJSON(_ out: URL) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any])
    }
}
