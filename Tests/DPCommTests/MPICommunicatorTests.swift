import DPTestSupport
import Testing

/// The communicator under a real `mpirun`: `mpi-probe` runs every check on every rank and prints
/// `rank R/W CHECK ok|FAIL …`; these tests require every check to pass on every rank.
@Suite(.serialized) struct MPICommunicatorTests {
    static let checks = [
        "sum-float", "sum-double", "sum-int64", "max", "min", "broadcast", "broadcast-string",
        "allgather", "barrier", "iallreduce", "reduce-scatter", "allgather-in-place", "local", "mpi-error", "collectively",
        // BucketedExchange: every element bit-equal to the ring's summation order written out in
        // the probe (binary32 and bfloat16 rounded at every hop), in place and into ZeRO-1 shards.
        "bucketed-f32", "bucketed-bf16", "bucketed-one-bucket", "bucketed-tiny-buckets",
        "bucketed-shards-f32", "bucketed-shards-bf16", "bucketed-allgather", "bucketed-after-collectives",
    ]
    /// With 4 ranks as two pseudo-hosts of 2 (DPTRAIN_TEST_HOSTS=2: ranks 0, 1 and 2, 3; cyclic:
    /// 0, 2 and 1, 3, as `mpirun --map-by node` places them): ZeRO-1's exchange in two levels,
    /// bit-equal to its summation order (within each host, then across) written out in the
    /// probe, and the weights' all-gather the other way.
    static let twoLevelChecks = [
        "bucketed-two-levels-shards-f32", "bucketed-two-levels-shards-bf16", "bucketed-two-levels-allgather",
        "bucketed-two-levels-cyclic-shards-f32", "bucketed-two-levels-cyclic-allgather",
    ]

    @Test(arguments: [2, 4])
    func everyCheckPassesOnEveryRank(ranks: Int) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(ranks, Run.product("mpi-probe"), timeout: 60)
        #expect(!result.timedOut)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = Set(result.lines)
        for rank in 0..<ranks {
            for check in Self.checks + (ranks == 4 ? Self.twoLevelChecks : []) {
                #expect(lines.contains("rank \(rank)/\(ranks) \(check) ok"), "rank \(rank) \(check): \(result.stdout)")
            }
            #expect(lines.contains("rank \(rank)/\(ranks) done failures=0"))
        }
    }

    @Test func abortOnOneRankEndsAllRanksQuickly() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(4, Run.product("mpi-probe"), ["abort"], timeout: 30)
        #expect(!result.timedOut, "the other ranks were left waiting in the barrier")
        #expect(result.status != 0)
        #expect(result.stderr.contains("rank 1 aborts on purpose"))
        #expect(!result.stdout.contains("survived"))
        #expect(result.seconds < 20)
    }

    @Test(arguments: [2, 4])
    func aFailureInTheMiddleOfABucketEndsEveryRank(ranks: Int) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        // The highest rank's exchange thread throws between two hops of a bucket while the other
        // ranks' threads wait for its next message; its main thread aborts the job.
        let result = try Run.mpirun(ranks, Run.product("mpi-probe"), ["bucket-fault"], timeout: 30)
        #expect(!result.timedOut, "the other ranks were left waiting in the ring")
        #expect(result.status != 0)
        #expect(result.stderr.contains("rank \(ranks - 1): probe failed: bucket 1 fails on purpose"), "\(result.stderr)")
        #expect(!result.stdout.contains("survived"))
        #expect(result.seconds < 20)
    }

    @Test func withoutALauncherTheProbeRunsSoloAndMakesNoMPICall() throws {
        // SoloCommunicator is chosen without the launcher's variables; MPI is never initialized,
        // so this works even where no MPI runtime could start.
        let result = try Run.process(Run.product("mpi-probe"), [], timeout: 30)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for check in Self.checks where check != "local" {
            #expect(result.lines.contains("rank 0/1 \(check) ok"), "\(check): \(result.stdout)")
        }
    }
}
