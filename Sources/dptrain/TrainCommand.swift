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
            let trainingConfig = training.resolved(over: restore?.state.training ?? (model.preset == .seed ? .seedDefaults : TrainingConfig()))
            let dataset = try loadData(comm: comm, out: out, restore: restore)
            let modelConfig = try comm.collectively { try model.config(vocabSize: dataset.tokenizer.vocabSize, restored: restore?.state.model) }

            let console = Console(session: session, steps: trainingConfig.steps, debug: trainingConfig.debug)
            let trainer = try Trainer(
                comm: comm, model: modelConfig, training: trainingConfig, dataset: dataset, out: out,
                restore: restore, dataPath: restore?.state.dataPath ?? data.path, zeroStage: training.zero, emit: console.show)
            try trainer.run(stopAt: output.stopAt)
        }
    }

    /// Rank 0 reads (and caches) the data, then broadcasts the tokens and tokenizer, so only rank 0
    /// touches the file system. With --resume, the checkpoint's data path and tokenizer are the
    /// defaults, and the tokenizer built from the data must equal the checkpoint's.
    private func loadData(comm: any Communicator, out: URL, restore: Restore?) throws -> Dataset {
        if model.preset == .seed || (restore != nil && restore?.state.model == ModelConfig.seed) {
            return Dataset.seedExample()
        }
        let restoredTokenizer = try restore.map { try Tokenizers.load(json: $0.tokenizerJSON) }
        let loaded = try comm.collectively { () throws -> Dataset? in
            guard comm.rank == 0 else { return nil }
            let dataset = try Dataset.load(
                path: data.path ?? restore?.state.dataPath, tokenizer: data.tokenizer ?? restoredTokenizer?.kind,
                vocabSize: data.vocabSize ?? restoredTokenizer.flatMap { $0.kind == .bpe || $0.kind == .word ? $0.vocabSize : nil },
                valFraction: data.valFraction, cacheDirectory: out.appendingPathComponent("cache"))
            if let restore, try normalizedJSON(dataset.tokenizer.jsonData()) != normalizedJSON(restore.tokenizerJSON) {
                throw ValidationError("the tokenizer built from the data differs from the checkpoint's (\(restore.directory)); resume with the data and --tokenizer the run was started with.")
            }
            return dataset
        }
        return try broadcast(loaded, comm: comm)
    }

    /// Sends rank 0's dataset (tokens and tokenizer JSON) to every rank.
    private func broadcast(_ dataset: Dataset?, comm: any Communicator) throws -> Dataset {
        guard comm.size > 1 else { return dataset! }
        let tokenizerJSON = try comm.broadcast(bytes: try dataset.map { [UInt8](try $0.tokenizer.jsonData()) } ?? [], root: 0)
        let summary = try comm.broadcast(string: dataset?.summary ?? "", root: 0)
        func send(_ tokens: TokenSequence?) throws -> TokenSequence {
            var count = [Int64(tokens?.count ?? 0)]
            try count.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            var values = tokens.map { sequence in (0..<sequence.count).map { sequence[$0] } } ?? [Int32](repeating: 0, count: Int(count[0]))
            try values.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            return TokenSequence(values)
        }
        let train = try send(dataset?.train), val = try send(dataset?.val)
        if let dataset { return dataset }
        return Dataset(train: train, val: val, tokenizer: try Tokenizers.load(json: Data(tokenizerJSON)), source: summary)
    }
}

/// JSON re-serialized with sorted keys, for comparing documents.
func normalizedJSON(_ data: Data) throws -> Data {
    try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: data), options: [.sortedKeys])
}
