/// How this process was started, and the communicator that fits.
public enum Launcher {
    /// The environment variables by which OpenMPI's mpirun, PMIx launchers (Slurm's srun
    /// --mpi=pmix) and PMI-1/2 launchers announce a rank.
    public static let variables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// Whether an MPI launcher started this process.
    public static func startedByMPI(environment: [String: String]) -> Bool {
        variables.contains { environment[$0] != nil }
    }

    /// This process's rank as the launcher announces it (0 when no launcher started it), known
    /// before MPI starts: for commands that need no MPI but must print once under mpirun.
    public static func rank(environment: [String: String]) -> Int {
        ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { environment[$0].flatMap(Int.init) }.first ?? 0
    }

    /// `MPICommunicator` under an MPI launcher, `SoloCommunicator` otherwise or when `singleProcess`
    /// is set; a solo process never initializes MPI.
    public static func communicator(singleProcess: Bool, environment: [String: String]) throws -> any Communicator {
        if singleProcess || !startedByMPI(environment: environment) { return SoloCommunicator() }
        return try MPICommunicator()
    }
}
