import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// `--architecture encoder` and `--positions sinusoidal` end to end under a real mpirun (issue 12):
/// n ranks ≡ one rank with n× the batch (1e-5), the loss falls, resume is bit-identical, and the
/// encoder's commands (fill-mask, eval, sample, explain) read its checkpoint.
@Suite(.serialized) struct EncoderTests {
    static let shape = ["--layers", "2", "--dim", "32", "--heads", "4", "--context", "16", "--log-every", "1",
                        "--checkpoint-every", "0", "--warmup", "2"]
    static let small = shape + ["--eval-every", "0"]
    /// SGD: AdamW's m/√v would magnify the summation-order differences of near-zero gradients.
    static let sgd = ["--optimizer", "sgd", "--lr", "0.3"]

    @Test(arguments: [["--architecture", "encoder"], ["--positions", "sinusoidal"], ["--architecture", "encoder", "--positions", "sinusoidal"]])
    func fourAndTwoRanksTrainTheModelOfOneRankWithTheirGlobalBatch(_ flags: [String]) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let common = Self.small + Self.sgd + flags + ["--steps", "5"]
        let four = try trainRun(ranks: 4, common + ["--batch", "2"])
        let two = try trainRun(ranks: 2, common + ["--batch", "4"])
        let one = try trainRun(ranks: 1, common + ["--batch", "8"])
        for other in [two, one] {
            #expect(other.losses.count == 5 && four.losses.count == 5)
            for (a, b) in zip(four.losses, other.losses) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(flags): losses \(four.losses) vs \(other.losses)") }
            let (worst, name) = try maxRelativeDifference(four.weights, other.weights)
            #expect(worst <= 1e-5, "\(flags): final weights differ by \(worst) relative in \(name)")
        }
        let hasTable = four.weights.names.contains("pos_embedding")
        #expect(hasTable != flags.contains("sinusoidal"), "sinusoidal positions are no tensor; learned ones are")
    }

    /// 40 steps of AdamW under 2 and 4 ranks: the val loss (an encoder's over the same masked val
    /// windows at every evaluation) falls from step 10 to 40, to 0.3 below the loss of step 1
    /// (≈ ln V at initialization).
    @Test(arguments: [2, 4], [["--architecture", "encoder"], ["--positions", "sinusoidal"]])
    func theLossFalls(ranks: Int, flags: [String]) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let run = try trainRun(ranks: ranks, Self.shape + flags + ["--steps", "40", "--batch", "8", "--lr", "3e-3",
                                                                "--eval-every", "10", "--eval-batches", "4"])
        let val = run.valLosses
        #expect(val.count == 4, "\(run.stdout)")
        let (start, end, initial): (Double, Double, Double) = (val.first ?? 0, val.last ?? 0, run.losses.first ?? 0)
        #expect(end < start, "\(flags) on \(ranks) ranks: val loss \(val)")
        #expect(end < initial - 0.3, "\(flags) on \(ranks) ranks: val loss \(end) after 40 steps, train loss \(initial) at step 1")
        let first: Double = run.losses.prefix(5).reduce(0, +), last: Double = run.losses.suffix(5).reduce(0, +)
        #expect(last < first, "the train loss of the last 5 steps is below the first 5's: \(run.losses)")
    }

    /// An encoder stopped at step 5 and resumed is bit-identical to one that never stopped (the
    /// masking is seeded by the step, not by the process), also resumed on 4 ranks × 1 row.
    @Test func anEncoderResumesBitIdentically() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let common = Self.small + ["--architecture", "encoder", "--steps", "10", "--batch", "2"]
        let straight = try trainRun(ranks: 2, common)
        let out = try scratch()
        _ = try trainRun(ranks: 2, common + ["--stop-at", "5"], out: out)
        let resumed = try trainRun(ranks: 2, common + ["--resume"], out: out)
        #expect(resumed.stdout.contains("resumed from"), "\(resumed.stdout)")
        #expect(straight.losses == resumed.losses, "metrics.jsonl after resume must read as one run")
        #expect(straight.modelBytes == resumed.modelBytes, "model.safetensors must be bit-identical")
        let other = try scratch()
        _ = try trainRun(ranks: 2, common + ["--stop-at", "5"], out: other)
        let wider = try trainRun(ranks: 4, Self.small + ["--steps", "10", "--batch", "1", "--resume"], out: other)
        for (a, b) in zip(straight.losses, wider.losses) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(straight.losses) vs \(wider.losses)") }
    }

    /// fill-mask predicts each [MASK] with probabilities (text and JSON); eval reproduces the val
    /// loss the trainer logged; sample refuses an encoder in one sentence; explain shows no mask.
    @Test func theEncodersCommandsReadItsCheckpoint() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let run = try trainRun(ranks: 2, Self.shape + ["--architecture", "encoder", "--steps", "30", "--batch", "4", "--lr", "3e-3",
                                                    "--eval-every", "30", "--eval-batches", "4"])
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: run.latest.appendingPathComponent("state.json"))) as! [String: Any]
        let tokenizer = state["tokenizer"] as! [String: Any]
        #expect(tokenizer["mask_token"] as? String == "[MASK]")
        let model = state["model"] as! [String: Any]
        #expect(model["architecture"] as? String == "encoder")
        let chars: Int = (tokenizer["chars"] as? [String])?.count ?? 0
        let vocabulary: Int = model["vocab_size"] as? Int ?? 0
        #expect(vocabulary == chars + 1, "the vocabulary is the data's plus [MASK]")

        let dptrain = Run.product("dptrain")
        let json = try Run.process(dptrain, ["fill-mask", "--checkpoint", run.out.path, "--prompt", "be or [MASK]ot t[MASK] be", "--top-k", "3", "--json"], timeout: 60)
        try #require(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let masks = try #require(object["masks"] as? [[String: Any]])
        #expect(masks.map { $0["position"] as? Int } == [6, 11])
        for mask in masks {
            let predictions = try #require(mask["predictions"] as? [[String: Any]])
            let p: [Double] = predictions.compactMap { $0["probability"] as? Double }
            let total: Double = p.reduce(0, +)
            #expect(p.count == 3, "\(p)")
            #expect(p == p.sorted(by: >), "\(p)")
            #expect(total <= 1 + 1e-9 && (p.first ?? 0) > 0, "\(p)")
        }
        let text = try Run.process(dptrain, ["fill-mask", "--checkpoint", run.out.path, "--prompt", "be or [MASK]ot to"], timeout: 60)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("[MASK] 1 at token 6:") && text.stdout.contains("  → be or "), "\(text.stdout)")

        let eval = try Run.process(dptrain, ["eval", "--checkpoint", run.out.path, "--batches", "4", "--batch", "8", "--json"], timeout: 60)
        try #require(eval.status == 0, "\(eval.stderr)")
        let evaluated = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        #expect(evaluated["loss_mode"] as? String == "masked")
        let logged = try #require(run.valLosses.last)
        let loss = try #require(evaluated["loss"] as? Double)
        // The trainer's 4 batches of 2 ranks × 4 rows are eval's 4 batches of 1 × 8: the same 32 windows, masked alike.
        #expect(abs(loss - logged) <= 1e-6 * logged, "eval \(loss) vs the trainer's \(logged): the same masked windows")

        let sample = try Run.process(dptrain, ["sample", "--checkpoint", run.out.path], timeout: 60)
        let lines = sample.stderr.split(separator: "\n")
        #expect(sample.status != 0, "\(sample.stdout)")
        #expect(lines.count == 1 && lines.first?.contains("generates only from decoders") == true, "\(sample.stderr)")

        let explain = try Run.process(dptrain, ["explain", "--checkpoint", run.out.path, "--prompt", "the [MASK]", "--target", "e"], timeout: 60)
        #expect(explain.status == 0, "\(explain.stderr)")
        #expect(explain.stdout.contains("no mask: an encoder's token sees every token"), "\(explain.stdout)")
    }
}
