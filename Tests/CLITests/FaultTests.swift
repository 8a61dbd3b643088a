import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// Issue 7's faults: killed ranks, signals, crashes mid-checkpoint, corrupt checkpoints, drifting
/// replicas, non-finite losses, unwritable output. Every case must end every rank quickly, never
/// lose more than the work since the last checkpoint, and never leave a broken LATEST.
@Suite(.serialized) struct FaultTests {
    /// A small model (about 1 ms per step with 2 ranks on an idle machine) and a run long enough
    /// to interrupt after step 300.
    static let tiny = ["train", "--layers", "1", "--dim", "64", "--heads", "2", "--context", "32", "--batch", "4",
                       "--steps", "2000", "--log-every", "100", "--eval-every", "0", "--checkpoint-every", "100"]

    /// The final model of an uninterrupted run of `tiny`, made once.
    static let straight: Result<Data, any Error> = Result {
        let out = try scratch()
        let result = try Run.mpirun(2, Run.product("dptrain"), tiny + ["--out", out.path], timeout: 120)
        guard result.status == 0 else { throw ConfigError("the straight run failed: \(result.stderr)") }
        return try latestModel(out)
    }

    @Test func aKilledRankEndsTheJobAndResumeFinishesBitIdentical() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.scratch()
        let job = try RunningProcess(mpirun: 2, Run.product("dptrain"), Self.tiny + ["--out", out.path])
        #expect(job.waitForOutput { $0.contains("checkpoint step 300") }, "\(job.stdout)")
        let ranks = job.rankProcessIDs
        try #require(ranks.count == 2, "mpirun's children: \(ranks)")
        let killed = Date()
        kill(ranks[1], SIGKILL)
        let result = job.wait(timeout: 60)
        #expect(!result.timedOut && Date().timeIntervalSince(killed) < 30, "the job must end within 30 s")
        #expect(result.status != 0)
        let stepAtKill = try Self.latestStep(out)
        #expect(stepAtKill >= 300 && stepAtKill < 2000)

        let resumed = try Run.mpirun(2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--resume"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Self.latestModel(out) == Self.straight.get(), "resumed final weights must be bit-identical")
    }

    @Test(arguments: [("USR1", SIGUSR1, false), ("TERM", SIGTERM, true)])
    func aSignalStopsAtAStepBoundaryWithACheckpoint(name: String, signal: Int32, toEveryRank: Bool) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.scratch()
        let job = try RunningProcess(mpirun: 2, Run.product("dptrain"), Self.tiny + ["--out", out.path])
        #expect(job.waitForOutput { $0.contains("step  300/2000") }, "\(job.stdout)")
        // mpirun forwards SIGUSR1 to every rank; Slurm preemption sends SIGTERM to every task.
        let targets = toEveryRank ? job.rankProcessIDs : [job.processIdentifier]
        let signalled = Date()
        for pid in targets { kill(pid, signal) }
        let result = job.wait(timeout: 60)
        #expect(!result.timedOut && Date().timeIntervalSince(signalled) < 30)
        #expect(result.status == 128 + signal, "exit status \(result.status): \(result.stderr)")
        let stopped = result.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain: stopped by SIG\(name) after step") }
        #expect(stopped.count == 1, "one line from rank 0: \(result.stderr)")
        // The signal may land before step 301 ends (the log line of 300 came first): then the
        // stop is after step 300, whose checkpoint is the stop's. Either way the latest checkpoint
        // is the step the stop line names.
        let step = try Self.latestStep(out)
        #expect(step >= 300 && step < 2000, "a checkpoint at the stop: \(step)")
        #expect(stopped.first?.contains("after step \(step),") == true, "the stop names the checkpoint's step \(step): \(stopped)")
        #expect(result.stdout.contains("checkpoint step \(step):"))

        let resumed = try Run.mpirun(2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--resume"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Self.latestModel(out) == Self.straight.get(), "resumed final weights must be bit-identical")
    }

