import ArgumentParser
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

/// `dptrain train`, the default subcommand: `mpirun -n 4 dptrain [options]`.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (the default subcommand).",
        discussion: """
            Every rank holds a replica of the model and trains on its own --batch rows of every \
            micro-step; the ranks average the gradients with one all-reduce per optimizer step, so \
            one step trains on W·batch·grad-accum rows of --context tokens (W = ranks). Rank 0 \
            prints a line every --log-every steps, appends to OUT/metrics.jsonl, and writes \
            checkpoints to OUT/checkpoints. MFU = (6·parameters + 12·layers·dim·context) FLOPs per \
            token × tokens/s ÷ the sgemm rate all ranks measure together at start-up.

            Settings apply in one order: the preset (or, with --resume, the checkpoint's \
            settings; with --init-from, the checkpoint's model and its preset's defaults), then \
            --config FILE, then the flags; the result is checked once and written to \
            OUT/config.json, which --config reads back.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model (taken from the checkpoint when resuming)") var model: ModelOptions
    @OptionGroup(title: "Training (taken from the checkpoint when resuming, unless given)") var training: TrainingOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Ranks") var runtime: RuntimeOptions

    func run() throws {
        // Before MPI starts: the config file and the flags, and for a new run the whole
        // configuration, so that a bad setting is one line from rank 0 and exit status 64.
        let layers: [ConfigLayer], early: RunConfig?
        do {
            if output.resume != nil && output.initFrom != nil {
                throw ConfigError("--init-from starts a new run from a checkpoint's weights and --resume continues a run; give one of them.")
            }
            layers = try settingLayers()
            let late = output.resume != nil || output.initFrom != nil  // resolved over the checkpoint, under MPI
            early = late ? nil : try RunConfig.resolve(base: .defaults(Self.preset(layers)), layers: layers)
        } catch let error as ConfigError {
            throw CommandLineError(error.description)
        }
        let setting = { (key: String) in layers.lazy.compactMap { $0.entry(key) }.last?.value }
        let out = URL(fileURLWithPath: setting("out").flatMap(String.init(config:)) ?? RunConfig.defaultOut)
        StopSignal.install()
        Session.run(threads: early?.parallel.threads ?? setting("parallel.threads").flatMap(Int.init(config:)),
                    singleProcess: runtime.singleProcess) { session in
            let comm = session.comm
            session.warnIfSlowKernel()
            let restore: Restore? = try output.resume.map { path in
                try Restore.load(comm: comm, path: path == OutputOptions.latest ? nil : URL(fileURLWithPath: path), out: out)
            }
            let initFrom: Restore? = try output.initFrom.map { path in
                try Restore.load(comm: comm, path: URL(fileURLWithPath: path), out: out)
            }
            // Every rank resolves the same settings over the same checkpoint, so they fail alike.
            var config: RunConfig
            do {
                if let restore {
                    config = try RunConfig.resolve(base: .resuming(restore.state), layers: layers, checkpoint: restore.state)
                } else if let initFrom {
                    config = try RunConfig.resolve(base: .initializing(from: initFrom.state), layers: layers, initFrom: initFrom.state)
                } else {
                    config = early!
                }
            } catch let error as ConfigError {
                throw BadSettings(description: error.description)
            }
            let directory = try RunDirectory.prepare(comm: comm, out: out, resumingStep: restore?.state.step)
            var dataset = try Dataset.load(
                comm: comm, data: config.data, valFraction: config.training.valFraction!, cacheDirectory: out.appendingPathComponent("cache"),
                restore: restore, seedExample: config.preset == .seed, initFrom: initFrom)
            // An encoder's vocabulary is the data's plus [MASK] (the last id).
            if config.model.architecture == .encoder { dataset = dataset.addingMaskToken() }
            try comm.collectively {
                try config.adoptVocabulary(dataset.tokenizer.vocabSize, source: Self.vocabularySource(layers, restore: restore ?? initFrom))
                try MemoryCheck.require(model: config.model, batch: config.training.batch, ranksOnHost: comm.localSize)
            }

            let console = Console(session: session, steps: config.training.steps, debug: config.training.debug, quiet: output.quiet)
            let trainer = try Trainer(
                comm: comm, config: config, dataset: dataset, directory: directory, restore: restore, initFrom: initFrom,
                emit: console.show)
            // Only now, with the replica built and the checkpoint applied, is metrics.jsonl cut back or started.
            try comm.collectively { try directory?.openLogs(keepingStepsUpTo: restore?.state.step, hostname: comm.hostname) }
            try directory?.writeConfig(config)
            try trainer.run(stopAt: output.stopAt)
        }
    }

    /// The settings of --config (if given), then of the flags: the layers `RunConfig.resolve`
    /// applies in order.
    func settingLayers() throws -> [ConfigLayer] {
        var flags = ConfigLayer()
        data.add(to: &flags)
        model.add(to: &flags)
        training.add(to: &flags)
        flags.flag("parallel.threads", runtime.threads)
        flags.flag("out", output.out)
        return try (output.config.map { [try ConfigFile.layer(at: $0)] } ?? []) + [flags]
    }

    /// The preset the layers choose (the last one that names it), gpt by default.
    static func preset(_ layers: [ConfigLayer]) -> Preset {
        layers.lazy.compactMap { $0.entry("preset") }.last.flatMap { Preset(config: $0.value) } ?? .gpt
    }

    /// Who gave the model's vocabulary size, when it must agree with the data's tokenizer.
    static func vocabularySource(_ layers: [ConfigLayer], restore: Restore?) -> String? {
        if let entry = layers.lazy.compactMap({ $0.entry("model.vocab_size") }).last { return entry.source }
        return restore.map { _ in "the checkpoint's model vocabulary" }
    }
}

/// A bad flag or --config setting found once the checkpoint being resumed is known: every rank
/// finds it alike, rank 0 reports it, and every rank exits with status 64.
struct BadSettings: AgreedError {
    let description: String
    var exitStatus: Int32 { 64 }
}

/// A bad command line or --config file found before MPI starts: rank 0 prints it, and every rank
/// exits with status 64.
struct CommandLineError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
