import ArgumentParser
import DPComm
import Foundation

extension DPTrain {
    /// Parses the command line and runs the command. A parse error or --help is printed by rank 0
    /// only (every rank parses the same arguments and reaches the same verdict, before MPI starts);
    /// the other ranks exit with the same status in silence.
    static func mainReportingOnRankZero() {
        let rank = Launcher.rank(environment: ProcessInfo.processInfo.environment)
        do {
            var command = try parseAsRoot(normalizingResume(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let failure as CommandLineError {
            if rank == 0 { FileHandle.standardError.write(Data("dptrain: error: \(failure)\n".utf8)) }
            exitAfterRankZero(rank: rank, code: 64)
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }  // --help, --version
            if rank == 0 {
                // The parser's "Error: …" in dptrain's one form, "dptrain: error: …"; its usage lines follow.
                var text = fullMessage(for: error)
                if text.hasPrefix("Error: ") { text = "dptrain: error: " + text.dropFirst("Error: ".count) }
                FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
            }
            exitAfterRankZero(rank: rank, code: code.rawValue)
        }
    }

    /// Ends a rank other than 0 after a command-line error, a moment after rank 0: mpirun ends the
    /// whole job as soon as one rank exits with a failure, and were that a silent rank, rank 0's
    /// one-line report could be cut off or lost. (MPI has not started yet, so no barrier.)
    static func exitAfterRankZero(rank: Int, code: Int32) -> Never {
        if rank != 0 && code != 0 { Thread.sleep(forTimeInterval: 3) }
        Foundation.exit(code)
    }

    /// `--resume` takes an optional path: alone (last, or before another option) it stands for
    /// OUT's latest checkpoint, which the parser sees as `--resume @latest`.
    static func normalizingResume(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for (index, argument) in arguments.enumerated() {
            result.append(argument)
            if argument == "--resume" {
                let next: String? = arguments.indices.contains(index + 1) ? arguments[index + 1] : nil
                if next.map({ $0.hasPrefix("-") }) ?? true { result.append(OutputOptions.latest) }
            }
        }
        return result
    }
}