    @Test func aCrashWhileWritingACheckpointLeavesLatestIntact() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.scratch()
        let first = try Run.mpirun(2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--stop-at", "200"], timeout: 60)
        #expect(first.status == 0)
        let crashed = try Run.mpirun(
            2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--resume"],
            environment: ["DPTRAIN_FAULT": "crash-in-checkpoint"], timeout: 60)
        #expect(!crashed.timedOut && crashed.status != 0)
        #expect(try Self.latestStep(out) == 200, "LATEST must still name the last complete checkpoint")
        let resumed = try Run.mpirun(2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--resume"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("checkpoints").path)
            .filter { $0.hasPrefix(".tmp") }
        #expect(leftovers.isEmpty, "temporary directories must not pile up: \(leftovers)")
        #expect(try Self.latestModel(out) == Self.straight.get())
    }

    @Test func aCorruptCheckpointIsNamedAndResumeFallsBackToTheNewestValidOne() throws {
        let out = try Self.scratch()
        let args = Self.tiny.map { $0 == "2000" ? "300" : $0 } + ["--out", out.path]
        #expect(try Run.process(Run.product("dptrain"), args, timeout: 60).status == 0)
        let damaged = out.appendingPathComponent("checkpoints/step-00000300/model.safetensors")
        var bytes = try Data(contentsOf: damaged)
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: damaged)

        let explicit = try Run.process(Run.product("dptrain"), args.map { $0 == "300" ? "400" : $0 } + ["--resume", out.appendingPathComponent("checkpoints/step-00000300").path], timeout: 60)
        #expect(explicit.status != 0)
        #expect(explicit.stderr.contains("step-00000300/model.safetensors"), "\(explicit.stderr)")

        let fallback = try Run.process(Run.product("dptrain"), args.map { $0 == "300" ? "400" : $0 } + ["--resume"], timeout: 60)
        #expect(fallback.status == 0, "\(fallback.stderr)")
        #expect(fallback.stderr.contains("skipped step-00000300"), "\(fallback.stderr)")
        #expect(fallback.stdout.contains("at step 200"), "\(fallback.stdout)")
    }

    @Test func driftingReplicasAreCaughtAndTheRankIsNamed() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.scratch()
        let result = try Run.mpirun(
            2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--debug"],
            environment: ["DPTRAIN_FAULT": "perturb-replica"], timeout: 60)
        #expect(!result.timedOut && result.status != 0)
        #expect(result.stderr.contains("the weights of rank 1 differ from rank 0's after step 2"), "\(result.stderr)")
    }

    @Test func aNonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint() throws {
        let out = try Self.scratch()
        let args = Self.tiny + ["--out", out.path]
        #expect(try Run.process(Run.product("dptrain"), args + ["--stop-at", "100"], timeout: 60).status == 0)
        let result = try Run.process(Run.product("dptrain"), args + ["--resume", "--lr", "1e3", "--clip", "0"], timeout: 60)
        #expect(result.status != 0)
        #expect(result.stderr.contains("non-finite"), "\(result.stderr)")
        #expect(try Self.latestStep(out) == 100)
    }

    @Test func anOutputDirectoryThatCannotBeWrittenIsRefusedBeforeTraining() throws {
        let file = try Self.scratch().appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let result = try Run.process(Run.product("dptrain"), Self.tiny + ["--out", file.appendingPathComponent("out").path], timeout: 60)
        #expect(result.status != 0)
        #expect(!result.stdout.contains("step "), "nothing may train")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func aFailedCheckpointWriteStopsTheRunWithThePreviousCheckpointIntact() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try Self.scratch()
        #expect(try Run.mpirun(2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--stop-at", "100"], timeout: 60).status == 0)
        let result = try Run.mpirun(
            2, Run.product("dptrain"), Self.tiny + ["--out", out.path, "--resume"],
            environment: ["DPTRAIN_FAULT": "fail-checkpoint-write"], timeout: 60)
        #expect(!result.timedOut && result.status == 1)
        #expect(result.stderr.contains("injected fault fail-checkpoint-write"), "\(result.stderr)")
        #expect(try Self.latestStep(out) == 100)
    }

    // MARK: - Helpers

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-fault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func latestStep(_ out: URL) throws -> Int {
        let name = try String(contentsOf: out.appendingPathComponent("checkpoints/LATEST"), encoding: .utf8)
        return Int(name.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst("step-".count)) ?? -1
    }

    static func latestModel(_ out: URL) throws -> Data {
        let name = try String(contentsOf: out.appendingPathComponent("checkpoints/LATEST"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return try Data(contentsOf: out.appendingPathComponent("checkpoints/\(name)/model.safetensors"))
    }
}
