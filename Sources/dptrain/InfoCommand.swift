import ArgumentParser
import DPComm
import DPTrainer
import Foundation

/// `dptrain info`: every rank reports its host, cores, BLAS threads and kernel; rank 0 prints one table.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the job as dptrain sees it: ranks, hosts, BLAS threads and kernel, MPI library.")

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        Session.run(runtime) { session in
            let comm = session.comm
            let mine = [comm.hostname, String(session.coresPerHost), String(BLAS.threads), BLAS.coreName]
                .joined(separator: "\t")
            let all = try comm.allGather(string: mine).map { $0.split(separator: "\t").map(String.init) }

            var hosts: [(name: String, ranks: [Int], cores: String)] = []
            for (rank, fields) in all.enumerated() {
                if let index = hosts.firstIndex(where: { $0.name == fields[0] }) {
                    hosts[index].ranks.append(rank)
                } else {
                    hosts.append((fields[0], [rank], fields[1]))
                }
            }
            let threads = Set(all.map { $0[2] }).sorted().joined(separator: ", ")
            let kernels = Set(all.map { $0[3] }).sorted().joined(separator: ", ")
            let coreType = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
            let origin = ProcessInfo.processInfo.environment[OpenBLASKernel.markerVariable] != nil
                ? "set by dptrain for this CPU" : "set by the user"
            var rows: [(String, String)] = [
                ("world size", "\(comm.size) rank\(comm.size == 1 ? "" : "s")\(comm is SoloCommunicator ? " (single process, no MPI)" : "")"),
            ]
            for host in hosts {
                rows.append(("host \(host.name)", "\(host.ranks.count) rank\(host.ranks.count == 1 ? "" : "s") (\(host.ranks.map(String.init).joined(separator: ","))), \(host.cores) cores"))
            }
            rows += [
                ("BLAS threads per rank", threads),
                ("OpenBLAS kernel", kernels + (coreType.map { " (OPENBLAS_CORETYPE=\($0), \(origin))" } ?? "")),
                ("OpenBLAS config", BLAS.config),
                ("MPI library", comm.libraryVersion),
            ]
            for setting in MPICommunicator.appliedMCADefaults {
                rows.append(("MCA \(setting.name)", "\(setting.value) (dptrain's default: \(setting.reason); --mca \(setting.name) VALUE overrides)"))
            }
            let width = rows.map(\.0.count).max() ?? 0
            session.say("dptrain info")
            for (key, value) in rows {
                session.say("  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
            }
            session.warnIfSlowKernel()
        }
    }
}
