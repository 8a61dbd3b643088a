/// OpenMPI parameters (MCA) that dptrain sets before MPI_Init where the user set nothing.
///
/// A user's value always wins: mpirun's `--mca NAME VALUE` and an exported `OMPI_MCA_NAME` reach a
/// rank as the environment variable `OMPI_MCA_NAME`, and a parameter file (OpenMPI's
/// `mca_base_param_files`: `~/.openmpi/mca-params.conf`, `/etc/openmpi/openmpi-mca-params.conf`)
/// may name it; in either case dptrain leaves the parameter alone. Otherwise it sets
/// `OMPI_MCA_NAME` in its own environment, which MPI_Init then reads. Other MPI libraries ignore
/// these variables.
public enum MCADefaults {
    public struct Setting: Sendable, Equatable {
        public var name: String
        public var value: String
        /// Why dptrain changes the library's default (for `dptrain info` and the README).
        public var reason: String
    }

    public static let settings: [Setting] = [
        // The TCP BTL's default flags include `put`: a message above 192 KiB then goes by
        // OpenMPI's RDMA pipeline, which over a rate-capped link moved 4 MB messages at half the
        // link's rate (0.49–0.53 Gbit/s of 1 Gbit/s, both directions at once, README "Several
        // machines: performance"); by send/receive fragments the same messages ran at
        // 0.81–0.91 Gbit/s and one 43 MB message at 0.96 either way. The gradient exchange sends
        // messages of 0.5–12.5 MB, so this is the protocol it needs. Shared memory (vader) is
        // not affected.
        Setting(
            name: "btl_tcp_flags", value: "send,inplace,need-ack,need-csum",
            reason: "send/receive instead of the RDMA pipeline for large TCP messages: 1.6x the throughput of the exchange's 0.5-12 MB messages over a 1 Gbit/s link"),
    ]

    /// The settings that neither the environment nor a parameter file names.
    /// - Parameters:
    ///   - environment: the value of an environment variable, or nil.
    ///   - readFile: the contents of a file, or nil when it cannot be read.
    public static func unset(environment: (String) -> String?, readFile: (String) -> String?) -> [Setting] {
        let files = parameterFiles(environment: environment)
        let named = Set(files.compactMap(readFile).flatMap(parameterNames(in:)))
        return settings.filter { environment("OMPI_MCA_" + $0.name) == nil && !named.contains($0.name) }
    }

    /// OpenMPI's parameter files: `OMPI_MCA_mca_base_param_files` (colon-separated) when set,
    /// else the per-user and the system file of Debian's OpenMPI.
    static func parameterFiles(environment: (String) -> String?) -> [String] {
        if let list = environment("OMPI_MCA_mca_base_param_files") {
            return list.split(separator: ":").map(String.init)
        }
        var files = ["/etc/openmpi/openmpi-mca-params.conf"]
        if let home = environment("HOME") { files.insert(home + "/.openmpi/mca-params.conf", at: 0) }
        return files
    }

    /// The parameter names a file sets: `name = value` lines, `#` comments ignored.
    static func parameterNames(in text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let equals = content.firstIndex(of: "=") else { return nil }
            let name = content[..<equals].drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            return name.isEmpty ? nil : String(name)
        }
    }
}
