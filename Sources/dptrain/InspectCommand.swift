import ArgumentParser
import DPComm
import DPModel
import DPTrainer
import Foundation

/// `dptrain inspect PATH`: one process, no MPI; prints a plain-text table about a checkpoint.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a checkpoint holds and whether its checksums hold.",
        discussion: """
            Prints the model config, step, tokens seen, world size, data and tokenizer, the training \
            settings, the parameters per tensor group (embeddings, attention, FFN, LayerNorm, head), \
            the files and their sizes, whether every file matches the sha256 that state.json records, \
            and, for a checkpoint inside an OUT directory, the last losses of OUT/metrics.jsonl up to \
            the checkpoint's step. Exits with status 1, naming the file at fault, when the checkpoint \
            is damaged or cannot be used (a state.json that does not decode, a tensor of another name \
            or shape than the model's). Runs as one process; under mpirun only rank 0 prints.
            """)

    @Argument(help: ArgumentHelp(
        "A checkpoint directory, an OUT directory or OUT/checkpoints (then the checkpoint LATEST names).",
        valueName: "path"))
    var path: String

    @Option(parsing: .unconditional, help: "How many of the last logged losses to show.")
    var losses = 5

    func validate() throws {
        guard losses >= 0 && losses <= 10_000 else {
            throw ValidationError("--losses must be between 0 and 10000, not \(losses).")
        }
    }

    func run() throws {
        // The checkpoint is read from the file system alone; under a launcher, one rank is enough.
        guard Launcher.rank(environment: ProcessInfo.processInfo.environment) == 0 else { return }
        let summary: CheckpointSummary
        do {
            summary = try CheckpointSummary.read(URL(fileURLWithPath: path))
        } catch {
            printError("dptrain: error: \(error)")
            throw ExitCode.failure
        }
        for line in table(summary) { print(line) }
        if let problem = summary.damage ?? summary.unusable {
            printError("dptrain: error: \(problem)")
            throw ExitCode.failure
        }
    }

    /// The rows of the table: a key column and a value column; a value may span several lines.
    func table(_ s: CheckpointSummary) -> [String] {
        var rows: [(String, [String])] = [("checkpoint", [s.directory.path])]
        if let state = s.state {
            let c = state.model, t = state.training
            rows.append(("step", ["\(grouped(state.step)) of \(grouped(t.steps)), \(grouped(state.tokensSeen)) tokens seen, \(String(format: "%.1f", state.elapsedSeconds)) s of training"]))
            rows.append(("world size", ["\(state.worldSize) rank\(state.worldSize == 1 ? "" : "s"); \(state.worldSize) × batch \(t.batch) × grad-accum \(t.gradAccum) × context \(c.context) = \(grouped(state.worldSize * t.batch * t.gradAccum * c.context)) tokens per step"]))
            rows.append(("model", [
                "\(RunConfig.isSeedExample(c) ? "seed preset: " : "")\(c.layers) layer\(c.layers == 1 ? "" : "s"), \(c.heads) heads, dim \(c.dim), ffn \(c.ffnDim), context \(c.context), vocab \(c.vocabSize)",
                "\(c.activation.rawValue), \(c.tiedEmbeddings ? "tied" : "untied") embeddings, \(c.attentionBias ? "attention biases, " : "")\(c.layerNorm ? "LayerNorm" : "no LayerNorm"), \(c.residual ? "residual" : "no residual"), \(c.positions == .none ? "no positions" : "\(c.positions.rawValue) positions"), loss over \(c.loss == .all ? "all positions" : "the last position")",
            ]))
            rows.append(("data", [state.data, "path: \(state.dataPath ?? (RunConfig.isSeedExample(c) ? "(the seed example)" : "(the built-in corpus)"))"]))
            let schedule = t.schedule == .cosine
                ? "\(String(format: "%.2e", t.learningRate)) → \(String(format: "%.2e", t.minLearningRate)) cosine"
                : "\(String(format: "%.2e", t.learningRate)) constant"
            rows.append(("training", [
                "\(t.optimizer.rawValue), lr \(schedule), warmup \(t.warmup), weight decay \(t.weightDecay), clip \(t.clip)",
                "sampler \(t.sampler.rawValue), seed \(t.seed), eval every \(t.evalEvery), checkpoint every \(t.checkpointEvery), keep \(t.keep)",
            ]))
        }
        if let kind = s.tokenizerKind, let vocab = s.tokenizerVocabSize {
            rows.append(("tokenizer", ["\(kind.rawValue), \(grouped(vocab)) tokens"]))
        }
        if !s.groups.isEmpty {
            let width = max(s.groups.map(\.group.rawValue.count).max() ?? 0, "total".count)
            let counts = s.groups.map { grouped($0.parameters) } + [grouped(s.parameterCount)]
            let numberWidth = counts.map(\.count).max() ?? 0
            func line(_ name: String, _ tensors: Int, _ parameters: String) -> String {
                name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + parameters.leftPadded(to: numberWidth)
                    + "  (\(tensors) tensor\(tensors == 1 ? "" : "s"))"
            }
            var lines = s.groups.map { line($0.group.rawValue, $0.tensors, grouped($0.parameters)) }
            if s.state.map({ $0.model.tiedEmbeddings }) == true && !s.groups.contains(where: { $0.group == .head }) {
                lines.append("head".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + "0".leftPadded(to: numberWidth) + "  (tied to tok_embedding)")
            }
            lines.append(line("total", s.groups.reduce(0) { $0 + $1.tensors }, grouped(s.parameterCount)))
            rows.append(("parameters", lines))
        }
        let nameWidth = s.files.map(\.name.count).max() ?? 0
        let sizes = s.files.map { grouped($0.bytes) }
        let sizeWidth = sizes.map(\.count).max() ?? 0
        rows.append(("files", zip(s.files, sizes).map { file, size in
            file.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + size.leftPadded(to: sizeWidth) + " bytes"
        }))
        rows.append(("checksums", [s.damage.map { "DAMAGED: \($0)" } ?? "ok: \(s.verifiedFiles.joined(separator: ", ")) match the sha256 in state.json"]))
        if s.damage == nil {
            rows.append(("usable", [s.unusable.map { "NO: \($0)" } ?? "yes: state.json decodes and every tensor has the name and shape of the model it describes"]))
        }
        if !s.notes.isEmpty { rows.append(("notes", s.notes)) }

        if let history = s.history, let out = s.outDirectory {
            let step = s.state?.step ?? Int.max
            var lines = history.lastLosses(losses, upTo: step).map { r in
                "step \(r.step): loss \(String(format: "%.4f", r.loss ?? .nan))"
                    + (r.lr.map { ", lr \(String(format: "%.2e", $0))" } ?? "")
                    + (r.gradNorm.map { ", grad norm \(String(format: "%.3f", $0))" } ?? "")
            }
            if let validation = history.lastValidation(upTo: step), let valLoss = validation.valLoss {
                lines.append("step \(validation.step): val loss \(String(format: "%.4f", valLoss))")
            }
            if lines.isEmpty { lines = ["none up to step \(step)"] }
            rows.append(("last losses", ["(\(out.appendingPathComponent("metrics.jsonl").path))"] + lines))
        }

        let keyWidth = rows.map(\.0.count).max() ?? 0
        return rows.flatMap { key, values in
            values.enumerated().map { index, value in
                (index == 0 ? key : "").padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  " + value
            }
        }
    }
}
