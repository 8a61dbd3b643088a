import DPComm
import DPTrainer
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Turns the trainer's events into console lines on rank 0.
///
/// On a terminal (also under mpirun when mpirun's own output is one) a progress line with the step, ETA, loss and tokens/s stays at the bottom and is redrawn
/// under each new line; to a pipe or file, plain lines only. `--quiet` keeps only warnings,
/// errors and the final line.
final class Console {
    let session: Session
    let steps: Int
    let debug: Bool
    let quiet: Bool
    let interactive: Bool
    private var progress: String?
    private let started = Date()
    private var startStep: Int?

    init(session: Session, steps: Int, debug: Bool, quiet: Bool) {
        self.session = session
        self.steps = steps
        self.debug = debug
        self.quiet = quiet
        interactive = Console.outputIsTerminal()
    }

    /// Whether the user sees this process's standard output on a terminal. OpenMPI gives every
    /// rank a pseudo-terminal whatever mpirun's own output is, so under a launcher what counts is
    /// the output of the parent (mpirun, for rank 0 on the launching host).
    static func outputIsTerminal() -> Bool {
        guard isatty(STDOUT_FILENO) != 0 else { return false }
        guard Launcher.startedByMPI(environment: ProcessInfo.processInfo.environment) else { return true }
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getppid())/fd/1")) ?? ""
        return target.hasPrefix("/dev/pts/") || target.hasPrefix("/dev/tty")
    }

    func show(_ event: TrainerEvent) {
        if case .finished = event {} else if quiet, !event.isWarning { return }
        if interactive, progress != nil { session.write("\r\u{1B}[2K") }
        say(event)
        if interactive, !quiet, case .step(let m) = event { updateProgress(m) }
        if interactive, let progress { session.write(progress) }
    }

    private func updateProgress(_ m: StepMetrics) {
        let first = startStep ?? m.step
        startStep = first
        let fraction = Double(m.step) / Double(max(steps, 1))
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = Date().timeIntervalSince(started)
        let remaining = m.step > first ? elapsed / Double(m.step - first) * Double(steps - m.step) : .nan
        progress = "▕\(bar)▏ \(m.step)/\(steps) \(Int(fraction * 100))% · ETA \(duration(remaining)) · loss \(String(format: "%.4f", m.loss)) · \(grouped(Int(m.tokensPerSecond))) tok/s"
        if m.step >= steps { progress = nil }
    }

    private func say(_ event: TrainerEvent) {
        switch event {
        case .started(let banner):
            let ranks = session.comm is SoloCommunicator ? "single process, no MPI" : "\(banner.hosts.joined(separator: ", ")); \(banner.mpi)"
            session.say("dptrain: \(banner.worldSize) rank\(banner.worldSize == 1 ? "" : "s") (\(ranks)), \(banner.threadsPerRank) BLAS thread\(banner.threadsPerRank == 1 ? "" : "s") per rank, OpenBLAS \(banner.blasKernel)")
            session.say("  model      \(banner.model), \(grouped(banner.parameters)) parameters")
            session.say("  data       \(banner.data)")
            session.say("  step       \(grouped(banner.tokensPerStep)) tokens per optimizer step (ranks × batch × grad-accum × context)")
            session.say("  roof       \(String(format: "%.1f", banner.peakGFLOPS)) GFLOP/s sgemm, all ranks together (MFU's denominator)")
        case .resumed(let directory, let step, let skipped):
            for note in skipped { session.warn(note) }
            session.say("resumed from \(directory) at step \(step)")
        case .step(let m):
            var line = "step \(String(m.step).leftPadded(to: String(steps).count))/\(steps) | loss \(String(format: "%.4f", m.loss))"
                + " | lr \(String(format: "%.2e", m.lr)) | grad norm \(String(format: "%.3f", m.gradNorm))"
                + " | \(milliseconds(m.millisecondsPerStep)) ms | \(grouped(Int(m.tokensPerSecond))) tok/s"
                + " | MFU \(String(format: "%.1f", m.mfu * 100))%"
            if debug {
                let p = m.phases
                line += " | fwd \(milliseconds(p.forward * 1000)) bwd \(milliseconds(p.backward * 1000))"
                    + " allreduce \(milliseconds(p.allReduce * 1000))"
                    + (p.exchangeBusy > 0 ? " (waited; buckets busy \(milliseconds(p.exchangeBusy * 1000)))" : "")
                    + " update \(milliseconds(p.update * 1000)) ms"
            }
            session.say(line)
        case .evaluated(let step, let valLoss):
            session.say("step \(String(step).leftPadded(to: String(steps).count))/\(steps) | val loss \(String(format: "%.4f", valLoss))")
        case .checkpointed(let step, let directory):
            session.say("checkpoint step \(step): \(directory)")
        case .warning(let text):
            session.warn(text)
        case .debug(let text):
            session.say("debug: \(text)")
        case .finished(let step, let seconds):
            progress = nil
            session.say("done: step \(step) in \(String(format: "%.1f", seconds)) s")
        }
    }
}

extension TrainerEvent {
    var isWarning: Bool {
        if case .warning = self { return true }
        return false
    }
}

/// 83 → "1m 23s"; NaN → "?".
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h \(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m \(s % 60)s" : "\(s)s"
}

/// Milliseconds with one decimal, or three below 1 ms.
func milliseconds(_ value: Double) -> String {
    String(format: value < 1 ? "%.3f" : "%.1f", value)
}

/// 1234567 → "1,234,567".
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return (value < 0 ? "-" : "") + result
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}
