import DPTrainer
import Foundation
import Synchronization
import Testing

/// The watchdog's limit and its one sentence, without ending the test process (`end` is replaced).
@Suite struct CollectiveWatchdogTests {
    @Test func aWaitLongerThanTheLimitIsReportedWithTheStepTheCollectiveAndThePeer() {
        let watchdog = CollectiveWatchdog(limit: .seconds(5), rank: 0, hosts: ["a", "b"], end: { _ in })
        let start = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        let token = watchdog.arm("gradient all-reduce (MPI_Allreduce)", step: 12)
        #expect(watchdog.expired(now: start + 4) == nil, "4 s is within the limit")
        let sentence = watchdog.expired(now: start + 6.2)
        #expect(sentence?.hasPrefix("dptrain: error on rank 0 (host a): step 12's gradient all-reduce (MPI_Allreduce) made no progress for 6 s (--collective-timeout 5 s); rank 1 (host b) has not answered") == true, "\(sentence ?? "nil")")
        watchdog.disarm(token)
        #expect(watchdog.expired(now: start + 60) == nil, "a disarmed wait never runs out")
    }

    @Test func theAdaptiveLimitIsTheLargerOfFiveMinutesAndTenSlowestSteps() {
        let watchdog = CollectiveWatchdog(limit: .adaptive, rank: 2, hosts: ["a", "a", "b", "b"], end: { _ in })
        #expect(watchdog.limitSeconds == 300)
        watchdog.stepTook(12)
        watchdog.stepTook(45)
        watchdog.stepTook(3)
        #expect(watchdog.limitSeconds == 450)
        let start = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        _ = watchdog.arm("loss sum", step: 3)
        let sentence = watchdog.expired(now: start + 451) ?? ""
        #expect(sentence.contains("one or more of ranks 0, 1, 3 (hosts a, b) have not answered"), "\(sentence)")
        #expect(sentence.contains("the default --collective-timeout, 450 s"), "\(sentence)")
    }

    @Test func offNeverFiresAndTheMonitorThreadEndsAWaitThatRunsOut() throws {
        #expect(CollectiveWatchdog.Limit(setting: 0) == .off)
        #expect(CollectiveWatchdog.Limit(setting: nil) == .adaptive)
        #expect(CollectiveWatchdog.Limit(setting: 2.5) == .seconds(2.5))
        let off = CollectiveWatchdog(limit: .off, rank: 0, hosts: ["a", "b"], end: { _ in Issue.record("off fired") })
        #expect(off.limitSeconds == .infinity)

        let fired = Mutex<[String]>([])
        let watchdog = CollectiveWatchdog(limit: .seconds(0.5), rank: 1, hosts: ["a", "b"], end: { line in fired.withLock { $0.append(line) } })
        let token = watchdog.arm("barrier", step: 1)
        Thread.sleep(forTimeInterval: 1.5)
        watchdog.disarm(token)
        let lines = fired.withLock { $0 }
        #expect(!lines.isEmpty && lines[0].contains("step 1's barrier made no progress"), "the monitor thread fired: \(lines)")
    }
}
