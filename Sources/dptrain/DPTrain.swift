import ArgumentParser

/// The `dptrain` command: `train` by default, so that `mpirun -n 4 dptrain` trains.
struct DPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dptrain",
        abstract: "Data-parallel training of transformer language models on CPUs over MPI.",
        discussion: """
            Run under an MPI launcher for several ranks (mpirun -n 4 dptrain), or alone for one \
            process without MPI (dptrain --debug). See README.md.
            """,
        subcommands: [Train.self, Prepare.self, Info.self, CommBench.self, Bench.self, Eval.self, Inspect.self, Sample.self, FillMask.self, Explain.self, Plot.self, ImportHF.self, ExportHF.self],
        defaultSubcommand: Train.self)
}
