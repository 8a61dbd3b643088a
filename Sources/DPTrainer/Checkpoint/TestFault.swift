import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Test-only fault points, armed by the environment variable `DPTRAIN_FAULT`.
///
/// - `DPTRAIN_FAULT=crash-in-checkpoint`: `CheckpointStore.save` writes the first file of the
///   temporary checkpoint directory and then ends the process at once with `_exit(86)` — no
///   cleanup, no buffered output flushed — as a SIGKILL or power cut would, leaving a partial
///   temporary directory behind. Tests use it to show that such a crash leaves LATEST naming a
///   complete checkpoint and that the next save removes the stale temporary directory.
///
/// - `DPTRAIN_FAULT=perturb-replica`: after step 2 the highest rank adds 1e-3 to its first
///   weight, so that the replicas drift apart; the cross-rank weight check must catch it.
/// - `DPTRAIN_FAULT=fail-checkpoint-write`: a checkpoint save fails with an I/O error before it
///   writes anything, as a full disk would; the run must stop with the previous checkpoint intact.
/// - `DPTRAIN_FAULT=fail-in-bucket`: at step 3 the highest rank's gradient-exchange thread fails
///   between the first and the second hop of bucket 0, while the other ranks wait in that hop
///   for its message, as a broken link would; every rank must end (no hang). Needs buckets or
///   compression (`--bucket-mb` > 0 or `--grad-compression bf16`) and 2 ranks or more.
/// - `DPTRAIN_FAULT=stall-at-start`: the highest rank sleeps 10 minutes before the start-up
///   broadcast of the weights, as a rank whose connection hangs would; the others must end the
///   job through the collective watchdog instead of waiting in MPI_Bcast. Needs 2 ranks or more.
///
/// A fault is armed only when the variable equals its name exactly (`isArmed(in:)`); any other
/// value, including case or whitespace variants, is ignored, so it cannot go off by accident.
public enum TestFault: String, CaseIterable, Sendable {
    case crashInCheckpoint = "crash-in-checkpoint"
    case perturbReplica = "perturb-replica"
    case failCheckpointWrite = "fail-checkpoint-write"
    case failInBucket = "fail-in-bucket"
    case stallAtStart = "stall-at-start"

    /// The environment variable that arms a fault.
    public static let environmentVariable = "DPTRAIN_FAULT"
    /// The exit status of a process ended by a crash fault.
    public static let exitStatus: Int32 = 86

    /// True if `environment[DPTRAIN_FAULT]` is exactly this fault's name.
    public func isArmed(in environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment[Self.environmentVariable] == rawValue
    }

    /// Ends the process with `exitStatus` if this fault is armed; otherwise does nothing.
    func crashIfArmed() {
        if isArmed() { _exit(Self.exitStatus) }
    }
}
