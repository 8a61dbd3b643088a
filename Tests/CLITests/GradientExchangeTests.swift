import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// `--bucket-mb` (the all-reduce in buckets, overlapped with backward) and `--grad-compression
/// bf16` under real mpirun: the same models as one all-reduce after backward, with ZeRO-1 and
/// gradient accumulation, and a failure in the middle of a bucket ends every rank.
///
/// The model has 29,000 parameters (116 KB of gradients): --bucket-mb 0.01 (2,621 floats) cuts
/// it into 12 buckets or more, several per backward report where a tensor is larger than that.
@Suite(.serialized) struct GradientExchangeTests {
    static let small = ["--layers", "2", "--dim", "32", "--heads", "4", "--context", "16", "--log-every", "1",
                        "--eval-every", "0", "--checkpoint-every", "0", "--warmup", "2", "--sampler", "shuffle",
                        "--batch", "2", "--lr", "3e-3", "--clip", "0.5", "--steps", "5"]
    static let buckets = ["--bucket-mb", "0.01"]

    struct Trained {
        let losses: [Double]
        let model: Data
        let optimizer: Data
        let stderr: String
    }

    /// With 2 ranks a + b is the same sum in any order, so the ring of the buckets and MPI's
    /// all-reduce give the same bits; with 4, MPI's algorithm adds in another order than the
    /// ring: every loss within 1e-5 relative; weights and AdamW moments within 1e-4 of
    /// max(|x|, 1e-3), the tolerance of ZeroTests for more than 2 ranks (AdamW divides by √v,
    /// which magnifies the last bits of tiny gradients; measured: 1.1e-5).
    @Test(arguments: [2, 4])
    func bucketsTrainTheModelOfOneAllReduceAfterBackward(ranks: Int) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let flat = try train(ranks: ranks, Self.small + ["--bucket-mb", "0"])
        let bucketed = try train(ranks: ranks, Self.small + Self.buckets)
        #expect(flat.losses.count == 5 && bucketed.losses.count == 5)
        if ranks == 2 {
            #expect(flat.losses == bucketed.losses)
            #expect(flat.model == bucketed.model, "the weights must be bit-identical")
            #expect(flat.optimizer == bucketed.optimizer, "the AdamW moments must be bit-identical")
        } else {
            for (a, b) in zip(flat.losses, bucketed.losses) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(flat.losses) vs \(bucketed.losses)") }
            let (weights, name) = try maxRelativeDifference(flat.model, bucketed.model)
            #expect(weights <= 1e-4, "weights differ by \(weights) relative in \(name)")
            let (moments, momentName) = try maxRelativeDifference(flat.optimizer, bucketed.optimizer)
            #expect(moments <= 1e-4, "moments differ by \(moments) relative in \(momentName)")
        }
    }

    @Test func onlyTheLastMicroStepCommunicatesAndGradAccumGivesTheSameModel() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let accumulate = ["--grad-accum", "3"]
        let flat = try train(ranks: 2, Self.small + accumulate + ["--bucket-mb", "0"])
        let bucketed = try train(ranks: 2, Self.small + accumulate + Self.buckets)
        #expect(flat.losses == bucketed.losses)
        // Had an earlier micro-step's backward sent its buckets, the gradients of the next
        // micro-steps would be added to sums already reduced, and the models would differ.
        #expect(flat.model == bucketed.model, "the weights must be bit-identical")
        #expect(flat.optimizer == bucketed.optimizer)
    }

    /// ZeRO-1 reduce-scatters every bucket into the shards (each rank's shard ∩ the bucket, some
    /// empty) and all-gathers the weights through the same buckets. A chunk's owner, and so its
    /// summation order and its bf16 rounding, depend only on the shards: bucketed and one bucket
    /// give the same bits with 2 and 4 ranks. --debug checks the weight hashes every step.
    @Test(arguments: [2, 4])
    func zeroOneWithBucketsAndBF16MatchesOneBucketBitForBit(ranks: Int) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let options = Self.small + ["--zero", "1", "--grad-compression", "bf16", "--debug"]
        let bucketed = try train(ranks: ranks, options + Self.buckets)
        let oneBucket = try train(ranks: ranks, options + ["--bucket-mb", "0"])
        #expect(bucketed.losses == oneBucket.losses)
        #expect(bucketed.model == oneBucket.model, "the weights must be bit-identical")
        #expect(bucketed.optimizer == oneBucket.optimizer)

        // bf16 gradients (8 significant bits) train nearly the f32 model over 5 steps: the
        // losses within 1% (they differ by about 1e-4 here), and not identically.
        let f32 = try train(ranks: ranks, Self.small + ["--zero", "1"] + Self.buckets)
        for (a, b) in zip(f32.losses, bucketed.losses) { #expect(abs(a - b) <= 1e-2 * abs(a), "\(f32.losses) vs \(bucketed.losses)") }
        #expect(f32.model != bucketed.model, "bf16 must really round the gradients")
    }

    @Test func bf16WithoutZeroKeepsTheReplicasIdentical() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        // --debug: the weight hash check every step fails the run if one replica differs.
        let result = try train(ranks: 4, Self.small + Self.buckets + ["--grad-compression", "bf16", "--debug"])
        #expect(result.losses.count == 5)
        #expect(!result.stderr.contains("differ"), "\(result.stderr)")
    }

    @Test func aFailureInAnInFlightBucketEndsEveryRank() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try scratch()
        let result = try Run.mpirun(
            2, Run.product("dptrain"), ["train"] + Self.small + Self.buckets + ["--out", out.path],
            environment: [TestFault.environmentVariable: TestFault.failInBucket.rawValue], timeout: 60)
        #expect(!result.timedOut, "the other rank was left waiting in the ring")
        #expect(result.status != 0)
        #expect(result.seconds < 30)
        #expect(result.stderr.contains("fail-in-bucket: the exchange of bucket 0 fails on rank 1 at step 3"), "\(result.stderr)")
        #expect(!result.stdout.contains("step 3/5"), "step 3 must not complete: \(result.stdout)")
    }

    @Test func benchReportsTheExposedAndTheBusyCommunicationTime() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(
            2, Run.product("dptrain"),
            ["bench", "--layers", "1", "--dim", "32", "--heads", "2", "--context", "16", "--batch", "2", "--steps", "2",
             "--warm-up", "1", "--threads", "1", "--grad-compression", "bf16", "--json"] + Self.buckets, timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["grad_compression"] as? String == "bf16")
        #expect((object["bucket_mb"] as? Double) == 0.01)
        let busy = try #require(object["comm_busy_ms"] as? Double), cpu = try #require(object["comm_cpu_ms"] as? Double)
        #expect(busy > 0, "the exchange thread did the work: \(result.stdout)")
        // One thread's CPU time cannot exceed the wall time it was measured over (medians of the
        // same steps; 0.05 ms for the clocks' granularity).
        #expect(cpu > 0 && cpu <= busy + 0.05, "the exchange thread's CPU time \(cpu) ms of \(busy) ms busy")
        #expect(object["exposed_comm_ms"] as? Double != nil)
    }

    /// Two levels: DPTRAIN_TEST_HOSTS=2 makes ranks 0, 1 and 2, 3 two "hosts" under one mpirun,
    /// so every bucket is reduced within each host, across the hosts on half the bucket per rank,
    /// and gathered within each host again — another summation order than the flat ring: with
    /// f32 the losses within 1e-5 relative, weights and moments within 1e-4 of max(|x|, 1e-3)
    /// (the 4-rank tolerances above). With bf16 (rounded on the cross-host hop only) the replicas
    /// stay identical (--debug hashes the weights every step) and train within 1% of f32.
    @Test func twoLevelsTrainTheModelOfTheFlatRing() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let hosts = ["DPTRAIN_TEST_HOSTS": "2"]
        let flat = try train(ranks: 4, Self.small + Self.buckets)
        let levels = try train(ranks: 4, Self.small + Self.buckets + ["--debug"], environment: hosts)
        #expect(flat.losses.count == 5 && levels.losses.count == 5)
        for (a, b) in zip(flat.losses, levels.losses) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(flat.losses) vs \(levels.losses)") }
        let (weights, name) = try maxRelativeDifference(flat.model, levels.model)
        #expect(weights <= 1e-4, "weights differ by \(weights) relative in \(name)")
        let (moments, momentName) = try maxRelativeDifference(flat.optimizer, levels.optimizer)
        #expect(moments <= 1e-4, "moments differ by \(moments) relative in \(momentName)")

        let bf16 = try train(ranks: 4, Self.small + Self.buckets + ["--grad-compression", "bf16", "--debug"], environment: hosts)
        for (a, b) in zip(flat.losses, bf16.losses) { #expect(abs(a - b) <= 1e-2 * abs(a), "\(flat.losses) vs \(bf16.losses)") }
        #expect(bf16.model != levels.model, "bf16 must really round the gradients")
    }

    /// ZeRO-1 in two levels (its reduce-scatter within each host, then across; the weights'
    /// all-gather across, then within) against the flat ring of ZeRO-1 and against ZeRO-0 in two
    /// levels: another summation order, so the 4-rank tolerances above. With bf16 the replicas
    /// stay identical (--debug hashes the weights every step) and train within 1% of f32.
    @Test func zeroOneInTwoLevelsTrainsTheModelOfTheFlatRing() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let hosts = ["DPTRAIN_TEST_HOSTS": "2"]
        let flat = try train(ranks: 4, Self.small + Self.buckets + ["--zero", "1"])
        let levels = try train(ranks: 4, Self.small + Self.buckets + ["--zero", "1", "--debug"], environment: hosts)
        let zeroLevels = try train(ranks: 4, Self.small + Self.buckets, environment: hosts)
        for other in [levels, zeroLevels] {
            #expect(other.losses.count == 5)
            for (a, b) in zip(flat.losses, other.losses) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(flat.losses) vs \(other.losses)") }
            let (weights, name) = try maxRelativeDifference(flat.model, other.model)
            #expect(weights <= 1e-4, "weights differ by \(weights) relative in \(name)")
            let (moments, momentName) = try maxRelativeDifference(flat.optimizer, other.optimizer)
            #expect(moments <= 1e-4, "moments differ by \(moments) relative in \(momentName)")
        }

        let bf16 = try train(ranks: 4, Self.small + Self.buckets + ["--zero", "1", "--grad-compression", "bf16", "--debug"], environment: hosts)
        for (a, b) in zip(flat.losses, bf16.losses) { #expect(abs(a - b) <= 1e-2 * abs(a), "\(flat.losses) vs \(bf16.losses)") }
        #expect(bf16.model != levels.model, "bf16 must really round the gradients")
    }

    /// The bench says which exchange ran: two levels with DPTRAIN_TEST_HOSTS=2 ([hosts, ranks per
    /// host]), with ZeRO-1 too, and none when DPTRAIN_HOST_LEVELS=0 on any rank.
    @Test(arguments: [
        (["DPTRAIN_TEST_HOSTS": "2"], [String](), [2, 2] as [Int]?),
        (["DPTRAIN_TEST_HOSTS": "2", "DPTRAIN_HOST_LEVELS": "0"], [String](), nil),
        (["DPTRAIN_TEST_HOSTS": "2"], ["--zero", "1"], [2, 2]),
    ])
    func benchNamesTheTwoLevels(environment: [String: String], options: [String], levels: [Int]?) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(
            4, Run.product("dptrain"),
            ["bench", "--layers", "1", "--dim", "32", "--heads", "2", "--context", "16", "--batch", "2", "--steps", "1",
             "--warm-up", "1", "--threads", "1", "--json"] + Self.buckets + options, environment: environment, timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["host_levels"] as? [Int] == levels, "\(result.stdout)")
        #expect(((object["buckets"] as? Int) ?? 0) > 1, "\(result.stdout)")
    }

    @Test func aFailureInATwoLevelBucketEndsEveryRank() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try scratch()
        let result = try Run.mpirun(
            4, Run.product("dptrain"), ["train"] + Self.small + Self.buckets + ["--out", out.path],
            environment: [TestFault.environmentVariable: TestFault.failInBucket.rawValue, "DPTRAIN_TEST_HOSTS": "2"], timeout: 90)
        #expect(!result.timedOut, "the other ranks were left waiting in the exchange")
        #expect(result.status != 0)
        #expect(result.seconds < 60)
        #expect(result.stderr.contains("fail-in-bucket: the exchange of bucket 0 fails on rank 3 at step 3"), "\(result.stderr)")
        #expect(!result.stdout.contains("step 3/5"), "step 3 must not complete: \(result.stdout)")
    }

    @Test(arguments: [
        (["--bucket-mb", "-1"], "--bucket-mb must be between 0 and 2048"),
        (["--bucket-mb", "nan"], "--bucket-mb must be between 0 and 2048"),
        (["--grad-compression", "fp8"], "--grad-compression"),
    ])
    func badCommunicationOptionsGetOneSentence(arguments: [String], message: String) throws {
        let result = try Run.process(Run.product("dptrain"), ["train", "--steps", "1"] + arguments, timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    // MARK: - Helpers

    func train(ranks: Int, _ arguments: [String], environment: [String: String] = [:]) throws -> Trained {
        let out = try scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try Run.mpirun(
            ranks, Run.product("dptrain"), ["train"] + arguments + ["--out", out.path], environment: environment, timeout: 120)
        try #require(result.status == 0, "dptrain failed (\(result.status)): \(result.stderr)")
        let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let losses = metrics.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double
        }
        let latest = try String(contentsOf: out.appendingPathComponent("checkpoints/LATEST"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let directory = out.appendingPathComponent("checkpoints/\(latest)")
        return Trained(
            losses: losses, model: try Data(contentsOf: directory.appendingPathComponent("model.safetensors")),
            optimizer: try Data(contentsOf: directory.appendingPathComponent("optimizer.safetensors")), stderr: result.stderr)
    }
}
