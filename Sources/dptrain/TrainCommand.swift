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
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model (taken from the checkpoint when resuming)") var model: ModelOptions
    @OptionGroup(title: "Training (taken from the checkpoint when resuming, unless given)") var training: TrainingOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Ranks") var runtime: RuntimeOptions

    func validate() throws {
        if model.preset == .seed && data.path != nil {
            throw ValidationError("--preset seed trains on the seed example's own sentences; it takes no --data.")
        }
        try model.validateSizes()
        try training.resolved(over: model.preset == .seed ? .seedDefaults : TrainingConfig()).validate()
    }

    func run() throws {
        StopSignal.install()
        Session.run(runtime) { session in
            let comm = session.comm
            session.warnIfSlowKernel()
            let out = URL(fileURLWithPath: output.out)
            let restore: Restore? = try output.resume.map { path in
                try Restore.load(comm: comm, path: path == OutputOptions.latest ? nil : URL(fileURLWithPath: path), out: out)
            }
            var trainingConfig = training.resolved(over: restore?.state.training ?? (model.preset == .seed ? .seedDefaults : TrainingConfig()))
            trainingConfig.valFraction = data.valFraction ?? restore?.state.training.valFraction ?? 0.1
            try comm.collectively {
                if let restore, trainingConfig.steps < restore.state.step {
                    throw ValidationError("--steps \(trainingConfig.steps) is below the checkpoint's step \(restore.state.step); pass a larger --steps to train further.")
                }
            }
            try comm.collectively {
                if session.isRoot { try Self.makeOutputDirectory(out) }
            }
            let dataset = try loadData(comm: comm, out: out, restore: restore, valFraction: trainingConfig.valFraction!)
            let modelConfig = try comm.collectively { () throws -> ModelConfig in
                let config = try model.config(vocabSize: dataset.tokenizer.vocabSize, restored: restore?.state.model)
                try MemoryCheck.require(model: config, batch: trainingConfig.batch, ranksOnHost: comm.localSize)
                return config
            }

            let console = Console(session: session, steps: trainingConfig.steps, debug: trainingConfig.debug, quiet: output.quiet)
            let trainer = try Trainer(
                comm: comm, model: modelConfig, training: trainingConfig, dataset: dataset, out: out,
                restore: restore, dataPath: restore?.state.dataPath ?? data.path, zeroStage: training.zero, emit: console.show)
            if session.isRoot {
                try EffectiveConfig(model: modelConfig, training: trainingConfig, data: restore?.state.dataPath ?? data.path,
                                    tokenizer: dataset.tokenizer.kind.rawValue, worldSize: comm.size)
                    .write(to: out.appendingPathComponent("config.json"))
            }
            try trainer.run(stopAt: output.stopAt)
        }
    }

    /// Rank 0 makes OUT before anything is cached or written in it, so that an OUT that cannot be
    /// a directory is one clear sentence rather than a failure deep inside the data cache.
    private static func makeOutputDirectory(_ out: URL) throws {
        // mkdir -p by hand: Foundation's error for this names no reason.
        var path = out.path.hasPrefix("/") ? "" : "."
        for component in out.path.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw ValidationError("--out \(out.path) cannot be created: mkdir \(path): \(String(cString: strerror(errno))).")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--out \(out.path) is a file, not a directory.")
        }
        guard FileManager.default.isWritableFile(atPath: out.path) else {
            throw ValidationError("--out \(out.path) is not writable.")
        }
    }

    /// Rank 0 reads (and caches) the data, then broadcasts the tokens and tokenizer, so only rank 0
    /// touches the file system. With --resume, the checkpoint's data path and tokenizer are the
    /// defaults, and the tokenizer built from the data must equal the checkpoint's.
    private func loadData(comm: any Communicator, out: URL, restore: Restore?, valFraction: Double) throws -> Dataset {
        try Dataset.load(
            comm: comm, path: data.path, tokenizer: data.tokenizer, vocabSize: data.vocabSize, valFraction: valFraction,
            cacheDirectory: out.appendingPathComponent("cache"), restore: restore, seedExample: model.preset == .seed)
    }
}

/// OUT/config.json: the settings a run actually used, after presets, the checkpoint, --config and flags.
struct EffectiveConfig: Encodable {
    let model: ModelConfig
    let training: TrainingConfig
    let data: String?
    let tokenizer: String
    let worldSize: Int

    enum CodingKeys: String, CodingKey {
        case model, training, data, tokenizer
        case worldSize = "world_size"
    }

    func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}
