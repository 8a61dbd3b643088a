import ArgumentParser
import DPComm
import DPTrainer
import Foundation

/// `dptrain plot OUT`: draws OUT/metrics.jsonl as an SVG file, for a run in progress or finished.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a run's train and val loss, and its tokens/s, as an SVG file.",
        discussion: """
            Reads OUT/metrics.jsonl (written by rank 0 during training) and writes one SVG with the \
            train loss and val loss against the step, and tokens/s below. Open it in a browser. \
            Needs no MPI and can run while training goes on; under mpirun only rank 0 plots.
            """)

    @Argument(help: "The run's output folder (the --out of dptrain train).")
    var out: String

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("The SVG file to write. Default: OUT/loss.svg.", valueName: "file.svg"))
    var output: String?

    func run() throws {
        // Plotting reads and writes files alone; under a launcher, rank 0 does it and reports.
        guard Launcher.rank(environment: ProcessInfo.processInfo.environment) == 0 else { return }
        let folder = URL(fileURLWithPath: out)
        let destination = output.map { URL(fileURLWithPath: $0) } ?? folder.appendingPathComponent("loss.svg")
        do {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else {
                throw PlotFailure("the run folder \(out) does not exist")
            }
            guard isDirectory.boolValue else { throw PlotFailure("\(out) is not a folder") }
            let series = try MetricsSeries(contentsOf: folder.appendingPathComponent("metrics.jsonl"))
            guard !series.isEmpty else {
                throw PlotFailure("\(folder.appendingPathComponent("metrics.jsonl").path) holds no metrics yet")
            }
            let svg = LossPlot.svg(series, title: "dptrain: \(folder.standardizedFileURL.lastPathComponent)")
            do {
                try Data(svg.utf8).write(to: destination, options: .atomic)
            } catch {
                throw PlotFailure("cannot write \(destination.path): \(error.localizedDescription)")
            }
            print("dptrain plot: wrote \(destination.path) (\(series.train.count) logged steps, "
                + "\(series.validation.count) evaluation\(series.validation.count == 1 ? "" : "s"))")
        } catch {
            printError("dptrain: error: \(error)")
            throw ExitCode.failure
        }
    }

    /// A failure this command found itself, as one sentence.
    private struct PlotFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
