import ArgumentParser
import Foundation

extension DPTrain {
    /// Parses the command line and runs the command. A parse error or --help is printed by rank 0
    /// only (every rank parses the same arguments and reaches the same verdict, before MPI starts);
    /// the other ranks exit with the same status in silence.
    static func mainReportingOnRankZero() {
        let environment = ProcessInfo.processInfo.environment
        let rank = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy
            .compactMap { environment[$0].flatMap(Int.init) }.first ?? 0
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if rank == 0 { exit(withError: error) }
            Foundation.exit(exitCode(for: error).rawValue)
        }
    }
}
