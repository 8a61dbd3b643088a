import ArgumentParser
import DPComm
import DPTrainer
import Foundation

/// Options every subcommand that runs on ranks shares.
struct RuntimeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "BLAS threads per rank. Default: the host's cores divided by the ranks on that host (at least 1).")
    var threads: Int?

    @Flag(help: "Run as one process without MPI, even when started by an MPI launcher.")
    var singleProcess = false

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads must be between 1 and 1024, not \(threads).")
        }
    }
}

/// One rank's view of the job: its communicator, BLAS set-up, and the one place that prints.
///
/// Only rank 0 prints. A failure that every rank knows of (a `RankFailure` from
/// `Communicator.collectively`, or an error every rank throws alike such as invalid options) is
/// printed once by rank 0 and every rank exits with status 1. Any other error is a failure of one
/// rank: that rank prints it and aborts the whole job, so no rank is left waiting in a collective.
final class Session {
    let comm: any Communicator
    let coresPerHost: Int

    var isRoot: Bool { comm.rank == 0 }

    private init(comm: any Communicator, threads: Int?) {
        self.comm = comm
        coresPerHost = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        BLAS.threads = threads ?? max(1, coresPerHost / comm.localSize)
    }

    /// Starts this rank (MPI under a launcher, solo otherwise), runs `body`, and exits: 0 on success,
    /// 1 on failure after the error was reported as described above.
    static func run(_ options: RuntimeOptions, _ body: (Session) throws -> Void) -> Never {
        run(threads: options.threads, singleProcess: options.singleProcess, body)
    }

    /// `run` with the BLAS threads per rank (nil: cores per host ÷ ranks on it) given directly.
    static func run(threads: Int?, singleProcess: Bool, _ body: (Session) throws -> Void) -> Never {
        let comm: any Communicator
        do {
            comm = try Launcher.communicator(
                singleProcess: singleProcess, environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("dptrain: error: cannot start MPI: \(error)")
            exit(1)
        }
        let session = Session(comm: comm, threads: threads)
        do {
            try body(session)
            exit(0)
        } catch let error as StoppedBySignal {
            if session.isRoot { printError("dptrain: \(error)") }
            try? comm.barrier()  // rank 0 has printed before any rank exits and mpirun ends the job
            exit(error.exitStatus)
        } catch let error as AgreedError {
            if session.isRoot { printError("dptrain: error: \(error)") }
            try? comm.barrier()
            exit(error.exitStatus)
        } catch {
            let prefix = comm.size > 1 ? "dptrain: error on rank \(comm.rank): " : "dptrain: error: "
            if comm.size > 1 { comm.abort(code: 1, message: prefix + "\(error)") }
            printError(prefix + "\(error)")
            exit(1)
        }
    }

    /// Prints a line to standard output on rank 0 only.
    func say(_ line: String) {
        guard isRoot else { return }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes text without a newline to standard output on rank 0 only.
    func write(_ text: String) {
        guard isRoot else { return }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Prints a warning to standard error on rank 0 only.
    func warn(_ line: String) {
        if isRoot { printError("dptrain: warning: \(line)") }
    }

    /// Warns when OpenBLAS runs a kernel far slower than this CPU supports.
    func warnIfSlowKernel() {
        if BLAS.coreName.lowercased() == "prescott",
           OpenBLASKernel.supportedCoreType(cpuFlags: OpenBLASKernel.cpuFlags()) != nil {
            warn("OpenBLAS runs its slow Prescott kernel on a CPU with AVX2/AVX-512; set OPENBLAS_CORETYPE=SkylakeX (or Haswell) before starting dptrain.")
        }
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
