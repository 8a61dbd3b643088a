import ArgumentParser
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

/// `dptrain eval --checkpoint PATH [--data PATH] [--batches N] [--batch B]`, alone or under mpirun.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss and perplexity of a checkpoint on the validation split.",
        discussion: """
            Reads the val split in sequential, non-overlapping windows of context + 1 tokens (window \
            k starts at token k·context) and prints the mean cross-entropy per predicted token and its \
            exponential, the perplexity. Under mpirun every rank evaluates its own rows of each batch and \
            the sums are all-reduced; the windows evaluated are the first ranks·batch·batches of the \
            split whatever the number of ranks. An encoder's loss is over its masked positions: each \
            window is masked as in training (15% of positions chosen, most replaced by [MASK]), the \
            choice seeded by the run's --seed and the window's index, so it is the same for every \
            evaluation and every number of ranks. The data is the checkpoint's (the seed preset's own \
            sentences for a seed checkpoint) unless --data names another; either way the tokenizer \
            built from it must equal the checkpoint's.
            """)

    @Option(help: ArgumentHelp(
        "A checkpoint directory, an OUT directory or OUT/checkpoints (then the checkpoint LATEST names).",
        valueName: "path"))
    var checkpoint: String

    @Option(name: .customLong("data"), help: ArgumentHelp(
        "A text file or a `dptrain prepare` directory to evaluate on, instead of the checkpoint's data.",
        valueName: "path"))
    var data: String?

    @Option(parsing: .unconditional, help: "The fraction of a text file's tokens (its end) that forms the val split; use the run's own.")
    var valFraction = 0.1

    @Option(parsing: .unconditional, help: "Global batches (ranks × batch windows each) to evaluate. (default: all the val split holds, at most \(Evaluation.defaultMaxWindows) windows)")
    var batches: Int?

    @Option(parsing: .unconditional, help: "Windows per rank per batch. (default: the checkpoint's --batch)")
    var batch: Int?

    @Flag(help: "Print one JSON object (checkpoint, step, ranks, loss, perplexity, windows, context, batches, batch, loss_mode: all, last or masked, architecture, window_stride) instead of the text lines.")
    var json = false

    @Option(help: ArgumentHelp(
        "Also write the val split's tokens to this llm.c token file (for scripts/torch_crosscheck.py).",
        valueName: "file", visibility: .hidden))
    var dumpVal: String?

    @Option(help: ArgumentHelp(
        "Also write, for an encoder, the masked windows as evaluated to this JSON file: inputs and targets (−1 where not predicted), one array of context tokens per window (for scripts/torch_crosscheck.py; one rank only).",
        valueName: "file", visibility: .hidden))
    var dumpMasked: String?

    @OptionGroup(title: "Ranks") var runtime: RuntimeOptions

    func validate() throws {
        if let batches, batches < 1 || batches > 1 << 30 {
            throw ValidationError("--batches must be between 1 and \(1 << 30), not \(batches).")
        }
        if let batch, batch < 1 || batch > 1 << 16 {
            throw ValidationError("--batch must be between 1 and 65536 rows per rank, not \(batch).")
        }
        guard valFraction.isFinite, valFraction > 0, valFraction < 1 else {
            throw ValidationError("--val-fraction must be between 0 and 1 (exclusive), not \(valFraction).")
        }
    }

    func run() throws {
        Session.run(runtime) { session in
            let comm = session.comm
            session.warnIfSlowKernel()
            let restore = try Restore.load(comm: comm, path: URL(fileURLWithPath: checkpoint), out: URL(fileURLWithPath: checkpoint))
            let isSeed = restore.state.model == ModelConfig.seed
            try comm.collectively {
                if isSeed && data != nil {
                    throw ValidationError("\(restore.directory) is a seed-preset checkpoint, evaluated on the seed example's own sentences; it takes no --data.")
                }
            }

            // A checkpoint in OUT/checkpoints shares OUT's token cache with training; any other is
            // tokenized into a temporary folder that rank 0 removes at the end.
            let out = CheckpointStore.outputDirectory(of: URL(fileURLWithPath: restore.directory))
            let cache = out?.appendingPathComponent("cache")
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-eval-\(UUID().uuidString)")
            defer { if out == nil && session.isRoot { try? FileManager.default.removeItem(at: cache) } }
            let dataset = try Dataset.load(
                comm: comm, data: DataConfig(path: data, fromRank0: restore.state.dataConfig?.fromRank0 ?? false), valFraction: valFraction,
                cacheDirectory: cache, restore: restore, seedExample: isSeed)
            if data == nil && dataset.summary != restore.state.data {
                session.warn("the data differs from what the run trained on (\(restore.state.data)); if it used another --val-fraction, pass that one.")
            }
            if let dumpVal {
                try comm.collectively {
                    guard comm.rank == 0 else { return }
                    try TokenFile.write(dataset.val.toArray(), vocabSize: dataset.tokenizer.vocabSize, to: URL(fileURLWithPath: dumpVal))
                }
            }

            let B = batch ?? restore.state.training.batch
            let model = try comm.collectively { try restore.makeModel(maxBatch: B) }
            let masking = try comm.collectively { () throws -> TokenMasking? in
                guard restore.state.model.architecture == .encoder else {
                    if dumpMasked != nil { throw ValidationError("--dump-masked is for encoder checkpoints; \(restore.directory) holds a decoder.") }
                    return nil
                }
                if dumpMasked != nil && comm.size != 1 { throw ValidationError("--dump-masked needs one rank (it records rank 0's rows only).") }
                return TokenMasking(seed: restore.state.training.seed, tokenizer: try Tokenizers.load(json: restore.tokenizerJSON))
            }
            var dumped: (inputs: [[Int32]], targets: [[Int32]]) = ([], [])
            let T = restore.state.model.context
            let result = try Evaluation.run(
                comm: comm, model: model, tokens: dataset.val, batch: B, batches: batches, windowStride: dataset.windowStride,
                masking: masking, inspect: dumpMasked == nil ? nil : { _, inputs, targets in
                    for b in 0..<B {
                        dumped.inputs.append(Array(inputs[b * T..<(b + 1) * T]))
                        dumped.targets.append(Array(targets[b * T..<(b + 1) * T]))
                    }
                })
            if let dumpMasked, let masking {
                let object: [String: Any] = [
                    "mask_token": masking.maskToken, "seed": masking.seed, "data_vocab_size": masking.dataVocabSize,
                    "inputs": dumped.inputs, "targets": dumped.targets,
                ]
                try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: dumpMasked))
            }

            let c = restore.state.model
            if json {
                let object: [String: Any] = [
                    "checkpoint": restore.directory, "step": restore.state.step, "ranks": comm.size,
                    "loss": result.loss, "perplexity": result.perplexity, "windows": result.windows,
                    "context": result.context, "batches": result.batches, "batch": B, "loss_mode": c.architecture == .encoder ? "masked" : c.loss.rawValue,
                    "architecture": c.architecture.rawValue, "window_stride": dataset.windowStride ?? result.context,
                ]
                let line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                session.say(String(decoding: line, as: UTF8.self))
                return
            }
            session.say("dptrain eval: \(restore.directory) (step \(restore.state.step)), \(comm.size) rank\(comm.size == 1 ? "" : "s")")
            session.say("  model  \(c.layers) layer\(c.layers == 1 ? "" : "s"), dim \(c.dim), context \(c.context), vocab \(c.vocabSize), \(grouped(c.parameterCount)) parameters")
            session.say("  data   \(dataset.summary)")
            session.say("val loss \(String(format: "%.4f", result.loss)) | perplexity \(String(format: "%.2f", result.perplexity))"
                + " | \(grouped(result.windows)) windows of \(result.context) tokens"
                + (c.architecture == .encoder ? " (loss on the \(TokenMasking.chosenCount(time: result.context)) masked tokens of each)"
                   : c.loss == .last ? " (loss on the last token of each)" : "")
                + " | \(result.batches) batch\(result.batches == 1 ? "" : "es") of \(comm.size) × \(B)")
        }
    }
}
