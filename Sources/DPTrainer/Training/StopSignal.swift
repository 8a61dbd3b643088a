import DPComm
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Graceful stops on SIGTERM (Slurm preemption, `kill`), SIGINT (Ctrl-C) and SIGUSR1 (which
/// OpenMPI's mpirun forwards to every rank; mpirun itself turns SIGTERM and SIGINT into a kill of
/// the job after one second, too soon for a checkpoint).
///
/// The first signal only records itself; the trainer's ranks agree on it at the next step boundary,
/// rank 0 writes a checkpoint, and every rank exits with status 128 + the signal's number. A second
/// SIGTERM or SIGINT exits at once with that status.
public enum StopSignal {
    /// The first signal received, or 0.
    private static let received = Atomic<Int32>(0)

    /// The signals that ask for a graceful stop.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

    /// Installs the handlers and unblocks the signals (a process may inherit them blocked from
    /// its parent); call once, early, from the main thread.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        for number in handled { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for number in handled {
            signal(number) { number in
                let (exchanged, _) = StopSignal.received.compareExchange(expected: 0, desired: number, ordering: .relaxed)
                if !exchanged && number != SIGUSR1 { _exit(128 + number) }
            }
        }
    }

    /// The first signal this process received, or 0 if none.
    public static var pending: Int32 { received.load(ordering: .relaxed) }

    /// For tests: forget a received signal.
    static func reset() { received.store(0, ordering: .relaxed) }

    /// The signal's conventional name.
    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGUSR1: "SIGUSR1"
        default: "signal \(number)"
        }
    }
}

/// The run stopped early on a signal, after rank 0 wrote a checkpoint; every rank agreed on it.
public struct StoppedBySignal: AgreedError {
    public let signal: Int32
    public let step: Int
    public var exitStatus: Int32 { 128 + signal }
    public var description: String {
        "stopped by \(StopSignal.name(signal)) after step \(step), with a checkpoint; continue with --resume (exit status \(exitStatus))."
    }
}
