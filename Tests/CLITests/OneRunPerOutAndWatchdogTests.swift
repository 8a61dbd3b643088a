import DPTestSupport
import DPTrainer
import Foundation
import Testing

/// Issue 15, items 1 and 2: a rank that stops answering ends the job within --collective-timeout
/// instead of hanging it, and two runs on one OUT cannot destroy each other's work.
@Suite(.serialized) struct OneRunPerOutAndWatchdogTests {
    /// FaultTests' small model, trained long enough to be interrupted at leisure, with a checkpoint
    /// every 50 steps and only the last one kept: it prunes at every save.
    static let long = FaultTests.tiny.map { $0 == "2000" ? "1000000" : $0 }.map { $0 == "100" ? "50" : $0 } + ["--keep", "1"]

    @Test func aSecondRunOnOneOutIsRefusedNamingTheHolderAndReadersWorkBesideIt() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try FaultTests.scratch()
        let job = try RunningProcess(mpirun: 2, Run.product("dptrain"), Self.long + ["--out", out.path])
        #expect(job.waitForOutput { $0.contains("checkpoint step 100:") }, "\(job.stdout)")
        let ranks = job.rankProcessIDs
        try #require(ranks.count == 2, "mpirun's children: \(ranks)")

        let second = try Run.mpirun(2, Run.product("dptrain"), Self.long + ["--out", out.path, "--resume", "--lr", "0.003"], timeout: 60)
        #expect(second.status == 1, "\(second.stderr)")
        let lines = second.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain:") }
        #expect(lines.count == 1, "one sentence: \(second.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.contains("--out \(out.path) is in use by another dptrain run (pid "), "\(line)")
        let hostname = try String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ranks.contains { line.contains("pid \($0) on host \(hostname) since ") }, "names rank 0's pid and host: \(line)")
        #expect(!second.stdout.contains("step "), "the second run trained nothing: \(second.stdout)")

        // Read-only commands beside the live run, which prunes a checkpoint at every save.
        for _ in 0..<8 {
            let inspect = try Run.process(Run.product("dptrain"), ["inspect", out.path], timeout: 60)
            #expect(inspect.status == 0, "inspect beside a live run: \(inspect.stderr)")
            let sample = try Run.process(Run.product("dptrain"), ["sample", "--checkpoint", out.path, "--tokens", "5"], timeout: 60)
            #expect(sample.status == 0, "sample beside a live run: \(sample.stderr)")
        }
        let eval = try Run.process(Run.product("dptrain"), ["eval", "--checkpoint", out.path, "--batches", "2"], timeout: 60)
        #expect(eval.status == 0, "eval beside a live run: \(eval.stderr)")
        let plot = try Run.process(Run.product("dptrain"), ["plot", out.path], timeout: 60)
        #expect(plot.status == 0, "plot beside a live run: \(plot.stderr)")
        #expect(job.isRunning, "the first run goes on")

        // A crash releases the lock: no stale lock after SIGKILL.
        kill(ranks[0], SIGKILL)
        kill(ranks[1], SIGKILL)
        _ = job.wait(timeout: 60)
        let step = try FaultTests.latestStep(out)
        let resumed = try Run.mpirun(2, Run.product("dptrain"), Self.long.map { $0 == "1000000" ? String(step + 100) : $0 } + ["--out", out.path, "--resume"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try FaultTests.latestStep(out) == step + 100)
    }

    /// A rank that never reaches the start-up broadcast of the weights (it hangs, as on a broken
    /// connection) ends the job through the others' watchdog, naming that broadcast.
    @Test func aRankThatHangsAtStartUpEndsTheJob() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try FaultTests.scratch()
        let started = Date()
        let result = try Run.mpirun(2, Run.product("dptrain"), Self.long + ["--out", out.path, "--collective-timeout", "3"],
                                    environment: ["DPTRAIN_FAULT": "stall-at-start"], timeout: 90)
        #expect(!result.timedOut && Date().timeIntervalSince(started) < 60, "the job hung at start-up")
        #expect(result.status != 0)
        let sentences = result.stderr.split(separator: "\n").filter { $0.contains("made no progress for") }
        #expect(sentences.first?.contains("error on rank 0") == true, "\(result.stderr)")
        #expect(sentences.first?.contains("step 0's broadcast of the weights at start-up (MPI_Bcast) made no progress") == true, "\(result.stderr)")
        #expect(sentences.first?.contains("(--collective-timeout 3 s); rank 1 (host ") == true, "\(result.stderr)")
    }

    @Test func aStoppedRankEndsTheJobWithinTheTimeoutNamingTheStepAndTheCollective() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try FaultTests.scratch()
        let job = try RunningProcess(mpirun: 2, Run.product("dptrain"), Self.long + ["--out", out.path, "--collective-timeout", "5"])
        #expect(job.waitForOutput { $0.contains("checkpoint step 100:") }, "\(job.stdout)")
        let ranks = job.rankProcessIDs
        try #require(ranks.count == 2, "mpirun's children: \(ranks)")
        let stopped = Date()
        kill(ranks[1], SIGSTOP)
        let result = job.wait(timeout: 60)
        // mpirun may return while the kernel still ends the stopped rank it SIGKILLed.
        while ranks.contains(where: { Self.isAlive($0) }) && Date().timeIntervalSince(stopped) < 5 + 30 {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let seconds = Date().timeIntervalSince(stopped)
        #expect(!result.timedOut && seconds < 5 + 30, "every rank gone within timeout + 30 s, took \(seconds) s")
        #expect(result.status != 0)
        for pid in ranks { #expect(!Self.isAlive(pid), "rank process \(pid) is gone") }
        let sentences = result.stderr.split(separator: "\n").filter { $0.contains("made no progress for") }
        #expect(!sentences.isEmpty, "\(result.stderr)")
        #expect(sentences.first?.contains("(--collective-timeout 5 s); rank ") == true, "\(result.stderr)")
        #expect(sentences.first?.contains(") has not answered") == true, "\(result.stderr)")
        #expect(sentences.first.map { $0.contains("'s ") && $0.contains("step ") } == true, "\(result.stderr)")

        // LATEST names a complete checkpoint, and --resume continues from it.
        let step = try FaultTests.latestStep(out)
        #expect(step >= 100)
        #expect(try Run.process(Run.product("dptrain"), ["inspect", out.path], timeout: 60).status == 0)
        let resumed = try Run.mpirun(2, Run.product("dptrain"), Self.long.map { $0 == "1000000" ? String(step + 50) : $0 } + ["--out", out.path, "--resume"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// Whether `pid` is a process that has not ended (a zombie has ended).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(status.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
    }
}
