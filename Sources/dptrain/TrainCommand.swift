import ArgumentParser

/// `dptrain train`, the default subcommand.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (the default subcommand).")

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        Session.run(runtime) { session in
            session.say("dptrain train: training is not built yet; try `dptrain info` or `dptrain comm-bench`.")
        }
    }
}
