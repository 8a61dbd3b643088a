import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// `--zero 1` (reduce-scatter, sharded update, all-gather) trains the same model as `--zero 0`,
/// writes the whole optimizer state in checkpoints, and resumes.
@Suite(.serialized) struct ZeroTests {
    static let small = ["--layers", "2", "--dim", "32", "--heads", "4", "--context", "16", "--log-every", "1",
                        "--eval-every", "0", "--checkpoint-every", "0", "--warmup", "2", "--sampler", "shuffle",
                        "--batch", "2", "--lr", "3e-3", "--clip", "0.5"]

    struct Trained {
        let losses: [Double]
        let gradNorms: [Double]
        let weights: SafetensorsFile
        let optimizer: SafetensorsFile
    }

    @Test(arguments: [2, 3])
    func zeroOneMatchesZeroZeroInLossesWeightsAndMoments(ranks: Int) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let plain = try train(ranks: ranks, Self.small + ["--steps", "6", "--zero", "0"])
        let sharded = try train(ranks: ranks, Self.small + ["--steps", "6", "--zero", "1"])
        #expect(plain.losses.count == 6 && sharded.losses.count == 6)
        for (a, b) in zip(plain.losses, sharded.losses) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "losses \(plain.losses) vs \(sharded.losses)")
        }
        for (a, b) in zip(plain.gradNorms, sharded.gradNorms) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "gradient norms (clipped at 0.5) \(plain.gradNorms) vs \(sharded.gradNorms)")
        }
        // Two ranks sum each element in the same (commutative) way in both collectives; with three,
        // MPI's reduce-scatter and all-reduce add the ranks' floats in different orders, and six
        // AdamW steps carry that last-bit difference a little further.
        let tolerance = ranks == 2 ? 1e-5 : 1e-4
        let (weights, weightName) = try maxRelativeDifference(plain.weights, sharded.weights)
        #expect(weights <= tolerance, "weights differ by \(weights) relative in \(weightName)")
        // The checkpoint's m and v are whole (every tensor, gathered from the shards).
        #expect(plain.optimizer.names == sharded.optimizer.names)
        #expect(sharded.optimizer.names.contains("m.tok_embedding") && sharded.optimizer.names.contains("v.ln_f.bias"))
        let (moments, momentName) = try maxRelativeDifference(plain.optimizer, sharded.optimizer)
        #expect(moments <= tolerance, "AdamW moments differ by \(moments) relative in \(momentName)")
    }

    @Test func zeroOneResumesFromItsOwnCheckpointAsIfNeverStopped() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let straight = try train(ranks: 2, Self.small + ["--steps", "8", "--zero", "0"])
        let out = try scratch()
        _ = try train(ranks: 2, Self.small + ["--steps", "8", "--zero", "1", "--stop-at", "4"], out: out)
        let resumed = try train(ranks: 2, Self.small + ["--steps", "8", "--zero", "1", "--resume"], out: out)
        #expect(resumed.losses.count == 8)
        for (a, b) in zip(straight.losses, resumed.losses) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "\(straight.losses) vs \(resumed.losses)")
        }
        let (worst, name) = try maxRelativeDifference(straight.weights, resumed.weights)
        #expect(worst <= 1e-5, "final weights differ by \(worst) relative in \(name)")
    }

    @Test func zeroTwoIsRefusedInOneSentence() throws {
        let result = try Run.process(Run.product("dptrain"), ["train", "--zero", "2", "--steps", "1"], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--zero must be 0 or 1"), "\(result.stderr)")
    }

    // MARK: - Helpers

    func train(ranks: Int, _ arguments: [String], out: URL? = nil) throws -> Trained {
        let out = try out ?? scratch()
        let result = try Run.mpirun(ranks, Run.product("dptrain"), ["train"] + arguments + ["--out", out.path], timeout: 120)
        try #require(result.status == 0, "dptrain failed (\(result.status)): \(result.stderr)")
        let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let objects = metrics.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["loss"] != nil }
        let latest = try String(contentsOf: out.appendingPathComponent("checkpoints/LATEST"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let directory = out.appendingPathComponent("checkpoints/\(latest)")
        return Trained(
            losses: objects.compactMap { $0["loss"] as? Double }, gradNorms: objects.compactMap { $0["grad_norm"] as? Double },
            weights: try Safetensors.decode(Data(contentsOf: directory.appendingPathComponent("model.safetensors"))),
            optimizer: try Safetensors.decode(Data(contentsOf: directory.appendingPathComponent("optimizer.safetensors"))))
    }
}
